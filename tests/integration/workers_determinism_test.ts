/**
 * Compression that uses every core gives the same bytes whatever the number of workers
 * (issue 4, SPEC §5, §6): `--workers 1`, `2` and `8` build the same image digests for
 * gzip, zstd and eStargz on a tree with a file large enough (> 32 MiB) for the parallel
 * paths to engage; through the library, native codecs on the calling thread and on
 * workers agree, and the web codecs write the same tar (diffID).
 */
import assert from "node:assert/strict";
import { makeFixtureTree, pseudoRandomBytes } from "../fixtures/fixture_tree.ts";
import { blobPath, buildIntoStore, type Json, layerDiffId, readImage } from "../_harness/store.ts";
import { exportImage } from "../../src/exporter/export_image.ts";
import { parseOutputSpec } from "../../src/exporter/output_spec.ts";
import { createNativeCodecs } from "../../src/runtime/native_codecs.ts";
import { CompressPool } from "../../src/runtime/parallel_pool.ts";
import { denoFileSystem } from "../../src/runtime/deno_file_system.ts";
import { OciLayout } from "../../src/sinks/oci_layout.ts";
import { directoryEntries } from "../../src/sources/directory_source.ts";
import { webCodecs } from "../../src/stages/web_codecs.ts";
import type { Codecs } from "../../src/types/codecs.ts";

const EPOCH = "1700000000";
const LARGE_SIZE = 40 << 20;

/**
 * The fixture tree plus a 40 MiB file that alternates random and text-like 256 KiB
 * stretches, so every compressor has real work on every block.
 */
async function makeContext(dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await makeFixtureTree(dir, { fifo: false });
  const large = pseudoRandomBytes(LARGE_SIZE, 42);
  const stretch = 256 << 10;
  for (let at = stretch; at < LARGE_SIZE; at += 2 * stretch) {
    for (let i = at; i < Math.min(at + stretch, LARGE_SIZE); i++) large[i] = 0x61 + (large[i]! & 7);
  }
  await Deno.writeFile(`${dir}/large.bin`, large);
  await Deno.utime(`${dir}/large.bin`, 1700000000, 1700000000);
  await Deno.utime(dir, 1700000000, 1700000000);
}

Deno.test("build --workers 1, 2 and 8 give identical image digests for gzip, zstd and estargz on a tree with a 40 MiB file", async (t) => {
  const work = await Deno.makeTempDir({ prefix: "ocistream-workers-" });
  try {
    const context = `${work}/context`;
    await makeContext(context);
    for (const compression of ["gzip", "zstd", "estargz"] as const) {
      await t.step(`compression=${compression}`, async () => {
        const built: { workers: number; digest: string; layer: Json; diffId: string }[] = [];
        for (const workers of [1, 2, 8]) {
          const store = `${work}/store-${compression}-${workers}`;
          const { digest, manifest, config } = await buildIntoStore(
            context,
            store,
            `type=image,name=example.com/w:1,compression=${compression},oci-mediatypes=true`,
            {
              flags: ["--workers", String(workers)],
              progress: "quiet",
              epoch: EPOCH,
              metadataFile: `${work}/meta-${compression}-${workers}.json`,
            },
          );
          built.push({
            workers,
            digest,
            layer: manifest.layers[0],
            diffId: config.rootfs.diff_ids[0],
          });
          if (workers === 1) {
            // The layer really holds the tree: it decompresses to its diffID.
            const blob = blobPath(store, manifest.layers[0].digest);
            assert.equal(await layerDiffId(blob, compression), config.rootfs.diff_ids[0]);
            assert.ok(manifest.layers[0].size > 20 << 20, "the large file made a large layer");
          }
          await Deno.remove(store, { recursive: true });
        }
        for (const b of built.slice(1)) {
          assert.deepEqual(b.layer, built[0]!.layer, `layer with ${b.workers} workers`);
          assert.equal(b.diffId, built[0]!.diffId);
          assert.equal(b.digest, built[0]!.digest, `image digest with ${b.workers} workers`);
        }
      });
    }
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

/** Exports the context through the library with the given codecs; returns the layer. */
async function exportWith(context: string, store: string, codecs: Codecs, compression: string) {
  const layout = await OciLayout.open(denoFileSystem, store, codecs);
  const [result] = await exportImage(
    {
      platforms: [{
        platform: { os: "linux", architecture: "amd64" },
        layers: [{ entries: () => directoryEntries(denoFileSystem, context) }],
      }],
      sourceDateEpoch: Number(EPOCH),
    },
    [parseOutputSpec(`type=image,name=example.com/lib:1,compression=${compression}`)],
    { codecs, store: layout },
  );
  const { manifest, config } = readImage(store, result!.digest);
  return { digest: result!.digest, layer: manifest.layers[0], diffId: config.rootfs.diff_ids[0] };
}

Deno.test("exportImage() with native codecs on 0, 1 and 4 workers gives one digest; web codecs write the same tar (diffID)", async (t) => {
  const work = await Deno.makeTempDir({ prefix: "ocistream-workers-" });
  try {
    const context = `${work}/context`;
    await makeContext(context);
    for (const compression of ["gzip", "zstd"] as const) {
      await t.step(`compression=${compression}`, async () => {
        const native = [];
        for (const workers of [0, 1, 4]) {
          const store = `${work}/lib-${compression}-${workers}`;
          native.push(
            await exportWith(context, store, createNativeCodecs({ workers }), compression),
          );
          await Deno.remove(store, { recursive: true });
        }
        for (const n of native.slice(1)) assert.deepEqual(n, native[0]);
        // Web codecs (CompressionStream, zstd-wasm) compress differently; the tar is the same.
        const store = `${work}/lib-web`;
        const web = await exportWith(context, store, webCodecs, compression);
        assert.equal(web.diffId, native[0]!.diffId);
        const blob = blobPath(store, web.layer.digest);
        assert.equal(await layerDiffId(blob, compression), web.diffId);
        await Deno.remove(store, { recursive: true });
      });
    }
  } finally {
    await CompressPool.terminateAll();
    await Deno.remove(work, { recursive: true });
  }
});
