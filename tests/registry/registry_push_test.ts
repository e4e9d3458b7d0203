import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { startRegistry } from "../_harness/registry.ts";
import { countingFetch, makeImage, makeIndex, sha256, skopeo, verifyWithSkopeo } from "./_image.ts";
import { RegistryClient } from "../../src/registry/registry_client.ts";
import { RegistryRepository } from "../../src/sinks/registry_repository.ts";
import { copyImage } from "../../src/image/copy_image.ts";
import { resolveImage } from "../../src/registry/resolve_image.ts";
import type { BlobId } from "../../src/types/content.ts";
import { OCI_CONFIG, OCI_LAYER, OCI_MANIFEST } from "../../src/types/media_types.ts";

const uploads = (calls: string[]) =>
  calls.filter((c) => /^(POST|PATCH|PUT) .*\/blobs\/uploads\//.test(c));

Deno.test("copyImage() pushes over plain HTTP; skopeo reads it back; a second push uploads no blob", async () => {
  const reg = await startRegistry();
  try {
    const img = makeImage("hello plain http");
    const repo = new RegistryRepository(new RegistryClient(reg.host), "plain/app");
    const result = await copyImage(img.source, img.root, repo, { tags: ["v1", "v2"] });
    assert.deepEqual(result.blobs.map((b) => b.result), ["uploaded", "uploaded"]);
    await verifyWithSkopeo(`${reg.host}/plain/app:v1`, img.root.digest);
    await verifyWithSkopeo(`${reg.host}/plain/app:v2`, img.root.digest);
    assert.deepEqual((await repo.listTags()).sort(), ["v1", "v2"]);

    const counted = countingFetch();
    const again = new RegistryRepository(
      new RegistryClient(reg.host, { fetch: counted.fetch }),
      "plain/app",
    );
    const second = await copyImage(img.source, img.root, again, { tags: ["v1"] });
    assert.deepEqual(second.blobs.map((b) => b.result), ["exists", "exists"]);
    assert.deepEqual(uploads(counted.calls), []);
    assert.equal(counted.calls.filter((c) => c.startsWith("HEAD ")).length, 2);
  } finally {
    await reg.stop();
  }
});

Deno.test("copyImage() with pushByDigest puts an index and its manifests by digest and creates no tag", async () => {
  const reg = await startRegistry();
  try {
    const idx = makeIndex("by digest");
    const counted = countingFetch();
    const repo = new RegistryRepository(
      new RegistryClient(reg.host, { fetch: counted.fetch }),
      "bydigest/app",
    );
    const result = await copyImage(idx.source, idx.root, repo, { pushByDigest: true });
    assert.deepEqual(result.manifests, [...idx.children.map((c) => c.digest), idx.root.digest]);
    const manifestPuts = counted.calls.filter((c) =>
      c.startsWith("PUT ") && c.includes("/manifests/")
    );
    assert.deepEqual(
      manifestPuts,
      [...idx.children, idx.root].map((d) => `PUT /v2/bydigest/app/manifests/${d.digest}`),
    );
    // Every blob before the first manifest (SPEC §8 order).
    const firstManifest = counted.calls.findIndex((c) => c.includes("/manifests/"));
    const lastBlob = counted.calls.findLastIndex((c) => c.includes("/blobs/"));
    assert.ok(lastBlob < firstManifest);
    assert.deepEqual(await repo.listTags(), []);
    await verifyWithSkopeo(`${reg.host}/bydigest/app@${idx.root.digest}`, idx.root.digest);
    await assert.rejects(
      () => copyImage(idx.source, idx.root, repo, { pushByDigest: true, tags: ["x"] }),
      TypeError,
    );
  } finally {
    await reg.stop();
  }
});

Deno.test("RegistryRepository.putBlob() streams a layer whose digest is known only at its end", async () => {
  const reg = await startRegistry();
  try {
    const img = makeImage("streamed", undefined, "amd64", 300_000);
    const counted = countingFetch();
    const repo = new RegistryRepository(
      new RegistryClient(reg.host, { fetch: counted.fetch }),
      "stream/app",
    );
    // Hash while the bytes flow, as the exporter does with a freshly compressed layer.
    let resolve!: (id: BlobId) => void;
    const expected = new Promise<BlobId>((r) => resolve = r);
    const hash = createHash("sha256");
    let size = 0;
    const body = (await img.source.fetch(img.layer)).pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, c) {
          hash.update(chunk);
          size += chunk.byteLength;
          c.enqueue(chunk);
        },
        flush() {
          resolve({ digest: `sha256:${hash.digest("hex")}`, size });
        },
      }),
    );
    await repo.putBlob(body, expected);
    assert.equal((await expected).digest, img.layer.digest);
    // One POST, one streamed PATCH, one PUT: a single pass.
    assert.deepEqual(uploads(counted.calls).map((c) => c.split(" ")[0]), ["POST", "PATCH", "PUT"]);
    assert.equal(counted.calls.filter((c) => c.startsWith("HEAD ")).length, 0);
    await copyImage(img.source, img.root, repo, { tags: ["latest"] });
    await verifyWithSkopeo(`${reg.host}/stream/app:latest`, img.root.digest);
    const pulled = new Uint8Array(await new Response(await repo.fetch(img.layer)).arrayBuffer());
    assert.equal(sha256(pulled), img.layer.digest);
  } finally {
    await reg.stop();
  }
});

Deno.test("RegistryClient mounts blobs from another repository of the same registry", async () => {
  const reg = await startRegistry();
  try {
    const img = makeImage("mount me");
    const client = new RegistryClient(reg.host);
    await copyImage(img.source, img.root, new RegistryRepository(client, "mount/src"), {
      tags: ["v1"],
    });
    const counted = countingFetch();
    const target = new RegistryRepository(
      new RegistryClient(reg.host, { fetch: counted.fetch }),
      "mount/dst",
    );
    const result = await copyImage(img.source, img.root, target, {
      tags: ["v1"],
      mountFrom: ["mount/src"],
    });
    assert.deepEqual(result.blobs.map((b) => b.result), ["mounted", "mounted"]);
    assert.ok(counted.calls.some((c) => c.includes("?mount=") && c.includes("from=mount%2Fsrc")));
    assert.equal(counted.calls.filter((c) => c.startsWith("PATCH ")).length, 0);
    await verifyWithSkopeo(`${reg.host}/mount/dst:v1`, img.root.digest);
  } finally {
    await reg.stop();
  }
});

Deno.test("RegistryClient uploads in Content-Range chunks when asked", async () => {
  const reg = await startRegistry();
  try {
    const img = makeImage("chunky", undefined, "amd64", 5000);
    const ranges: string[] = [];
    const recording: typeof fetch = (input, init) => {
      const r = new Headers(init?.headers).get("content-range");
      if (r) ranges.push(r);
      return fetch(input, init);
    };
    const client = new RegistryClient(reg.host, {
      fetch: recording,
      chunked: true,
      chunkSize: 2048,
    });
    await copyImage(img.source, img.root, new RegistryRepository(client, "chunk/app"), {
      tags: ["v1"],
    });
    const size = img.layer.size;
    const expected: string[] = [];
    for (let o = 0; o < size; o += 2048) expected.push(`${o}-${Math.min(o + 2048, size) - 1}`);
    assert.ok(expected.length > 1);
    for (const r of expected) assert.ok(ranges.includes(r), `missing Content-Range ${r}`);
    await verifyWithSkopeo(`${reg.host}/chunk/app:v1`, img.root.digest);
  } finally {
    await reg.stop();
  }
});

Deno.test("resolveImage() picks the platform manifest from an index on a registry", async () => {
  const reg = await startRegistry();
  try {
    const idx = makeIndex("resolve");
    const repo = new RegistryRepository(new RegistryClient(reg.host), "resolve/app");
    await copyImage(idx.source, idx.root, repo, { tags: ["multi"] });
    const arm = await resolveImage(repo, "multi", { os: "linux", architecture: "arm64" });
    assert.equal(arm.manifestDescriptor.digest, idx.children[1]!.digest);
    assert.equal(arm.index?.digest, idx.root.digest);
    assert.equal(arm.config.architecture, "arm64");
    assert.equal(arm.manifest.layers.length, 1);
    const single = await resolveImage(repo, idx.children[0]!.digest, {
      os: "linux",
      architecture: "amd64",
    });
    assert.equal(single.manifestDescriptor.digest, idx.children[0]!.digest);
    await assert.rejects(
      () => resolveImage(repo, "multi", { os: "linux", architecture: "s390x" }),
      /no manifest for linux\/s390x/,
    );
    // skopeo agrees on what the tag points at.
    const raw = await skopeo([
      "inspect",
      "--raw",
      "--tls-verify=false",
      `docker://${reg.host}/resolve/app:multi`,
    ]);
    assert.equal(sha256(new TextEncoder().encode(raw)), idx.root.digest);
  } finally {
    await reg.stop();
  }
});

Deno.test("RegistryRepository.putManifest() works for a hand-made manifest pushed by tag", async () => {
  const reg = await startRegistry();
  try {
    const enc = new TextEncoder();
    const repo = new RegistryRepository(new RegistryClient(reg.host), "hand/app");
    const layer = enc.encode("not really a tar but a blob");
    const config = enc.encode("{}");
    const ld = { mediaType: OCI_LAYER, digest: sha256(layer), size: layer.byteLength };
    const cd = { mediaType: OCI_CONFIG, digest: sha256(config), size: config.byteLength };
    await repo.putBlob(new Blob([layer]).stream(), ld);
    await repo.putBlob(new Blob([config]).stream(), cd);
    const m = enc.encode(
      JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: cd, layers: [ld] }),
    );
    await repo.putManifest(
      m,
      { mediaType: OCI_MANIFEST, digest: sha256(m), size: m.byteLength },
      "t",
    );
    const got = await repo.getManifest("t");
    assert.equal(got.digest, sha256(m));
    assert.equal(got.mediaType, OCI_MANIFEST);
  } finally {
    await reg.stop();
  }
});
