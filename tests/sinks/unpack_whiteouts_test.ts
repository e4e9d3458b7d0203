/**
 * Whiteouts that the three-layer fixture of unpack_layers_test.ts does not reach, each
 * checked against umoci and with explicit spot checks: an opaque whiteout listed after
 * entries of its own layer keeps them, and a whiteout under a symlinked folder removes the
 * file the symlink leads to.
 */
import assert from "node:assert/strict";
import { OciLayout } from "../../src/sinks/oci_layout.ts";
import { denoFileSystem } from "../../src/runtime/deno_file_system.ts";
import { unpackImage } from "../../src/runtime/unpack_image.ts";
import {
  describeTree,
  dir,
  file,
  run,
  type Spec,
  symlink,
  testCodecs,
  writeImage,
} from "./_image_fixture.ts";
import { withTempDir } from "../_harness/store.ts";

const PLATFORM = { os: "linux", architecture: "amd64" };

/** Unpacks `layers` with umoci and with unpackImage; asserts the trees match and returns ours. */
async function unpackBoth(
  tmp: string,
  layers: Spec[][],
): Promise<{ root: string; tree: string[] }> {
  const layout = await OciLayout.open(denoFileSystem, `${tmp}/layout`, testCodecs);
  const manifest = await writeImage(layout, layers);
  await layout.setNames(manifest, ["test"]);
  await run("umoci", ["unpack", "--image", `${tmp}/layout:test`, `${tmp}/bundle`]);
  const root = await unpackImage(layout, manifest, PLATFORM, {
    codecs: testCodecs,
    target: `${tmp}/ours`,
  });
  const tree = await describeTree(root);
  assert.deepEqual(tree, await describeTree(`${tmp}/bundle/rootfs`));
  return { root, tree };
}

const exists = (path: string) => Deno.lstat(path).then(() => true, () => false);

Deno.test("unpackImage(): an opaque whiteout hides lower layers only, not entries its own layer listed before it", async () => {
  await withTempDir("ocistream-opaque-", async (tmp) => {
    const { root, tree } = await unpackBoth(tmp, [
      [dir("d"), file("d/lower", "lower\n"), dir("d/lowerdir"), file("d/lowerdir/x", "x\n")],
      [
        dir("d"),
        // Listed before the marker, as a tar writer that does not sort whiteouts first may do.
        file("d/early", "same layer, before the marker\n"),
        dir("d/earlydir"),
        file("d/earlydir/y", "y\n"),
        file("d/.wh..wh..opq", ""),
        file("d/late", "after the marker\n"),
      ],
    ]);
    assert.equal(await Deno.readTextFile(`${root}/d/early`), "same layer, before the marker\n");
    assert.equal(await Deno.readTextFile(`${root}/d/earlydir/y`), "y\n");
    assert.equal(await Deno.readTextFile(`${root}/d/late`), "after the marker\n");
    assert.equal(await exists(`${root}/d/lower`), false);
    assert.equal(await exists(`${root}/d/lowerdir`), false);
    assert.deepEqual(
      tree.filter((l) => l.startsWith("d/")).map((l) => l.split(" ")[0]),
      ["d/early", "d/earlydir", "d/earlydir/y", "d/late"],
    );
  });
});

Deno.test("unpackImage(): a whiteout below a symlinked folder removes the file behind the symlink", async () => {
  await withTempDir("ocistream-wh-symlink-", async (tmp) => {
    const { root } = await unpackBoth(tmp, [
      [
        dir("usr"),
        dir("usr/lib"),
        file("usr/lib/gone.so", "gone\n"),
        file("usr/lib/kept.so", "kept\n"),
        dir("usr/share"),
        file("usr/share/abs-gone", "gone\n"),
        symlink("lib", "usr/lib"),
        symlink("share", "/usr/share"),
      ],
      [file("lib/.wh.gone.so", ""), file("share/.wh.abs-gone", "")],
    ]);
    assert.equal(await exists(`${root}/usr/lib/gone.so`), false, "relative symlink followed");
    assert.equal(await exists(`${root}/usr/share/abs-gone`), false, "absolute symlink followed");
    assert.equal(await Deno.readTextFile(`${root}/usr/lib/kept.so`), "kept\n");
    assert.equal(await Deno.readLink(`${root}/lib`), "usr/lib");
  });
});
