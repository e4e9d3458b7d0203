import assert from "node:assert/strict";
import { runCli } from "../_harness/cli.ts";
import { estargzVerify } from "../_harness/oracles.ts";
import { blobPath, layerDiffId, readImage, skopeoCopy } from "../_harness/store.ts";

const OLD = 1_600_000_000;

/** Builds `dir` into `store` with JSON progress; returns the layer-done event and the digest. */
async function build(
  dir: string,
  store: string,
  extra: string[] = [],
  output = "type=image,name=example.com/cache/app:1,compression=zstd",
) {
  const r = await runCli([
    "build",
    dir,
    "--store",
    store,
    "--progress",
    "json",
    "--source-date-epoch",
    "0",
    "--output",
    output,
    ...extra,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const events = r.stderr.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
  const done = events.find((e) => e.type === "layer-done");
  const root = events.find((e) => e.type === "done");
  return {
    cached: done.cached === true,
    layer: done.digest as string,
    digest: root.digest as string,
  };
}

Deno.test("ocistream build reuses the cached layer of an unchanged folder; --no-cache and a change rebuild", async () => {
  const root = await Deno.makeTempDir();
  try {
    const dir = `${root}/ctx`;
    await Deno.mkdir(`${dir}/lib`, { recursive: true });
    await Deno.writeTextFile(`${dir}/lib/a.js`, "module.exports = 1;\n");
    await Deno.writeTextFile(`${dir}/index.js`, "require('./lib/a.js');\n");
    for (const f of ["lib/a.js", "index.js"]) await Deno.utime(`${dir}/${f}`, OLD, OLD);
    const store = `${root}/store`;

    const first = await build(dir, store);
    assert.equal(first.cached, false);
    const second = await build(dir, store);
    assert.equal(second.cached, true);
    assert.equal(second.digest, first.digest);
    assert.equal((await build(dir, store, ["--no-cache"])).cached, false);

    // Same size, new content, mtime moved: a miss with a new layer.
    await Deno.writeTextFile(`${dir}/lib/a.js`, "module.exports = 2;\n");
    await Deno.utime(`${dir}/lib/a.js`, OLD, OLD + 60);
    const changed = await build(dir, store);
    assert.equal(changed.cached, false);
    assert.notEqual(changed.layer, first.layer);
    assert.equal((await build(dir, store)).cached, true);

    // A corrupt entry is dropped with a note and the layer rebuilt.
    for (const e of Deno.readDirSync(`${store}/cache/layers`)) {
      await Deno.writeTextFile(`${store}/cache/layers/${e.name}`, "garbage");
    }
    const rebuilt = await build(dir, store);
    assert.equal(rebuilt.cached, false);
    assert.equal(rebuilt.layer, changed.layer);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

const TOC_DIGEST = "containerd.io/snapshot/stargz/toc.digest";

for (const compression of ["gzip", "zstd", "estargz"]) {
  Deno.test(
    `ocistream build with compression=${compression}: a cached rebuild gives the identical image, accepted by skopeo${
      compression === "estargz" ? " and the reference eStargz reader" : ""
    }`,
    async () => {
      const root = await Deno.makeTempDir({ prefix: "ocistream-cached-" });
      try {
        const dir = `${root}/ctx`;
        await Deno.mkdir(`${dir}/lib`, { recursive: true });
        await Deno.writeTextFile(`${dir}/lib/a.js`, "module.exports = 1;\n".repeat(200));
        await Deno.writeTextFile(`${dir}/index.js`, "require('./lib/a.js');\n");
        for (const f of ["lib/a.js", "index.js", "lib", "."]) {
          await Deno.utime(`${dir}/${f}`, OLD, OLD);
        }
        const store = `${root}/store`;
        const output =
          `type=image,name=example.com/cache/${compression}:1,compression=${compression},oci-mediatypes=true`;

        const first = await build(dir, store, [], output);
        assert.equal(first.cached, false);
        const second = await build(dir, store, [], output);
        assert.equal(second.cached, true, "the second build is a cache hit");
        assert.equal(second.layer, first.layer);
        assert.equal(second.digest, first.digest, "the cached rebuild has the same image digest");

        const image = readImage(store, second.digest);
        const [layer] = image.manifest.layers;
        const diffId = image.config.rootfs.diff_ids[0];
        assert.equal(await layerDiffId(blobPath(store, layer.digest), compression), diffId);
        if (compression === "estargz") {
          const toc = layer.annotations?.[TOC_DIGEST];
          assert.ok(toc, "the cached layer keeps its TOC digest annotation");
          const { ok, report } = await estargzVerify(blobPath(store, layer.digest), toc, diffId);
          assert.ok(ok, report.error);
          assert.equal(
            layer.annotations["io.containers.estargz.uncompressed-size"],
            String(report.uncompressedSize),
          );
        }
        const copy = `${root}/copy`;
        assert.equal(
          await skopeoCopy(`oci:${store}:example.com/cache/${compression}:1`, copy),
          second.digest,
        );
      } finally {
        await Deno.remove(root, { recursive: true });
      }
    },
  );
}
