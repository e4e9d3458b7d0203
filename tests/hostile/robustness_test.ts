/**
 * Robustness against hostile layouts, stores and specs: blobs that are
 * symlinks or longer than declared, null entries in index.json, a store path
 * that is a file, duplicate name= keys, a metadata file nobody can write, a
 * base with too many layers, a huge path in an error line.
 */
import assert from "node:assert/strict";
import { runCli } from "../_harness/cli.ts";
import { type HostileServer, startHostileServer } from "../_harness/hostile_registry.ts";
import { parseOutputSpec } from "../../src/exporter/output_spec.ts";
import { TAR_END } from "../../src/stages/tar_header.ts";
import { sha256 } from "../fixtures/tar_tools.ts";
import { tarOf, writeLayout } from "./_layout.ts";

async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ocistream-hostile-robust-" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A registry that accepts any upload and counts the body bytes it received. */
async function acceptingRegistry(): Promise<HostileServer & { received: { bytes: number } }> {
  const received = { bytes: 0 };
  const server = await startHostileServer(async (req) => {
    if (req.method === "HEAD") return new Response(null, { status: 404 });
    if (req.body) received.bytes += (await req.arrayBuffer()).byteLength;
    if (req.method === "POST" || req.method === "PATCH") {
      return new Response(null, { status: 202, headers: { location: "/v2/app/blobs/uploads/1" } });
    }
    if (req.method === "PUT") return new Response(null, { status: 201 });
    return new Response("{}", { status: new URL(req.url).pathname === "/v2/" ? 200 : 404 });
  });
  return Object.assign(server, { received });
}

const LAYER = tarOf([{
  path: "f",
  type: "file",
  mode: 0o644,
  uid: 0,
  gid: 0,
  mtime: 0,
  data: "x",
}]);

for (const [what, target] of [["a secret file", "secret"], ["/dev/zero", "/dev/zero"]] as const) {
  Deno.test(`ocistream push refuses a layout blob that is a symlink to ${what} and uploads nothing`, async () => {
    await withDir(async (dir) => {
      await writeLayout(`${dir}/layout`, [LAYER]);
      await Deno.writeTextFile(`${dir}/secret`, "root:$6$hash:0:0");
      const blob = `${dir}/layout/blobs/sha256/${sha256(LAYER)}`;
      await Deno.remove(blob);
      await Deno.symlink(target === "secret" ? `${dir}/secret` : target, blob);
      const reg = await acceptingRegistry();
      try {
        const r = await runCli(["push", `oci-layout://${dir}/layout`, `${reg.host}/app:1`]);
        assert.equal(r.code, 1, r.stderr);
        assert.match(
          r.stderr,
          /it is a symlink, not a regular file; a layout's blobs must be regular files/,
        );
        assert.equal(reg.received.bytes, 0);
      } finally {
        await reg.stop();
      }
    });
  });
}

Deno.test("ocistream push refuses a layout blob longer than its descriptor before reading it", async () => {
  await withDir(async (dir) => {
    await writeLayout(`${dir}/layout`, [LAYER]);
    const blob = `${dir}/layout/blobs/sha256/${sha256(LAYER)}`;
    await Deno.writeFile(blob, new Uint8Array(1 << 20), { append: true });
    const reg = await acceptingRegistry();
    try {
      const r = await runCli(["push", `oci-layout://${dir}/layout`, `${reg.host}/app:1`]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /it is 1050624 bytes, but its descriptor says 2048/);
      assert.equal(reg.received.bytes, 0);
    } finally {
      await reg.stop();
    }
  });
});

Deno.test("ocistream images refuses null entries in index.json with a message, not a crash", async () => {
  await withDir(async (dir) => {
    await writeLayout(`${dir}/store`, [LAYER]);
    const index = JSON.parse(await Deno.readTextFile(`${dir}/store/index.json`));
    index.manifests.push(null);
    await Deno.writeTextFile(`${dir}/store/index.json`, JSON.stringify(index));
    const r = await runCli(["images", "--store", `${dir}/store`]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^error: .*index\.json: manifests\[1\] is not a descriptor/);
    assert.doesNotMatch(r.stderr, /TypeError|Cannot read properties/);
  });
});

Deno.test("ocistream images --store FILE is an error; a store that does not exist yet lists nothing", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/file`, "not a store");
    const r = await runCli(["images", "--store", `${dir}/file`]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /^error: Cannot open the store at .*\/file: .*pass --store a folder made by ocistream/,
    );
    const missing = await runCli(["images", "--store", `${dir}/none`, "--json"]);
    assert.equal(missing.code, 0, missing.stderr);
    assert.equal(missing.stdout.trim(), "[]");
  });
});

Deno.test("parseOutputSpec() refuses a name= key given twice (and other keys that say where)", () => {
  assert.throws(
    () => parseOutputSpec("type=image,name=example.com/safe:1,name=evil.example/steal:1"),
    /Output key "name" is given twice: give each key once/,
  );
  assert.throws(
    () => parseOutputSpec("type=image,name=a/b:1,push=false,push=true"),
    /"push" is given twice/,
  );
  assert.throws(
    () => parseOutputSpec("type=oci,dest=a.tar,dest=/etc/x.tar"),
    /"dest" is given twice/,
  );
  // Keys that only tune the image too: no copy of a key silently wins (issue 21).
  assert.throws(
    () => parseOutputSpec("type=image,name=a/b:1,compression=gzip,compression=zstd"),
    /"compression" is given twice/,
  );
});

Deno.test("ocistream build checks the --metadata-file folder before pushing anything", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(`${dir}/context`);
    await Deno.writeTextFile(`${dir}/context/f`, "x");
    const reg = await acceptingRegistry();
    try {
      const r = await runCli([
        "build",
        `${dir}/context`,
        "--output",
        `type=image,name=${reg.host}/app:1,push=true`,
        "--store",
        `${dir}/store`,
        "--metadata-file",
        `${dir}/missing/metadata.json`,
      ]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(
        r.stderr,
        /^error: Cannot write --metadata-file .*: folder .*\/missing does not exist; create it first/,
      );
      assert.deepEqual(reg.log, []);
    } finally {
      await reg.stop();
    }
  });
});

Deno.test("ocistream build refuses a base with more than 1000 layers and stores nothing", async () => {
  await withDir(async (dir) => {
    const empty = TAR_END;
    await writeLayout(`${dir}/base`, Array.from({ length: 1001 }, () => empty));
    await Deno.mkdir(`${dir}/context`);
    await Deno.writeTextFile(`${dir}/context/f`, "x");
    const r = await runCli([
      "build",
      `${dir}/context`,
      "--from",
      `oci-layout://${dir}/base`,
      "--output",
      "type=image,name=example.com/tall:1",
      "--store",
      `${dir}/store`,
    ]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /error: Cannot build linux\/amd64: the image would have 1002 layers \(1001 from the base\), over the limit of 1000/,
    );
    const images = await runCli(["images", "--store", `${dir}/store`, "--json"]);
    assert.deepEqual(JSON.parse(images.stdout), []);
  });
});

Deno.test("ocistream prints a bounded error line for a 100,000-character reference", async () => {
  const r = await runCli(["unpack", `example.com/${"a".repeat(100_000)}:1`, "/nonexistent/x"]);
  assert.notEqual(r.code, 0);
  const line = r.stderr.split("\n").find((l) => l.startsWith("error: "))!;
  assert.ok(line.length < 5000, `error line of ${line.length} characters`);
});
