/**
 * `compression=estargz` end to end (issue 4, SPEC §1, §6): layers built by the CLI and by
 * the library are accepted by the reference reader (`estargz-verify`) given the manifest's
 * TOC digest annotation and the config's diffID, carry the right uncompressed size, and
 * list the same TOC entries as the reference writer (`estargz-build`) gives for the same tar.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { makeFixtureTree, pseudoRandomBytes } from "../fixtures/fixture_tree.ts";
import { runOk } from "../_harness/cli.ts";
import {
  blobNames,
  blobPath,
  buildIntoStore,
  commandOutput,
  type Json,
  readImage,
  runBuild,
  skopeoCopy,
} from "../_harness/store.ts";
import { estargzBuild, estargzVerify } from "../_harness/oracles.ts";
import { exportImage } from "../../src/exporter/export_image.ts";
import { parseOutputSpec } from "../../src/exporter/output_spec.ts";
import { createDenoEnvironment } from "../../src/runtime/deno_environment.ts";
import { denoFileSystem } from "../../src/runtime/deno_file_system.ts";
import { directoryEntries } from "../../src/sources/directory_source.ts";
import { encodeLayer, recompressLayer } from "../../src/stages/layer_encoder.ts";
import { webCodecs } from "../../src/stages/web_codecs.ts";

const TOC_DIGEST = "containerd.io/snapshot/stargz/toc.digest";
const UNCOMPRESSED_SIZE = "io.containers.estargz.uncompressed-size";
const OCI_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip";
/** Larger than the 4 MiB chunk: three chunks, the last one short. */
const LARGE_SIZE = (9 << 20) + 4321;

interface TocEntry {
  name: string;
  type: string;
  size?: number;
  mode?: number;
  linkName?: string;
  digest?: string;
  offset?: number;
  chunkOffset?: number;
  chunkSize?: number;
  chunkDigest?: string;
  [key: string]: unknown;
}

/** The TOC (`stargz.index.json`) of an eStargz blob, read with GNU tar. */
async function readToc(blob: string): Promise<TocEntry[]> {
  const out = await runOk("tar", ["-xzOf", blob, "stargz.index.json"]);
  const toc = JSON.parse(out.stdout);
  assert.equal(toc.version, 1);
  return toc.entries;
}

/**
 * sha256 of an eStargz blob's uncompressed stream up to its TOC entry: the stream ends with
 * the TOC's header, its JSON padded to 512 bytes, and two zero blocks.
 */
async function bytesBeforeToc(blob: string): Promise<string> {
  const tocLength = new TextEncoder().encode(
    (await runOk("tar", ["-xzOf", blob, "stargz.index.json"])).stdout,
  ).length;
  const total = (await commandOutput("gzip", ["-dc", blob])).size;
  const keep = total - (512 + Math.ceil(tocLength / 512) * 512 + 1024);
  const child = new Deno.Command("gzip", { args: ["-dc", blob], stdout: "piped" }).spawn();
  const hash = createHash("sha256");
  let seen = 0;
  for await (const chunk of child.stdout) {
    const take = chunk.subarray(0, Math.max(0, keep - seen));
    hash.update(take);
    seen += chunk.length;
  }
  assert.ok((await child.status).success);
  return hash.digest("hex");
}

/** TOC entries without compressed offsets (they depend on the compressor's bytes). */
function withoutOffsets(entries: TocEntry[]): TocEntry[] {
  return entries.map(({ offset: _offset, ...rest }) => rest);
}

/** The fields the issue names, per entry, as a sorted set of lines. */
function entrySet(entries: TocEntry[]): string[] {
  return entries.map((e) =>
    JSON.stringify([
      e.name,
      e.type,
      e.size ?? 0,
      e.mode ?? 0,
      e.linkName ?? "",
      e.digest ?? "",
      e.chunkOffset ?? 0,
      e.chunkSize ?? 0,
      e.chunkDigest ?? "",
    ])
  ).sort();
}

/** Builds the context tree: the fixture tree plus a file of three eStargz chunks. */
async function makeContext(dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await makeFixtureTree(dir);
  await Deno.writeFile(`${dir}/large.bin`, pseudoRandomBytes(LARGE_SIZE, 7));
  await Deno.utime(`${dir}/large.bin`, 1700000000, 1700000000);
  await Deno.utime(dir, 1700000000, 1700000000);
}

/** Runs `ocistream build` and returns the stored manifest, config and stderr. */
function build(context: string, store: string, output: string) {
  return buildIntoStore(context, store, output, { progress: "plain", epoch: 1700000000 });
}

/** Asserts the reference reader accepts every eStargz layer of an image; returns reports. */
async function assertLayersVerify(store: string, manifest: Json, config: Json) {
  const reports = [];
  for (const [i, layer] of manifest.layers.entries()) {
    assert.equal(layer.mediaType, OCI_GZIP);
    const toc = layer.annotations?.[TOC_DIGEST];
    assert.match(toc, /^sha256:[a-f0-9]{64}$/, `layer ${i} has a TOC digest annotation`);
    const blob = blobPath(store, layer.digest);
    const diffId = config.rootfs.diff_ids[i];
    const { ok, report, stderr } = await estargzVerify(blob, toc, diffId);
    assert.ok(ok, `estargz-verify refused layer ${i}: ${report.error} ${stderr}`);
    assert.equal(report.tocDigest, toc);
    assert.equal(report.diffID, diffId);
    // The size annotation is the length of the whole uncompressed stream.
    const plain = await commandOutput("gzip", ["-dc", blob]);
    assert.equal(plain.digest, diffId);
    assert.equal(layer.annotations[UNCOMPRESSED_SIZE], String(plain.size));
    assert.equal(report.uncompressedSize, plain.size);
    reports.push({ report, blob });
  }
  return reports;
}

Deno.test("build compression=estargz: OCI media types switched on, every layer verified by the reference reader, same TOC entries as estargz-build", async () => {
  const work = await Deno.makeTempDir({ prefix: "ocistream-estargz-" });
  try {
    const context = `${work}/context`;
    await makeContext(context);
    const store = `${work}/store`;
    const built = await build(
      context,
      store,
      "type=image,name=example.com/e:1,compression=estargz",
    );
    assert.match(built.stderr, /compression=estargz needs OCI media types/);
    assert.equal(built.manifest.mediaType, "application/vnd.oci.image.manifest.v1+json");
    assert.equal(built.manifest.config.mediaType, "application/vnd.oci.image.config.v1+json");
    assert.equal(built.manifest.layers.length, 1);
    const [{ report, blob }] = await assertLayersVerify(store, built.manifest, built.config);
    // BuildKit's lossless conversion (AppendTarLossLess) adds no landmark.
    assert.equal(report.noPrefetchLandmark, false);
    assert.equal(report.prefetchLandmark, false);

    // skopeo reads and copies it like any gzip layer.
    assert.equal(await skopeoCopy(`oci:${store}:example.com/e:1`, `${work}/copy`), built.digest);

    // The TOC, entry by entry: files larger than a chunk, empty files, hardlinks, symlinks.
    const ours = await readToc(blob);
    const byName = (name: string) => ours.filter((e) => e.name === name);
    assert.ok(!ours.some((e) => e.name.endsWith("landmark")), "no landmark entry");
    const large = byName("large.bin");
    assert.deepEqual(large.map((e) => [e.type, e.chunkOffset ?? 0, e.chunkSize ?? 0]), [
      ["reg", 0, 4 << 20],
      ["chunk", 4 << 20, 4 << 20],
      ["chunk", 8 << 20, 0],
    ]);
    assert.equal(large[0]!.size, LARGE_SIZE);
    const expectedLarge = "sha256:" +
      createHash("sha256").update(pseudoRandomBytes(LARGE_SIZE, 7)).digest("hex");
    assert.equal(large[0]!.digest, expectedLarge);
    const empty = byName("empty.txt")[0]!;
    assert.equal(empty.type, "reg");
    assert.equal(empty.size ?? 0, 0);
    // The walk is sorted, so dir/hard-b is the first name of the pair and hard-a links to it.
    assert.deepEqual(
      [byName("dir/hard-b")[0]!.type, byName("hard-a")[0]!.type, byName("hard-a")[0]!.linkName],
      ["reg", "hardlink", "dir/hard-b"],
    );
    assert.deepEqual(
      [byName("link-rel")[0]!.type, byName("link-rel")[0]!.linkName],
      ["symlink", "dir/sub/deep/file.txt"],
    );
    assert.equal(byName("run.sh")[0]!.mode, 0o755);
    assert.equal(byName("fifo")[0]!.type, "fifo");

    // The reference writer, fed the same tree as a plain tar, lists the same entries.
    const plainStore = `${work}/plain`;
    const plain = await build(
      context,
      plainStore,
      "type=image,name=example.com/p:1,compression=uncompressed,oci-mediatypes=true",
    );
    const tar = blobPath(plainStore, plain.manifest.layers[0].digest);
    const refBlob = `${work}/ref.gz`;
    const ref = await estargzBuild(tar, refBlob, 6);
    const verified = await estargzVerify(refBlob, ref.tocDigest, ref.diffID);
    assert.ok(verified.ok, verified.report.error);
    // estargz.Build puts its .no.prefetch.landmark first; BuildKit's lossless conversion does
    // not, and is otherwise the same.
    const [landmark, ...theirs] = await readToc(refBlob);
    assert.equal(landmark!.name, ".no.prefetch.landmark");
    assert.deepEqual(entrySet(ours), entrySet(theirs));
    // Stronger: the same order and every other field too (only compressed offsets differ).
    assert.deepEqual(withoutOffsets(ours), withoutOffsets(theirs));
    // Lossless: up to the TOC entry, the uncompressed stream is the plain tar, byte for byte
    // (without its two end blocks).
    const plainTar = await Deno.readFile(tar);
    assert.equal(
      await bytesBeforeToc(blob),
      createHash("sha256").update(plainTar.subarray(0, plainTar.length - 1024)).digest("hex"),
    );
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("build compression=estargz with oci-mediatypes=false exits 1 naming both options, nothing written", async () => {
  const work = await Deno.makeTempDir({ prefix: "ocistream-estargz-" });
  try {
    const context = `${work}/context`;
    await Deno.mkdir(context);
    await Deno.writeTextFile(`${context}/a.txt`, "a\n");
    const store = `${work}/store`;
    const r = await runBuild(
      context,
      store,
      "type=image,name=example.com/e:1,compression=estargz,oci-mediatypes=false",
      { progress: "plain" },
    );
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /compression=estargz/);
    assert.match(r.stderr, /oci-mediatypes=false/);
    assert.equal(r.stdout, "");
    assert.deepEqual(await blobNames(store), [], "no blob written");
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

/** Exports the context as one eStargz layer through the library API. */
async function exportLibrary(
  context: string,
  store: string,
  name: string,
  prioritizedFiles: string[] | undefined,
) {
  const env = await createDenoEnvironment({ storePath: store });
  try {
    const [result] = await exportImage(
      {
        platforms: [{
          platform: { os: "linux", architecture: "amd64" },
          layers: [{
            entries: () => directoryEntries(denoFileSystem, context),
            createdBy: "COPY . /",
            prioritizedFiles,
          }],
        }],
        sourceDateEpoch: 1700000000,
      },
      [parseOutputSpec(`type=image,name=${name},compression=estargz`)],
      env,
    );
    return result!;
  } finally {
    await env.close();
  }
}

Deno.test("exportImage() with LayerInput.prioritizedFiles writes them first, before .prefetch.landmark, as estargz-build does", async () => {
  const work = await Deno.makeTempDir({ prefix: "ocistream-estargz-" });
  try {
    const context = `${work}/context`;
    await makeContext(context);
    const store = `${work}/store`;
    const prioritized = ["run.sh", "dir/sub/deep/file.txt", "large.bin"];
    const result = await exportLibrary(context, store, "example.com/prio:1", prioritized);
    const unprioritized = await exportLibrary(context, store, "example.com/plain:1", undefined);
    assert.notEqual(
      unprioritized.manifests[0]!.layers[0]!.digest,
      result.manifests[0]!.layers[0]!.digest,
    );

    const { manifest, config } = readImage(store, result.digest);
    assert.deepEqual(manifest.layers[0], result.manifests[0]!.layers[0]);
    const [{ report, blob }] = await assertLayersVerify(store, manifest, config);
    assert.equal(report.prefetchLandmark, true);
    assert.equal(report.noPrefetchLandmark, false);

    const ours = await readToc(blob);
    const names = ours.filter((e) => e.type !== "chunk").map((e) => e.name);
    const landmark = names.indexOf(".prefetch.landmark");
    assert.ok(landmark > 0, names.join(" "));
    // Every prioritized file (with its folders) is before the landmark, in the given order.
    const before = names.slice(0, landmark);
    assert.deepEqual(before.filter((n) => prioritized.includes(n)), prioritized);
    for (const folder of ["dir/", "dir/sub/", "dir/sub/deep/"]) {
      assert.ok(before.includes(folder), `${folder} comes before the landmark: ${before}`);
    }
    assert.ok(!before.includes("secret"));

    // The reference writer with the same prioritized files lists the same entries.
    const tar = `${work}/layer.tar`;
    const plain = encodeLayer(directoryEntries(denoFileSystem, context), {
      compression: "uncompressed",
      codecs: webCodecs,
    });
    await plain.blob.pipeTo((await Deno.open(tar, { write: true, create: true })).writable);
    const ref = await estargzBuild(tar, `${work}/ref.gz`, 6, prioritized);
    const theirs = await readToc(`${work}/ref.gz`);
    assert.deepEqual(entrySet(ours), entrySet(theirs));
    assert.deepEqual(withoutOffsets(ours), withoutOffsets(theirs));
    const verified = await estargzVerify(`${work}/ref.gz`, ref.tocDigest, ref.diffID);
    assert.ok(verified.ok, verified.report.error);
    assert.equal(await bytesBeforeToc(blob), await bytesBeforeToc(`${work}/ref.gz`));
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("force-compression to eStargz keeps a GNU tar layer's headers byte for byte (AppendTarLossLess), and the reference reader accepts it", async (t) => {
  const work = await Deno.makeTempDir({ prefix: "ocistream-estargz-lossless-" });
  try {
    const tree = `${work}/tree`;
    const long = `${"d".repeat(120)}/${"f".repeat(110)}.txt`;
    await Deno.mkdir(`${tree}/${"d".repeat(120)}`, { recursive: true });
    await Deno.writeTextFile(`${tree}/${long}`, "long name\n");
    await Deno.writeTextFile(`${tree}/héllo.txt`, "non-ASCII name\n");
    await Deno.writeFile(`${tree}/big.bin`, pseudoRandomBytes(5 << 20, 3));
    // GNU tar's own formats: GNU long names (L blocks), and PAX with atime/ctime records.
    for (const format of ["gnu", "pax"]) {
      await t.step(`--format=${format}`, async () => {
        const tarFile = `${work}/${format}.tar`;
        await runOk("tar", [`--format=${format}`, "-C", tree, "-cf", tarFile, "."]);
        const tar = await Deno.readFile(tarFile);
        const encoding = recompressLayer(new Blob([tar]).stream(), "uncompressed", {
          compression: "estargz",
          codecs: webCodecs,
        });
        const blobFile = `${work}/${format}.gz`;
        await Deno.writeFile(
          blobFile,
          new Uint8Array(await new Response(encoding.blob).arrayBuffer()),
        );
        const result = await encoding.result;
        const verified = await estargzVerify(
          blobFile,
          result.annotations["containerd.io/snapshot/stargz/toc.digest"],
          result.diffId,
        );
        assert.ok(verified.ok, verified.report.error);
        // Up to the TOC entry, the converted layer is the source tar (its end blocks aside).
        let end = tar.length;
        while (end > 0 && tar.subarray(end - 512, end).every((b) => b === 0)) end -= 512;
        assert.equal(
          await bytesBeforeToc(blobFile),
          createHash("sha256").update(tar.subarray(0, end)).digest("hex"),
        );
      });
    }
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});
