/**
 * `compression-level` end to end (issue 4, SPEC §1, §6): gzip and zstd layers at several
 * levels decompress with the `gzip`/`zstd` tools to the config's diffID and `skopeo copy`
 * accepts them; levels change the blob, never the diffID; out-of-range levels are refused
 * before any work.
 */
import assert from "node:assert/strict";
import { makeFixtureTree } from "../fixtures/fixture_tree.ts";
import {
  blobNames,
  blobPath,
  buildIntoStore,
  fileSha256,
  layerDiffId,
  readBlob,
  runBuild,
  skopeoCopy,
} from "../_harness/store.ts";

const OCI_LAYER = {
  gzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  zstd: "application/vnd.oci.image.layer.v1.tar+zstd",
};
const EPOCH = "1700000000";

/** The fixture tree plus 2 MiB of compressible text, so every level compresses differently. */
async function makeContext(dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await makeFixtureTree(dir, { fifo: false });
  const lines: string[] = [];
  for (let i = 0, size = 0; size < 2 << 20; i++) {
    const line = `line ${i} of a log: value=${(i * 7919) % 1000} status=${
      i % 3 ? "ok" : "retry"
    }\n`;
    lines.push(line);
    size += line.length;
  }
  await Deno.writeTextFile(`${dir}/log.txt`, lines.join(""));
}

Deno.test("build compression-level: gzip 0/1/9 and zstd 1/3/19 decompress to the diffID with gzip/zstd, skopeo copies them, levels change only the blob", async (t) => {
  const work = await Deno.makeTempDir({ prefix: "ocistream-levels-" });
  try {
    const context = `${work}/context`;
    await makeContext(context);
    const store = `${work}/store`;
    const cases = [
      ["gzip", 0],
      ["gzip", 1],
      ["gzip", 9],
      ["zstd", 1],
      ["zstd", 3],
      ["zstd", 19],
    ] as const;
    const seen: { compression: string; level: number; digest: string; diffId: string }[] = [];
    for (const [compression, level] of cases) {
      await t.step(`compression=${compression},compression-level=${level}`, async () => {
        // OCI media types for zstd too: skopeo 1.9 refuses Docker's zstd layer type.
        const name = `example.com/levels:${compression}-${level}`;
        const meta = `${work}/meta-${compression}-${level}.json`;
        const { digest, manifest, config } = await buildIntoStore(
          context,
          store,
          `type=image,name=${name},compression=${compression},compression-level=${level},oci-mediatypes=true`,
          { progress: "quiet", epoch: EPOCH, metadataFile: meta },
        );
        assert.equal(manifest.layers.length, 1);
        const layer = manifest.layers[0];
        assert.equal(layer.mediaType, OCI_LAYER[compression]);
        const blob = blobPath(store, layer.digest);
        // The blob is what its name says.
        assert.equal(await fileSha256(blob), layer.digest);
        const diffId = await layerDiffId(blob, compression);
        assert.equal(diffId, config.rootfs.diff_ids[0]);

        // skopeo copies it to another layout with the digests kept.
        assert.equal(
          await skopeoCopy(`oci:${store}:${name}`, `${work}/copy-${compression}-${level}`),
          digest,
        );
        seen.push({ compression, level, digest: layer.digest, diffId });
      });
    }
    await t.step("no compression-level means gzip 6 and zstd 3 (SPEC §1)", async () => {
      for (const [compression, level] of [["gzip", 6], ["zstd", 3]] as const) {
        const layers: string[] = [];
        for (const fields of [`compression-level=${level}`, ""]) {
          const meta = `${work}/meta-default.json`;
          const { digest } = await buildIntoStore(
            context,
            store,
            `type=image,compression=${compression},oci-mediatypes=true${
              fields ? "," : ""
            }${fields}`,
            { progress: "quiet", epoch: EPOCH, metadataFile: meta },
          );
          layers.push(readBlob(store, digest).layers[0].digest);
        }
        assert.equal(layers[0], layers[1], `${compression} default level`);
      }
    });
    await t.step("different levels give different blobs with the same diffID", () => {
      assert.equal(seen.length, cases.length);
      assert.equal(new Set(seen.map((s) => s.diffId)).size, 1, "one diffID for every level");
      assert.equal(new Set(seen.map((s) => s.digest)).size, seen.length, "a blob per level");
    });
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("build refuses an out-of-range or malformed compression-level with exit 1 before any work", async () => {
  const work = await Deno.makeTempDir({ prefix: "ocistream-levels-" });
  try {
    const context = `${work}/context`;
    await Deno.mkdir(context);
    await Deno.writeTextFile(`${context}/a.txt`, "a\n");
    const store = `${work}/store`;
    const bad: [string, RegExp][] = [
      ["compression=gzip,compression-level=10", /compression-level=10.*gzip.*0 to 9/],
      ["compression=gzip,compression-level=-1", /compression-level/],
      ["compression=estargz,compression-level=10", /compression-level=10.*estargz.*0 to 9/],
      ["compression=zstd,compression-level=23", /compression-level=23.*zstd.*0 to 22/],
      ["compression=zstd,compression-level=3.5", /compression-level/],
      ["compression=zstd,compression-level=fast", /compression-level/],
      ["compression=brotli", /brotli/],
    ];
    for (const [fields, message] of bad) {
      const r = await runBuild(context, store, `type=image,name=example.com/bad:1,${fields}`, {
        progress: "plain",
      });
      assert.equal(r.code, 1, `${fields}: ${r.stderr}`);
      assert.match(r.stderr, message, fields);
      assert.equal(r.stdout, "");
      // Refused before any work: no layer progress, no blob.
      assert.doesNotMatch(r.stderr, /layer /, fields);
      assert.deepEqual(await blobNames(store), [], `${fields}: nothing written`);
    }
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});
