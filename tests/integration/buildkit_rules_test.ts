/**
 * BuildKit's exporter rules through the CLI (issue 15, items 1, 2, 8, 9, 10, 12, 13, 15, 16),
 * checked against real peers where one exists: a `docker-registry` and skopeo.
 */
import assert from "node:assert/strict";
import { runOk } from "../_harness/cli.ts";
import { startRegistry } from "../_harness/registry.ts";
import { type Json, readBlob, readJson, runBuild, withTempDir } from "../_harness/store.ts";
import { dockerConfig, makeContext, verifyPushed } from "./_registry_cli.ts";

const PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const HOST_ARCH = Deno.build.arch === "x86_64" ? "amd64" : "arm64";
const OTHER_ARCH = HOST_ARCH === "amd64" ? "arm64" : "amd64";

/** The names index.json gives each root digest of a store. */
function storeNames(store: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const m of readJson(`${store}/index.json`).manifests) {
    const name = m.annotations?.["io.containerd.image.name"] ??
      m.annotations?.["org.opencontainers.image.ref.name"];
    out.set(m.digest, [...(out.get(m.digest) ?? []), name]);
  }
  return out;
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

Deno.test("build with several --output makes one image: the metadata file's digest is the pushed one and skopeo pulls it by digest", async () => {
  const reg = await startRegistry();
  try {
    await withTempDir("ocistream-one-image-", async (dir) => {
      const context = await makeContext(`${dir}/context`, "one build, one image");
      const env = { DOCKER_CONFIG: await dockerConfig(dir, {}) };
      const store = `${dir}/store`;
      // No epoch: `created` is the build's time, which every output must share.
      const r = await runBuild(context, store, `type=registry,name=${reg.host}/x:1`, {
        progress: "quiet",
        metadataFile: `${dir}/meta.json`,
        flags: ["--output", "type=image,name=example.com/x:1", "--platform", "linux/amd64"],
        env,
      });
      assert.equal(r.code, 0, r.stderr);
      const meta = readJson(`${dir}/meta.json`);
      const digest = meta["containerimage.digest"];
      // Both outputs are the same image: one root in the store, under both names.
      assert.deepEqual(
        [...storeNames(store).entries()].map(([d, n]) => [d, n.sort()]),
        [[digest, [`${reg.host}/x:1`, "example.com/x:1"]]],
      );
      // The reported digest is in the registry (it was not: each output had its own config).
      await verifyPushed(`${reg.host}/x@${digest}`, digest);
    });
  } finally {
    await reg.stop();
  }
});

Deno.test("build unpack=true unpacks the host's platform, only with a name, nothing when none matches", async () => {
  await withTempDir("ocistream-unpack-host-", async (dir) => {
    const host = await makeContext(`${dir}/host`, "host platform");
    const other = await makeContext(`${dir}/other`, "other platform");
    const store = `${dir}/store`;
    // The host's platform listed second: BuildKit unpacks the platform matching the host.
    const r = await runBuild(host, store, "type=image,name=example.com/u:1,unpack=true", {
      progress: "quiet",
      metadataFile: `${dir}/meta.json`,
      flags: [
        "--platform",
        `linux/${OTHER_ARCH},linux/${HOST_ARCH}`,
        "--platform-context",
        `linux/${OTHER_ARCH}=${other}`,
      ],
    });
    assert.equal(r.code, 0, r.stderr);
    const index = readBlob(store, readJson(`${dir}/meta.json`)["containerimage.digest"]);
    const byArch = (arch: string) =>
      index.manifests.find((m: Json) => m.platform.architecture === arch).digest.slice(7);
    assert.ok(await exists(`${store}/unpacked/${byArch(HOST_ARCH)}/rootfs`), "host unpacked");
    assert.ok(!(await exists(`${store}/unpacked/${byArch(OTHER_ARCH)}`)), "other not unpacked");
    const payload = [...Deno.readDirSync(`${store}/unpacked/${byArch(HOST_ARCH)}/rootfs`)]
      .map((e) => e.name);
    assert.deepEqual(payload, [...Deno.readDirSync(host)].map((e) => e.name));

    // Without a name BuildKit never reaches its unpack step.
    const unnamed = `${dir}/store-unnamed`;
    const u = await runBuild(host, unnamed, "type=image,unpack=true", { progress: "quiet" });
    assert.equal(u.code, 0, u.stderr);
    assert.ok(!(await exists(`${unnamed}/unpacked`)), "nothing unpacked without a name");

    // No exported platform runs here: nothing unpacked, and a note says so.
    const foreign = `${dir}/store-foreign`;
    const f = await runBuild(host, foreign, "type=image,name=example.com/u:2,unpack=true", {
      progress: "plain",
      flags: ["--platform", "linux/s390x"],
    });
    assert.equal(f.code, 0, f.stderr);
    assert.ok(!(await exists(`${foreign}/unpacked`)), "nothing unpacked for a foreign platform");
    assert.match(f.stderr, /no exported platform matches this host/);
  });
});

Deno.test("build on scratch writes the Dockerfile frontend's config and history", async () => {
  await withTempDir("ocistream-frontend-config-", async (dir) => {
    const context = await makeContext(`${dir}/context`, "frontend");
    const store = `${dir}/store`;
    const r = await runBuild(context, store, "type=image,name=example.com/f:1", {
      progress: "quiet",
      epoch: 0,
      metadataFile: `${dir}/meta.json`,
      flags: ["--platform", "linux/amd64", "--entrypoint", '["/app","a b"]', "--env", "A=1"],
    });
    assert.equal(r.code, 0, r.stderr);
    const manifest = readBlob(store, readJson(`${dir}/meta.json`)["containerimage.digest"]);
    const config = readBlob(store, manifest.config.digest);
    assert.deepEqual(config.config, {
      Env: [PATH_ENV, "A=1"],
      Entrypoint: ["/app", "a b"],
      WorkingDir: "/",
    });
    assert.deepEqual(config.history, [
      {
        created: "1970-01-01T00:00:00Z",
        created_by: "COPY . / # buildkit",
        comment: "buildkit.dockerfile.v0",
      },
      {
        created: "1970-01-01T00:00:00Z",
        created_by: "ENV A=1",
        comment: "buildkit.dockerfile.v0",
        empty_layer: true,
      },
      {
        created: "1970-01-01T00:00:00Z",
        created_by: 'ENTRYPOINT ["/app" "a b"]',
        comment: "buildkit.dockerfile.v0",
        empty_layer: true,
      },
    ]);
  });
});

Deno.test("build keeps a base's history verbatim under SOURCE_DATE_EPOCH and stamps only its own entries", async () => {
  await withTempDir("ocistream-base-history-", async (dir) => {
    const context = await makeContext(`${dir}/context`, "base history");
    // A base built later than the new build's epoch: its history is later than that epoch.
    const base = `${dir}/base`;
    const b = await runBuild(context, undefined, `type=oci,dest=${base},tar=false`, {
      progress: "quiet",
      epoch: 2000000000,
      flags: ["--platform", "linux/amd64", "--cmd", '["/bin/true"]'],
    });
    assert.equal(b.code, 0, b.stderr);
    const store = `${dir}/store`;
    const r = await runBuild(context, store, "type=image,name=example.com/h:1", {
      progress: "quiet",
      epoch: 1000000000,
      metadataFile: `${dir}/meta.json`,
      flags: ["--platform", "linux/amd64", "--from", `oci-layout://${base}`],
    });
    assert.equal(r.code, 0, r.stderr);
    const manifest = readBlob(store, readJson(`${dir}/meta.json`)["containerimage.digest"]);
    const config = readBlob(store, manifest.config.digest);
    const baseText = "2033-05-18T03:33:20Z";
    const epochText = "2001-09-09T01:46:40Z";
    assert.deepEqual(config.history.map((h: Json) => [h.created, h.created_by]), [
      [baseText, "COPY . / # buildkit"],
      [baseText, 'CMD ["/bin/true"]'],
      [epochText, "COPY . / # buildkit"],
    ]);
    assert.equal(config.created, epochText);
  });
});

Deno.test("build rewrite-timestamp=true without an epoch warns and exports without rewriting", async () => {
  await withTempDir("ocistream-rewrite-no-epoch-", async (dir) => {
    const context = await makeContext(`${dir}/context`, "no epoch");
    const store = `${dir}/store`;
    const r = await runBuild(
      context,
      store,
      "type=image,name=example.com/r:1,rewrite-timestamp=1",
      {
        progress: "plain",
        env: { SOURCE_DATE_EPOCH: "" },
      },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /rewrite-timestamp=true has no effect without an epoch/);
    assert.equal(storeNames(store).size, 1);
  });
});

Deno.test("build writes manifest annotations into Docker-typed manifests, which skopeo reads", async () => {
  await withTempDir("ocistream-docker-annotations-", async (dir) => {
    const context = await makeContext(`${dir}/context`, "docker annotations");
    const store = `${dir}/store`;
    const r = await runBuild(
      context,
      store,
      "type=image,name=example.com/d:1,annotation.org.opencontainers.image.title=t,annotation-manifest.k=v",
      { progress: "plain", metadataFile: `${dir}/meta.json`, flags: ["--platform", "linux/amd64"] },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /oci-mediatypes=true/);
    const digest = readJson(`${dir}/meta.json`)["containerimage.digest"];
    const manifest = readBlob(store, digest);
    assert.equal(manifest.mediaType, "application/vnd.docker.distribution.manifest.v2+json");
    assert.deepEqual(manifest.annotations, { k: "v", "org.opencontainers.image.title": "t" });
    const raw = JSON.parse(
      (await runOk("skopeo", ["inspect", "--raw", `oci:${store}`])).stdout,
    );
    assert.deepEqual(raw.annotations, manifest.annotations);
  });
});

Deno.test("build names as BuildKit: dangling-name-prefix beside names, danging-name-empty-only, name-canonical keeps the tag", async () => {
  await withTempDir("ocistream-naming-", async (dir) => {
    const context = await makeContext(`${dir}/context`, "naming");
    const build = async (output: string) => {
      const store = `${dir}/store-${crypto.randomUUID()}`;
      const r = await runBuild(context, store, output, {
        progress: "quiet",
        epoch: 0,
        metadataFile: `${dir}/meta.json`,
        flags: ["--platform", "linux/amd64"],
      });
      assert.equal(r.code, 0, r.stderr);
      const meta = readJson(`${dir}/meta.json`);
      const digest: string = meta["containerimage.digest"];
      return { names: storeNames(store).get(digest)!.sort(), digest, meta };
    };
    const a = await build("type=image,name=example.com/a:1,dangling-name-prefix=example.com/dang");
    assert.deepEqual(a.names, [`example.com/a:1`, `example.com/dang@${a.digest}`]);
    assert.equal(a.meta["image.name"], `example.com/a:1,example.com/dang@${a.digest}`);
    const b = await build(
      "type=image,name=example.com/a:1,dangling-name-prefix=example.com/dang,danging-name-empty-only=true",
    );
    assert.deepEqual(b.names, ["example.com/a:1"]);
    const c = await build(
      "type=image,dangling-name-prefix=example.com/dang,danging-name-empty-only",
    );
    assert.deepEqual(c.names, [`example.com/dang@${c.digest}`]);
    const d = await build("type=image,name=example.com/a:1,name-canonical=true");
    assert.deepEqual(d.names, ["example.com/a:1", `example.com/a:1@${d.digest}`]);
  });
});

Deno.test("build --metadata-file: a single-platform descriptor carries its platform; an index has no config digest", async () => {
  await withTempDir("ocistream-metadata-", async (dir) => {
    const context = await makeContext(`${dir}/context`, "metadata");
    const store = `${dir}/store`;
    const single = await runBuild(context, store, "type=image,name=example.com/m:1", {
      progress: "quiet",
      metadataFile: `${dir}/single.json`,
      flags: ["--platform", "linux/arm64"],
    });
    assert.equal(single.code, 0, single.stderr);
    const s = readJson(`${dir}/single.json`);
    assert.deepEqual(s["containerimage.descriptor"].platform, {
      architecture: "arm64",
      os: "linux",
    });
    assert.equal(
      s["containerimage.config.digest"],
      readBlob(store, s["containerimage.digest"]).config.digest,
    );
    const multi = await runBuild(context, store, "type=image,name=example.com/m:2", {
      progress: "quiet",
      metadataFile: `${dir}/multi.json`,
      flags: ["--platform", "linux/arm64,linux/amd64"],
    });
    assert.equal(multi.code, 0, multi.stderr);
    const m = readJson(`${dir}/multi.json`);
    assert.equal(m["containerimage.config.digest"], undefined);
    assert.equal(m["containerimage.descriptor"].platform, undefined);
  });
});

Deno.test("build compatibility-version=30 defaults to OCI media types and OCI-artifact attestations; 10 is refused", async () => {
  await withTempDir("ocistream-compat-", async (dir) => {
    const context = await makeContext(`${dir}/context`, "compat");
    const store = `${dir}/store`;
    const r = await runBuild(
      context,
      store,
      "type=image,name=example.com/c:1,compatibility-version=30",
      {
        progress: "quiet",
        metadataFile: `${dir}/meta.json`,
        flags: ["--platform", "linux/amd64", "--attest", "type=provenance"],
      },
    );
    assert.equal(r.code, 0, r.stderr);
    const index = readBlob(store, readJson(`${dir}/meta.json`)["containerimage.digest"]);
    assert.equal(index.mediaType, "application/vnd.oci.image.index.v1+json");
    const attestation = readBlob(store, index.manifests[1].digest);
    assert.equal(attestation.artifactType, "application/vnd.docker.attestation.manifest.v1+json");
    assert.equal(attestation.config.mediaType, "application/vnd.oci.empty.v1+json");
    // 20 (the default) keeps Docker media types for a plain image.
    const v20 = await runBuild(context, store, "type=image,name=example.com/c:2", {
      progress: "quiet",
      metadataFile: `${dir}/meta20.json`,
      flags: ["--platform", "linux/amd64"],
    });
    assert.equal(v20.code, 0, v20.stderr);
    assert.equal(
      readBlob(store, readJson(`${dir}/meta20.json`)["containerimage.digest"]).mediaType,
      "application/vnd.docker.distribution.manifest.v2+json",
    );
    const refused = await runBuild(context, store, "type=image,compatibility-version=10");
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /compatibility-version=10 .*not supported/);
  });
});

Deno.test("build warns when a zstd base layer is written with Docker media types", async () => {
  await withTempDir("ocistream-docker-zstd-base-", async (dir) => {
    const context = await makeContext(`${dir}/context`, "zstd base");
    const base = `${dir}/base`;
    const b = await runBuild(
      context,
      undefined,
      `type=oci,dest=${base},tar=false,compression=zstd`,
      {
        progress: "quiet",
        epoch: 0,
        flags: ["--platform", "linux/amd64"],
      },
    );
    assert.equal(b.code, 0, b.stderr);
    const store = `${dir}/store`;
    const r = await runBuild(context, store, "type=image,name=example.com/z:1,compression=gzip", {
      progress: "plain",
      epoch: 0,
      metadataFile: `${dir}/meta.json`,
      flags: ["--platform", "linux/amd64", "--from", `oci-layout://${base}`],
    });
    assert.equal(r.code, 0, r.stderr);
    const manifest = readBlob(store, readJson(`${dir}/meta.json`)["containerimage.digest"]);
    assert.equal(manifest.layers[0].mediaType, "application/vnd.docker.image.rootfs.diff.tar.zstd");
    assert.match(
      r.stderr,
      new RegExp(`base layer ${manifest.layers[0].digest}: zstd with Docker media types`),
    );
    assert.match(r.stderr, /Docker before 23\.0 cannot read zstd/);
  });
});

Deno.test("build force-compression=true,compression=gzip converts eStargz base layers to plain gzip with the same diffID (BuildKit's NeedsConversion)", async () => {
  await withTempDir("ocistream-estargz-to-gzip-", async (dir) => {
    const context = await makeContext(`${dir}/context`, "estargz base");
    const base = `${dir}/base`;
    const b = await runBuild(
      context,
      undefined,
      `type=oci,dest=${base},tar=false,compression=estargz`,
      {
        progress: "quiet",
        epoch: 0,
        metadataFile: `${dir}/base.json`,
        flags: ["--platform", "linux/amd64"],
      },
    );
    assert.equal(b.code, 0, b.stderr);
    const baseManifest = readBlob(base, readJson(`${dir}/base.json`)["containerimage.digest"]);
    const baseConfig = readBlob(base, baseManifest.config.digest);
    const baseLayer = baseManifest.layers[0];
    assert.ok(baseLayer.annotations["containerd.io/snapshot/stargz/toc.digest"]);
    const build = async (output: string, name: string) => {
      const store = `${dir}/store-${name}`;
      const r = await runBuild(context, store, output, {
        progress: "quiet",
        epoch: 0,
        metadataFile: `${dir}/${name}.json`,
        flags: ["--platform", "linux/amd64", "--from", `oci-layout://${base}`],
      });
      assert.equal(r.code, 0, r.stderr);
      const manifest = readBlob(store, readJson(`${dir}/${name}.json`)["containerimage.digest"]);
      return { store, manifest, config: readBlob(store, manifest.config.digest) };
    };
    const forced = await build(
      "type=image,name=example.com/g:1,compression=gzip,force-compression=true,oci-mediatypes=true",
      "forced",
    );
    const layer = forced.manifest.layers[0];
    assert.notEqual(layer.digest, baseLayer.digest);
    assert.equal(layer.mediaType, "application/vnd.oci.image.layer.v1.tar+gzip");
    assert.equal(layer.annotations, undefined, "no eStargz annotations left");
    // The same tar, re-compressed: the same diffID, and gzip reads it to that digest.
    assert.equal(forced.config.rootfs.diff_ids[0], baseConfig.rootfs.diff_ids[0]);
    const unpacked = await runOk("sh", [
      "-c",
      `gzip -dc ${forced.store}/blobs/sha256/${layer.digest.slice(7)} | sha256sum`,
    ]);
    assert.equal(`sha256:${unpacked.stdout.split(" ")[0]}`, baseConfig.rootfs.diff_ids[0]);
    // Without force-compression the eStargz layer is kept as it is.
    const kept = await build(
      "type=image,name=example.com/g:2,compression=gzip,oci-mediatypes=true",
      "kept",
    );
    assert.equal(kept.manifest.layers[0].digest, baseLayer.digest);
  });
});
