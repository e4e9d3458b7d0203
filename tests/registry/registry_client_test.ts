import assert from "node:assert/strict";
import { sha256 } from "./_image.ts";
import { RegistryClient } from "../../src/registry/registry_client.ts";
import { RegistryError } from "../../src/registry/registry_error.ts";
import { parseAuthChallenge } from "../../src/registry/auth_challenge.ts";
import { retryDelay } from "../../src/registry/retry_options.ts";

/** A scripted in-memory registry: `answer` decides each response; bodies are read fully. */
function fakeRegistry(
  answer: (
    method: string,
    url: URL,
    body: Uint8Array,
    headers: Headers,
  ) => Response | "network-error",
) {
  const calls: string[] = [];
  const f: typeof fetch = async (input, init) => {
    const url = new URL(String(input));
    const method = init?.method ?? "GET";
    let body = new Uint8Array();
    if (init?.body) body = new Uint8Array(await new Response(init.body as BodyInit).arrayBuffer());
    calls.push(`${method} ${url.pathname}${url.search}`);
    const r = answer(method, url, body, new Headers(init?.headers));
    if (r === "network-error") throw new TypeError("connection reset");
    return r;
  };
  return { fetch: f, calls };
}

const blob = new TextEncoder().encode("x".repeat(10_000));
const digest = sha256(blob);
const fast = { attempts: 4, baseDelayMs: 0, maxDelayMs: 0 };

function uploadServer(
  opts: { failPatch?: number; failPost503?: number; minChunk?: number; patch416?: boolean },
) {
  let posts = 0;
  let patches = 0;
  const received: Uint8Array[] = [];
  const server = fakeRegistry((method, url, body, headers) => {
    if (url.pathname === "/v2/") return new Response(null, { status: 200 });
    if (method === "HEAD") return new Response(null, { status: 404 });
    if (method === "POST") {
      posts++;
      if (posts <= (opts.failPost503 ?? 0)) {
        return new Response("busy", { status: 503, headers: { "Retry-After": "0" } });
      }
      const h: Record<string, string> = { Location: `/v2/r/blobs/uploads/u${posts}?_state=abc%3D` };
      if (opts.minChunk) h["OCI-Chunk-Min-Length"] = String(opts.minChunk);
      return new Response(null, { status: 202, headers: h });
    }
    if (method === "PATCH") {
      patches++;
      if (patches <= (opts.failPatch ?? 0)) return "network-error";
      if (opts.patch416 && !headers.get("content-range")) {
        return new Response(null, { status: 416 });
      }
      received.push(body);
      return new Response(null, { status: 202, headers: { Location: url.pathname + url.search } });
    }
    if (method === "PUT") {
      assert.equal(url.searchParams.get("_state"), "abc=");
      const all = new Uint8Array(received.reduce((n, b) => n + b.byteLength, 0));
      let o = 0;
      for (const b of received) all.set(b, (o += b.byteLength) - b.byteLength);
      const d = sha256(all);
      if (d !== url.searchParams.get("digest")) {
        return Response.json({ errors: [{ code: "DIGEST_INVALID", message: "bad" }] }, {
          status: 400,
        });
      }
      return new Response(null, { status: 201, headers: { "Docker-Content-Digest": d } });
    }
    return new Response(null, { status: 500 });
  });
  return { ...server, received, reset: () => received.splice(0) };
}

Deno.test("RegistryClient.pushBlob() restarts a reopenable upload after a network error", async () => {
  const s = uploadServer({ failPatch: 1 });
  const client = new RegistryClient("reg.test", { fetch: s.fetch, retries: fast });
  let opens = 0;
  const open = () => {
    opens++;
    s.reset();
    return Promise.resolve(new Blob([blob]).stream());
  };
  assert.equal(await client.pushBlob("r", { digest, size: blob.byteLength, open }), "uploaded");
  assert.equal(opens, 2);
});

Deno.test("RegistryClient retries 503 with Retry-After and gives up with a RegistryError", async () => {
  const s = uploadServer({ failPost503: 2 });
  const client = new RegistryClient("reg.test", { fetch: s.fetch, retries: fast });
  const open = () => Promise.resolve(new Blob([blob]).stream());
  assert.equal(await client.pushBlob("r", { digest, size: blob.byteLength, open }), "uploaded");
  const s2 = uploadServer({ failPost503: 10 });
  const client2 = new RegistryClient("reg.test", {
    fetch: s2.fetch,
    retries: { ...fast, attempts: 3 },
  });
  await assert.rejects(
    () => client2.pushBlob("r", { digest, size: blob.byteLength, open }),
    (e: Error) =>
      e instanceof RegistryError && e.status === 503 &&
      e.message === `Cannot push blob ${digest} to reg.test/r: registry answered 503 (busy)`,
  );
  assert.equal(s2.calls.filter((c) => c.startsWith("POST")).length, 3);
});

Deno.test("RegistryClient uploads in chunks of at least OCI-Chunk-Min-Length", async () => {
  const s = uploadServer({ minChunk: 4096 });
  const client = new RegistryClient("reg.test", { fetch: s.fetch, retries: fast, chunkSize: 1000 });
  await client.pushBlob("r", {
    body: new Blob([blob]).stream(),
    expected: Promise.resolve({ digest, size: blob.byteLength }),
  });
  assert.deepEqual(s.received.map((b) => b.byteLength), [4096, 4096, 1808]);
});

Deno.test("RegistryClient switches to chunks when a streamed PATCH gets 416", async () => {
  const s = uploadServer({ patch416: true });
  const client = new RegistryClient("reg.test", { fetch: s.fetch, retries: fast, chunkSize: 3000 });
  const open = () => {
    s.reset();
    return Promise.resolve(new Blob([blob]).stream());
  };
  assert.equal(await client.pushBlob("r", { digest, size: blob.byteLength, open }), "uploaded");
  assert.deepEqual(s.received.map((b) => b.byteLength), [3000, 3000, 3000, 1000]);
});

Deno.test("RegistryClient.putManifest() checks Docker-Content-Digest", async () => {
  const s = fakeRegistry((_m, url) =>
    url.pathname === "/v2/" ? new Response(null, { status: 200 }) : new Response(null, {
      status: 201,
      headers: { "Docker-Content-Digest": `sha256:${"0".repeat(64)}` },
    })
  );
  const client = new RegistryClient("reg.test", { fetch: s.fetch, retries: fast });
  await assert.rejects(
    () =>
      client.putManifest(
        "r",
        "v1",
        new TextEncoder().encode("{}"),
        "application/vnd.oci.image.manifest.v1+json",
      ),
    /stored it as sha256:0{64}/,
  );
});

Deno.test("RegistryClient probes https first, http only for insecure hosts, and loopback http first", async () => {
  const seen: string[] = [];
  const f: typeof fetch = (input) => {
    const url = new URL(String(input));
    seen.push(url.protocol);
    if (url.protocol === "https:") return Promise.reject(new TypeError("tls handshake failed"));
    return Promise.resolve(new Response(null, { status: 200 }));
  };
  await new RegistryClient("localhost:5000", { fetch: f }).ping();
  assert.deepEqual(seen, ["http:"]);
  seen.length = 0;
  await new RegistryClient("reg.example:5000", { fetch: f, insecure: true }).ping();
  assert.deepEqual(seen, ["https:", "http:"]);
  seen.length = 0;
  await assert.rejects(
    () => new RegistryClient("reg.example", { fetch: f, retries: { attempts: 1 } }).ping(),
    /Cannot reach registry reg\.example: tls handshake failed/,
  );
  assert.deepEqual(seen, ["https:"]);

  // A TLS registry on loopback answers plain HTTP with 400: the client moves on to https.
  seen.length = 0;
  const tls: typeof fetch = (input) => {
    const url = new URL(String(input));
    seen.push(url.protocol);
    return Promise.resolve(new Response(null, { status: url.protocol === "http:" ? 400 : 200 }));
  };
  const client = new RegistryClient("127.0.0.1:5443", { fetch: tls });
  await client.ping();
  assert.deepEqual(seen, ["http:", "https:"]);
});

Deno.test("parseAuthChallenge() reads Bearer and Basic challenges", () => {
  assert.deepEqual(
    parseAuthChallenge(
      'Bearer realm="https://a/token",service="reg",scope="repository:x:pull,push",error="insufficient_scope"',
    ),
    {
      scheme: "bearer",
      params: {
        realm: "https://a/token",
        service: "reg",
        scope: "repository:x:pull,push",
        error: "insufficient_scope",
      },
    },
  );
  assert.deepEqual(parseAuthChallenge('Basic realm="Registry Realm"'), {
    scheme: "basic",
    params: { realm: "Registry Realm" },
  });
  assert.equal(parseAuthChallenge(null), undefined);
});

Deno.test("retryDelay() honours Retry-After and caps at maxDelayMs", () => {
  const o = { attempts: 5, baseDelayMs: 100, maxDelayMs: 1000 };
  assert.equal(retryDelay(o, 1, "0"), 0);
  assert.equal(retryDelay(o, 1, "3"), 1000);
  assert.ok(retryDelay(o, 10) <= 1000);
  assert.ok(retryDelay(o, 1) >= 50 && retryDelay(o, 1) <= 100);
});
