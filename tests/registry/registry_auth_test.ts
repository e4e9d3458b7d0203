import assert from "node:assert/strict";
import { startRegistry } from "../_harness/registry.ts";
import { startTokenServer } from "../_harness/token_server.ts";
import { countingFetch, makeImage, verifyWithSkopeo } from "./_image.ts";
import { RegistryClient } from "../../src/registry/registry_client.ts";
import { RegistryRepository } from "../../src/sinks/registry_repository.ts";
import { copyImage } from "../../src/image/copy_image.ts";
import { createRegistryFetch } from "../../src/runtime/registry_fetch.ts";
import { dockerCredentials } from "../../src/runtime/docker_credentials.ts";

Deno.test("copyImage() pushes with Basic auth over TLS trusted through a CA file", async () => {
  const reg = await startRegistry({ auth: "htpasswd", tls: true });
  const tls = createRegistryFetch({ caFile: reg.tls!.caFile });
  try {
    const img = makeImage("basic over tls");
    const client = new RegistryClient(reg.host, {
      fetch: tls.fetch,
      credentials: { username: "tester", password: reg.users.tester! },
    });
    const result = await copyImage(
      img.source,
      img.root,
      new RegistryRepository(client, "tls/app"),
      {
        tags: ["v1"],
      },
    );
    assert.deepEqual(result.blobs.map((b) => b.result), ["uploaded", "uploaded"]);
    await verifyWithSkopeo(`${reg.host}/tls/app:v1`, img.root.digest, `tester:${reg.users.tester}`);
  } finally {
    tls.close();
    await reg.stop();
  }
});

Deno.test("RegistryClient refuses an unknown certificate unless the registry is insecure", async () => {
  const reg = await startRegistry({ auth: "htpasswd", tls: true });
  try {
    const img = makeImage("insecure tls");
    const credentials = { username: "tester", password: reg.users.tester! };
    const verified = new RegistryClient(reg.host, { credentials, retries: { attempts: 1 } });
    await assert.rejects(
      () =>
        copyImage(img.source, img.root, new RegistryRepository(verified, "tls/app"), {
          tags: ["v1"],
        }),
      (e: Error) => e.name === "RegistryError" && e.message.includes(reg.host),
    );
    const insecure = createRegistryFetch({ insecure: true });
    const client = new RegistryClient(reg.host, {
      fetch: insecure.fetch,
      insecure: true,
      credentials,
    });
    // Big enough that the streamed PATCH goes out in many writes through node:https.
    const big = makeImage("insecure tls big", undefined, "amd64", 3_000_000);
    const repo = new RegistryRepository(client, "tls/app");
    await copyImage(big.source, big.root, repo, { tags: ["v1"] });
    await verifyWithSkopeo(`${reg.host}/tls/app:v1`, big.root.digest, `tester:${reg.users.tester}`);
    // Pulls through the insecure fetch stream and verify too.
    const pulled = new Uint8Array(await new Response(await repo.fetch(big.layer)).arrayBuffer());
    assert.equal(pulled.byteLength, big.layer.size);
  } finally {
    await reg.stop();
  }
});

Deno.test("RegistryClient gets Bearer tokens and renews them when they expire mid-push", async () => {
  const dir = await Deno.makeTempDir();
  // Token 3 is issued already expired: the registry answers 401 and the client must renew.
  const tokens = await startTokenServer({
    dir,
    users: { tester: "token-pass-123" },
    expiresIn: 2,
    expiredTokens: [3],
  });
  const reg = await startRegistry({ auth: "token", tokenServer: tokens });
  try {
    const img = makeImage("token auth", undefined, "amd64", 100_000);
    // A clock that jumps a minute per reading: every request finds its token expired.
    let now = Date.now();
    const client = new RegistryClient(reg.host, {
      credentials: { username: "tester", password: "token-pass-123" },
      now: () => (now += 60_000),
      concurrency: 1,
    });
    await copyImage(img.source, img.root, new RegistryRepository(client, "token/app"), {
      tags: ["v1"],
      concurrency: 1,
    });
    assert.ok(tokens.issued.length > 3, `only ${tokens.issued.length} tokens were issued`);
    assert.equal(client.tokensFetched, tokens.issued.length);
    assert.equal(tokens.refused, 0);
    await verifyWithSkopeo(`${reg.host}/token/app:v1`, img.root.digest, "tester:token-pass-123");
  } finally {
    await reg.stop();
    await tokens.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("RegistryClient renews a token the registry rejects and reads access_token answers", async () => {
  const dir = await Deno.makeTempDir();
  const tokens = await startTokenServer({ dir, expiredTokens: [1], accessTokenField: true });
  const reg = await startRegistry({ auth: "token", tokenServer: tokens });
  try {
    const img = makeImage("anonymous token");
    const counted = countingFetch();
    const client = new RegistryClient(reg.host, { fetch: counted.fetch });
    await copyImage(img.source, img.root, new RegistryRepository(client, "anon/app"), {
      tags: ["v1"],
      concurrency: 1,
    });
    assert.equal(tokens.issued.length, 2);
    await verifyWithSkopeo(`${reg.host}/anon/app:v1`, img.root.digest);
  } finally {
    await reg.stop();
    await tokens.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dockerCredentials() runs a credHelpers helper from the Docker config", async () => {
  const reg = await startRegistry({ auth: "htpasswd" });
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/bin`);
    const script = `${dir}/bin/docker-credential-test`;
    await Deno.writeTextFile(
      script,
      `#!/bin/sh
[ "$1" = get ] || exit 2
read server
echo "$server" >> "${dir}/asked"
if [ "$server" = "${reg.host}" ]; then
  printf '{"ServerURL":"%s","Username":"tester","Secret":"${reg.users.tester}"}' "$server"
else
  echo "credentials not found in native keychain"; exit 1
fi
`,
    );
    await Deno.chmod(script, 0o755);
    await Deno.mkdir(`${dir}/docker`);
    await Deno.writeTextFile(
      `${dir}/docker/config.json`,
      JSON.stringify({ credHelpers: { [reg.host]: "test", "other.example": "test" } }),
    );
    const store = dockerCredentials({
      env: { DOCKER_CONFIG: `${dir}/docker`, PATH: `${dir}/bin:${Deno.env.get("PATH")}` },
    });
    assert.equal(await store.get("other.example"), undefined);
    assert.equal(await store.get("unknown.example"), undefined);
    const img = makeImage("cred helper");
    const client = new RegistryClient(reg.host, { credentials: store });
    await copyImage(img.source, img.root, new RegistryRepository(client, "helper/app"), {
      tags: ["v1"],
    });
    await verifyWithSkopeo(
      `${reg.host}/helper/app:v1`,
      img.root.digest,
      `tester:${reg.users.tester}`,
    );
    assert.ok((await Deno.readTextFile(`${dir}/asked`)).includes(reg.host));
  } finally {
    await reg.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("RegistryClient exchanges an identity token with the OAuth2 refresh-token grant", async () => {
  const dir = await Deno.makeTempDir();
  const tokens = await startTokenServer({
    dir,
    users: { tester: "unused-password" },
    refreshTokens: ["refresh-4-test"],
  });
  const reg = await startRegistry({ auth: "token", tokenServer: tokens });
  try {
    const img = makeImage("identity token");
    const client = new RegistryClient(reg.host, {
      credentials: { identityToken: "refresh-4-test" },
    });
    await copyImage(img.source, img.root, new RegistryRepository(client, "oauth/app"), {
      tags: ["v1"],
    });
    assert.equal(tokens.refused, 0);
    assert.ok(tokens.issued.length >= 1);
    await verifyWithSkopeo(`${reg.host}/oauth/app:v1`, img.root.digest, "tester:unused-password");
  } finally {
    await reg.stop();
    await tokens.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
