/**
 * `force-compression` end to end (issue 4, SPEC §1): base-image layers whose compression
 * type differs from the requested one are re-compressed in one pass (diffID kept, new
 * digest and media type); without the flag, or when the type already matches, base layers
 * stay byte for byte. eStargz is a type of its own, as in BuildKit: plain gzip layers are
 * converted (the TOC entry changes their diffID, and the config follows).
 */
import assert from "node:assert/strict";
import { makeFixtureTree } from "../fixtures/fixture_tree.ts";
import { runOk } from "../_harness/cli.ts";
import {
  blobPath,
  buildIntoStore,
  fileSha256,
  type Json,
  layerDiffId,
  skopeoCopy,
} from "../_harness/store.ts";
import { estargzVerify } from "../_harness/oracles.ts";

const OCI_LAYER = {
  uncompressed: "application/vnd.oci.image.layer.v1.tar",
  gzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  zstd: "application/vnd.oci.image.layer.v1.tar+zstd",
};
const TOC_DIGEST = "containerd.io/snapshot/stargz/toc.digest";
const EPOCH = "1700000000";

/** An image read back from a layout: its manifest and config. */
interface Image {
  layout: string;
  digest: string;
  manifest: Json;
  config: Json;
}

/** Runs `ocistream build` (plain progress, fixed epoch); returns the image from `layout`. */
async function build(
  context: string,
  store: string | undefined,
  output: string,
  layout: string,
  flags: string[] = [],
): Promise<Image> {
  const built = await buildIntoStore(context, store, output, {
    flags,
    progress: "plain",
    epoch: EPOCH,
    layout,
  });
  return { layout, digest: built.digest, manifest: built.manifest, config: built.config };
}

/** A two-layer base image as an OCI layout folder, both layers in `compression`. */
async function makeBase(work: string, compression: string): Promise<Image> {
  const first = `${work}/base-${compression}-1`;
  const second = `${work}/base-${compression}`;
  const output = (dest: string) =>
    `type=oci,tar=false,dest=${dest},name=base:1,compression=${compression},oci-mediatypes=true`;
  await build(`${work}/tree-a`, undefined, output(first), first);
  const base = await build(`${work}/tree-b`, undefined, output(second), second, [
    "--from",
    `oci-layout://${first}:1`,
  ]);
  assert.equal(base.manifest.layers.length, 2);
  return base;
}

/** Builds `tree-c` on `base` into a fresh store with `fields` in the output spec. */
function buildOn(work: string, base: Image, fields: string): Promise<Image> {
  const store = `${work}/store-${crypto.randomUUID()}`;
  return build(
    `${work}/tree-c`,
    store,
    `type=image,name=example.com/top:1,oci-mediatypes=true,${fields}`,
    store,
    ["--from", `oci-layout://${base.layout}:1`],
  );
}

async function makeTrees(work: string): Promise<void> {
  await Deno.mkdir(`${work}/tree-a`);
  await makeFixtureTree(`${work}/tree-a`, { fifo: false });
  await Deno.mkdir(`${work}/tree-b/etc`, { recursive: true });
  await Deno.writeTextFile(`${work}/tree-b/etc/config.txt`, "second base layer\n".repeat(500));
  await Deno.mkdir(`${work}/tree-c/app`, { recursive: true });
  await Deno.writeTextFile(`${work}/tree-c/app/main.txt`, "new layer\n");
}

/** Asserts the base layers of `image` are `base`'s layers, byte for byte. */
async function assertUntouched(image: Image, base: Image) {
  const n = base.manifest.layers.length;
  assert.deepEqual(image.manifest.layers.slice(0, n), base.manifest.layers);
  assert.deepEqual(image.config.rootfs.diff_ids.slice(0, n), base.config.rootfs.diff_ids);
  for (const layer of base.manifest.layers) {
    assert.equal(await fileSha256(blobPath(image.layout, layer.digest)), layer.digest);
  }
}

/** skopeo copies the image out of its store with the digests kept. */
async function assertSkopeoCopies(work: string, image: Image) {
  const copy = `${work}/copy-${crypto.randomUUID()}`;
  assert.equal(await skopeoCopy(`oci:${image.layout}:example.com/top:1`, copy), image.digest);
}

Deno.test("build --from a gzip base with compression=zstd: force-compression re-compresses base layers as zstd with their diffIDs; without it, or for the same type, they stay byte for byte", async (t) => {
  const work = await Deno.makeTempDir({ prefix: "ocistream-force-" });
  try {
    await makeTrees(work);
    const base = await makeBase(work, "gzip");
    const baseLayers = base.manifest.layers;
    for (const layer of baseLayers) assert.equal(layer.mediaType, OCI_LAYER.gzip);

    await t.step("compression=zstd,force-compression=true converts the base layers", async () => {
      const image = await buildOn(work, base, "compression=zstd,force-compression=true");
      const layers = image.manifest.layers;
      assert.equal(layers.length, 3);
      assert.deepEqual(image.config.rootfs.diff_ids.slice(0, 2), base.config.rootfs.diff_ids);
      for (const [i, layer] of layers.entries()) {
        assert.equal(layer.mediaType, OCI_LAYER.zstd, `layer ${i}`);
        const blob = blobPath(image.layout, layer.digest);
        assert.equal(await fileSha256(blob), layer.digest);
        assert.equal((await Deno.stat(blob)).size, layer.size);
        assert.equal(await layerDiffId(blob, layer.mediaType), image.config.rootfs.diff_ids[i]);
        if (i < 2) assert.notEqual(layer.digest, baseLayers[i].digest);
      }
      // History is the base's plus the new step.
      assert.deepEqual(image.config.history.slice(0, 2), base.config.history);
      await assertSkopeoCopies(work, image);
    });

    await t.step("compression=zstd without force-compression keeps the base layers", async () => {
      const image = await buildOn(work, base, "compression=zstd");
      await assertUntouched(image, base);
      assert.equal(image.manifest.layers[2].mediaType, OCI_LAYER.zstd);
      await assertSkopeoCopies(work, image);
    });

    await t.step("force-compression with the same type (another level) keeps them", async () => {
      const image = await buildOn(
        work,
        base,
        "compression=gzip,compression-level=1,force-compression=true",
      );
      await assertUntouched(image, base);
      assert.equal(image.manifest.layers[2].mediaType, OCI_LAYER.gzip);
    });

    await t.step("compression=estargz without force-compression keeps them too", async () => {
      const image = await buildOn(work, base, "compression=estargz");
      await assertUntouched(image, base);
      assert.ok(image.manifest.layers[2].annotations[TOC_DIGEST]);
    });
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("build --from an uncompressed base with compression=gzip,force-compression=true gzips the base layers with their diffIDs", async () => {
  const work = await Deno.makeTempDir({ prefix: "ocistream-force-" });
  try {
    await makeTrees(work);
    const base = await makeBase(work, "uncompressed");
    for (const layer of base.manifest.layers) {
      assert.equal(layer.mediaType, OCI_LAYER.uncompressed);
    }
    // An uncompressed layer's digest is its diffID.
    assert.deepEqual(
      base.manifest.layers.map((l: { digest: string }) => l.digest),
      base.config.rootfs.diff_ids,
    );
    const image = await buildOn(work, base, "compression=gzip,force-compression=true");
    assert.deepEqual(image.config.rootfs.diff_ids.slice(0, 2), base.config.rootfs.diff_ids);
    for (const [i, layer] of image.manifest.layers.entries()) {
      assert.equal(layer.mediaType, OCI_LAYER.gzip);
      const blob = blobPath(image.layout, layer.digest);
      assert.equal(await fileSha256(blob), layer.digest);
      assert.equal(await layerDiffId(blob, layer.mediaType), image.config.rootfs.diff_ids[i]);
    }
    await assertSkopeoCopies(work, image);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("build with compression=estargz,force-compression=true converts gzip and zstd base layers to eStargz the reference reader accepts; eStargz base layers stay", async (t) => {
  const work = await Deno.makeTempDir({ prefix: "ocistream-force-" });
  try {
    await makeTrees(work);
    for (const from of ["gzip", "zstd"] as const) {
      await t.step(`from ${from}`, async () => {
        const base = await makeBase(work, from);
        const image = await buildOn(work, base, "compression=estargz,force-compression=true");
        const layers = image.manifest.layers;
        assert.equal(layers.length, 3);
        for (const [i, layer] of layers.entries()) {
          assert.equal(layer.mediaType, OCI_LAYER.gzip, `layer ${i}`);
          const toc = layer.annotations?.[TOC_DIGEST];
          assert.ok(toc, `layer ${i} has a TOC digest`);
          const blob = blobPath(image.layout, layer.digest);
          const diffId = image.config.rootfs.diff_ids[i];
          const { ok, report } = await estargzVerify(blob, toc, diffId);
          assert.ok(ok, `layer ${i}: ${report.error}`);
          assert.equal(
            layer.annotations["io.containers.estargz.uncompressed-size"],
            String(report.uncompressedSize),
          );
          if (i >= 2) continue;
          // The conversion adds the TOC entry: a new diffID, in the config.
          assert.notEqual(diffId, base.config.rootfs.diff_ids[i]);
          assert.notEqual(layer.digest, base.manifest.layers[i].digest);
          // The converted layer is BuildKit's lossless conversion: the base layer's entries,
          // then the TOC, no landmark.
          const baseBlob = blobPath(base.layout, base.manifest.layers[i].digest);
          const listing = (args: string[]) =>
            runOk("tar", args).then((r) => r.stdout.trim().split("\n"));
          const before = await listing([
            from === "zstd" ? "--zstd" : "-z",
            "-tf",
            baseBlob,
          ]);
          const after = await listing(["-tzf", blob]);
          assert.deepEqual(after, [...before, "stargz.index.json"]);
        }
        assert.deepEqual(image.config.history.slice(0, 2), base.config.history);
        await assertSkopeoCopies(work, image);

        // Built again on the converted image, the eStargz layers are left as they are.
        const layout = `${work}/converted-${from}`;
        await runOk("skopeo", [
          "copy",
          "--quiet",
          "--preserve-digests",
          `oci:${image.layout}:example.com/top:1`,
          `oci:${layout}:1`,
        ]);
        const again = await buildOn(
          work,
          { ...image, layout },
          "compression=estargz,force-compression=true",
        );
        await assertUntouched(again, image);
      });
    }
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("force-compression re-compresses base layers at the compression-level asked for, as a fresh build at that level does", async () => {
  const work = await Deno.makeTempDir({ prefix: "ocistream-force-level-" });
  try {
    await makeTrees(work);
    const base = await makeBase(work, "gzip");
    const sizes: number[] = [];
    for (const level of [1, 19]) {
      const image = await buildOn(
        work,
        base,
        `compression=zstd,compression-level=${level},force-compression=true`,
      );
      // tree-a alone, built fresh at the same level: the same tar, so the same zstd bytes.
      const fresh = `${work}/fresh-${level}`;
      const alone = await build(
        `${work}/tree-a`,
        undefined,
        `type=oci,tar=false,dest=${fresh},name=fresh:1,compression=zstd,compression-level=${level},oci-mediatypes=true`,
        fresh,
      );
      const converted = image.manifest.layers[0];
      assert.equal(alone.config.rootfs.diff_ids[0], image.config.rootfs.diff_ids[0]);
      assert.equal(converted.digest, alone.manifest.layers[0].digest, `level ${level}`);
      sizes.push(converted.size);
    }
    assert.ok(
      sizes[1]! < sizes[0]!,
      `level 19 (${sizes[1]} B) smaller than level 1 (${sizes[0]} B)`,
    );
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});
