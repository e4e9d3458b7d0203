/**
 * The main job end to end (issue 2): a folder built by the CLI into the store,
 * then checked by real peers — skopeo reads and copies every image, the
 * gzip/zstd tools decompress every layer to its diffID, and umoci unpacks the
 * fixture tree back exactly.
 */
import assert from "node:assert/strict";
import { makeFixtureTree } from "../fixtures/fixture_tree.ts";
import { run, runCli, runOk } from "../_harness/cli.ts";
import { fingerprint, snapshotTree } from "../_harness/tree.ts";
import {
  blobPath,
  fileSha256,
  layerDiffId,
  readBlob,
  readJson,
  runBuild,
  skopeoCopy,
} from "../_harness/store.ts";

const DOCKER_LAYER = {
  uncompressed: "application/vnd.docker.image.rootfs.diff.tar",
  gzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  zstd: "application/vnd.docker.image.rootfs.diff.tar.zstd",
};
const OCI_LAYER = {
  uncompressed: "application/vnd.oci.image.layer.v1.tar",
  gzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  zstd: "application/vnd.oci.image.layer.v1.tar+zstd",
};

Deno.test("build exports the fixture tree into the store for every compression and media-type family, and skopeo, gzip and zstd accept it", async (t) => {
  const work = await Deno.makeTempDir({ prefix: "ocistream-build-" });
  try {
    const context = `${work}/context`;
    await makeFixtureTree(context);
    for (const compression of ["uncompressed", "gzip", "zstd"] as const) {
      for (const oci of [false, true]) {
        await t.step(`compression=${compression} oci-mediatypes=${oci}`, async () => {
          // One store per image: skopeo 1.9 finds Docker-typed entries of
          // index.json only when the layout holds a single image (no name).
          const store = `${work}/store-${compression}-${oci}`;
          const name = `example.com/fixture:${compression}-${oci ? "oci" : "docker"}`;
          const metadataFile = `${work}/meta-${compression}-${oci}.json`;
          const r = await runBuild(
            context,
            store,
            `type=image,name=${name},compression=${compression},oci-mediatypes=${oci}`,
            {
              progress: "plain",
              metadataFile,
              flags: [
                "--entrypoint",
                '["/run.sh"]',
                "--env",
                "A=1",
                "--label",
                "org.example=yes",
                "--expose",
                "8080",
                "--workdir",
                "/dir",
              ],
            },
          );
          assert.equal(r.code, 0, r.stderr);
          assert.equal(r.stdout, "", "nothing on stdout");
          const metadata = readJson(metadataFile);
          const digest: string = metadata["containerimage.digest"];
          assert.match(digest, /^sha256:[a-f0-9]{64}$/);
          assert.equal(metadata["image.name"], name);

          // The store's index names the image.
          const index = readJson(`${store}/index.json`);
          const entry = index.manifests.find((m: { annotations?: Record<string, string> }) =>
            m.annotations?.["org.opencontainers.image.ref.name"] === name
          );
          assert.equal(entry.digest, digest);
          assert.equal(entry.annotations["io.containerd.image.name"], name);

          // skopeo reads it (OCI by name, Docker-typed as the layout's only image).
          const skopeoRef = oci ? `oci:${store}:${name}` : `oci:${store}`;
          const raw = JSON.parse((await runOk("skopeo", ["inspect", "--raw", skopeoRef])).stdout);
          assert.equal(
            raw.mediaType,
            oci
              ? "application/vnd.oci.image.manifest.v1+json"
              : "application/vnd.docker.distribution.manifest.v2+json",
          );
          assert.equal(raw.layers.length, 1);
          assert.equal(raw.layers[0].mediaType, (oci ? OCI_LAYER : DOCKER_LAYER)[compression]);
          const config = readBlob(store, raw.config.digest);
          assert.equal(config.os, "linux");
          assert.deepEqual(config.config.Entrypoint, ["/run.sh"]);
          assert.ok(config.config.Env.includes("A=1"));
          assert.deepEqual(config.config.ExposedPorts, { "8080/tcp": {} });
          assert.equal(config.config.WorkingDir, "/dir");
          assert.equal(config.config.Labels["org.example"], "yes");
          assert.equal(config.rootfs.diff_ids.length, 1);
          assert.equal(
            config.history.filter((h: { empty_layer?: boolean }) => !h.empty_layer).length,
            1,
          );
          assert.equal(metadata["containerimage.config.digest"], raw.config.digest);
          const dockerZstd = !oci && compression === "zstd";
          if (dockerZstd) {
            // As SPEC §1 warns: skopeo 1.9 refuses Docker's zstd layer media type.
            const refused = await run("skopeo", ["inspect", skopeoRef]);
            assert.notEqual(refused.code, 0);
            assert.match(refused.stderr, /unsupported docker v2s2 media type.*tar\.zstd/);
          } else {
            const inspect = await runOk("skopeo", ["inspect", skopeoRef]);
            assert.equal(JSON.parse(inspect.stdout).Digest, digest);
          }

          // Each layer decompresses with the standard tools to its diffID.
          const blob = blobPath(store, raw.layers[0].digest);
          assert.equal(await fileSha256(blob), raw.layers[0].digest);
          const diffId = await layerDiffId(blob, compression);
          assert.equal(diffId, config.rootfs.diff_ids[0]);

          // skopeo copies it to another layout, digests preserved.
          if (!dockerZstd) {
            const other = `${work}/copy-${compression}-${oci}`;
            assert.equal(await skopeoCopy(skopeoRef, other, "copy"), digest);
          }
        });
      }
    }
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("build output unpacked by umoci gives back the same tree", async () => {
  const work = await Deno.makeTempDir({ prefix: "ocistream-umoci-" });
  try {
    const context = `${work}/context`;
    await makeFixtureTree(context);
    const store = `${work}/store`;
    const r = await runBuild(
      context,
      store,
      "type=image,name=example.com/tree:1,oci-mediatypes=true",
      { progress: "quiet" },
    );
    assert.equal(r.code, 0, r.stderr);
    await runOk("umoci", ["unpack", "--image", `${store}:example.com/tree:1`, `${work}/bundle`]);
    const expected = await snapshotTree(context);
    const actual = await snapshotTree(`${work}/bundle/rootfs`);
    assert.deepEqual(actual, expected);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("build rejects bad input with exit 1, a message naming the problem, and the store unchanged", async (t) => {
  const work = await Deno.makeTempDir({ prefix: "ocistream-bad-" });
  try {
    const context = `${work}/context`;
    await Deno.mkdir(context);
    await Deno.writeTextFile(`${context}/a.txt`, "a");
    const store = `${work}/store`;
    const ok = await runBuild(context, store, "type=image,name=example.com/ok:1", {
      progress: "quiet",
    });
    assert.equal(ok.code, 0, ok.stderr);
    const before = await fingerprint(store);
    const cases: [string, string[], RegExp][] = [
      ["unknown key", ["--output", "type=image,compresion=gzip"], /compresion/],
      ["unknown type", ["--output", "type=tarball"], /tarball/],
      ["bad bool", ["--output", "type=image,push=maybe,name=a/b"], /"maybe" for push/],
      ["bad compression", ["--output", "type=image,compression=brotli"], /brotli/],
      [
        "level out of range",
        ["--output", "type=image,compression=gzip,compression-level=10"],
        /compression-level/,
      ],
      [
        "zstd level out of range",
        ["--output", "type=image,compression=zstd,compression-level=23"],
        /compression-level/,
      ],
      ["non-integer level", ["--output", "type=image,compression-level=fast"], /compression-level/],
      ["estargz vs docker types", [
        "--output",
        "type=image,compression=estargz,oci-mediatypes=false",
      ], /compression=estargz conflicts with oci-mediatypes=false/],
      ["push without name", ["--output", "type=image,push=true"], /name/],
      ["rewrite-timestamp with unpack", [
        "--output",
        "type=image,name=example.com/a:1,rewrite-timestamp=true,unpack=true",
      ], /rewrite-timestamp.*unpack|unpack.*rewrite-timestamp/],
      ["invalid name", ["--output", "type=image,name=Example.com/UPPER:1"], /UPPER|name/],
      ["invalid tag", ["--output", "type=image,name=example.com/a:-bad"], /tag/],
      ["bad epoch", ["--source-date-epoch", "yesterday"], /yesterday/],
      ["bad platform", ["--platform", "linux"], /platform/],
    ];
    for (const [label, args, pattern] of cases) {
      await t.step(label, async () => {
        const r = await runCli(["build", context, "--store", store, ...args]);
        assert.equal(r.code, 1, `${label}: exit ${r.code}\n${r.stderr}`);
        assert.match(r.stderr, pattern);
        assert.equal(r.stderr.trim().split("\n").length, 1, `one line: ${r.stderr}`);
        assert.equal(await fingerprint(store), before, `${label}: store changed`);
      });
    }
    await t.step("missing context folder", async () => {
      const r = await runCli(["build", `${work}/nope`, "--store", store]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /nope.*does not exist/);
      assert.equal(await fingerprint(store), before);
    });
    await t.step("unknown flag is a usage error", async () => {
      const r = await runCli(["build", context, "--store", store, "--frobnicate"]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /frobnicate/);
      assert.equal(await fingerprint(store), before);
    });
    await t.step("a fresh store is not created by a failing build", async () => {
      const fresh = `${work}/fresh-store`;
      const r = await runBuild(context, fresh, "type=image,compression=lz4");
      assert.equal(r.code, 1);
      assert.equal(await fingerprint(fresh), "<missing>");
    });
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("images and inspect show what build stored", async () => {
  const work = await Deno.makeTempDir({ prefix: "ocistream-inspect-" });
  try {
    await Deno.mkdir(`${work}/ctx`);
    await Deno.writeTextFile(`${work}/ctx/x`, "x");
    const store = `${work}/store`;
    const built = await runBuild(`${work}/ctx`, store, "type=image,name=example.com/i:1", {
      progress: "quiet",
      metadataFile: `${work}/m.json`,
    });
    assert.equal(built.code, 0, built.stderr);
    const digest = readJson(`${work}/m.json`)["containerimage.digest"];
    const images = await runCli(["images", "--store", store]);
    assert.equal(images.code, 0);
    assert.match(images.stdout, /example\.com\/i:1\s+sha256:/);
    assert.ok(images.stdout.includes(digest));
    const inspect = await runCli(["inspect", "example.com/i:1", "--store", store]);
    assert.equal(inspect.code, 0, inspect.stderr);
    const manifest = JSON.parse(inspect.stdout);
    assert.equal(manifest.schemaVersion, 2);
    const config = JSON.parse(
      (await runCli(["inspect", "example.com/i:1", "--config", "--store", store])).stdout,
    );
    assert.equal(config.rootfs.type, "layers");
    const missing = await runCli(["inspect", "example.com/nothing:1", "--store", store]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /No image "example.com\/nothing:1"/);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});
