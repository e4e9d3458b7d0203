/**
 * New layers are the tar containerd's differ writes (issue 15 item 6, SPEC §5):
 * `archive.WriteDiff`, behind BuildKit's `COPY` layers, run by the
 * `../shared/oracles/containerd-diff` reference on the same folder must give the
 * same diffID as ocistream's walk + tar writer: on the fixture tree with
 * sub-second mtimes, and on a real installed `node_modules` tree.
 */
import assert from "node:assert/strict";
import { containerdDiff } from "../_harness/oracles.ts";
import { makeFixtureTree } from "../fixtures/fixture_tree.ts";
import { withTempDir } from "../_harness/store.ts";
import { runBuild } from "../_harness/store.ts";
import { readJson } from "../_harness/store.ts";
import { directoryEntries } from "../../src/sources/directory_source.ts";
import { denoFileSystem } from "../../src/runtime/deno_file_system.ts";
import { TarStream } from "../../src/stages/tar_stream.ts";
import { sha256Stream } from "../fixtures/tar_tools.ts";
import { recompressLayer } from "../../src/stages/layer_encoder.ts";
import { webCodecs } from "../../src/stages/web_codecs.ts";
import { gunzipSync } from "node:zlib";
import { createHash } from "node:crypto";

/** The diffID of ocistream's layer for `dir`, owners kept as the differ keeps them. */
async function ourDiffId(dir: string): Promise<string> {
  const tar = directoryEntries(denoFileSystem, dir, { preserveOwnership: true })
    .pipeThrough(new TarStream());
  return `sha256:${await sha256Stream(tar)}`;
}

/** Gives every entry under `dir` (and `dir`) an mtime with a fractional second. */
async function fractionalTimes(dir: string, base: number): Promise<void> {
  let n = 0;
  const walk = async (path: string) => {
    for await (const e of Deno.readDir(path)) {
      const p = `${path}/${e.name}`;
      if (e.isDirectory) await walk(p);
      if (!e.isSymlink) {
        n++;
        await Deno.utime(p, base + n + 0.25, base + n + 0.123456789);
      }
    }
    await Deno.utime(path, base, base + 0.987654321);
  };
  await walk(dir);
}

Deno.test("new layers equal containerd's differ (archive.WriteDiff) on the fixture tree with sub-second mtimes", async () => {
  await withTempDir("ocistream-containerd-diff-", async (dir) => {
    const tree = `${dir}/tree`;
    await makeFixtureTree(tree);
    await fractionalTimes(tree, 1700000000);
    const reference = await containerdDiff(tree, `${dir}/reference.tar`);
    assert.equal(await ourDiffId(tree), reference.diffID);
    // The CLI's layer is the same tar: its config records the reference diffID.
    const store = `${dir}/store`;
    const r = await runBuild(tree, store, "type=image,compression=uncompressed", {
      progress: "quiet",
      epoch: 0,
      metadataFile: `${dir}/meta.json`,
      flags: ["--platform", "linux/amd64"],
    });
    assert.equal(r.code, 0, r.stderr);
    const manifest = readJson(
      `${store}/blobs/sha256/${readJson(`${dir}/meta.json`)["containerimage.digest"].slice(7)}`,
    );
    assert.equal(manifest.layers[0].digest, reference.diffID);
    assert.equal(manifest.layers[0].size, reference.size);
  });
});

Deno.test("new layers equal containerd's differ on a real installed node_modules tree", async (t) => {
  // npm's own tree where npm is installed (the CI installs Deno through npm); else the
  // tests' npm cache.
  const candidates = ["/usr/lib/node_modules", "/usr/local/lib/node_modules"];
  const tree = candidates.find((p) => {
    try {
      return Deno.statSync(p).isDirectory;
    } catch {
      return false;
    }
  });
  if (tree === undefined) {
    console.log("no installed node_modules tree on this machine: compared the fixture only");
    return;
  }
  await t.step(tree, async () => {
    const reference = await containerdDiff(tree);
    assert.equal(await ourDiffId(tree), reference.diffID);
  });
});

Deno.test("build keeps file capabilities (security.capability) as containerd's differ does", async (t) => {
  await withTempDir("ocistream-xattrs-", async (dir) => {
    const tree = `${dir}/tree`;
    await Deno.mkdir(tree);
    await Deno.copyFile("/bin/true", `${tree}/bind`);
    // cap_setuid (bit 7) makes a value that is not UTF-8: it must still go in byte for byte.
    await Deno.copyFile("/bin/true", `${tree}/setuid`);
    await Deno.writeTextFile(`${tree}/plain.txt`, "no capabilities\n");
    for (const [cap, file] of [["cap_net_bind_service+ep", "bind"], ["cap_setuid+ep", "setuid"]]) {
      const setcap = await new Deno.Command("setcap", {
        args: [cap!, `${tree}/${file}`],
        stderr: "piped",
      }).output().catch((e) => ({ success: false, stderr: new TextEncoder().encode(String(e)) }));
      // Needs root (or CAP_SETFCAP) and libcap2-bin, as .ci/run installs and runs: fail saying so.
      assert.ok(
        setcap.success,
        `setcap ${cap} failed (run as root with libcap2-bin): ${
          new TextDecoder().decode(setcap.stderr).trim()
        }`,
      );
    }
    await fractionalTimes(tree, 1600000000);
    const reference = await containerdDiff(tree, `${dir}/reference.tar`);
    await t.step("the layer records the capability, the reference's diffID", async () => {
      const store = `${dir}/store`;
      const r = await runBuild(tree, store, "type=image,compression=uncompressed", {
        progress: "quiet",
        epoch: 0,
        metadataFile: `${dir}/meta.json`,
        flags: ["--platform", "linux/amd64"],
      });
      assert.equal(r.code, 0, r.stderr);
      const manifest = readJson(
        `${store}/blobs/sha256/${readJson(`${dir}/meta.json`)["containerimage.digest"].slice(7)}`,
      );
      assert.equal(manifest.layers[0].digest, reference.diffID);
      // GNU tar sees the capability in our layer.
      const listing = await new Deno.Command("tar", {
        args: [
          "--xattrs",
          "--xattrs-include=*",
          "-tvvf",
          `${store}/blobs/sha256/${manifest.layers[0].digest.slice(7)}`,
        ],
        stdout: "piped",
      }).output();
      assert.equal(
        new TextDecoder().decode(listing.stdout).match(/security\.capability/g)?.length,
        2,
      );
    });
    await t.step("force-compression to eStargz converts that layer losslessly", async () => {
      // BuildKit's AppendTarLossLess: the converted layer's tar starts with the source tar's
      // bytes (its end blocks aside), the binary capability value included.
      const tar = await Deno.readFile(`${dir}/reference.tar`);
      const encoding = recompressLayer(new Blob([tar]).stream(), "uncompressed", {
        compression: "estargz",
        codecs: webCodecs,
      });
      const blob = new Uint8Array(await new Response(encoding.blob).arrayBuffer());
      const converted = new Uint8Array(gunzipSync(blob));
      let end = tar.length;
      while (end > 0 && tar.subarray(end - 512, end).every((b) => b === 0)) end -= 512;
      const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
      assert.equal(sha(converted.subarray(0, end)), sha(tar.subarray(0, end)));
      assert.equal((await encoding.result).sourceDiffId, reference.diffID);
    });
  });
});
