/**
 * The library core, bundled as one ESM file, pushing the same small static
 * site from Cloudflare's workerd, Node and Bun (both pinned, from npm) and
 * from Deno itself to a real docker-registry on 127.0.0.1; skopeo checks each
 * image, and with a fixed epoch all runtimes give the same digest.
 */
import assert from "node:assert/strict";
import { freePort, startRegistry, type TestRegistry } from "../_harness/registry.ts";
import { createEdgeEnvironment } from "../../src/edge/edge.ts";
import { exportFiles } from "../../src/edge/export_files.ts";
import type { MemoryFile } from "../../src/sources/memory_source.ts";
import {
  type Background,
  bundle,
  ensureNpmTools,
  ROOT,
  run,
  skopeoInspect,
  spawn,
} from "./_tools.ts";

const EPOCH = 1700000000; // 2023-11-14 22:13:20 UTC
const PIXEL = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 1, 2, 255]);
const TEXT: Record<string, string> = {
  "index.html": "<!doctype html>\n<h1>ocistream on the edge</h1>\n",
  "css/site.css": "h1 { font-family: sans-serif }\n",
  "js/app.js": "console.log('hello');\n",
  "docs/ünïcode.txt": "UTF-8 names survive\n",
};
const BINARY = { "img/pixel.png": PIXEL };
const LINK = { path: "latest.html", linkName: "index.html" };

/** The result every push prints or answers. */
interface PushResult {
  image: string;
  digest: string;
  configDigest: string;
  layers: string[];
  sha256: "js" | "wasm";
  milliseconds: number;
}

async function writeSite(dir: string): Promise<void> {
  const files: Record<string, Uint8Array> = { ...BINARY };
  for (const [p, t] of Object.entries(TEXT)) files[p] = new TextEncoder().encode(t);
  for (const [path, bytes] of Object.entries(files)) {
    const full = `${dir}/${path}`;
    const parent = full.slice(0, full.lastIndexOf("/"));
    await Deno.mkdir(parent, { recursive: true });
    await Deno.chmod(parent, 0o755);
    await Deno.writeFile(full, bytes);
    await Deno.chmod(full, 0o644);
  }
  await Deno.chmod(dir, 0o755);
  await Deno.symlink(LINK.linkName, `${dir}/${LINK.path}`);
}

function base64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

async function waitForHttp(url: string, server: Background): Promise<void> {
  for (let i = 0;; i++) {
    try {
      const res = await fetch(url);
      await res.body?.cancel();
      return;
    } catch (e) {
      if (i > 300) throw new Error(`${url} did not answer: ${e}\n${server.log()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

async function post(url: string, init: RequestInit, server: Background): Promise<PushResult> {
  const res = await fetch(url, { method: "POST", ...init });
  const text = await res.text();
  assert.equal(res.status, 200, `worker answered ${res.status}: ${text}\n${server.log()}`);
  return JSON.parse(text);
}

Deno.test("workerd, Node, Bun and Deno push the same site to the same image digest", async (t) => {
  const tmp = await Deno.makeTempDir({ prefix: "ocistream-edge-" });
  let registry: TestRegistry | undefined;
  let workerd: Background | undefined;
  const timings: Record<string, number> = {};
  const time = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const start = performance.now();
    try {
      return await fn();
    } finally {
      timings[name] = Math.round(performance.now() - start);
    }
  };
  try {
    const site = `${tmp}/site`;
    await Deno.mkdir(site);
    await writeSite(site);
    await Deno.mkdir(`${tmp}/workerd/dist`, { recursive: true });
    const [reg, tools] = await Promise.all([
      startRegistry(),
      time("npm install (cached: version check)", ensureNpmTools),
      time("deno bundle x3", () =>
        Promise.all([
          bundle("examples/workerd/worker.ts", `${tmp}/workerd/dist/worker.js`),
          bundle("examples/node/push.ts", `${tmp}/node/push.mjs`),
          bundle("examples/bun/push.ts", `${tmp}/bun/push.js`),
        ])),
    ]);
    registry = reg;
    const repo = `${registry.host}/edge/site`;
    const results: Record<string, PushResult> = {};

    await t.step("workerd: POST JSON, multipart and tar; skopeo sees the image", async () => {
      await Deno.copyFile(`${ROOT}examples/workerd/config.capnp`, `${tmp}/workerd/config.capnp`);
      const port = freePort();
      const url = `http://127.0.0.1:${port}/`;
      workerd = spawn(tools.workerd, [
        "serve",
        "config.capnp",
        "--socket-addr",
        `http=127.0.0.1:${port}`,
      ], `${tmp}/workerd`);
      await time("workerd start", () => waitForHttp(url, workerd!));

      const files: MemoryFile[] = [
        ...Object.entries(TEXT).map(([path, content]) => ({ path, content })),
        ...Object.entries(BINARY).map(([path, b]) => ({ path, base64: base64(b) })),
        { ...LINK, type: "symlink" as const },
      ];
      const json = await time("workerd push (JSON)", () =>
        post(url, {
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ image: `${repo}:workerd`, epoch: EPOCH, files }),
        }, workerd!));
      // workerd forbids compiling wasm from bytes: hash-wasm cannot load, the pure-JS SHA-256 runs.
      assert.equal(json.sha256, "js");
      assert.equal((await skopeoInspect(`${repo}:workerd`)).digest, json.digest);
      results.workerd = json;

      const form = new FormData();
      form.set("image", `${repo}:workerd-multipart`);
      form.set("epoch", String(EPOCH));
      for (const [path, content] of Object.entries(TEXT)) form.set(path, new Blob([content]), path);
      for (const [path, b] of Object.entries(BINARY)) form.set(path, new Blob([b]), path);
      // multipart has no symlinks; push the same site without one and check it against Deno below.
      const multipart = await time(
        "workerd push (multipart)",
        () => post(url, { body: form }, workerd!),
      );
      assert.equal((await skopeoInspect(`${repo}:workerd-multipart`)).digest, multipart.digest);
      results["workerd multipart"] = multipart;

      const tar = await new Deno.Command("tar", {
        args: ["-cf", "-", "-C", site, "."],
        stdout: "piped",
      }).output();
      assert.ok(tar.success);
      const fromTar = await time(
        "workerd push (tar)",
        () =>
          post(`${url}?image=${encodeURIComponent(`${repo}:workerd-tar`)}&epoch=${EPOCH}`, {
            headers: { "content-type": "application/x-tar" },
            body: tar.stdout,
          }, workerd!),
      );
      assert.equal(fromTar.digest, json.digest, "a tar of the site gives the same image as JSON");

      const raw = await time("workerd push (uncompressed)", () =>
        post(url, {
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            image: `${repo}:workerd-raw`,
            epoch: EPOCH,
            compression: "uncompressed",
            files,
          }),
        }, workerd!));
      assert.equal((await skopeoInspect(`${repo}:workerd-raw`)).digest, raw.digest);
      assert.notEqual(raw.digest, json.digest);

      // zstd-wasm must compile WebAssembly at run time, which workerd forbids: a clear error.
      const zstd = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ image: `${repo}:workerd-zstd`, compression: "zstd", files }),
      });
      const zstdAnswer = await zstd.json();
      assert.equal(zstd.status, 502, JSON.stringify(zstdAnswer));
      assert.match(zstdAnswer.error, /zstd wasm module/);

      const bad = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ files: { "index.html": "x" } }),
      });
      assert.equal(bad.status, 400);
      assert.match((await bad.json()).error, /No image to push to/);
    });

    await t.step("node: the bundled example pushes the site folder", async () => {
      const out = await time(
        "node push",
        () =>
          run("node", [`${tmp}/node/push.mjs`, `${repo}:node`, site], {
            env: { SOURCE_DATE_EPOCH: String(EPOCH) },
          }),
      );
      const result: PushResult = JSON.parse(out);
      assert.equal(result.sha256, "wasm");
      assert.equal((await skopeoInspect(`${repo}:node`)).digest, result.digest);
      results.node = result;
    });

    await t.step("bun: the bundled example pushes the site folder", async () => {
      const out = await time(
        "bun push",
        () =>
          run(tools.bun, ["run", `${tmp}/bun/push.js`, `${repo}:bun`, site], {
            env: { SOURCE_DATE_EPOCH: String(EPOCH) },
          }),
      );
      const result: PushResult = JSON.parse(out);
      assert.equal((await skopeoInspect(`${repo}:bun`)).digest, result.digest);
      results.bun = result;
    });

    await t.step("deno: exportFiles in process, with and without the symlink", async () => {
      const files: MemoryFile[] = [
        ...Object.entries(TEXT).map(([path, content]) => ({ path, content })),
        ...Object.entries(BINARY).map(([path, content]) => ({ path, content })),
      ];
      const spec = (tag: string) =>
        `type=registry,name=${repo}:${tag},rewrite-timestamp=true,source-date-epoch=${EPOCH}`;
      const options = {
        environment: createEdgeEnvironment(),
        mtime: Math.floor(Date.now() / 1000),
      };
      const full = await time(
        "deno push",
        () => exportFiles([...files, { ...LINK, type: "symlink" }], spec("deno"), options),
      );
      const noLink = await exportFiles(files, spec("deno-nolink"), options);
      assert.equal((await skopeoInspect(`${repo}:deno`)).digest, full.digest);
      assert.equal(noLink.digest, results["workerd multipart"]!.digest);
      results.deno = {
        ...results.node!,
        digest: full.digest,
        configDigest: full.configDigest,
        sha256: "wasm",
        milliseconds: timings["deno push"]!,
      };
    });

    await t.step("all runtimes made the same bytes", () => {
      const want = results.deno!;
      for (const name of ["workerd", "node", "bun"]) {
        assert.equal(results[name]!.digest, want.digest, `${name} image digest`);
        assert.equal(results[name]!.configDigest, want.configDigest, `${name} config digest`);
      }
    });

    await t.step("the layer holds the site with timestamps clamped to the epoch", async () => {
      await run("skopeo", [
        "copy",
        "--src-tls-verify=false",
        `docker://${repo}:workerd`,
        `oci:${tmp}/oci:x`,
      ]);
      const index = JSON.parse(await Deno.readTextFile(`${tmp}/oci/index.json`));
      const manifestPath = `${tmp}/oci/blobs/sha256/${index.manifests[0].digest.slice(7)}`;
      const manifest = JSON.parse(await Deno.readTextFile(manifestPath));
      assert.equal(manifest.layers.length, 1);
      const layer = `${tmp}/oci/blobs/sha256/${manifest.layers[0].digest.slice(7)}`;
      const listing = await run("tar", ["-tvzf", layer, "--numeric-owner"], {
        env: { TZ: "UTC", LC_ALL: "C.UTF-8" },
      });
      assert.deepEqual(listing.trim().split("\n").map((l) => l.replace(/\s+/g, " ")), [
        "drwxr-xr-x 0/0 0 2023-11-14 22:13 css/",
        "-rw-r--r-- 0/0 31 2023-11-14 22:13 css/site.css",
        "drwxr-xr-x 0/0 0 2023-11-14 22:13 docs/",
        "-rw-r--r-- 0/0 20 2023-11-14 22:13 docs/ünïcode.txt",
        "drwxr-xr-x 0/0 0 2023-11-14 22:13 img/",
        "-rw-r--r-- 0/0 12 2023-11-14 22:13 img/pixel.png",
        "-rw-r--r-- 0/0 47 2023-11-14 22:13 index.html",
        "drwxr-xr-x 0/0 0 2023-11-14 22:13 js/",
        "-rw-r--r-- 0/0 22 2023-11-14 22:13 js/app.js",
        "lrwxrwxrwx 0/0 0 2023-11-14 22:13 latest.html -> index.html",
      ]);
    });

    console.log(
      "edge timings (ms):",
      JSON.stringify({
        ...timings,
        inside: Object.fromEntries(Object.entries(results).map(([k, r]) => [k, r.milliseconds])),
      }),
    );
  } finally {
    await workerd?.stop();
    await registry?.stop();
    await Deno.remove(tmp, { recursive: true });
  }
});
