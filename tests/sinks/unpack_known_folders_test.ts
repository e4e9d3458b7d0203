/**
 * The unpack remembers the folders and symlinks it made or looked at (issue 23). These layers
 * change what a remembered path is — a folder whited out, replaced by a symlink, a file or an
 * opaque whiteout, in the same layer and in later ones — and check that the result is still
 * umoci's, and that nothing reaches outside the target through a stale memory.
 */
import assert from "node:assert/strict";
import { applyLayer } from "../../src/sinks/unpack_layers.ts";
import { OciLayout } from "../../src/sinks/oci_layout.ts";
import { denoFileSystem } from "../../src/runtime/deno_file_system.ts";
import { unpackImage } from "../../src/runtime/unpack_image.ts";
import {
  describeTree,
  dir,
  file,
  hardlink,
  layerTar,
  run,
  type Spec,
  symlink,
  testCodecs,
  writeImage,
} from "./_image_fixture.ts";

const amd64 = { os: "linux", architecture: "amd64" };

/** Layers where remembered folders are replaced or removed, then written through again. */
const LAYERS: Spec[][] = [
  [
    dir("a"),
    dir("a/b"),
    file("a/b/c", "c1\n"),
    dir("real"),
    dir("real/deep"),
    file("real/deep/f", "f\n"),
    symlink("via", "real/deep"),
    file("via/g", "through a known symlink\n"),
    dir("o"),
    dir("o/in"),
    file("o/in/old", "old\n"),
    dir("r", { mode: 0o700 }),
    file("r/x", "x\n"),
    dir("w"),
    dir("w/gone"),
    dir("q"),
    dir("q/in"),
  ],
  [
    // A whited-out folder comes back as a file, then goes again and comes back as a folder.
    file(".wh.a", ""),
    file("a", "now a file\n"),
    // The symlink now points elsewhere: children follow the new target.
    symlink("via", "o"),
    file("via/h", "through the new target\n"),
    // Opaque: o/in is removed (not written by this layer), then made a symlink to a/..
    dir("o"),
    file("o/.wh..wh..opq", ""),
    symlink("o/in", "/real"),
    file("o/in/through-opaque", "lands in /real\n"),
    // A folder replaced by a file in the same layer it is written to.
    dir("r", { mode: 0o755 }),
    file("r", "r is a file now\n"),
    // Whited out, opaque-removed: a child entry without its folder's entry makes it again.
    file("w/.wh.gone", ""),
    file("w/gone/child", "in a new w/gone\n"),
    file("q/.wh..wh..opq", ""),
    file("q/in/child", "in a new q/in\n"),
  ],
  [
    file(".wh.a", ""),
    dir("a", { mode: 0o711 }),
    file("a/b", "b is a file under the new a\n"),
    file("real/deep/.wh.f", ""),
    hardlink("a/linked", "o/in/through-opaque"),
    dir("r"),
    file("r/again", "r is a folder again\n"),
  ],
];

Deno.test("unpackImage() gives umoci's tree when remembered folders are whited out, replaced and made symlinks", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "ocistream-known-" });
  try {
    const layout = await OciLayout.open(denoFileSystem, `${tmp}/layout`, testCodecs);
    const manifest = await writeImage(layout, LAYERS);
    await layout.setNames(manifest, ["test"]);
    await run("umoci", ["unpack", "--image", `${tmp}/layout:test`, `${tmp}/bundle`]);
    for (const decompressWorker of [true, false]) {
      const ours = await unpackImage(layout, manifest, amd64, {
        codecs: testCodecs,
        target: `${tmp}/ours-${decompressWorker}`,
        decompressWorker,
      });
      const actual = await describeTree(ours);
      assert.deepEqual(actual, await describeTree(`${tmp}/bundle/rootfs`));
      assert.equal(await Deno.readTextFile(`${ours}/real/through-opaque`), "lands in /real\n");
      assert.equal(await Deno.readTextFile(`${ours}/o/h`), "through the new target\n");
      assert.equal(await Deno.readTextFile(`${ours}/r/again`), "r is a folder again\n");
      assert.ok(actual.includes("a dir 711 0:0"));
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("applyLayer() follows a remembered folder's replacement, never the folder it remembered", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "ocistream-known-" });
  try {
    const outside = `${tmp}/outside`;
    const target = `${tmp}/target`;
    await Deno.mkdir(outside, { mode: 0o755 });
    await Deno.chmod(outside, 0o755);
    await Deno.writeTextFile(`${outside}/secret`, "secret\n");
    await Deno.mkdir(target);
    const before = await describeTree(outside);
    const beforeStat = await Deno.stat(outside);
    const layers: Spec[][] = [
      [dir("d", { mode: 0o700 }), dir("d/sub"), file("d/sub/f", "f\n")],
      [
        // Whited out and made a symlink out of the target in the next layer; then written to.
        file(".wh.d", ""),
        symlink("d", outside),
        file("d/secret", "pwned"),
        file("d/sub/new", "pwned"),
        dir("e", { mode: 0o700 }),
        file("e/x", "x\n"),
        symlink("e", `../../../..${outside}`),
        file("e/secret", "pwned"),
      ],
      [dir("d/sub"), file("d/sub/later", "pwned"), hardlink("d/secret2", "d/secret")],
    ];
    for (const [i, specs] of layers.entries()) {
      await applyLayer(ReadableStream.from([await layerTar(specs)]), target, {
        fs: denoFileSystem,
        layerName: `layer ${i + 1}`,
      });
    }
    assert.equal((await Deno.lstat(`${target}/d`)).isSymlink, true);
    assert.equal((await Deno.lstat(`${target}/e`)).isSymlink, true);
    assert.equal(await Deno.readTextFile(`${target}${outside}/secret`), "pwned");
    assert.equal(await Deno.readTextFile(`${target}${outside}/sub/later`), "pwned");
    assert.equal(await Deno.readTextFile(`${target}${outside}/secret2`), "pwned");
    assert.deepEqual(await describeTree(outside), before, "the outside folder changed");
    const afterStat = await Deno.stat(outside);
    assert.equal(afterStat.mode, beforeStat.mode);
    assert.equal(afterStat.mtime?.getTime(), beforeStat.mtime?.getTime());
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("applyLayer() refuses a child of a remembered folder that a file replaced", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "ocistream-known-" });
  try {
    const tar = await layerTar([
      dir("p"),
      file("p/q", "q\n"),
      file("p", "file\n"),
      file("p/r", ""),
    ]);
    await assert.rejects(
      applyLayer(ReadableStream.from([tar]), tmp, { fs: denoFileSystem, layerName: "layer 1" }),
      /Cannot unpack tar entry "p\/r" in layer 1: its parent \/p is a file, not a folder/,
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
