/**
 * Unpack against hostile images: a root entry that asks for 0777, a config
 * whose diff_ids lie, staging folders a killed unpack left behind.
 */
import assert from "node:assert/strict";
import { runCli } from "../_harness/cli.ts";
import { tarOf, writeLayout } from "./_layout.ts";

const entry = { uid: 0, gid: 0, mtime: 0 };
const WIDE_ROOT = tarOf([
  { path: "./", type: "directory", mode: 0o777, ...entry },
  { path: "bin", type: "directory", mode: 0o755, ...entry },
  { path: "bin/su", type: "file", mode: 0o4755, ...entry, data: "setuid" },
]);

async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ocistream-hostile-unpack-" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("ocistream unpack keeps a private target private whatever the image's root entry says", async () => {
  await withDir(async (dir) => {
    await writeLayout(`${dir}/layout`, [WIDE_ROOT]);
    await Deno.mkdir(`${dir}/private`, { mode: 0o700 });
    await Deno.chmod(`${dir}/private`, 0o700);
    const r = await runCli(["unpack", `oci-layout://${dir}/layout`, `${dir}/private`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await Deno.stat(`${dir}/private`)).mode! & 0o7777, 0o700);
    assert.equal((await Deno.stat(`${dir}/private/bin/su`)).mode! & 0o7777, 0o4755);
  });
});

Deno.test("ocistream unpack creates a new target 0700 and keeps an existing 0750 one", async () => {
  await withDir(async (dir) => {
    await writeLayout(`${dir}/layout`, [WIDE_ROOT]);
    const r = await runCli(["unpack", `oci-layout://${dir}/layout`, `${dir}/new`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await Deno.stat(`${dir}/new`)).mode! & 0o7777, 0o700);
    await Deno.mkdir(`${dir}/shared`);
    await Deno.chmod(`${dir}/shared`, 0o750);
    const s = await runCli(["unpack", `oci-layout://${dir}/layout`, `${dir}/shared`]);
    assert.equal(s.code, 0, s.stderr);
    assert.equal((await Deno.stat(`${dir}/shared`)).mode! & 0o7777, 0o750);
  });
});

Deno.test("ocistream unpack removes the staging folder a killed unpack left behind", async () => {
  await withDir(async (dir) => {
    await writeLayout(`${dir}/layout`, [WIDE_ROOT]);
    await Deno.mkdir(`${dir}/rootfs.tmp-0123456789ab/rootfs/bin`, { recursive: true });
    await Deno.mkdir(`${dir}/rootfs.tmp-not-ours`);
    const r = await runCli(["unpack", `oci-layout://${dir}/layout`, `${dir}/rootfs`]);
    assert.equal(r.code, 0, r.stderr);
    const left = [];
    for await (const e of Deno.readDir(dir)) left.push(e.name);
    assert.deepEqual(left.sort(), ["layout", "rootfs", "rootfs.tmp-not-ours"]);
  });
});

Deno.test("ocistream unpack refuses a layer whose diff_id lies and leaves no target", async () => {
  await withDir(async (dir) => {
    const lie = `sha256:${"0".repeat(64)}`;
    await writeLayout(`${dir}/layout`, [WIDE_ROOT], { diffIds: [lie] });
    const r = await runCli(["unpack", `oci-layout://${dir}/layout`, `${dir}/rootfs`]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`error: Cannot unpack layer 1 .*but the image config says ${lie}`),
    );
    const left = [];
    for await (const e of Deno.readDir(dir)) left.push(e.name);
    assert.deepEqual(left, ["layout"]);
  });
});

for (
  const [what, extra] of [
    ["--attest type=sbom", ["--attest", "type=sbom"]],
    ["unpack=true", []],
  ] as const
) {
  Deno.test(`ocistream build on a base whose diff_id lies fails with ${what} and names nothing`, async () => {
    await withDir(async (dir) => {
      const lie = `sha256:${"0".repeat(64)}`;
      await writeLayout(`${dir}/base`, [WIDE_ROOT], { diffIds: [lie] });
      await Deno.mkdir(`${dir}/context`);
      await Deno.writeTextFile(`${dir}/context/f`, "x");
      const name = "example.com/on-lying-base:1";
      const r = await runCli([
        "build",
        `${dir}/context`,
        "--from",
        `oci-layout://${dir}/base`,
        "--output",
        `type=image,name=${name}${extra.length === 0 ? ",unpack=true" : ""}`,
        "--store",
        `${dir}/store`,
        ...extra,
      ]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`error: .*config says ${lie}`));
      const images = await runCli(["images", "--store", `${dir}/store`, "--json"]);
      assert.equal(images.code, 0, images.stderr);
      assert.deepEqual(JSON.parse(images.stdout), []);
    });
  });
}
