/**
 * Push failures through the CLI: an unreachable registry, a wrong password,
 * a denied repository, an invalid name and a manifest the registry rejects.
 * Each exits 1 with one `error:` line naming the blob or manifest, the
 * registry, the status and the registry's error code; no secret appears in
 * stdout, stderr or the metadata file, and no tag is created.
 */
import assert from "node:assert/strict";
import { runCli, type RunResult } from "../_harness/cli.ts";
import { freePort, startRegistry } from "../_harness/registry.ts";
import { startTokenServer } from "../_harness/token_server.ts";
import { dockerConfig, listTags, listTree, sha256, workspace } from "./_registry_cli.ts";
import { runBuild } from "../_harness/store.ts";

function newWorkspace() {
  return workspace("ocistream-registry-errors-", "this push fails");
}

/** One `error:` line, exit 1, and none of `secrets` anywhere in the output or metadata file. */
async function assertFailure(r: RunResult, pattern: RegExp, secrets: string[], metadata?: string) {
  assert.equal(r.code, 1, r.stderr);
  const errors = r.stderr.split("\n").filter((l) => l.startsWith("error:"));
  assert.equal(errors.length, 1, r.stderr);
  assert.match(errors[0]!, pattern);
  if (Deno.env.get("SHOW_ERRORS")) console.log(errors[0]);
  assert.equal(r.stdout, "");
  const meta = metadata ? await Deno.readTextFile(metadata).catch(() => "") : "";
  for (const secret of secrets) {
    for (const text of [r.stdout, r.stderr, meta]) assert.ok(!text.includes(secret), secret);
  }
}

Deno.test("build to an unreachable registry exits 1 naming the blob and the registry", async () => {
  const w = await newWorkspace();
  try {
    const host = `127.0.0.1:${freePort()}`;
    const r = await runBuild(w.context, w.store, `type=registry,store=false,name=${host}/app:1`, {
      progress: "plain",
      metadataFile: w.meta,
      env: w.env,
    });
    await assertFailure(r, new RegExp(`^error: Cannot push blob .* to ${host}/app: `), []);
    await assert.rejects(() => Deno.stat(w.meta));
  } finally {
    await Deno.remove(w.dir, { recursive: true });
  }
});

Deno.test("build with a wrong password exits 1 with 401 UNAUTHORIZED, no secret printed and no tag", async () => {
  const reg = await startRegistry({ auth: "htpasswd", users: { alice: "right-password-1" } });
  const w = await newWorkspace();
  try {
    const wrong = "wrong-password-XYZ";
    const auth = btoa(`alice:${wrong}`);
    const config = await dockerConfig(w.dir, { auths: { [reg.host]: { auth } } });
    const r = await runBuild(w.context, w.store, `type=registry,name=${reg.host}/app:1`, {
      progress: "json",
      metadataFile: w.meta,
      env: { DOCKER_CONFIG: config },
    });
    await assertFailure(
      r,
      new RegExp(`Cannot push (blob|manifest) .*${reg.host}/app.*401 UNAUTHORIZED`),
      [wrong, auth, "right-password-1"],
      w.meta,
    );
    assert.deepEqual(
      await listTags(reg.url, "app", { authorization: `Basic ${btoa("alice:right-password-1")}` }),
      [],
    );
  } finally {
    await reg.stop();
    await Deno.remove(w.dir, { recursive: true });
  }
});

Deno.test("push to a repository the token server denies exits 1 with the registry's code, no token printed", async () => {
  const w = await newWorkspace();
  const password = "denied-user-pw";
  const tokens = await startTokenServer({
    dir: w.dir,
    users: { dave: password },
    denied: ["denied/app"],
  });
  const reg = await startRegistry({ auth: "token", tokenServer: tokens });
  try {
    const env = {
      DOCKER_CONFIG: await dockerConfig(w.dir, {
        auths: { [reg.host]: { auth: btoa(`dave:${password}`) } },
      }),
    };
    const store = w.store;
    const built = await runCli(
      ["build", w.context, "--store", store, "--output", "type=image,name=example.com/app:1"],
      { env },
    );
    assert.equal(built.code, 0, built.stderr);
    const r = await runCli(
      ["push", "--store", store, "example.com/app:1", `${reg.host}/denied/app:1`],
      { env },
    );
    await assertFailure(
      r,
      new RegExp(
        `Cannot push blob sha256:[0-9a-f]{64} to ${reg.host}/denied/app: .*401 UNAUTHORIZED`,
      ),
      [password, btoa(`dave:${password}`), ...tokens.issued],
    );
    // The same credentials work for an allowed repository.
    const ok = await runCli(
      ["push", "--store", store, "example.com/app:1", `${reg.host}/allowed/app:1`],
      { env },
    );
    assert.equal(ok.code, 0, ok.stderr);
  } finally {
    await reg.stop();
    await tokens.stop();
    await Deno.remove(w.dir, { recursive: true });
  }
});

Deno.test("build and push with an invalid name exit 1 before any work", async () => {
  const reg = await startRegistry();
  const w = await newWorkspace();
  try {
    const env = w.env;
    for (const name of [`${reg.host}/Upper/App:1`, `${reg.host}/app:-bad`, `${reg.host}/app:1:2`]) {
      const r = await runBuild(w.context, w.store, `type=registry,name=${name}`, { env });
      await assertFailure(r, /name|tag|reference/i, []);
    }
    assert.deepEqual(await listTree(w.store), []);
    const p = await runCli(["push", "--store", w.store, "x", `${reg.host}/BAD`], { env });
    assert.equal(p.code, 1, p.stderr);
    const catalog = await (await fetch(`${reg.url}/v2/_catalog`)).json();
    assert.deepEqual(catalog.repositories, []);
  } finally {
    await reg.stop();
    await Deno.remove(w.dir, { recursive: true });
  }
});

Deno.test("push of a manifest the registry rejects exits 1 naming the manifest, status and code; no tag", async () => {
  const reg = await startRegistry();
  const w = await newWorkspace();
  try {
    // A layout whose manifest claims a Docker media type inside while its
    // descriptor (and so the Content-Type) says OCI: the registry refuses it.
    const layout = `${w.dir}/layout`;
    await Deno.mkdir(`${layout}/blobs/sha256`, { recursive: true });
    const put = async (text: string) => {
      const bytes = new TextEncoder().encode(text);
      const digest = sha256(bytes);
      await Deno.writeFile(`${layout}/blobs/sha256/${digest.slice(7)}`, bytes);
      return { digest, size: bytes.byteLength };
    };
    const config = await put(JSON.stringify({
      architecture: "amd64",
      os: "linux",
      rootfs: { type: "layers", diff_ids: [] },
    }));
    const manifest = await put(JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.docker.distribution.manifest.v2+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
      layers: [],
    }));
    await Deno.writeTextFile(`${layout}/oci-layout`, '{"imageLayoutVersion":"1.0.0"}');
    await Deno.writeTextFile(
      `${layout}/index.json`,
      JSON.stringify({
        schemaVersion: 2,
        manifests: [{
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          ...manifest,
          annotations: { "org.opencontainers.image.ref.name": "bad" },
        }],
      }),
    );
    const r = await runCli(
      ["push", `oci-layout://${layout}:bad`, `${reg.host}/rejected:1`],
      { env: w.env },
    );
    await assertFailure(
      r,
      new RegExp(
        `Cannot push manifest ${manifest.digest} as tag 1 to ${reg.host}/rejected: registry answered 400 [A-Z_]+`,
      ),
      [],
    );
    assert.deepEqual(await listTags(reg.url, "rejected"), []);
  } finally {
    await reg.stop();
    await Deno.remove(w.dir, { recursive: true });
  }
});
