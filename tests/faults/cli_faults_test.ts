import assert from "node:assert/strict";
import { runCli } from "../_harness/cli.ts";
import { verifyWithSkopeo } from "../registry/_image.ts";
import { assertBlobsBeforeManifests, manifestStatus, registryTags, withProxy } from "./_faults.ts";

/** A build context (one file big enough for a multi-write PATCH), a store and an empty Docker config. */
async function workspace(): Promise<
  {
    dir: string;
    context: string;
    store: string;
    env: Record<string, string>;
    dispose(): Promise<void>;
  }
> {
  const dir = await Deno.makeTempDir({ prefix: "ocistream-cli-faults-" });
  const context = `${dir}/context`;
  await Deno.mkdir(`${context}/www`, { recursive: true });
  await Deno.writeTextFile(`${context}/www/index.html`, "<h1>faults</h1>\n");
  const big = new Uint8Array(400_000);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7919) % 251;
  await Deno.writeFile(`${context}/www/data.bin`, big);
  await Deno.mkdir(`${dir}/docker`);
  return {
    dir,
    context,
    store: `${dir}/store`,
    env: {
      DOCKER_CONFIG: `${dir}/docker`,
      SOURCE_DATE_EPOCH: "1700000000",
      OCISTREAM_STORE: `${dir}/store`,
    },
    dispose: () => Deno.remove(dir, { recursive: true }),
  };
}

Deno.test("ocistream build --output push=true survives a dropped PATCH, a 503 and a 429; skopeo sees the metadata digest", async () => {
  const ws = await workspace();
  try {
    await withProxy([
      { match: { method: "PATCH", nth: 1 }, fault: "drop-mid-body" },
      { match: { method: "POST", nth: 2 }, fault: { status: 503 } },
      {
        match: { method: "PUT", path: /\/manifests\//, nth: 1 },
        fault: { status: 429, retryAfter: 1 },
      },
    ], async (proxy, registry) => {
      const r = await runCli([
        "build",
        ws.context,
        "--output",
        `type=image,name=${proxy.host}/cli/app:v1,push=true`,
        "--store",
        ws.store,
        "--progress",
        "plain",
        "--metadata-file",
        `${ws.dir}/metadata.json`,
      ], { env: ws.env });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(proxy.fired, [1, 1, 1]);
      const metadata = JSON.parse(await Deno.readTextFile(`${ws.dir}/metadata.json`));
      const digest = metadata["containerimage.digest"];
      assertBlobsBeforeManifests(proxy.log);
      await verifyWithSkopeo(`${proxy.host}/cli/app:v1`, digest);
      await verifyWithSkopeo(`${registry.host}/cli/app:v1`, digest);
    });
  } finally {
    await ws.dispose();
  }
});

Deno.test("ocistream build with store=false survives its streamed upload dropping, as the store does", async () => {
  const ws = await workspace();
  try {
    await withProxy([
      { match: { method: "PATCH", nth: 1 }, fault: "drop-mid-body" },
    ], async (proxy, registry) => {
      const r = await runCli([
        "build",
        ws.context,
        "--output",
        `type=registry,name=${proxy.host}/stream/app:v1,store=false`,
        "--progress",
        "plain",
        "--metadata-file",
        `${ws.dir}/streamed.json`,
      ], { env: ws.env });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(proxy.log.find((e) => e.method === "PATCH")!.status, undefined, "dropped");
      assertBlobsBeforeManifests(proxy.log);
      assert.deepEqual(await registryTags(registry, "stream/app"), ["v1"]);
      const streamed =
        JSON.parse(await Deno.readTextFile(`${ws.dir}/streamed.json`))["containerimage.digest"];
      await verifyWithSkopeo(`${registry.host}/stream/app:v1`, streamed);
      // The same export with the store (the default) restarts the upload and gives the same image.
      const ok = await runCli([
        "build",
        ws.context,
        "--output",
        `type=registry,name=${proxy.host}/stream/app:v1`,
        "--store",
        ws.store,
        "--metadata-file",
        `${ws.dir}/metadata.json`,
      ], { env: ws.env });
      assert.equal(ok.code, 0, ok.stderr);
      const digest =
        JSON.parse(await Deno.readTextFile(`${ws.dir}/metadata.json`))["containerimage.digest"];
      assert.equal(digest, streamed);
      await verifyWithSkopeo(`${registry.host}/stream/app:v1`, digest);
    }, { proxy: { dropAfterBytes: 1024 } });
  } finally {
    await ws.dispose();
  }
});

Deno.test("ocistream build that runs out of retries exits 1 with the blob, registry and status, and leaves no tag", async () => {
  const ws = await workspace();
  try {
    await withProxy([
      { match: { method: "PATCH" }, fault: { status: 503 } },
    ], async (proxy, registry) => {
      const r = await runCli([
        "build",
        ws.context,
        "--output",
        `type=image,name=${proxy.host}/out/app:v1,push=true`,
        "--store",
        ws.store,
        "--progress",
        "json",
      ], { env: ws.env });
      assert.equal(r.code, 1, r.stderr);
      assert.match(
        r.stderr,
        new RegExp(
          `error: Cannot push blob sha256:[0-9a-f]{64} to ${proxy.host}/out/app: registry answered 503`,
        ),
      );
      // Every PATCH was tried the default 4 times per blob at most, and no manifest went out.
      assert.ok(proxy.fired[0]! >= 4);
      assert.equal(proxy.log.filter((e) => e.path.includes("/manifests/")).length, 0);
      assert.deepEqual(await registryTags(registry, "out/app"), []);
      assert.equal(await manifestStatus(registry, "out/app", "v1"), 404);
    });
  } finally {
    await ws.dispose();
  }
});

Deno.test("ocistream push from the store survives a dropped PATCH and a 502; skopeo sees the pushed digest", async () => {
  const ws = await workspace();
  try {
    const built = await runCli([
      "build",
      ws.context,
      "--output",
      "type=image,name=example.com/faults/app:1",
      "--store",
      ws.store,
      "--metadata-file",
      `${ws.dir}/metadata.json`,
    ], { env: ws.env });
    assert.equal(built.code, 0, built.stderr);
    const digest =
      JSON.parse(await Deno.readTextFile(`${ws.dir}/metadata.json`))["containerimage.digest"];
    await withProxy([
      { match: { method: "PATCH", nth: 1 }, fault: "drop-mid-body" },
      { match: { method: "HEAD", nth: 2 }, fault: { status: 502 } },
    ], async (proxy) => {
      const r = await runCli(
        ["push", "example.com/faults/app:1", `${proxy.host}/pushed/app:v2`, "--store", ws.store],
        { env: ws.env },
      );
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`pushed ${digest} to ${proxy.host}/pushed/app:v2`));
      assert.deepEqual(proxy.fired, [1, 1]);
      assertBlobsBeforeManifests(proxy.log);
      await verifyWithSkopeo(`${proxy.host}/pushed/app:v2`, digest);
    });
  } finally {
    await ws.dispose();
  }
});
