import assert from "node:assert/strict";
import {
  buildAttestationManifest,
  buildStatement,
  EMPTY_BYTES,
  EMPTY_DESCRIPTOR,
  encodeStatement,
  imagePurl,
  imageSubjects,
} from "../../src/image/attestations.ts";
import { hashCodecs, sha256Digest } from "../fixtures/tar_tools.ts";
import type { Descriptor } from "../../src/types/descriptor.ts";

const codecs = hashCodecs;
const sha = sha256Digest;
const text = (b: Uint8Array) => new TextDecoder().decode(b);

const IMAGE: Descriptor = {
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  digest: `sha256:${"a".repeat(64)}`,
  size: 700,
  platform: { os: "linux", architecture: "amd64" },
  annotations: { "k": "v" },
};

async function statementBlob(predicateType: string) {
  return await encodeStatement(
    buildStatement({
      subjects: imageSubjects([], IMAGE.digest),
      predicateType,
      predicate: { n: 1 },
    }),
    codecs,
  );
}

Deno.test("EMPTY_DESCRIPTOR is the OCI empty descriptor of the bytes {}", () => {
  assert.equal(text(EMPTY_BYTES), "{}");
  assert.equal(
    sha(EMPTY_BYTES),
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
  );
  assert.deepEqual(EMPTY_DESCRIPTOR, {
    mediaType: "application/vnd.oci.empty.v1+json",
    digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
    size: 2,
    data: "e30=",
  });
  assert.equal(atob(EMPTY_DESCRIPTOR.data!), "{}");
});

Deno.test("buildStatement() writes an in-toto Statement v1 in field order", () => {
  const s = buildStatement({
    subjects: [{ name: "pkg:docker/app@1", digest: IMAGE.digest }],
    predicateType: "https://slsa.dev/provenance/v1",
    predicate: { a: 1 },
  });
  assert.equal(
    JSON.stringify(s),
    `{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://slsa.dev/provenance/v1","subject":[{"name":"pkg:docker/app@1","digest":{"sha256":"${
      "a".repeat(64)
    }"}}],"predicate":{"a":1}}`,
  );
  // An unnamed image has no subject: BuildKit writes "subject":[].
  assert.equal(
    JSON.stringify(buildStatement({ subjects: [], predicateType: "x", predicate: {} })),
    '{"_type":"https://in-toto.io/Statement/v1","predicateType":"x","subject":[],"predicate":{}}',
  );
  assert.throws(
    () =>
      buildStatement({
        subjects: [{ name: "_", digest: "sha512:00" }],
        predicateType: "x",
        predicate: {},
      }),
    /Invalid subject digest/,
  );
});

Deno.test("imagePurl() names images as BuildKit's package URLs", () => {
  const amd64 = { os: "linux", architecture: "amd64" };
  assert.equal(imagePurl("alpine:3", amd64), "pkg:docker/alpine@3?platform=linux%2Famd64");
  assert.equal(imagePurl("docker.io/library/alpine"), "pkg:docker/alpine@latest");
  assert.equal(imagePurl("user/app:1"), "pkg:docker/user/app@1");
  assert.equal(
    imagePurl("example.com:5000/team/app:1", { os: "linux", architecture: "arm", variant: "v7" }),
    "pkg:docker/example.com:5000/team/app@1?platform=linux%2Farm%2Fv7",
  );
  assert.equal(
    imagePurl(`example.com/app@sha256:${"b".repeat(64)}`),
    `pkg:docker/example.com/app?digest=sha256%3A${"b".repeat(64)}`,
  );
  assert.deepEqual(imageSubjects([], IMAGE.digest), []);
  assert.deepEqual(imageSubjects(["a:1", "b:2"], IMAGE.digest).map((s) => s.name), [
    "pkg:docker/a@1",
    "pkg:docker/b@2",
  ]);
});

Deno.test("encodeStatement() makes an in-toto layer with its predicate type annotation", async () => {
  const blob = await statementBlob("https://spdx.dev/Document");
  assert.deepEqual(blob.descriptor, {
    mediaType: "application/vnd.in-toto+json",
    digest: sha(blob.bytes),
    size: blob.bytes.byteLength,
    annotations: { "in-toto.io/predicate-type": "https://spdx.dev/Document" },
  });
  assert.equal(blob.predicateType, "https://spdx.dev/Document");
  assert.ok(!text(blob.bytes).includes("\n"), "compact JSON like json.Marshal");
});

Deno.test("buildAttestationManifest() without oci-artifact uses an unknown/unknown image config", async () => {
  const sbom = await statementBlob("https://spdx.dev/Document");
  const prov = await statementBlob("https://slsa.dev/provenance/v1");
  const att = await buildAttestationManifest({
    oci: true,
    artifact: false,
    imageManifest: IMAGE,
    statements: [sbom, prov],
    codecs,
  });
  assert.equal(
    text(att.config.bytes),
    `{"architecture":"unknown","os":"unknown","config":{},"rootfs":{"type":"layers","diff_ids":["${sbom.descriptor.digest}","${prov.descriptor.digest}"]}}`,
  );
  assert.deepEqual(att.config.descriptor, {
    mediaType: "application/vnd.oci.image.config.v1+json",
    digest: sha(att.config.bytes),
    size: att.config.bytes.byteLength,
  });
  assert.deepEqual(Object.keys(att.manifest), ["schemaVersion", "mediaType", "config", "layers"]);
  assert.deepEqual(att.manifest.config, att.config.descriptor);
  assert.deepEqual(att.manifest.layers, [sbom.descriptor, prov.descriptor]);
  assert.deepEqual(att.descriptor, {
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    digest: sha(att.bytes),
    size: att.bytes.byteLength,
    annotations: {
      "vnd.docker.reference.digest": IMAGE.digest,
      "vnd.docker.reference.type": "attestation-manifest",
    },
    platform: { architecture: "unknown", os: "unknown" },
  });
  assert.deepEqual(att.layers, [sbom, prov]);
});

Deno.test("buildAttestationManifest() with oci-artifact writes artifactType, subject and the empty config", async () => {
  const prov = await statementBlob("https://slsa.dev/provenance/v1");
  const att = await buildAttestationManifest({
    oci: true,
    artifact: true,
    imageManifest: IMAGE,
    statements: [prov],
    codecs,
  });
  assert.deepEqual(Object.keys(att.manifest), [
    "schemaVersion",
    "mediaType",
    "artifactType",
    "config",
    "layers",
    "subject",
  ]);
  assert.equal(att.manifest.artifactType, "application/vnd.docker.attestation.manifest.v1+json");
  assert.deepEqual(att.manifest.config, EMPTY_DESCRIPTOR);
  assert.deepEqual(att.config, { bytes: EMPTY_BYTES, descriptor: EMPTY_DESCRIPTOR });
  // The subject is the plain image manifest descriptor (no platform, no annotations).
  assert.deepEqual(att.manifest.subject, {
    mediaType: IMAGE.mediaType,
    digest: IMAGE.digest,
    size: IMAGE.size,
  });
  // The index entry carries no artifactType, as BuildKit's.
  assert.equal(att.descriptor.artifactType, undefined);
  assert.match(text(att.bytes), /"size": 2,\n {4}"data": "e30="\n/);
  assert.deepEqual(att.descriptor.platform, { architecture: "unknown", os: "unknown" });
  assert.equal(att.descriptor.annotations!["vnd.docker.reference.type"], "attestation-manifest");
  assert.equal(att.descriptor.annotations!["vnd.docker.reference.digest"], IMAGE.digest);
  assert.deepEqual(JSON.parse(text(att.bytes)), att.manifest);
});

Deno.test("buildAttestationManifest() refuses Docker media types and empty statement lists", async () => {
  const prov = await statementBlob("x");
  await assert.rejects(
    () =>
      buildAttestationManifest({
        oci: false as true,
        artifact: false,
        imageManifest: IMAGE,
        statements: [prov],
        codecs,
      }),
    /oci-mediatypes=true/,
  );
  await assert.rejects(
    () =>
      buildAttestationManifest({
        oci: true,
        artifact: false,
        imageManifest: IMAGE,
        statements: [],
        codecs,
      }),
    /at least one statement/,
  );
});

Deno.test("buildAttestationManifest() gives the same bytes for the same input", async () => {
  const make = async () =>
    await buildAttestationManifest({
      oci: true,
      artifact: false,
      imageManifest: IMAGE,
      statements: [await statementBlob("https://spdx.dev/Document")],
      codecs,
    });
  const a = await make();
  const b = await make();
  assert.deepEqual(a.bytes, b.bytes);
  assert.deepEqual(a.config.bytes, b.config.bytes);
});
