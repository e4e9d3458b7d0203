import assert from "node:assert/strict";
import { freePort, startRegistry } from "../_harness/registry.ts";
import { startTokenServer } from "../_harness/token_server.ts";
import { makeImage, sha256 } from "./_image.ts";
import { RegistryClient } from "../../src/registry/registry_client.ts";
import { RegistryError } from "../../src/registry/registry_error.ts";
import { redactSecrets } from "../../src/registry/redact.ts";
import { RegistryRepository } from "../../src/sinks/registry_repository.ts";
import { copyImage } from "../../src/image/copy_image.ts";
import { OCI_LAYER, OCI_MANIFEST } from "../../src/types/media_types.ts";

async function pushError(promise: Promise<unknown>): Promise<RegistryError> {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof RegistryError, `expected a RegistryError, got ${e}`);
    return e;
  }
  throw new Error("the push did not fail");
}

Deno.test("copyImage() to an unreachable registry fails with a RegistryError naming it", async () => {
  const host = `127.0.0.1:${freePort()}`;
  const img = makeImage("nowhere");
  const client = new RegistryClient(host, { retries: { attempts: 2, baseDelayMs: 1 } });
  const e = await pushError(
    copyImage(img.source, img.root, new RegistryRepository(client, "a/b"), { tags: ["v1"] }),
  );
  assert.match(e.message, new RegExp(`${host}`));
  assert.equal(e.status, undefined);
});

Deno.test("copyImage() with a wrong password fails with 401 and never shows the password", async () => {
  const reg = await startRegistry({ auth: "htpasswd" });
  try {
    const img = makeImage("wrong password");
    const password = "definitely-wrong-password";
    const client = new RegistryClient(reg.host, { credentials: { username: "tester", password } });
    const e = await pushError(
      copyImage(img.source, img.root, new RegistryRepository(client, "pw/app"), { tags: ["v1"] }),
    );
    assert.equal(e.status, 401);
    assert.equal(e.code, "UNAUTHORIZED");
    assert.match(
      e.message,
      new RegExp(
        `^Cannot (check|push) blob sha256:[0-9a-f]{64} (in|to) ${reg.host}/pw/app: registry answered 401 UNAUTHORIZED`,
      ),
    );
    assert.ok(!e.message.includes(password));
    assert.ok(!String(e.stack).includes(password));
    assert.ok(!redactSecrets(`${e.message} ${password}`).includes(password));
    const ok = new RegistryClient(reg.host, {
      credentials: { username: "tester", password: reg.users.tester! },
    });
    assert.deepEqual(await ok.listTags("pw/app"), []);
  } finally {
    await reg.stop();
  }
});

Deno.test("copyImage() to a denied repository fails with 401 and never shows the token", async () => {
  const dir = await Deno.makeTempDir();
  const tokens = await startTokenServer({
    dir,
    users: { tester: "pw-4-token" },
    denied: ["secret/app"],
  });
  const reg = await startRegistry({ auth: "token", tokenServer: tokens });
  try {
    const img = makeImage("denied");
    const client = new RegistryClient(reg.host, {
      credentials: { username: "tester", password: "pw-4-token" },
    });
    const e = await pushError(
      copyImage(img.source, img.root, new RegistryRepository(client, "secret/app"), {
        tags: ["v1"],
      }),
    );
    assert.equal(e.status, 401);
    assert.match(e.message, /secret\/app/);
    assert.ok(tokens.issued.length > 0);
    for (const t of tokens.issued) {
      assert.ok(!e.message.includes(t));
      assert.equal(redactSecrets(`Authorization: Bearer ${t}`), "Authorization: Bearer ***");
      assert.ok(!redactSecrets(`token ${t} leaked`).includes(t));
    }
    assert.ok(!e.message.includes("pw-4-token"));
    // Wrong password at the token server: a RegistryError that names the token server.
    const bad = new RegistryClient(reg.host, {
      credentials: { username: "tester", password: "not-the-password" },
    });
    const e2 = await pushError(
      copyImage(img.source, img.root, new RegistryRepository(bad, "open/app"), { tags: ["v1"] }),
    );
    assert.equal(e2.status, 401);
    assert.match(e2.message, /Cannot get a token/);
    assert.ok(!e2.message.includes("not-the-password"));
  } finally {
    await reg.stop();
    await tokens.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("RegistryRepository.putManifest() of a manifest with a missing blob is rejected and creates no tag", async () => {
  const reg = await startRegistry();
  try {
    const repo = new RegistryRepository(new RegistryClient(reg.host), "reject/app");
    const img = makeImage("rejected");
    await copyImage(img.source, img.root, repo, { tags: ["good"] });
    const missing = {
      mediaType: OCI_LAYER,
      digest: sha256(new TextEncoder().encode("absent")),
      size: 6,
    };
    const m = new TextEncoder().encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: img.config,
      layers: [missing],
    }));
    const d = { mediaType: OCI_MANIFEST, digest: sha256(m), size: m.byteLength };
    const e = await pushError(repo.putManifest(m, d, "bad"));
    assert.equal(e.status, 400);
    assert.equal(e.code, "MANIFEST_BLOB_UNKNOWN");
    assert.match(
      e.message,
      new RegExp(
        `^Cannot push manifest ${d.digest} as tag bad to ${reg.host}/reject/app: registry answered 400 MANIFEST_BLOB_UNKNOWN`,
      ),
    );
    assert.deepEqual(await repo.listTags(), ["good"]);
  } finally {
    await reg.stop();
  }
});

Deno.test("RegistryRepository.fetch() rejects a blob whose bytes do not match the descriptor", async () => {
  const reg = await startRegistry();
  try {
    const repo = new RegistryRepository(new RegistryClient(reg.host), "verify/app");
    const img = makeImage("verify");
    await copyImage(img.source, img.root, repo, { tags: ["v1"] });
    // Right digest, wrong size: the stream must error rather than hand over unchecked bytes.
    const stream = await repo.fetch({ ...img.layer, size: img.layer.size + 1 });
    await assert.rejects(() => new Response(stream).arrayBuffer());
  } finally {
    await reg.stop();
  }
});
