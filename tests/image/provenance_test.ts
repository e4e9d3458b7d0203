import assert from "node:assert/strict";
import {
  buildProvenance,
  OCISTREAM_BUILD_TYPE,
  OCISTREAM_BUILDER_ID,
  SLSA_PROVENANCE_V1,
} from "../../src/image/provenance.ts";
import { encodeJsonText } from "../../src/image/canonical_json.ts";

Deno.test("buildProvenance() writes an SLSA v1 predicate", () => {
  assert.equal(SLSA_PROVENANCE_V1, "https://slsa.dev/provenance/v1");
  const p = buildProvenance({
    externalParameters: { output: "type=image,name=app:1", platform: "linux/amd64" },
    internalParameters: { deno: "2.9.6" },
    resolvedDependencies: [{
      uri: "pkg:docker/alpine@3?platform=linux%2Famd64",
      digest: `sha256:${"e".repeat(64)}`,
    }],
    builderVersion: { ocistream: "0.1.0" },
    invocationId: "run-1",
    startedOn: new Date(Date.UTC(2024, 0, 1)),
    finishedOn: new Date(Date.UTC(2024, 0, 1, 0, 0, 3, 500)),
  });
  assert.equal(
    encodeJsonText(p),
    JSON.stringify({
      buildDefinition: {
        buildType: OCISTREAM_BUILD_TYPE,
        externalParameters: { output: "type=image,name=app:1", platform: "linux/amd64" },
        internalParameters: { deno: "2.9.6" },
        resolvedDependencies: [{
          uri: "pkg:docker/alpine@3?platform=linux%2Famd64",
          digest: { sha256: "e".repeat(64) },
        }],
      },
      runDetails: {
        builder: { id: OCISTREAM_BUILDER_ID, version: { ocistream: "0.1.0" } },
        metadata: {
          invocationId: "run-1",
          startedOn: "2024-01-01T00:00:00Z",
          finishedOn: "2024-01-01T00:00:03Z",
        },
      },
    }),
  );
});

Deno.test("buildProvenance() with an epoch is reproducible", () => {
  const make = (start: number) =>
    encodeJsonText(buildProvenance({
      externalParameters: { a: 1 },
      invocationId: `run-${start}`,
      startedOn: new Date(start),
      finishedOn: new Date(start + 1000),
      epoch: 0,
    }));
  assert.equal(make(1000), make(99999999));
  const p = JSON.parse(make(5));
  assert.deepEqual(p.runDetails.metadata, {
    startedOn: "1970-01-01T00:00:00Z",
    finishedOn: "1970-01-01T00:00:00Z",
  });
});

Deno.test("buildProvenance() omits what is not given and checks digests", () => {
  const p = buildProvenance({ externalParameters: {} });
  assert.deepEqual(p, {
    buildDefinition: { buildType: OCISTREAM_BUILD_TYPE, externalParameters: {} },
    runDetails: { builder: { id: OCISTREAM_BUILDER_ID } },
  });
  assert.throws(
    () =>
      buildProvenance({
        externalParameters: {},
        resolvedDependencies: [{ uri: "x", digest: "nope" }],
      }),
    /Invalid digest "nope" for x/,
  );
});
