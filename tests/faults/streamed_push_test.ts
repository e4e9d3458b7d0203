/**
 * Streamed pushes (`store=false`) survive faults: the fault proxy in front of
 * the real registry breaks the layer's upload in each way a network or a
 * registry can, and every export ends with exactly the reported image in the
 * registry (skopeo inspects it and copies every blob), or with a clear error
 * and nothing tagged when the layer's source changed in between.
 */
import assert from "node:assert/strict";
import { runCli } from "../_harness/cli.ts";
import type { FaultProxy, FaultRule, ProxyLogEntry } from "../_harness/fault_proxy.ts";
import { verifyWithSkopeo } from "../registry/_image.ts";
import { manifestStatus, registryTags, withProxy } from "./_faults.ts";
import { exportImage } from "../../src/exporter/export_image.ts";
import { parseOutputSpec } from "../../src/exporter/output_spec.ts";
import { createDenoEnvironment } from "../../src/runtime/deno_environment.ts";
import { createEdgeEnvironment } from "../../src/edge/edge.ts";
import { memoryEntries } from "../../src/sources/memory_source.ts";
import type { ProgressEvent } from "../../src/exporter/progress.ts";

const MIB = 1024 * 1024;
const UPLOAD = /\/blobs\/uploads\//;

/** A context with `size` bytes of noise (a layer of several 1 MiB chunks) and an empty Docker config. */
async function workspace(size = 5 * MIB) {
  const dir = await Deno.makeTempDir({ prefix: "ocistream-streamed-" });
  await Deno.mkdir(`${dir}/context`);
  await Deno.mkdir(`${dir}/docker`);
  await Deno.writeFile(`${dir}/context/noise.bin`, noise(size, 7));
  return {
    dir,
    context: `${dir}/context`,
    meta: `${dir}/meta.json`,
    env: {
      DOCKER_CONFIG: `${dir}/docker`,
      SOURCE_DATE_EPOCH: "1700000000",
      OCISTREAM_STORE: `${dir}/never-made`,
      OCISTREAM_UPLOAD_CHUNK: "1MiB",
    },
    dispose: () => Deno.remove(dir, { recursive: true }),
  };
}

/** Deterministic incompressible bytes. */
function noise(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** `build --output type=registry,store=false` through the proxy; checks the image with skopeo. */
async function streamedBuild(
  rules: FaultRule[],
  check: (r: { stderr: string; proxy: FaultProxy; digest: string }) => void | Promise<void>,
  extraOutput = "",
): Promise<void> {
  const ws = await workspace();
  try {
    await withProxy(rules, async (proxy, registry) => {
      const r = await runCli([
        "build",
        ws.context,
        "--output",
        `type=registry,store=false,name=${proxy.host}/streamed/app:v1${extraOutput}`,
        "--progress",
        "plain",
        "--metadata-file",
        ws.meta,
      ], { env: ws.env });
      assert.equal(r.code, 0, r.stderr);
      const digest = JSON.parse(await Deno.readTextFile(ws.meta))["containerimage.digest"];
      await verifyWithSkopeo(`${registry.host}/streamed/app:v1`, digest);
      assert.deepEqual(await registryTags(registry, "streamed/app"), ["v1"]);
      // No store, no layer kept anywhere on disk.
      await assert.rejects(Deno.stat(`${ws.dir}/never-made`), Deno.errors.NotFound);
      await check({ stderr: r.stderr, proxy, digest });
    });
  } finally {
    await ws.dispose();
  }
}

const sessionsOpened = (log: ProxyLogEntry[]) =>
  log.filter((e) => e.method === "POST" && UPLOAD.test(e.path) && !e.path.includes("mount="));

Deno.test("store=false: a 503 on the first PATCH resumes in the same session from what the registry has", async () => {
  await streamedBuild([{ match: { method: "PATCH", nth: 1 }, fault: { status: 503 } }], (r) => {
    assert.match(
      r.stderr,
      /upload broke off \(503[^)]*\); resumed from the 0 bytes the registry has/,
    );
    // Layer and config: one session each; the layer was asked for its status, not re-made.
    assert.equal(sessionsOpened(r.proxy.log).length, 2);
    const status = r.proxy.log.filter((e) => e.method === "GET" && UPLOAD.test(e.path));
    assert.equal(status.length, 1);
    assert.equal(status[0]!.status, 204);
    assert.doesNotMatch(r.stderr, /made anew/);
  });
});

Deno.test("store=false: a connection dropped in the middle of a PATCH body ends with the reported image", async () => {
  await streamedBuild([{ match: { method: "PATCH", nth: 2 }, fault: "drop-mid-body" }], (r) => {
    const dropped = r.proxy.log.filter((e) => e.method === "PATCH" && e.status === undefined);
    assert.equal(dropped.length, 1);
    assert.match(r.stderr, /upload broke off/);
  });
});

Deno.test("store=false: a registry that lost the upload session after half the bytes gets the layer re-made from its folder", async () => {
  await streamedBuild([{ match: { method: "PATCH", nth: 3 }, fault: "lose-session" }], (r) => {
    assert.match(
      r.stderr,
      /the registry lost it: sending the layer again, made anew from its source/,
    );
    // The lost session, its new one, and the config's.
    assert.equal(sessionsOpened(r.proxy.log).length, 3);
    // Two 1 MiB chunks were acknowledged before the loss; the new session took the whole layer.
    const lost = r.proxy.log.findIndex((e) => e.status === 404 && e.method === "PATCH");
    assert.equal(r.proxy.log.slice(0, lost).filter((e) => e.method === "PATCH").length, 2);
  });
});

Deno.test("store=false: a 429 with Retry-After on the manifest waits as asked, then pushes it", async () => {
  await streamedBuild([
    {
      match: { method: "PUT", path: /\/manifests\//, nth: 1 },
      fault: { status: 429, retryAfter: 2 },
    },
  ], (r) => {
    const puts = r.proxy.log.filter((e) => e.method === "PUT" && e.path.includes("/manifests/"));
    // By digest (429, then 201), then the tag.
    assert.deepEqual(puts.map((e) => e.status), [429, 201, 201]);
    assert.equal(puts[0]!.path, puts[1]!.path);
    // Retry-After is whole seconds; the proxy's clock and the client's differ by far less than 0.1 s.
    assert.ok(
      puts[1]!.at - puts[0]!.answeredAt! >= 1900,
      `${puts[1]!.at - puts[0]!.answeredAt!} ms`,
    );
  });
});

Deno.test("store=false: a registry that refuses chunks gets the layer re-made in one streamed PATCH", async () => {
  await streamedBuild([{ match: { method: "PATCH" }, fault: "refuse-range" }], (r) => {
    const patches = r.proxy.log.filter((e) => e.method === "PATCH");
    assert.equal(patches[0]!.status, 416);
    assert.ok(patches.slice(1).every((e) => e.status === 202), JSON.stringify(patches));
    assert.match(r.stderr, /made anew from its source/);
  }, ",compression=zstd,oci-mediatypes=true");
});

Deno.test("store=false: a source that changed before the re-run is an error, and nothing is tagged", async () => {
  await withProxy(
    [{ match: { method: "PATCH", nth: 2 }, fault: "lose-session" }],
    async (proxy, registry) => {
      const env = await createDenoEnvironment({ openStore: false, uploadChunkSize: 64 * 1024 });
      let calls = 0;
      const layer = {
        entries: () => {
          const bytes = noise(300_000, 11);
          // The second walk sees the file changed.
          if (++calls > 1) bytes[150_000]! ^= 1;
          return memoryEntries({ "data.bin": bytes });
        },
      };
      await assert.rejects(
        exportImage(
          { platforms: [{ platform: { os: "linux", architecture: "amd64" }, layers: [layer] }] },
          [parseOutputSpec(`type=registry,store=false,name=${proxy.host}/changed/app:v1`)],
          env,
        ),
        /Cannot push blob sha256:[0-9a-f]{64} to .*changed\/app: the layer's source changed while it was being sent: made again it is sha256:[0-9a-f]{64} \(\d+ bytes\), not sha256:[0-9a-f]{64} .*nothing was committed/,
      );
      assert.equal(calls, 2);
      assert.deepEqual(await registryTags(registry, "changed/app"), []);
      assert.equal(await manifestStatus(registry, "changed/app", "v1"), 404);
    },
  );
});

Deno.test("edge environment: a lost upload session is re-made from the in-memory files", async () => {
  await withProxy(
    [{ match: { method: "PATCH", nth: 2 }, fault: "lose-session" }],
    async (proxy, registry) => {
      const events: ProgressEvent[] = [];
      const env = createEdgeEnvironment({
        registry: { chunkSize: 64 * 1024 },
        onProgress: (e) => events.push(e),
      });
      const files = { "www/data.bin": noise(300_000, 13), "www/index.html": "<h1>edge</h1>\n" };
      const [result] = await exportImage(
        {
          platforms: [{
            platform: { os: "linux", architecture: "amd64" },
            layers: [{ entries: () => memoryEntries(files) }],
          }],
          sourceDateEpoch: 1700000000,
        },
        [parseOutputSpec(`type=registry,name=${proxy.host}/edge/site:1`)],
        env,
      );
      assert.ok(events.some((e) => e.type === "note" && /made anew/.test(e.message)));
      await verifyWithSkopeo(`${registry.host}/edge/site:1`, result!.digest);
    },
  );
});

Deno.test("store=false: a 256 MiB layer whose session is lost half way is re-made with flat memory", async () => {
  const ws = await workspace(0);
  try {
    // Random bytes from the kernel: 256 MiB quickly, incompressible.
    const file = await Deno.open(`${ws.context}/noise.bin`, { write: true });
    const block = new Uint8Array(MIB);
    for (let i = 0; i < 256; i++) {
      for (let o = 0; o < MIB; o += 65536) crypto.getRandomValues(block.subarray(o, o + 65536));
      await file.write(block);
    }
    file.close();
    await withProxy(
      // 4 MiB chunks (the default): the session is lost after 100 MiB were acknowledged.
      [{ match: { method: "PATCH", nth: 26 }, fault: "lose-session" }],
      async (proxy, registry) => {
        const { OCISTREAM_UPLOAD_CHUNK: _default, ...env } = ws.env;
        const r = await timed([
          "build",
          ws.context,
          "--output",
          `type=registry,store=false,compression=zstd,oci-mediatypes=true,name=${proxy.host}/big/app:v1`,
          "--progress",
          "plain",
          "--metadata-file",
          ws.meta,
        ], env);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /made anew from its source/);
        const digest = JSON.parse(await Deno.readTextFile(ws.meta))["containerimage.digest"];
        await verifyWithSkopeo(`${registry.host}/big/app:v1`, digest);
        // The layer is never held: the export's whole peak (about 170-200 MiB here with or
        // without the fault, compression workers included) stays below the layer's size.
        assert.ok(r.peakMiB < 240, `peak RSS ${r.peakMiB} MiB`);
      },
    );
  } finally {
    await ws.dispose();
  }
});

/** Runs the CLI under GNU time; returns its output and peak resident memory. */
async function timed(args: string[], env: Record<string, string>) {
  const main = new URL("../../src/cli/main.ts", import.meta.url).pathname;
  const out = await new Deno.Command("/usr/bin/time", {
    args: ["-f", "peak-kib=%M", Deno.execPath(), "run", "-A", "--quiet", main, ...args],
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  const kib = Number(stderr.match(/peak-kib=(\d+)/)?.[1]);
  assert.ok(kib > 0, stderr);
  return { code: out.code, stderr, peakMiB: Math.round(kib / 1024) };
}
