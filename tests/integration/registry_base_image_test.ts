/**
 * `ocistream build --from` with base images on a registry and in an OCI
 * layout, through the CLI: a two-platform base index gives each platform its
 * own manifest; pushing to the same registry mounts the base layers (no
 * bytes move, seen by a counting proxy); exporting to the store downloads
 * them verified against their digests.
 */
import assert from "node:assert/strict";
import { runCli, runOk } from "../_harness/cli.ts";
import { startRegistry, type TestRegistry } from "../_harness/registry.ts";
import { type RegistryProxy, startRegistryProxy, uploadedDigests } from "./_registry_proxy.ts";
import { dockerConfig, makeContext, readMetadata, sha256, verifyPushed } from "./_registry_cli.ts";

const OCI_INDEX = "application/vnd.oci.image.index.v1+json";

interface Manifest {
  mediaType: string;
  config: { digest: string };
  layers: { digest: string; size: number; mediaType: string }[];
}

async function getJson<T>(url: string, accept: string): Promise<T> {
  const res = await fetch(url, { headers: { Accept: accept } });
  assert.equal(res.status, 200, url);
  return await res.json();
}

/**
 * Pushes a two-platform base `base:1` made of two single-platform builds
 * with different content, joined by an OCI index; returns each platform's manifest.
 */
async function pushBase(reg: TestRegistry, dir: string, env: Record<string, string>) {
  const manifests: Record<string, { digest: string; size: number; manifest: Manifest }> = {};
  for (const arch of ["amd64", "arm64"]) {
    const ctx = await makeContext(`${dir}/base-${arch}`, `base layer for ${arch}`, 50_000);
    const r = await runCli([
      "build",
      ctx,
      "--platform",
      `linux/${arch}`,
      "--env",
      `BASE_ARCH=${arch}`,
      "--store",
      `${dir}/base-store`,
      "--metadata-file",
      `${dir}/base-${arch}.json`,
      "--output",
      `type=registry,oci-mediatypes=true,name=${reg.host}/base:${arch}`,
    ], { env });
    assert.equal(r.code, 0, r.stderr);
    const meta = await readMetadata(`${dir}/base-${arch}.json`);
    const manifest = await getJson<Manifest>(
      `${reg.url}/v2/base/manifests/${meta["containerimage.digest"]}`,
      meta["containerimage.descriptor"].mediaType,
    );
    manifests[arch] = {
      digest: meta["containerimage.digest"],
      size: meta["containerimage.descriptor"].size,
      manifest,
    };
  }
  const platformOf = async (arch: string) => {
    const config = await getJson<{ os: string; architecture: string; variant?: string }>(
      `${reg.url}/v2/base/blobs/${manifests[arch]!.manifest.config.digest}`,
      "*/*",
    );
    return {
      architecture: config.architecture,
      os: config.os,
      ...(config.variant ? { variant: config.variant } : {}),
    };
  };
  const index = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: await Promise.all(["amd64", "arm64"].map(async (arch) => ({
      mediaType: manifests[arch]!.manifest.mediaType,
      digest: manifests[arch]!.digest,
      size: manifests[arch]!.size,
      platform: await platformOf(arch),
    }))),
  });
  const put = await fetch(`${reg.url}/v2/base/manifests/1`, {
    method: "PUT",
    headers: { "Content-Type": OCI_INDEX },
    body: index,
  });
  await put.body?.cancel();
  assert.equal(put.status, 201);
  return {
    amd64: manifests.amd64!.manifest,
    arm64: manifests.arm64!.manifest,
    indexDigest: sha256(index),
  };
}

/** The platform manifests of a pushed index, by architecture. */
async function platformManifests(url: string, repo: string, digest: string) {
  const index = await getJson<
    { manifests: { digest: string; platform: { architecture: string } }[] }
  >(
    `${url}/v2/${repo}/manifests/${digest}`,
    OCI_INDEX,
  );
  const out: Record<string, Manifest> = {};
  for (const m of index.manifests) {
    if (m.platform.architecture === "unknown") continue;
    out[m.platform.architecture] = await getJson<Manifest>(
      `${url}/v2/${repo}/manifests/${m.digest}`,
      "application/vnd.oci.image.manifest.v1+json",
    );
  }
  return out;
}

function blobRequests(proxy: RegistryProxy, digests: string[]) {
  return proxy.requests.filter((q) => digests.some((d) => decodeURIComponent(q.path).includes(d)));
}

Deno.test("build --from a registry base index: each platform gets its base, pushing to the same registry mounts the base layers, exporting to the store downloads them verified", async (t) => {
  const reg = await startRegistry();
  const proxy = startRegistryProxy(reg.url);
  const dir = await Deno.makeTempDir({ prefix: "ocistream-registry-base-" });
  const env = { DOCKER_CONFIG: await dockerConfig(dir, {}) };
  try {
    const base = await pushBase(reg, dir, env);
    const baseLayers = [base.amd64.layers[0]!.digest, base.arm64.layers[0]!.digest];
    assert.notEqual(baseLayers[0], baseLayers[1]);
    const app = await makeContext(`${dir}/app`, "the app on top");
    const build = (output: string, store = `${dir}/store`) =>
      runCli([
        "build",
        app,
        "--from",
        `${proxy.host}/base:1`,
        "--platform",
        "linux/amd64,linux/arm64",
        "--store",
        store,
        "--metadata-file",
        `${dir}/meta.json`,
        "--output",
        output,
      ], { env });

    const checkLayers = async (repo: string, digest: string) => {
      const pushed = await platformManifests(reg.url, repo, digest);
      assert.deepEqual(pushed.amd64!.layers.slice(0, 1), base.amd64.layers);
      assert.deepEqual(pushed.arm64!.layers.slice(0, 1), base.arm64.layers);
      assert.equal(pushed.amd64!.layers.length, 2);
      return pushed;
    };

    await t.step("store=false push to the same registry moves no base layer bytes", async () => {
      proxy.reset();
      const r = await build(
        `type=registry,store=false,oci-mediatypes=true,name=${proxy.host}/app:1`,
      );
      assert.equal(r.code, 0, r.stderr);
      const digest = (await readMetadata(`${dir}/meta.json`))["containerimage.digest"];
      await checkLayers("app", digest);
      await verifyPushed(`${reg.host}/app:1`, digest);
      const touching = blobRequests(proxy, baseLayers);
      // Only HEADs and mounts name a base layer; none was read or uploaded.
      assert.ok(touching.every((q) => q.method === "HEAD" || q.path.includes("mount=")));
      assert.deepEqual(
        touching.filter((q) => q.path.includes("mount=")).map((q) => q.status),
        [201, 201],
      );
      assert.ok(touching.every((q) => q.sent === 0 && q.received === 0));
      const uploaded = uploadedDigests(proxy.requests);
      assert.ok(uploaded.every((d) => !baseLayers.includes(d)), uploaded.join(" "));
    });

    await t.step("exporting to the store downloads the base layers, verified", async () => {
      proxy.reset();
      const r = await build(`type=image,oci-mediatypes=true,name=example.com/app:1`);
      assert.equal(r.code, 0, r.stderr);
      const gets = proxy.requests.filter((q) => q.method === "GET" && q.path.includes("/blobs/"));
      for (const [i, d] of baseLayers.entries()) {
        const get = gets.find((q) => q.path.endsWith(d));
        assert.ok(get, `no GET of ${d}`);
        assert.equal(get.received, [base.amd64, base.arm64][i]!.layers[0]!.size);
        assert.equal(sha256(await Deno.readFile(`${dir}/store/blobs/sha256/${d.slice(7)}`)), d);
      }
      const verify = await runCli(["verify", "--store", `${dir}/store`], { env });
      assert.equal(verify.code, 0, verify.stderr + verify.stdout);
    });

    await t.step(
      "type=registry with the store keeps the image and still mounts on push",
      async () => {
        proxy.reset();
        const r = await build(`type=registry,oci-mediatypes=true,name=${proxy.host}/app2:1`);
        assert.equal(r.code, 0, r.stderr);
        const digest = (await readMetadata(`${dir}/meta.json`))["containerimage.digest"];
        await checkLayers("app2", digest);
        assert.ok(uploadedDigests(proxy.requests).every((d) => !baseLayers.includes(d)));
        const mounts = blobRequests(proxy, baseLayers).filter((q) => q.path.includes("mount="));
        assert.deepEqual(mounts.map((q) => q.status), [201, 201]);
        assert.ok(
          blobRequests(proxy, baseLayers).every((q) => q.sent === 0 && q.method !== "PATCH"),
        );
      },
    );

    await t.step("a base blob the registry serves corrupted fails the export", async () => {
      const d = baseLayers[1]!.slice(7);
      const data = `${reg.dir}/data/docker/registry/v2/blobs/sha256/${d.slice(0, 2)}/${d}/data`;
      const bytes = await Deno.readFile(data);
      bytes[bytes.length - 1] ^= 0xff;
      await Deno.writeFile(data, bytes);
      const r = await build(
        `type=image,oci-mediatypes=true,name=example.com/bad:1`,
        `${dir}/store2`,
      );
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(baseLayers[1]!));
      assert.match(r.stderr, /content digest is sha256:/);
      // The bad bytes never land in the store under the base layer's digest.
      await assert.rejects(() => Deno.stat(`${dir}/store2/blobs/sha256/${d}`));
      const images = await runCli(["images", "--store", `${dir}/store2`], { env });
      assert.doesNotMatch(images.stdout, /example\.com\/bad/);
    });
  } finally {
    await proxy.stop();
    await reg.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("build --from oci-layout://PATH:TAG of a two-platform layout pushes each platform on its base", async () => {
  const reg = await startRegistry();
  const dir = await Deno.makeTempDir({ prefix: "ocistream-layout-base-" });
  const env = { DOCKER_CONFIG: await dockerConfig(dir, {}) };
  try {
    const base = await pushBase(reg, dir, env);
    await runOk("skopeo", [
      "copy",
      "--all",
      "--preserve-digests",
      "--src-tls-verify=false",
      `docker://${reg.host}/base:1`,
      `oci:${dir}/layout:base`,
    ]);
    const app = await makeContext(`${dir}/app`, "app on a layout base");
    const r = await runCli([
      "build",
      app,
      "--from",
      `oci-layout://${dir}/layout:base`,
      "--platform",
      "linux/amd64,linux/arm64",
      "--store",
      `${dir}/store`,
      "--metadata-file",
      `${dir}/meta.json`,
      "--output",
      `type=registry,store=false,oci-mediatypes=true,name=${reg.host}/fromlayout:1`,
    ], { env });
    assert.equal(r.code, 0, r.stderr);
    const digest = (await readMetadata(`${dir}/meta.json`))["containerimage.digest"];
    const pushed = await platformManifests(reg.url, "fromlayout", digest);
    assert.deepEqual(pushed.amd64!.layers.slice(0, 1), base.amd64.layers);
    assert.deepEqual(pushed.arm64!.layers.slice(0, 1), base.arm64.layers);
    await verifyPushed(`${reg.host}/fromlayout:1`, digest);
  } finally {
    await reg.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("build --from a TLS registry with an untrusted certificate works when the output marks it registry.insecure", async () => {
  const reg = await startRegistry({ tls: true });
  const dir = await Deno.makeTempDir({ prefix: "ocistream-insecure-base-" });
  const env = { DOCKER_CONFIG: await dockerConfig(dir, {}) };
  try {
    const build = (context: string, from: string[], output: string) =>
      runCli([
        "build",
        context,
        ...from,
        "--platform",
        "linux/amd64",
        "--store",
        `${dir}/store`,
        "--metadata-file",
        `${dir}/meta.json`,
        "--output",
        output,
      ], { env });
    const baseCtx = await makeContext(`${dir}/base`, "insecure base");
    const base = await build(
      baseCtx,
      [],
      `type=registry,store=false,registry.insecure=true,name=${reg.host}/base:1`,
    );
    assert.equal(base.code, 0, base.stderr);
    const app = await makeContext(`${dir}/app`, "insecure app");
    const refused = await build(
      app,
      ["--from", `${reg.host}/base:1`],
      "type=image,name=example.com/app:1",
    );
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, new RegExp(`manifest 1 from ${reg.host}/base`));
    const r = await build(
      app,
      ["--from", `${reg.host}/base:1`],
      `type=registry,store=false,registry.insecure=true,name=${reg.host}/app:1`,
    );
    assert.equal(r.code, 0, r.stderr);
    await verifyPushed(
      `${reg.host}/app:1`,
      (await readMetadata(`${dir}/meta.json`))["containerimage.digest"],
    );
  } finally {
    await reg.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
