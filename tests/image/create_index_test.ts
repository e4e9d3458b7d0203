import assert from "node:assert/strict";
import { createIndex } from "../../src/image/create_index.ts";
import { parseAnnotationFlag } from "../../src/exporter/annotations.ts";
import { makeImage, makeIndex, MemorySource, sha256 } from "../registry/_image.ts";
import { DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST } from "../../src/types/media_types.ts";

Deno.test("createIndex() flattens indexes, merges duplicates, takes platforms from configs", async () => {
  const idx = makeIndex("merge");
  const extra = makeImage("riscv", idx.source, "riscv64");
  const amd64 = idx.children[0]!;
  const out = await createIndex([
    { source: idx.source, descriptor: { ...idx.root }, name: "idx" },
    // A manifest the index lists already, without a platform: merged, not repeated.
    { source: idx.source, descriptor: { ...amd64, platform: undefined }, name: "amd64" },
    { source: idx.source, descriptor: extra.root, name: "riscv" },
  ]);
  const doc = JSON.parse(new TextDecoder().decode(out.bytes));
  assert.equal(doc.mediaType, OCI_INDEX);
  assert.deepEqual(
    doc.manifests.map((m: { digest: string; platform: { architecture: string } }) => [
      m.digest,
      m.platform.architecture,
    ]),
    [[amd64.digest, "amd64"], [idx.children[1]!.digest, "arm64"], [extra.root.digest, "riscv64"]],
  );
  assert.equal(out.descriptor.digest, sha256(out.bytes));
  assert.equal(out.descriptor.size, out.bytes.byteLength);
  assert.ok(new TextDecoder().decode(out.bytes).startsWith('{\n  "schemaVersion": 2,\n'));
  assert.deepEqual(out.entries.map((e) => e.from.name), ["amd64", "idx", "riscv"]);
});

Deno.test("createIndex() keeps a lone index byte for byte, and places annotations", async () => {
  const idx = makeIndex("alone");
  const same = await createIndex([{ source: idx.source, descriptor: idx.root, name: "idx" }]);
  assert.equal(same.descriptor.digest, idx.root.digest);
  const annotated = await createIndex([{ source: idx.source, descriptor: idx.root, name: "idx" }], {
    annotations: [
      ...parseAnnotationFlag("index:org.opencontainers.image.title=t"),
      ...parseAnnotationFlag("manifest-descriptor[linux/arm64]:k=arm"),
      ...parseAnnotationFlag("manifest-descriptor:all=yes"),
    ],
  });
  const doc = JSON.parse(new TextDecoder().decode(annotated.bytes));
  assert.deepEqual(doc.annotations, { "org.opencontainers.image.title": "t" });
  assert.deepEqual(doc.manifests[0].annotations, { all: "yes" });
  assert.deepEqual(doc.manifests[1].annotations, { all: "yes", k: "arm" });
  await assert.rejects(
    createIndex([{ source: idx.source, descriptor: idx.root, name: "idx" }], {
      annotations: parseAnnotationFlag("manifest:k=v"),
    }),
    /manifest annotations cannot be set/,
  );
});

Deno.test("createIndex() makes a Docker list of Docker manifests and refuses to mix without ociMediaTypes", async () => {
  const source = new MemorySource();
  const a = makeImage("docker a", source, "amd64");
  const b = makeImage("oci b", source, "arm64");
  const docker = { ...a.root, mediaType: DOCKER_MANIFEST };
  const list = await createIndex([
    { source, descriptor: docker, name: "a" },
    { source, descriptor: { ...docker }, name: "a again" },
  ]);
  assert.equal(
    list.descriptor.mediaType,
    "application/vnd.docker.distribution.manifest.list.v2+json",
  );
  await assert.rejects(
    createIndex([{ source, descriptor: docker, name: "a" }], {
      annotations: parseAnnotationFlag("index:k=v"),
    }),
    /--oci-mediatypes/,
  );
  const mixed = [
    { source, descriptor: docker, name: "a" },
    { source, descriptor: { ...b.root, mediaType: OCI_MANIFEST }, name: "b" },
  ];
  await assert.rejects(createIndex(mixed), /a is Docker, b is OCI.*--oci-mediatypes/);
  const forced = await createIndex(mixed, { ociMediaTypes: true });
  assert.equal(forced.descriptor.mediaType, OCI_INDEX);
  await assert.rejects(createIndex([]), TypeError);
});
