import assert from "node:assert/strict";
import { copyImage } from "../../src/image/copy_image.ts";
import { DigestMismatchError } from "../../src/stages/verify_digest_stream.ts";
import type { BlobId, ContentSink } from "../../src/types/content.ts";
import type { Descriptor } from "../../src/types/descriptor.ts";
import { makeImage, makeIndex, sha256 } from "../registry/_image.ts";

/** A sink that records calls in order and checks blob bytes. */
class RecordingSink implements ContentSink {
  log: string[] = [];
  blobs = new Map<string, Uint8Array>();
  hasBlob(digest: string): Promise<boolean> {
    this.log.push(`has ${digest}`);
    return Promise.resolve(this.blobs.has(digest));
  }
  async putBlob(
    body: ReadableStream<Uint8Array>,
    expected: BlobId | Promise<BlobId>,
  ): Promise<void> {
    const bytes = new Uint8Array(await new Response(body).arrayBuffer());
    const id = await expected;
    assert.equal(sha256(bytes), id.digest);
    this.blobs.set(id.digest, bytes);
    this.log.push(`blob ${id.digest}`);
  }
  putManifest(bytes: Uint8Array, d: Descriptor, tag?: string): Promise<void> {
    assert.equal(sha256(bytes), d.digest);
    this.log.push(tag ? `manifest ${d.digest} tag ${tag}` : `manifest ${d.digest}`);
    return Promise.resolve();
  }
}

Deno.test("copyImage() puts every blob, then child manifests by digest, then the root by each tag", async () => {
  const idx = makeIndex("copy");
  const sink = new RecordingSink();
  const result = await copyImage(idx.source, idx.root, sink, { tags: ["a", "b"], concurrency: 2 });
  const manifests = sink.log.filter((l) => l.startsWith("manifest"));
  assert.deepEqual(manifests, [
    `manifest ${idx.children[0]!.digest}`,
    `manifest ${idx.children[1]!.digest}`,
    `manifest ${idx.root.digest} tag a`,
    `manifest ${idx.root.digest} tag b`,
  ]);
  const firstManifest = sink.log.findIndex((l) => l.startsWith("manifest"));
  assert.equal(sink.log.filter((l) => l.startsWith("blob")).length, 4);
  assert.ok(sink.log.slice(firstManifest).every((l) => l.startsWith("manifest")));
  assert.equal(result.blobs.length, 4);
  assert.deepEqual(result.manifests.at(-1), idx.root.digest);
});

Deno.test("copyImage() skips blobs the sink has and puts the root by digest with pushByDigest", async () => {
  const img = makeImage("skip");
  const sink = new RecordingSink();
  sink.blobs.set(img.layer.digest, img.layerBytes);
  const result = await copyImage(img.source, img.root, sink, { pushByDigest: true });
  assert.deepEqual(
    result.blobs.map((b) => [b.digest, b.result]).sort(),
    [[img.layer.digest, "exists"], [img.config.digest, "uploaded"]].sort(),
  );
  assert.deepEqual(sink.log.at(-1), `manifest ${img.root.digest}`);
  await assert.rejects(
    () => copyImage(img.source, img.root, sink, { tags: ["bad tag"] }),
    TypeError,
  );
  await assert.rejects(() => copyImage(img.source, img.root, sink, { concurrency: 0 }), RangeError);
});

Deno.test("copyImage() refuses a manifest larger than its descriptor says", async () => {
  const img = makeImage("short");
  await assert.rejects(
    () => copyImage(img.source, { ...img.root, size: img.root.size - 1 }, new RecordingSink()),
    RangeError,
  );
});

Deno.test("copyImage() re-reads a blob's source only when the sink refused its bytes", async () => {
  for (
    const [refusal, rereads] of [[new Error("connection reset"), 0], [
      new DigestMismatchError("bad bytes"),
      1,
    ]] as const
  ) {
    const img = makeImage("refused");
    const sink = new RecordingSink();
    sink.putBlob = async (body) => {
      await body.pipeTo(new WritableStream());
      throw refusal;
    };
    const before = img.source.fetches;
    await assert.rejects(
      copyImage(img.source, img.root, sink, { concurrency: 1 }),
      (e) => e === refusal,
    );
    // The manifest and the first blob were read once each, then (for refused bytes only) the
    // blob was checked once at its source.
    assert.equal(img.source.fetches - before, 2 + rereads, refusal.message);
  }
});
