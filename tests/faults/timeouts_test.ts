import assert from "node:assert/strict";
import { withProxy } from "./_faults.ts";
import { makeImage } from "../registry/_image.ts";
import { RegistryClient } from "../../src/registry/registry_client.ts";
import { RegistryError } from "../../src/registry/registry_error.ts";
import { RegistryRepository } from "../../src/sinks/registry_repository.ts";
import { copyImage } from "../../src/image/copy_image.ts";
import { DEFAULT_TIMEOUTS, parseTimeouts, registryTimeouts } from "../../src/registry/timeouts.ts";
import { runCli } from "../_harness/cli.ts";

Deno.test("registryTimeouts() fills defaults and refuses negative or zero limits", () => {
  assert.deepEqual(registryTimeouts(), DEFAULT_TIMEOUTS);
  // Waiting for a registry to verify a big blob gets far longer than a quick answer.
  assert.ok(DEFAULT_TIMEOUTS.responseMs > DEFAULT_TIMEOUTS.idleMs);
  assert.ok(DEFAULT_TIMEOUTS.idleMs >= DEFAULT_TIMEOUTS.connectMs);
  assert.equal(registryTimeouts({ requestMs: 0 }).requestMs, 0);
  assert.throws(() => registryTimeouts({ idleMs: -1 }), RangeError);
  assert.throws(() => registryTimeouts({ connectMs: 0 }), /only requestMs may be 0/);
  assert.throws(() => registryTimeouts({ responseMs: NaN }), RangeError);
});

Deno.test("parseTimeouts() reads connect=,idle=,response=,request= in seconds", () => {
  assert.deepEqual(parseTimeouts("connect=5, idle=10,response=900,request=0"), {
    connectMs: 5000,
    idleMs: 10000,
    responseMs: 900000,
    requestMs: 0,
  });
  assert.deepEqual(parseTimeouts(""), {});
  assert.deepEqual(parseTimeouts("idle=0.5"), { idleMs: 500 });
  assert.throws(() => parseTimeouts("idle"), RangeError);
  assert.throws(() => parseTimeouts("idle=-3"), RangeError);
  assert.throws(() => parseTimeouts("read=3"), /Unknown registry timeout "read=3"/);
  assert.throws(() => parseTimeouts("connect=0"), RangeError);
  assert.throws(
    () => parseTimeouts("idle=0", "$OCISTREAM_REGISTRY_TIMEOUTS"),
    /^RangeError: Invalid registry timeout "idle=0" in \$OCISTREAM_REGISTRY_TIMEOUTS: only request= may be 0/,
  );
});

Deno.test("ocistream build names $OCISTREAM_REGISTRY_TIMEOUTS when it is wrong, and writes nothing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/a`, "a");
    const out = await runCli(
      ["build", dir, "--store", `${dir}/store`, "--output", "type=image,name=a/b:1"],
      { env: { OCISTREAM_REGISTRY_TIMEOUTS: "conect=5" } },
    );
    assert.equal(out.code, 1);
    assert.equal(
      out.stderr.trim(),
      'error: Unknown registry timeout "conect=5" in $OCISTREAM_REGISTRY_TIMEOUTS: use connect=, idle=, response=, request= or document= (seconds)',
    );
    assert.equal(await Deno.lstat(`${dir}/store`).then(() => true, () => false), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("RegistryClient gives up on a registry that accepts connections but never answers (connect timeout)", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    try {
      for await (const conn of listener) held.push(conn);
    } catch {
      // Closed.
    }
  })();
  try {
    const host = `127.0.0.1:${(listener.addr as Deno.NetAddr).port}`;
    const client = new RegistryClient(host, {
      scheme: "http",
      retries: { attempts: 2, baseDelayMs: 10 },
      timeouts: { connectMs: 200 },
    });
    await assert.rejects(() => client.ping(), (e: Error) => {
      assert.ok(e instanceof RegistryError);
      assert.match(e.message, new RegExp(`Cannot reach registry ${host}: .*\\(connect timeout\\)`));
      return true;
    });
    assert.equal(held.length, 2, "one connection per attempt");
  } finally {
    listener.close();
    for (const c of held) c.close();
    await accepting;
  }
});

Deno.test("RegistryClient ends a request that outlives requestMs even while bytes trickle (whole-request timeout)", async () => {
  await withProxy([
    { match: { method: "GET", path: /\/blobs\/sha256:/ }, fault: "stall-body" },
  ], async (proxy) => {
    const img = makeImage("whole request", undefined, "amd64", 50_000);
    // Pushed without the tight limit (a loaded machine may take 300 ms for any request), then
    // read back through a client that allows 300 ms for the whole request.
    const pusher = new RegistryRepository(new RegistryClient(proxy.host), "whole/app");
    await copyImage(img.source, img.root, pusher, { tags: ["v1"] });
    const client = new RegistryClient(proxy.host, {
      retries: { attempts: 1 },
      timeouts: { idleMs: 60_000, requestMs: 300 },
    });
    const repo = new RegistryRepository(client, "whole/app");
    const body = await repo.fetch(img.layer);
    await assert.rejects(
      () => new Response(body).arrayBuffer(),
      /the request did not finish within 300 ms \(request timeout\)/,
    );
  }, { proxy: { stallMs: 5_000 } });
});
