/**
 * Looking into images on a registry: `ls` and `export` against what `umoci unpack` makes of
 * the same image (layers that delete, replace, opaque a folder, hardlink and symlink), `ls
 * --layer`, `digest`, `inspect` of registry references, and the `readImage()` library call.
 */
import assert from "node:assert/strict";
import { runCli, runOk } from "../_harness/cli.ts";
import { startRegistry } from "../_harness/registry.ts";
import { dockerConfig } from "../integration/_registry_cli.ts";
import {
  describeTree,
  dir,
  file,
  hardlink,
  symlink,
  testCodecs,
  writeImage,
  writeIndex,
} from "../sinks/_image_fixture.ts";
import { OciLayout } from "../../src/sinks/oci_layout.ts";
import { denoFileSystem } from "../../src/runtime/deno_file_system.ts";
import { readImage } from "../../src/image/read_image.ts";
import { RegistryClient } from "../../src/registry/registry_client.ts";

const MAIN = new URL("../../src/cli/main.ts", import.meta.url).pathname;

/** What an unpacked tree says of each path, in `ls` terms: type, mode, owner, size, target. */
async function lsOfTree(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string) => {
    const names = (await Array.fromAsync(Deno.readDir(rel ? `${root}/${rel}` : root))).map((e) =>
      e.name
    ).sort();
    for (const name of names) {
      const p = rel ? `${rel}/${name}` : name;
      const info = await Deno.lstat(`${root}/${p}`);
      const mode = ((info.mode ?? 0) & 0o7777).toString(8);
      const owner = `${info.uid}/${info.gid}`;
      if (info.isSymlink) {
        out.push(`symlink ${owner} ${p} -> ${await Deno.readLink(`${root}/${p}`)}`);
      } else if (info.isDirectory) out.push(`dir ${mode} ${owner} ${p}`);
      else out.push(`file ${mode} ${owner} ${info.size} ${p}`);
      if (info.isDirectory) await walk(p);
    }
  };
  await walk("");
  return out.sort();
}

/** The same facts from `ocistream ls` lines (a hardlink is a file of its target's size). */
function lsOfLines(text: string): string[] {
  return text.trim().split("\n").map((line) => {
    const m = /^(.)(\S{9}) (\d+\/\d+) (\d+) (.*?)(?: -> (.*)| link to .*)?$/.exec(line);
    assert.ok(m, line);
    const [, type, bits, owner, size, path, target] = m;
    let mode = 0;
    for (const [i, c] of [...bits!].entries()) {
      if (c !== "-" && c !== "S" && c !== "T") mode |= 0o400 >> i;
    }
    if (/[sS]/.test(bits![2]!)) mode |= 0o4000;
    if (/[sS]/.test(bits![5]!)) mode |= 0o2000;
    if (/[tT]/.test(bits![8]!)) mode |= 0o1000;
    if (type === "l") return `symlink ${owner} ${path} -> ${target}`;
    if (type === "d") return `dir ${mode.toString(8)} ${owner} ${path}`;
    return `file ${mode.toString(8)} ${owner} ${size} ${path}`;
  }).sort();
}

Deno.test("ls, export, digest and inspect read registry images; ls and export equal umoci unpack", async (t) => {
  const work = await Deno.makeTempDir({ prefix: "ocistream-look-" });
  const reg = await startRegistry();
  try {
    const env = { DOCKER_CONFIG: await dockerConfig(work, {}) };
    const cli = async (args: string[]) => {
      const r = await runCli(args, { env });
      assert.equal(r.code, 0, `ocistream ${args.join(" ")}: ${r.stderr}`);
      return r.stdout;
    };
    const layout = await OciLayout.open(denoFileSystem, `${work}/layout`, testCodecs);
    const amd64 = await writeImage(layout, [
      [
        dir("etc"),
        file("etc/keep", "keep\n"),
        file("etc/gone", "gone\n"),
        file("etc/replaced", "old\n"),
        dir("var"),
        file("var/old", "old\n"),
        dir("var/sub"),
        file("var/sub/deep", "deep\n"),
        dir("home", { uid: 1000, gid: 1000, mode: 0o750 }),
        file("home/notes", "mine\n", { uid: 1000, gid: 1000, mode: 0o600 }),
        file("usr-bin-tool", "#!/bin/sh\n", { mode: 0o4755 }),
        dir("tmp", { mode: 0o1777 }),
      ],
      [
        file("etc/.wh.gone", ""),
        file("etc/replaced", "new and longer\n"),
        dir("var"),
        file("var/.wh..wh..opq", ""),
        file("var/new", "new\n"),
        file("data.bin", new Uint8Array(300_000).map((_, i) => (i * 7) % 251)),
        hardlink("data-link.bin", "data.bin"),
      ],
      [
        symlink("etc-link", "etc"),
        symlink("abs-keep", "/etc/keep"),
        file(".wh.usr-bin-tool", ""),
        // A link to a file of a lower layer: read top down, it comes before its target.
        hardlink("etc/keep-link", "etc/keep"),
      ],
    ]);
    const arm64 = await writeImage(layout, [[file("only-arm", "arm\n")]], {
      platform: { os: "linux", architecture: "arm64" },
    });
    const index = await writeIndex(layout, [amd64, arm64]);
    await layout.setNames({ ...amd64, platform: undefined }, ["amd"]);
    await layout.setNames(index, ["multi"]);
    await runOk("umoci", ["unpack", "--image", `${work}/layout:amd`, `${work}/bundle`]);
    const umociRoot = `${work}/bundle/rootfs`;
    await cli(["copy", `oci-layout://${work}/layout:multi`, `${reg.host}/look/app:1`]);
    const ref = `${reg.host}/look/app:1`;

    await t.step("ls equals the umoci rootfs", async () => {
      const listed = await cli(["ls", "--platform", "linux/amd64", ref]);
      assert.deepEqual(lsOfLines(listed), await lsOfTree(umociRoot));
      assert.match(listed, /^-rw-r--r-- 0\/0 15 etc\/replaced$/m);
      assert.match(listed, /^lrwxrwxrwx 0\/0 0 etc-link -> etc$/m);
      assert.match(listed, /^drwxrwxrwt 0\/0 0 tmp$/m);
      assert.doesNotMatch(listed, /var\/old|etc\/gone|usr-bin-tool|\.wh\./);
    });

    await t.step("export gives the umoci rootfs, byte for byte", async () => {
      await cli(["export", "--platform", "linux/amd64", ref, "-o", `${work}/fs.tar`]);
      await Deno.mkdir(`${work}/extracted`);
      await runOk("tar", ["-xpf", `${work}/fs.tar`, "--same-owner", "-C", `${work}/extracted`]);
      assert.deepEqual(await describeTree(`${work}/extracted`), await describeTree(umociRoot));
      // Standard output (`-o -`, and the default when it is not a terminal) gives the same tar.
      const tarFile = await Deno.readFile(`${work}/fs.tar`);
      for (const to of [["-o", "-"], []]) {
        const out = await new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", "--quiet", MAIN, "export", "--platform", "linux/amd64", ref, ...to],
          env,
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
        assert.deepEqual(out.stdout, tarFile);
      }
    });

    await t.step("ls --layer N lists one layer as it is, whiteouts too", async () => {
      const top = await cli(["ls", "--platform", "linux/amd64", "--layer", "2", ref]);
      assert.deepEqual(top.trim().split("\n").map((l) => l.split(" ").slice(3).join(" ")), [
        "etc-link -> etc",
        "abs-keep -> /etc/keep",
        ".wh.usr-bin-tool",
        "etc/keep-link link to etc/keep",
      ]);
      const bad = await runCli(["ls", "--platform", "linux/amd64", "--layer", "3", ref], { env });
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /has 3 layers/);
    });

    await t.step("digest and inspect of a registry reference", async () => {
      assert.equal((await cli(["digest", ref])).trim(), index.digest);
      assert.equal((await cli(["digest", "--platform", "linux/arm64", ref])).trim(), arm64.digest);
      const shown = JSON.parse(await cli(["inspect", `docker://${ref}`]));
      assert.deepEqual(shown.manifests.map((m: { digest: string }) => m.digest), [
        amd64.digest,
        arm64.digest,
      ]);
      const config = JSON.parse(
        await cli(["inspect", "--config", "--platform", "linux/arm64", ref]),
      );
      assert.equal(config.architecture, "arm64");
      const arm = await cli(["ls", "--platform", "linux/arm64", ref]);
      assert.equal(arm, "-rw-r--r-- 0/0 4 only-arm\n");
    });

    await t.step(
      "readImage(): manifest, config, layers, files(), readFile() through links",
      async () => {
        const image = await readImage(ref, {
          platform: { os: "linux", architecture: "amd64" },
          registry: new RegistryClient(reg.host),
        });
        assert.equal(image.descriptor.digest, amd64.digest);
        assert.equal(image.layers.length, 3);
        assert.equal(image.config.architecture, "amd64");
        const text = async (p: string) => await new Response(await image.readFile(p)).text();
        assert.equal(await text("etc/replaced"), "new and longer\n");
        assert.equal(await text("/etc-link/keep"), "keep\n");
        assert.equal(await text("abs-keep"), "keep\n");
        assert.equal(
          (await image.readFile("data-link.bin").then((s) => new Response(s).arrayBuffer()))
            .byteLength,
          300_000,
        );
        await assert.rejects(image.readFile("etc/gone"), /has no file etc\/gone/);
        await assert.rejects(image.readFile("var/old"), /has no file/);
        const paths = (await Array.fromAsync(image.files())).map((f) => f.path).sort();
        const unpacked = (await describeTree(umociRoot)).map((l) => l.split(" ")[0]!).sort();
        assert.deepEqual(paths, unpacked);
        await assert.rejects(
          readImage(ref, { registry: new RegistryClient(reg.host) }),
          /several platforms/,
        );
      },
    );
  } finally {
    await reg.stop();
    await Deno.remove(work, { recursive: true });
  }
});
