import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { buildSpdxSbom, SPDX_PREDICATE_TYPE } from "../../src/image/sbom.ts";
import { encodeJson } from "../../src/image/canonical_json.ts";
import { hashCodecs } from "../fixtures/tar_tools.ts";

const codecs = hashCodecs;
const hex = (s: string) => createHash("sha256").update(s).digest("hex");

const files = [
  { path: "usr/bin/app", sha256: hex("app"), size: 3, layerDigest: `sha256:${"1".repeat(64)}` },
  { path: "./etc/config", sha256: hex("config"), size: 6 },
  { path: "/a.txt", sha256: hex("a"), size: 1, sha1: createHash("sha1").update("a").digest("hex") },
];

Deno.test("buildSpdxSbom() lists files sorted with SHA-256 checksums", async () => {
  const doc = await buildSpdxSbom({ name: "example.com/app:1", files, epoch: 1700000000, codecs });
  assert.equal(SPDX_PREDICATE_TYPE, "https://spdx.dev/Document");
  assert.equal(doc.spdxVersion, "SPDX-2.3");
  assert.equal(doc.dataLicense, "CC0-1.0");
  assert.equal(doc.SPDXID, "SPDXRef-DOCUMENT");
  assert.equal(doc.creationInfo.created, "2023-11-14T22:13:20Z");
  assert.deepEqual(doc.creationInfo.creators, ["Tool: ocistream"]);
  assert.deepEqual(doc.files.map((f) => f.fileName), ["/a.txt", "/etc/config", "/usr/bin/app"]);
  assert.deepEqual(doc.files.map((f) => f.SPDXID), [
    "SPDXRef-File-1",
    "SPDXRef-File-2",
    "SPDXRef-File-3",
  ]);
  assert.deepEqual(doc.files[0]!.checksums, [
    { algorithm: "SHA1", checksumValue: createHash("sha1").update("a").digest("hex") },
    { algorithm: "SHA256", checksumValue: hex("a") },
  ]);
  assert.deepEqual(doc.files[1]!.checksums, [{
    algorithm: "SHA256",
    checksumValue: hex("config"),
  }]);
  assert.equal(doc.files[2]!.comment, `layerID: sha256:${"1".repeat(64)}`);
  assert.equal(doc.files[1]!.comment, undefined);
  assert.match(
    doc.documentNamespace,
    /^https:\/\/jsr\.io\/@ocistream\/ocistream\/spdx\/[a-f0-9]{64}$/,
  );
  assert.equal(doc.packages.length, 1);
  assert.equal(doc.packages[0]!.name, "example.com/app:1");
  assert.deepEqual(doc.relationships[0], {
    spdxElementId: "SPDXRef-DOCUMENT",
    relatedSpdxElement: "SPDXRef-Package-image",
    relationshipType: "DESCRIBES",
  });
  assert.equal(doc.relationships.filter((r) => r.relationshipType === "CONTAINS").length, 3);
});

Deno.test("buildSpdxSbom() is deterministic and the namespace follows the content", async () => {
  const a = await buildSpdxSbom({ name: "app", files, epoch: 0, codecs });
  const b = await buildSpdxSbom({ name: "app", files: [...files].reverse(), epoch: 0, codecs });
  assert.deepEqual(encodeJson(a), encodeJson(b));
  const c = await buildSpdxSbom({ name: "app", files: files.slice(1), epoch: 0, codecs });
  assert.notEqual(c.documentNamespace, a.documentNamespace);
});

Deno.test("buildSpdxSbom() uses whole seconds of now without an epoch", async () => {
  const doc = await buildSpdxSbom({ name: "app", files: [], now: new Date(1500), codecs });
  assert.equal(doc.creationInfo.created, "1970-01-01T00:00:01Z");
  assert.deepEqual(doc.files, []);
});

Deno.test("buildSpdxSbom() rejects bad checksums and duplicate paths", async () => {
  await assert.rejects(
    () => buildSpdxSbom({ name: "a", files: [{ path: "x", sha256: "XYZ", size: 1 }], codecs }),
    /Invalid SHA-256 "XYZ" for x/,
  );
  await assert.rejects(
    () =>
      buildSpdxSbom({
        name: "a",
        files: [{ path: "x", sha256: hex("x"), sha1: "00", size: 1 }],
        codecs,
      }),
    /Invalid SHA-1/,
  );
  await assert.rejects(
    () =>
      buildSpdxSbom({
        name: "a",
        files: [{ path: "x", sha256: hex("x"), size: 1 }, {
          path: "./x",
          sha256: hex("x"),
          size: 1,
        }],
        codecs,
      }),
    /listed twice/,
  );
});
