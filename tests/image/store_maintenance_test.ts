import assert from "node:assert/strict";
import { pruneStore, verifyStore } from "../../src/image/store_maintenance.ts";
import { walkImage } from "../../src/image/walk_image.ts";
import { OciLayout } from "../../src/sinks/oci_layout.ts";
import { denoFileSystem as fs } from "../../src/runtime/deno_file_system.ts";
import { unpackImage } from "../../src/runtime/unpack_image.ts";
import { file, testCodecs as codecs, writeImage, writeIndex } from "../sinks/_image_fixture.ts";

const HOUR = 3600_000;
const later = () => Date.now() + 2 * HOUR;

async function withStore<T>(fn: (layout: OciLayout, tmp: string) => Promise<T>): Promise<T> {
  const tmp = await Deno.makeTempDir({ prefix: "ocistream-maint-test-" });
  try {
    return await fn(await OciLayout.open(fs, `${tmp}/store`, codecs), tmp);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

async function blobs(layout: OciLayout): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(`${layout.root}/blobs/sha256`))).map((e) => e.name)
    .sort();
}

Deno.test("walkImage() lists an index, its manifests, configs and layers once each", async () => {
  await withStore(async (layout) => {
    const shared = [file("shared", "same in both")];
    const a = await writeImage(layout, [shared, [file("a", "a")]]);
    const b = await writeImage(layout, [shared], {
      platform: { os: "linux", architecture: "arm64", variant: "v8" },
    });
    const index = await writeIndex(layout, [a, b]);
    const nodes = await walkImage(layout, index);
    assert.deepEqual(nodes.map((n) => n.kind), [
      "index",
      "manifest",
      "config",
      "layer",
      "layer",
      "manifest",
      "config",
    ]);
    assert.equal(nodes[3]!.parent, a.digest);
    const onlyArm = await walkImage(layout, index, {
      filter: (m) => m.platform?.architecture === "arm64",
    });
    assert.deepEqual(onlyArm.map((n) => n.kind), ["index", "manifest", "config", "layer"]);
  });
});

Deno.test("pruneStore() deletes unreachable blobs past the grace period and keeps the rest", async () => {
  await withStore(async (layout) => {
    const kept = await writeImage(layout, [[file("kept", "kept")]]);
    await layout.setNames(kept, ["example.com/kept:1"]);
    const gone = await writeImage(layout, [[file("gone", "gone")]]);
    await layout.setNames(gone, ["example.com/gone:1"]);
    const keptBlobs = (await walkImage(layout, kept)).map((n) => n.descriptor.digest.slice(7));
    const goneRootfs = await unpackImage(layout, gone, { os: "linux", architecture: "amd64" }, {
      codecs,
    });
    await Deno.writeTextFile(`${layout.root}/blobs/sha256/.tmp-killed`, "partial");
    await Deno.writeTextFile(`${layout.root}/index.json.tmp-killed`, "{");

    await layout.removeNames(["example.com/gone:1"]);
    // Within the grace period nothing goes: an export may be about to name these blobs.
    const early = await pruneStore(layout, { fs });
    assert.deepEqual(early.removed, []);
    assert.equal(early.keptRecent.length, 3);
    assert.deepEqual(early.tempRemoved, []);
    assert.equal(early.unpackedRemoved.length, 1); // the image is gone; its rootfs is derived data
    assert.equal(await Deno.lstat(goneRootfs).catch(() => undefined), undefined);

    const dry = await pruneStore(layout, { fs, now: later, dryRun: true });
    assert.equal(dry.removed.length, 3);
    assert.equal((await blobs(layout)).length, 7);

    const result = await pruneStore(layout, { fs, now: later });
    assert.equal(result.removed.length, 3);
    assert.ok(result.freedBytes > 0);
    assert.deepEqual(result.tempRemoved.map((p) => p.split("/").at(-1)).sort(), [
      ".tmp-killed",
      "index.json.tmp-killed",
    ]);
    assert.deepEqual(await blobs(layout), keptBlobs.sort());
    assert.deepEqual((await verifyStore(layout, { fs, codecs })).problems, []);
  });
});

Deno.test("pruneStore() during an export keeps the export's blobs and its name", async () => {
  await withStore(async (layout) => {
    // An export has written its blobs but not yet its name...
    const inProgress = await writeImage(layout, [[file("new", "new layer")]]);
    const before = await blobs(layout);
    // ...prune runs (default grace) while the export names its image.
    const [pruned] = await Promise.all([
      pruneStore(layout, { fs }),
      layout.setNames(inProgress, ["example.com/new:1"]),
    ]);
    assert.deepEqual(pruned.removed, []);
    assert.deepEqual(await blobs(layout), before);
    assert.equal((await layout.resolve("example.com/new:1"))?.digest, inProgress.digest);
    // Once named, even a prune with no grace keeps them.
    assert.deepEqual((await pruneStore(layout, { fs, graceMs: 0 })).removed, []);
  });
});

Deno.test("pruneStore() refuses to run when a named image cannot be read", async () => {
  await withStore(async (layout) => {
    const image = await writeImage(layout, [[file("a", "a")]]);
    await layout.setNames(image, ["example.com/a:1"]);
    await Deno.remove(layout.blobPath(image.digest));
    await assert.rejects(
      pruneStore(layout, { fs, graceMs: 0 }),
      /Cannot prune: image example.com\/a:1 cannot be read .*run 'ocistream verify'/,
    );
    assert.equal((await blobs(layout)).length, 2);
  });
});

Deno.test("verifyStore() reports corrupt, missing and mis-sized blobs and tolerates leftovers", async () => {
  await withStore(async (layout) => {
    const a = await writeImage(layout, [[file("a", "a")], [file("b", "b")]]);
    const b = await writeImage(layout, [[file("c", "c")]], {
      platform: { os: "linux", architecture: "arm64", variant: "v8" },
    });
    const index = await writeIndex(layout, [a, b]);
    await layout.setNames(index, ["example.com/multi:1"]);
    await Deno.writeTextFile(`${layout.root}/blobs/sha256/.tmp-leftover`, "x");
    await Deno.writeTextFile(`${layout.root}/index.json.lock`, "0");
    const clean = await verifyStore(layout, { fs, codecs });
    assert.deepEqual(clean.problems, []);
    assert.equal(clean.blobs, 8);
    assert.equal(clean.images, 1);
    assert.ok(clean.notes.some((n) => n.includes("1 leftover temp file")));
    assert.ok(clean.notes.some((n) => n.includes("index.json.lock exists")));

    const nodes = await walkImage(layout, index);
    const layers = nodes.filter((n) => n.kind === "layer").map((n) => n.descriptor);
    await Deno.writeTextFile(layout.blobPath(layers[0]!.digest), "corrupted");
    await Deno.remove(layout.blobPath(layers[1]!.digest));
    const broken = await verifyStore(layout, { fs, codecs });
    assert.equal(broken.problems.length, 2, broken.problems.join("\n"));
    assert.match(
      broken.problems[0]!,
      new RegExp(`blob ${layers[0]!.digest} is corrupt: its content hashes to sha256:`),
    );
    assert.match(
      broken.problems[1]!,
      new RegExp(
        `image example.com/multi:1: layer ${
          layers[1]!.digest
        } is missing \\(referenced by ${a.digest}\\)`,
      ),
    );
  });
});
