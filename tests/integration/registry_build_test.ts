/**
 * `ocistream build --output type=registry|image,push=true` end to end
 * through the CLI against real `docker-registry` instances: plain HTTP,
 * several names on two registries, push-by-digest, single-pass streaming
 * with `store=false`, TLS (CA file and `registry.insecure`), Basic auth from
 * a Docker config, token auth, and a credential helper. Every pushed image
 * is read back by skopeo and must carry the digest the metadata file reports.
 */
import assert from "node:assert/strict";
import { runCli } from "../_harness/cli.ts";
import { startRegistry } from "../_harness/registry.ts";
import { startTokenServer } from "../_harness/token_server.ts";
import { startRegistryProxy, uploadedDigests } from "./_registry_proxy.ts";
import {
  dockerConfig,
  listTags,
  listTree,
  readMetadata,
  verifyPushed,
  workspace,
  writeNoise,
} from "./_registry_cli.ts";
import { runBuild } from "../_harness/store.ts";

/** A temp work folder with a context and an empty Docker config (so the user's is never read). */
function newWorkspace() {
  return workspace("ocistream-registry-build-", "hello registry");
}

Deno.test("build --output type=registry pushes to a plain-HTTP loopback registry and stores the image", async () => {
  const reg = await startRegistry();
  const w = await newWorkspace();
  try {
    const r = await runBuild(w.context, w.store, `type=registry,name=${reg.host}/app:1`, {
      progress: "plain",
      metadataFile: w.meta,
      env: w.env,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "");
    const meta = await readMetadata(w.meta);
    assert.equal(meta["image.name"], `${reg.host}/app:1`);
    await verifyPushed(`${reg.host}/app:1`, meta["containerimage.digest"]);
    // store defaults to true: the store has it under the same name.
    const images = await runCli(["images", "--store", w.store], { env: w.env });
    assert.match(images.stdout, new RegExp(`${reg.host}/app:1`));
  } finally {
    await reg.stop();
    await Deno.remove(w.dir, { recursive: true });
  }
});

Deno.test("build --output type=image,push=true pushes every name, on two registries at once", async () => {
  const a = await startRegistry();
  const b = await startRegistry();
  const w = await newWorkspace();
  try {
    const names = [`${a.host}/app:1`, `${a.host}/app:latest`, `${b.host}/team/app:2`];
    const r = await runBuild(w.context, w.store, `type=image,push=true,"name=${names.join(",")}"`, {
      progress: "quiet",
      metadataFile: w.meta,
      flags: ["--platform", "linux/amd64,linux/arm64"],
      env: w.env,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    const meta = await readMetadata(w.meta);
    assert.equal(meta["image.name"], names.join(","));
    for (const name of names) await verifyPushed(name, meta["containerimage.digest"]);
    assert.deepEqual((await listTags(a.url, "app")).sort(), ["1", "latest"]);
    assert.deepEqual(await listTags(b.url, "team/app"), ["2"]);
  } finally {
    await a.stop();
    await b.stop();
    await Deno.remove(w.dir, { recursive: true });
  }
});

Deno.test("build push-by-digest=true creates no tag and skopeo finds the image by the reported digest", async () => {
  const reg = await startRegistry();
  const w = await newWorkspace();
  try {
    const r = await runBuild(
      w.context,
      w.store,
      `type=image,push=true,push-by-digest=true,name=${reg.host}/bydigest`,
      { metadataFile: w.meta, env: w.env },
    );
    assert.equal(r.code, 0, r.stderr);
    const digest = (await readMetadata(w.meta))["containerimage.digest"];
    await verifyPushed(`${reg.host}/bydigest@${digest}`, digest);
    assert.deepEqual(await listTags(reg.url, "bydigest"), []);

    // A tag with push-by-digest is an error before any work.
    const bad = await runBuild(
      w.context,
      `${w.dir}/store2`,
      `type=image,push=true,push-by-digest=true,name=${reg.host}/bydigest:1`,
      { env: w.env },
    );
    assert.equal(bad.code, 1, bad.stderr);
    assert.match(bad.stderr, /push-by-digest/);
    assert.deepEqual(await listTags(reg.url, "bydigest"), []);
  } finally {
    await reg.stop();
    await Deno.remove(w.dir, { recursive: true });
  }
});

Deno.test("build store=false streams each new layer once straight to the registry: no store, no temp file", async () => {
  const reg = await startRegistry();
  const proxy = startRegistryProxy(reg.url);
  const w = await newWorkspace();
  const tmp = await Deno.makeTempDir({ dir: w.dir, prefix: "tmp-" });
  try {
    // ~3 MiB of barely compressible data, so the layer spans many writes.
    await writeNoise(`${w.context}/noise.bin`, 3 * 1024 * 1024);
    const r = await runBuild(
      w.context,
      w.store,
      `type=registry,store=false,name=${proxy.host}/stream:1`,
      {
        progress: "plain",
        metadataFile: w.meta,
        env: { ...w.env, TMPDIR: tmp },
      },
    );
    assert.equal(r.code, 0, r.stderr);
    const meta = await readMetadata(w.meta);
    await verifyPushed(`${reg.host}/stream:1`, meta["containerimage.digest"]);

    const manifest = JSON.parse(
      await (await fetch(`${reg.url}/v2/stream/manifests/${meta["containerimage.digest"]}`, {
        headers: { Accept: meta["containerimage.descriptor"].mediaType },
      })).text(),
    );
    const layer = manifest.layers[0];
    // Each blob (layer, config) uploaded exactly once; the layer (under one 4 MiB chunk) in one
    // PATCH carrying exactly its bytes; nothing read back from the registry.
    const uploaded = uploadedDigests(proxy.requests);
    assert.deepEqual(uploaded.sort(), [layer.digest, manifest.config.digest].sort());
    const patches = proxy.requests.filter((q) => q.method === "PATCH");
    assert.equal(patches.length, 2, JSON.stringify(proxy.requests, null, 1));
    assert.deepEqual(
      patches.map((p) => p.sent).sort((x, y) => x - y),
      [manifest.config.size, layer.size].sort((x, y) => x - y),
    );
    assert.equal(
      proxy.requests.filter((q) => q.method === "GET" && q.path.includes("/blobs/")).length,
      0,
    );
    // The store was never opened and no temp file was left (or made) anywhere.
    assert.deepEqual(await listTree(w.store), []);
    assert.deepEqual(await listTree(tmp), []);
  } finally {
    await proxy.stop();
    await reg.stop();
    await Deno.remove(w.dir, { recursive: true });
  }
});

Deno.test("build pushes over TLS: refused by default, trusted through OCISTREAM_REGISTRY_CA, or registry.insecure=true", async () => {
  const reg = await startRegistry({ tls: true });
  const w = await newWorkspace();
  try {
    const build = (output: string, env: Record<string, string> = {}) =>
      runBuild(w.context, w.store, output, { metadataFile: w.meta, env: { ...w.env, ...env } });

    const refused = await build(`type=registry,store=false,name=${reg.host}/tls:refused`);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, new RegExp(reg.host.replace(/\./g, "\\.")));
    assert.deepEqual(await listTags(reg.url, "tls", { caPem: reg.tls!.caPem }), []);

    const viaCa = await build(`type=registry,name=${reg.host}/tls:ca`, {
      OCISTREAM_REGISTRY_CA: reg.tls!.caFile,
    });
    assert.equal(viaCa.code, 0, viaCa.stderr);
    await verifyPushed(
      `${reg.host}/tls:ca`,
      (await readMetadata(w.meta))["containerimage.digest"],
    );

    const insecure = await build(
      `type=registry,registry.insecure=true,name=${reg.host}/tls:insecure`,
    );
    assert.equal(insecure.code, 0, insecure.stderr);
    await verifyPushed(
      `${reg.host}/tls:insecure`,
      (await readMetadata(w.meta))["containerimage.digest"],
    );
  } finally {
    await reg.stop();
    await Deno.remove(w.dir, { recursive: true });
  }
});

Deno.test("build pushes with Basic auth from DOCKER_CONFIG auths over TLS trusted by a CA file", async () => {
  const password = "s3cret-basic-pw";
  const reg = await startRegistry({ auth: "htpasswd", tls: true, users: { alice: password } });
  const w = await newWorkspace();
  try {
    const config = await dockerConfig(w.dir, {
      auths: { [reg.host]: { auth: btoa(`alice:${password}`) } },
    });
    const r = await runBuild(w.context, w.store, `type=registry,name=${reg.host}/basic/app:1`, {
      progress: "plain",
      metadataFile: w.meta,
      env: { DOCKER_CONFIG: config, OCISTREAM_REGISTRY_CA: reg.tls!.caFile },
    });
    assert.equal(r.code, 0, r.stderr);
    const meta = await Deno.readTextFile(w.meta);
    for (const text of [r.stdout, r.stderr, meta]) {
      assert.ok(!text.includes(password) && !text.includes(btoa(`alice:${password}`)));
    }
    await verifyPushed(
      `${reg.host}/basic/app:1`,
      JSON.parse(meta)["containerimage.digest"],
      `alice:${password}`,
    );
  } finally {
    await reg.stop();
    await Deno.remove(w.dir, { recursive: true });
  }
});

Deno.test("build pushes with token auth and renews an expired token mid-push", async () => {
  const w = await newWorkspace();
  const password = "t0ken-user-pw";
  // Token 1 is issued already expired: the registry answers 401 and the client renews.
  const tokens = await startTokenServer({
    dir: w.dir,
    users: { bob: password },
    expiresIn: 5,
    expiredTokens: [1],
  });
  const reg = await startRegistry({ auth: "token", tokenServer: tokens });
  try {
    const config = await dockerConfig(w.dir, {
      auths: { [reg.host]: { auth: btoa(`bob:${password}`) } },
    });
    const r = await runBuild(w.context, w.store, `type=registry,name=${reg.host}/tok/app:1`, {
      progress: "json",
      metadataFile: w.meta,
      flags: ["--platform", "linux/amd64,linux/arm64"],
      env: { DOCKER_CONFIG: config },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(tokens.issued.length >= 2, `issued ${tokens.issued.length} tokens`);
    const meta = await Deno.readTextFile(w.meta);
    for (const text of [r.stdout, r.stderr, meta]) {
      assert.ok(!text.includes(password));
      for (const token of tokens.issued) assert.ok(!text.includes(token));
    }
    await verifyPushed(
      `${reg.host}/tok/app:1`,
      JSON.parse(meta)["containerimage.digest"],
      `bob:${password}`,
    );
  } finally {
    await reg.stop();
    await tokens.stop();
    await Deno.remove(w.dir, { recursive: true });
  }
});

Deno.test("build pushes with credentials from a credHelpers helper", async () => {
  const password = "helper-pw-42";
  const reg = await startRegistry({ auth: "htpasswd", users: { carol: password } });
  const w = await newWorkspace();
  try {
    const bin = `${w.dir}/bin`;
    await Deno.mkdir(bin);
    await Deno.writeTextFile(
      `${bin}/docker-credential-ocitest`,
      `#!/bin/sh\n[ "$1" = get ] || exit 1\nread server\necho "$server" >> "${w.dir}/helper.log"\nprintf '{"ServerURL":"%s","Username":"carol","Secret":"${password}"}' "$server"\n`,
    );
    await Deno.chmod(`${bin}/docker-credential-ocitest`, 0o755);
    const config = await dockerConfig(w.dir, { credHelpers: { [reg.host]: "ocitest" } });
    const r = await runBuild(w.context, w.store, `type=registry,name=${reg.host}/helper/app:1`, {
      metadataFile: w.meta,
      env: { DOCKER_CONFIG: config, PATH: `${bin}:${Deno.env.get("PATH")}` },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(await Deno.readTextFile(`${w.dir}/helper.log`), new RegExp(reg.host));
    const meta = await Deno.readTextFile(w.meta);
    for (const text of [r.stdout, r.stderr, meta]) assert.ok(!text.includes(password));
    await verifyPushed(
      `${reg.host}/helper/app:1`,
      JSON.parse(meta)["containerimage.digest"],
      `carol:${password}`,
    );
  } finally {
    await reg.stop();
    await Deno.remove(w.dir, { recursive: true });
  }
});
