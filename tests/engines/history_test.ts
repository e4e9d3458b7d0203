/**
 * A base without history (issue 15 item 3): BuildKit's `normalizeLayersAndHistory` gives
 * every layer a history entry, so `podman history` credits the build's `COPY` to the layer
 * it made, not to a base layer.
 * @module
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { startPodman } from "../_harness/engines.ts";
import { readBlob, readJson, runBuild, withTempDir } from "../_harness/store.ts";
import { makeContext } from "../integration/_registry_cli.ts";

/** Writes `bytes` as a blob of the layout and returns its digest. */
async function putBlob(layout: string, bytes: Uint8Array): Promise<string> {
  const hex = createHash("sha256").update(bytes).digest("hex");
  await Deno.writeFile(`${layout}/blobs/sha256/${hex}`, bytes);
  return `sha256:${hex}`;
}

Deno.test("podman history credits each layer of a build on a base without history", async () => {
  await withTempDir("ocistream-no-history-", async (dir) => {
    // A two-layer base, then its history removed (as some tools write images).
    const base = `${dir}/base`;
    const a = await makeContext(`${dir}/a`, "base layer one");
    const built = await runBuild(a, undefined, `type=oci,dest=${base},tar=false`, {
      progress: "quiet",
      epoch: 1000,
      metadataFile: `${dir}/base.json`,
      flags: [
        "--platform",
        "linux/amd64",
        "--layer",
        `src=${await makeContext(`${dir}/b`, "two")},dest=/two`,
      ],
    });
    assert.equal(built.code, 0, built.stderr);
    const manifest = readBlob(base, readJson(`${dir}/base.json`)["containerimage.digest"]);
    assert.equal(manifest.layers.length, 2);
    const config = readBlob(base, manifest.config.digest);
    delete config.history;
    const configBytes = new TextEncoder().encode(JSON.stringify(config));
    manifest.config = {
      ...manifest.config,
      digest: await putBlob(base, configBytes),
      size: configBytes.length,
    };
    const manifestBytes = new TextEncoder().encode(JSON.stringify(manifest));
    const manifestDigest = await putBlob(base, manifestBytes);
    await Deno.writeTextFile(
      `${base}/index.json`,
      JSON.stringify({
        schemaVersion: 2,
        manifests: [{
          mediaType: manifest.mediaType,
          digest: manifestDigest,
          size: manifestBytes.length,
        }],
      }),
    );

    const context = await makeContext(`${dir}/context`, "the build's own layer");
    const archive = `${dir}/image.tar`;
    const r = await runBuild(
      context,
      undefined,
      `type=docker,dest=${archive},name=example.com/h:1`,
      {
        progress: "quiet",
        epoch: 2000,
        flags: ["--platform", "linux/amd64", "--from", `oci-layout://${base}`],
      },
    );
    assert.equal(r.code, 0, r.stderr);

    const podman = await startPodman();
    try {
      const load = await podman.load("docker", archive);
      assert.equal(load.code, 0, load.stderr);
      const history = await podman.cli([
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}|{{.Size}}|{{.Comment}}",
        "example.com/h:1",
      ]);
      assert.equal(history.code, 0, history.stderr);
      // Newest first: the build's COPY is the top layer, each base layer has its own entry.
      const lines = history.stdout.trim().split("\n");
      assert.equal(lines.length, 3, history.stdout);
      assert.match(lines[0]!, /^COPY \. \/ # buildkit\|.*\|buildkit\.dockerfile\.v0$/);
      for (const line of lines.slice(1)) {
        assert.match(line, /^pulled from oci-layout:\/\/.*\|.*\|buildkit\.exporter\.image\.v0$/);
      }
    } finally {
      await podman.stop();
    }
  });
});
