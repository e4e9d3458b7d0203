/**
 * Attestations end to end (issue 5, SPEC §7): `--attest type=sbom --attest
 * type=provenance` on a two-platform image over a base built by ocistream,
 * laid out per SPEC §7 with `oci-artifact=false` and `=true`; the statements
 * are valid in-toto about each image manifest; the SPDX SBOM lists every file
 * of the image (base layer files included) with the sha256 of the fixture
 * files; OCI media types switch on with a note, and `oci-mediatypes=false`
 * conflicts.
 */
import assert from "node:assert/strict";
import { makeFixtureTree } from "../fixtures/fixture_tree.ts";
import { runCli, runOk } from "../_harness/cli.ts";
import { sha256 } from "../fixtures/tar_tools.ts";
import { blobPath, type Json, readBlob, rootOf, runBuild } from "../_harness/store.ts";
import { snapshotTree } from "../_harness/tree.ts";

const EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
const SPDX = "https://spdx.dev/Document";
const SLSA = "https://slsa.dev/provenance/v1";
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

/** path ("/a/b") → sha256 of every regular file under `dir` (hardlinks count as files). */
async function fileDigests(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [path, node] of Object.entries(await snapshotTree(dir))) {
    if (node.type === "file") out[`/${path}`] = node.sha256!;
  }
  return out;
}

Deno.test("build --attest type=sbom --attest type=provenance lays out attestations per SPEC §7 in both forms", async (t) => {
  const work = await Deno.makeTempDir({ prefix: "ocistream-attest-" });
  try {
    // A two-platform base made with ocistream; its files must appear in the SBOM.
    const baseAmd64 = `${work}/base-amd64`;
    const baseArm64 = `${work}/base-arm64`;
    await Deno.mkdir(`${baseAmd64}/etc`, { recursive: true });
    await Deno.mkdir(`${baseArm64}/etc`, { recursive: true });
    await Deno.writeTextFile(`${baseAmd64}/etc/base-release`, "base for amd64\n");
    await Deno.writeTextFile(`${baseArm64}/etc/base-release`, "base for arm64, other bytes\n");
    const layout = `${work}/base-layout`;
    const b = await runBuild(
      baseAmd64,
      undefined,
      `type=oci,tar=false,dest=${layout},name=base:1`,
      {
        progress: "quiet",
        flags: [
          "--platform",
          "linux/amd64,linux/arm64",
          "--platform-context",
          `linux/arm64=${baseArm64}`,
        ],
      },
    );
    assert.equal(b.code, 0, b.stderr);
    const baseIndex = rootOf(layout).doc;

    const context = `${work}/context`;
    await Deno.mkdir(context);
    await makeFixtureTree(context);
    const contextFiles = await fileDigests(context);
    const baseFiles = [await fileDigests(baseAmd64), await fileDigests(baseArm64)];
    // Regular fixture files are all there (hard-a and its second name included).
    assert.ok(
      contextFiles["/hard-a"] && contextFiles["/dir/hard-b"] && contextFiles["/random.bin"],
    );

    for (const artifact of [false, true]) {
      await t.step(`oci-artifact=${artifact}`, async () => {
        const store = `${work}/store-${artifact}`;
        const name = `example.com/attested:${artifact}`;
        const r = await runBuild(
          context,
          store,
          `type=image,name=${name},oci-artifact=${artifact}`,
          {
            progress: "plain",
            epoch: 1700000000,
            flags: [
              "--from",
              `oci-layout://${layout}:1`,
              "--platform",
              "linux/amd64,linux/arm64",
              "--attest",
              "type=sbom",
              "--attest",
              "type=provenance",
            ],
          },
        );
        assert.equal(r.code, 0, r.stderr);
        // oci-mediatypes was unset: attestations switched it on and said so.
        assert.match(r.stderr, /note: .*attestations.*oci-mediatypes=true/);

        const index = JSON.parse(
          (await runOk("skopeo", ["inspect", "--raw", `oci:${store}:${name}`])).stdout,
        );
        assert.equal(index.mediaType, "application/vnd.oci.image.index.v1+json");
        assert.equal(index.manifests.length, 4);
        const images = index.manifests.slice(0, 2);
        const attestations = index.manifests.slice(2);
        assert.deepEqual(images.map((m: Json) => m.platform.architecture), ["amd64", "arm64"]);

        for (const [i, entry] of attestations.entries()) {
          const image = images[i];
          assert.equal(entry.mediaType, OCI_MANIFEST);
          // BuildKit's index entry never carries the attestation manifest's artifactType.
          assert.equal(entry.artifactType, undefined);
          assert.deepEqual(entry.platform, { architecture: "unknown", os: "unknown" });
          assert.deepEqual(entry.annotations, {
            "vnd.docker.reference.digest": image.digest,
            "vnd.docker.reference.type": "attestation-manifest",
          });
          const manifest = readBlob(store, entry.digest);
          assert.equal(manifest.mediaType, OCI_MANIFEST);
          assert.equal(manifest.layers.length, 2);

          if (artifact) {
            assert.equal(
              manifest.artifactType,
              "application/vnd.docker.attestation.manifest.v1+json",
            );
            assert.deepEqual(manifest.subject, {
              mediaType: image.mediaType,
              digest: image.digest,
              size: image.size,
            });
            assert.deepEqual(manifest.config, {
              mediaType: "application/vnd.oci.empty.v1+json",
              digest: EMPTY_DIGEST,
              size: 2,
              data: "e30=",
            });
            assert.equal(await Deno.readTextFile(blobPath(store, EMPTY_DIGEST)), "{}");
          } else {
            assert.equal(manifest.artifactType, undefined);
            assert.equal(manifest.subject, undefined);
            assert.equal(manifest.config.mediaType, "application/vnd.oci.image.config.v1+json");
            const config = readBlob(store, manifest.config.digest);
            assert.equal(config.architecture, "unknown");
            assert.equal(config.os, "unknown");
            assert.deepEqual(config.rootfs, {
              type: "layers",
              diff_ids: manifest.layers.map((l: Json) => l.digest),
            });
          }

          const imageManifest = readBlob(store, image.digest);
          const predicates: Record<string, Json> = {};
          for (const layer of manifest.layers) {
            assert.equal(layer.mediaType, "application/vnd.in-toto+json");
            const bytes = await Deno.readFile(blobPath(store, layer.digest));
            assert.equal(`sha256:${sha256(bytes)}`, layer.digest);
            assert.equal(bytes.length, layer.size);
            const statement = JSON.parse(new TextDecoder().decode(bytes));
            assert.equal(statement._type, "https://in-toto.io/Statement/v1");
            // in-toto-golang's field order, as BuildKit marshals statements.
            assert.deepEqual(Object.keys(statement), [
              "_type",
              "predicateType",
              "subject",
              "predicate",
            ]);
            assert.deepEqual(layer.annotations, {
              "in-toto.io/predicate-type": statement.predicateType,
            });
            assert.ok(statement.subject.length >= 1);
            for (const subject of statement.subject) {
              assert.equal(typeof subject.name, "string");
              assert.deepEqual(subject.digest, { sha256: image.digest.slice(7) });
            }
            predicates[statement.predicateType] = statement.predicate;
          }
          assert.deepEqual(Object.keys(predicates).sort(), [SLSA, SPDX]);

          // SPDX: every file of the image (base files first, then the context), right sha256.
          const sbom = predicates[SPDX];
          assert.equal(sbom.spdxVersion, "SPDX-2.3");
          assert.equal(sbom.SPDXID, "SPDXRef-DOCUMENT");
          assert.equal(sbom.creationInfo.created, "2023-11-14T22:13:20Z");
          const listed: Record<string, string> = {};
          for (const file of sbom.files) {
            const sha = file.checksums.find((c: Json) => c.algorithm === "SHA256");
            listed[file.fileName] = sha.checksumValue;
            // The layer a file came from is one of the image's layers.
            const layerId = /layerID: (sha256:[0-9a-f]{64})/.exec(file.comment ?? "")?.[1];
            if (layerId) {
              assert.ok(imageManifest.layers.some((l: Json) => l.digest === layerId), layerId);
            }
          }
          assert.deepEqual(listed, { ...baseFiles[i], ...contextFiles });

          // SLSA provenance: the base manifest of this platform, the platform, the options.
          const provenance = predicates[SLSA];
          assert.equal(
            provenance.buildDefinition.externalParameters.platform,
            [
              "linux/amd64",
              "linux/arm64",
            ][i],
          );
          assert.equal(
            provenance.buildDefinition.externalParameters.output["oci-artifact"],
            artifact,
          );
          assert.deepEqual(provenance.buildDefinition.resolvedDependencies, [{
            uri: `oci-layout://${layout}:1`,
            digest: { sha256: baseIndex.manifests[i].digest.slice(7) },
          }]);
          assert.deepEqual(provenance.runDetails.metadata, {
            startedOn: "2023-11-14T22:13:20Z",
            finishedOn: "2023-11-14T22:13:20Z",
          });
        }

        // Every manifest survives skopeo copy --all (attestation manifests included). skopeo
        // 1.9 (image-spec 1.0) drops the descriptors' `artifactType` when it rewrites the
        // index, so the artifact form's index is compared without it.
        const copy = `${work}/copy-${artifact}`;
        await runOk("skopeo", ["copy", "--all", `oci:${store}:${name}`, `oci:${copy}:x`]);
        const copied = rootOf(copy).doc;
        const withoutArtifactType = (doc: Json) => ({
          ...doc,
          manifests: doc.manifests.map(({ artifactType: _, ...m }: Json) => m),
        });
        assert.deepEqual(withoutArtifactType(copied), withoutArtifactType(index));
        for (const m of index.manifests) {
          assert.deepEqual(readBlob(copy, m.digest), readBlob(store, m.digest));
        }
      });
    }
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("build --attest on a single platform gives an index; oci-mediatypes=false conflicts; unknown attestation types are usage errors", async () => {
  const work = await Deno.makeTempDir({ prefix: "ocistream-attest-single-" });
  try {
    const context = `${work}/context`;
    await Deno.mkdir(context);
    await Deno.writeTextFile(`${context}/a.txt`, "a\n");
    const store = `${work}/store`;
    const ok = await runBuild(context, store, "type=image,name=example.com/one:1", {
      progress: "quiet",
      flags: ["--platform", "linux/amd64", "--attest", "type=sbom"],
    });
    assert.equal(ok.code, 0, ok.stderr);
    const index = rootOf(store).doc;
    assert.equal(index.mediaType, "application/vnd.oci.image.index.v1+json");
    assert.deepEqual(index.manifests.map((m: Json) => m.platform), [
      { architecture: "amd64", os: "linux" },
      { architecture: "unknown", os: "unknown" },
    ]);
    // Only the SBOM was asked for.
    const attestation = readBlob(store, index.manifests[1].digest);
    assert.deepEqual(
      attestation.layers.map((l: Json) => l.annotations["in-toto.io/predicate-type"]),
      [SPDX],
    );

    const conflict = await runBuild(
      context,
      `${work}/store-conflict`,
      "type=image,name=example.com/one:2,oci-mediatypes=false",
      { flags: ["--attest", "type=provenance"] },
    );
    assert.equal(conflict.code, 1, conflict.stderr);
    assert.match(conflict.stderr, /attestations conflict with oci-mediatypes=false/);
    assert.equal(conflict.stderr.trim().split("\n").length, 1, conflict.stderr);

    const artifactConflict = await runBuild(
      context,
      `${work}/store-conflict`,
      "type=image,oci-artifact=true,oci-mediatypes=false",
      { flags: ["--attest", "type=sbom"] },
    );
    assert.equal(artifactConflict.code, 1, artifactConflict.stderr);
    assert.match(artifactConflict.stderr, /conflicts with oci-mediatypes=false/);

    const unknown = await runCli(["build", context, "--attest", "type=vex"]);
    assert.equal(unknown.code, 2, unknown.stderr);
    assert.match(unknown.stderr, /type=vex/);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});
