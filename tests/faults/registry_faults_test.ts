import assert from "node:assert/strict";
import { formatLog } from "../_harness/fault_proxy.ts";
import { startTokenServer } from "../_harness/token_server.ts";
import { makeImage, makeIndex, verifyWithSkopeo } from "../registry/_image.ts";
import { RegistryClient } from "../../src/registry/registry_client.ts";
import { RegistryError } from "../../src/registry/registry_error.ts";
import { RegistryRepository } from "../../src/sinks/registry_repository.ts";
import { copyImage } from "../../src/image/copy_image.ts";
import {
  assertBlobsBeforeManifests,
  manifestStatus,
  pushV1,
  QUICK_RETRIES,
  registryTags,
  withProxy,
} from "./_faults.ts";

const PATCH = /\/blobs\/uploads\/[^/?]+/;
const FINAL_PUT = /\/blobs\/uploads\/[^?]+\?.*digest=/;

Deno.test("copyImage() restarts an upload whose connection dropped mid-PATCH; skopeo sees the reported digest", async () => {
  await withProxy(
    [{ match: { method: "PATCH", nth: 1 }, fault: "drop-mid-body" }],
    async (proxy) => {
      const img = makeImage("dropped mid patch", undefined, "amd64", 300_000);
      const client = new RegistryClient(proxy.host, { retries: QUICK_RETRIES });
      const result = await pushV1(client, img, "drop/app");
      assert.equal(result.root.digest, img.root.digest);
      const patches = proxy.log.filter((e) => e.method === "PATCH");
      assert.equal(patches[0]!.status, undefined, "the first PATCH was dropped");
      assert.ok(patches[0]!.bytesIn > 0 && patches[0]!.bytesIn < img.layerBytes.byteLength);
      // Two blobs, plus one restart: a fresh session (POST) and a second PATCH of the whole blob.
      assert.equal(patches.length, 3, formatLog(proxy.log));
      assert.equal(proxy.log.filter((e) => e.method === "POST").length, 3);
      assertBlobsBeforeManifests(proxy.log);
      await verifyWithSkopeo(`${proxy.host}/drop/app:v1`, result.root.digest);
    },
  );
});

Deno.test("copyImage() retries 500, 502 and 503 answers and then succeeds", async () => {
  await withProxy([
    { match: { method: "HEAD", nth: 1 }, fault: { status: 500 } },
    { match: { method: "POST", nth: 2 }, fault: { status: 502 } },
    { match: { method: "PUT", path: /\/manifests\//, nth: 1 }, fault: { status: 503 } },
    { match: { method: "PUT", path: /\/manifests\//, nth: 3 }, fault: { status: 502 } },
  ], async (proxy, registry) => {
    const idx = makeIndex("five hundreds");
    const client = new RegistryClient(proxy.host, { retries: QUICK_RETRIES });
    const result = await pushV1(client, idx, "5xx/app");
    assert.deepEqual(proxy.fired, [1, 1, 1, 1]);
    assertBlobsBeforeManifests(proxy.log);
    await verifyWithSkopeo(`${proxy.host}/5xx/app:v1`, result.root.digest);
    await verifyWithSkopeo(`${registry.host}/5xx/app:v1`, idx.root.digest);
  });
});

Deno.test("RegistryClient waits at least Retry-After before retrying a 429", async () => {
  await withProxy([
    {
      match: { method: "PUT", path: /\/manifests\//, nth: 1 },
      fault: { status: 429, retryAfter: 1 },
    },
  ], async (proxy) => {
    const img = makeImage("throttled");
    const client = new RegistryClient(proxy.host, { retries: QUICK_RETRIES });
    await pushV1(client, img, "throttle/app");
    const puts = proxy.log.filter((e) => e.method === "PUT" && e.path.includes("/manifests/"));
    assert.deepEqual(puts.map((e) => e.status), [429, 201]);
    // The logical check only: the retry came no sooner than Retry-After (1 s) after the 429.
    const waited = puts[1]!.at - puts[0]!.answeredAt!;
    assertWaitedFor(waited, 1000);
    await verifyWithSkopeo(`${proxy.host}/throttle/app:v1`, img.root.digest);
  });
});

/**
 * Asserts a retry waited for Retry-After. Only a lower bound (a loaded machine makes waits
 * longer, never shorter), with room for timers and clocks that round differently (the
 * proxy's performance.now() against the client's setTimeout): without Retry-After the
 * quick retry policy of these tests waits 10–20 ms, far below the bound.
 */
function assertWaitedFor(waited: number, retryAfterMs: number): void {
  const slack = 50;
  assert.ok(
    waited >= retryAfterMs - slack,
    `retried after ${waited.toFixed(1)} ms, Retry-After said ${retryAfterMs} ms`,
  );
}

Deno.test("RegistryClient waits Retry-After before restarting a blob upload whose PATCH got a 429", async () => {
  await withProxy([
    { match: { method: "PATCH", nth: 1 }, fault: { status: 429, retryAfter: 1 } },
  ], async (proxy) => {
    const img = makeImage("throttled upload", undefined, "amd64", 50_000);
    const client = new RegistryClient(proxy.host, { retries: QUICK_RETRIES });
    await pushV1(client, img, "throttle/blob");
    const throttled = proxy.log.find((e) => e.method === "PATCH" && e.status === 429);
    assert.ok(throttled, formatLog(proxy.log));
    // The restart opens a fresh upload session (POST) for the same blob.
    const restart = proxy.log.find((e) => e.seq > throttled.seq && e.method === "POST");
    assert.ok(restart, `no restart after the 429:\n${formatLog(proxy.log)}`);
    assertWaitedFor(restart.at - throttled.answeredAt!, 1000);
    await verifyWithSkopeo(`${proxy.host}/throttle/blob:v1`, img.root.digest);
  });
});

Deno.test("RegistryClient gives up on stalled requests after its timeouts, retries, and the push completes", async () => {
  await withProxy([
    { match: { method: "HEAD", nth: 1 }, fault: "stall" },
    { match: { method: "PATCH", nth: 1 }, fault: "stall" },
  ], async (proxy) => {
    const img = makeImage("stalled", undefined, "amd64", 100_000);
    const client = new RegistryClient(proxy.host, {
      retries: QUICK_RETRIES,
      timeouts: { connectMs: 300, idleMs: 300, responseMs: 300 },
    });
    const result = await pushV1(client, img, "stall/app");
    assert.deepEqual(proxy.fired, [1, 1]);
    assertBlobsBeforeManifests(proxy.log);
    await verifyWithSkopeo(`${proxy.host}/stall/app:v1`, result.root.digest);
  });
});

Deno.test("RegistryClient fails a blob read whose answer stalls mid-body with an idle timeout", async () => {
  await withProxy([
    { match: { method: "GET", path: /\/blobs\/sha256:/, nth: 1 }, fault: "stall-body" },
  ], async (proxy) => {
    const img = makeImage("idle body", undefined, "amd64", 200_000);
    const client = new RegistryClient(proxy.host, {
      retries: QUICK_RETRIES,
      timeouts: { idleMs: 300 },
    });
    const repo = new RegistryRepository(client, "idle/app");
    await copyImage(img.source, img.root, repo, { tags: ["v1"] });
    const body = await repo.fetch(img.layer);
    await assert.rejects(() => new Response(body).arrayBuffer(), (e: Error) => {
      assert.equal(e.name, "TimeoutError");
      assert.match(e.message, /no data moved within .* \(idle timeout\)/);
      return true;
    });
    // The next read is not stalled and verifies.
    const again = await new Response(await repo.fetch(img.layer)).arrayBuffer();
    assert.equal(again.byteLength, img.layerBytes.byteLength);
  });
});

Deno.test("RegistryClient waits for a slow final PUT (registry hashing a big blob) past the idle and connect timeouts", async () => {
  await withProxy([
    { match: { method: "PUT", path: FINAL_PUT }, fault: { delayMs: 3_000 } },
  ], async (proxy) => {
    const img = makeImage("slow commit", undefined, "amd64", 100_000);
    // Limits well under the PUT's 3 s, yet loose enough for the other requests on a loaded machine.
    const client = new RegistryClient(proxy.host, {
      retries: QUICK_RETRIES,
      timeouts: { connectMs: 1_000, idleMs: 1_000, responseMs: 30_000 },
    });
    await pushV1(client, img, "slow/app");
    const finals = proxy.log.filter((e) => e.method === "PUT" && FINAL_PUT.test(e.path));
    // One PUT per blob: none was cut off and retried.
    assert.deepEqual(finals.map((e) => e.status), [201, 201], formatLog(proxy.log));
    await verifyWithSkopeo(`${proxy.host}/slow/app:v1`, img.root.digest);
  });
});

Deno.test("RegistryClient survives answers cut short: a lost final-PUT answer and a truncated manifest read", async () => {
  await withProxy([
    { match: { method: "PUT", path: FINAL_PUT, nth: 1 }, fault: "truncate-response" },
    { match: { method: "GET", path: /\/manifests\//, nth: 1 }, fault: "truncate-response" },
  ], async (proxy) => {
    const img = makeImage("cut short", undefined, "amd64", 50_000);
    const client = new RegistryClient(proxy.host, { retries: QUICK_RETRIES, concurrency: 1 });
    const repo = new RegistryRepository(client, "cut/app");
    const result = await copyImage(img.source, img.root, repo, { tags: ["v1"] });
    assert.deepEqual(result.blobs.map((b) => b.result), ["uploaded", "uploaded"]);
    assert.equal(proxy.fired[0], 1);
    // A manifest cut in half is read again, never returned as if whole.
    const read = await repo.getManifest("v1");
    assert.equal(read.digest, img.root.digest);
    assert.equal(proxy.fired[1], 1);
    await verifyWithSkopeo(`${proxy.host}/cut/app:v1`, img.root.digest);
  });
});

Deno.test("RegistryClient renews its token when the registry answers invalid_token, mid-upload too", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ocistream-faults-token-" });
  const users = { tester: "t0ken-pass-word" };
  const tokens = await startTokenServer({ dir, users });
  try {
    await withProxy([
      { match: { method: "PATCH", nth: 1 }, fault: "invalid-token-once" },
      { match: { method: "PUT", path: /\/manifests\//, nth: 1 }, fault: "invalid-token-once" },
    ], async (proxy) => {
      const img = makeImage("renew token", undefined, "amd64", 100_000);
      const client = new RegistryClient(proxy.host, {
        retries: QUICK_RETRIES,
        credentials: { username: "tester", password: users.tester },
      });
      await pushV1(client, img, "token/app");
      assert.deepEqual(proxy.fired, [1, 1]);
      // One token to start, one renewal per invalid_token answer.
      assert.equal(client.tokensFetched, 3);
      assertBlobsBeforeManifests(proxy.log);
      await verifyWithSkopeo(
        `${proxy.host}/token/app:v1`,
        img.root.digest,
        `tester:${users.tester}`,
      );
    }, { registry: { auth: "token", tokenServer: tokens, users } });
  } finally {
    await tokens.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("copyImage() that runs out of retries fails clearly and leaves no manifest or tag", async () => {
  await withProxy([
    { match: { method: "PATCH", path: PATCH }, fault: { status: 503 } },
  ], async (proxy, registry) => {
    const idx = makeIndex("out of retries");
    const client = new RegistryClient(proxy.host, { retries: QUICK_RETRIES });
    await assert.rejects(
      () => pushV1(client, idx, "fail/app"),
      (e: Error) => {
        assert.ok(e instanceof RegistryError);
        assert.match(
          e.message,
          new RegExp(
            `^Cannot push blob sha256:[0-9a-f]{64} to ${proxy.host}/fail/app: registry answered 503 UNAVAILABLE`,
          ),
        );
        return true;
      },
    );
    assert.equal(proxy.log.filter((e) => e.path.includes("/manifests/")).length, 0);
    assert.deepEqual(await registryTags(registry, "fail/app"), []);
    for (const d of [idx.root, ...idx.children]) {
      assert.equal(await manifestStatus(registry, "fail/app", d.digest), 404);
    }
  });
});

Deno.test("RegistryClient refuses a registry answer with the wrong Docker-Content-Digest", async () => {
  await withProxy([
    { match: { method: "PUT", path: /\/manifests\// }, fault: "wrong-digest" },
  ], async (proxy) => {
    const img = makeImage("wrong digest");
    const client = new RegistryClient(proxy.host, { retries: QUICK_RETRIES });
    await assert.rejects(
      () => pushV1(client, img, "wrong/app"),
      (e: Error) =>
        e instanceof RegistryError &&
        e.message.includes(`Cannot push manifest ${img.root.digest} as tag v1`) &&
        e.message.includes(`the registry stored it as sha256:${"0".repeat(64)}`),
    );
  });
  await withProxy([
    { match: { method: "PUT", path: FINAL_PUT }, fault: "wrong-digest" },
  ], async (proxy) => {
    const img = makeImage("wrong blob digest");
    const client = new RegistryClient(proxy.host, { retries: QUICK_RETRIES });
    await assert.rejects(
      () => pushV1(client, img, "wrong/app"),
      (e: Error) =>
        e instanceof RegistryError && /the registry stored it as sha256:0{64}/.test(e.message),
    );
    assert.equal(proxy.log.filter((e) => e.path.includes("/manifests/")).length, 0);
  });
});

Deno.test("copyImage() rides out a registry failing every second HEAD", async () => {
  await withProxy([
    { match: { method: "HEAD", every: 2 }, fault: { status: 502 } },
  ], async (proxy) => {
    const idx = makeIndex("every second");
    const client = new RegistryClient(proxy.host, { retries: QUICK_RETRIES, concurrency: 1 });
    const result = await pushV1(client, idx, "every/app");
    const heads = proxy.log.filter((e) => e.method === "HEAD");
    assert.deepEqual(heads.map((e) => e.status), [404, 502, 404, 502, 404, 502, 404]);
    assertBlobsBeforeManifests(proxy.log);
    await verifyWithSkopeo(`${proxy.host}/every/app:v1`, result.root.digest);
  });
});
