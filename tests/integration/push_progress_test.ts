/**
 * Push progress through the CLI: `json` gives per-blob `blob-upload` events
 * ending at the blob's size; `plain` gives each pushed blob's bytes and rate;
 * `quiet` prints nothing on success and only the error on failure.
 */
import assert from "node:assert/strict";
import { runCli } from "../_harness/cli.ts";
import { freePort, startRegistry } from "../_harness/registry.ts";
import { readMetadata, workspace, writeNoise } from "./_registry_cli.ts";
import { runBuild } from "../_harness/store.ts";
import { createProgressRenderer } from "../../src/cli/progress_renderer.ts";

const MiB = 1024 * 1024;

interface Event {
  type: string;
  id?: string;
  digest?: string;
  target?: string;
  sent?: number;
  total?: number;
  skipped?: boolean;
}

/** A workspace whose store holds example.com/progress:1 (with a few MiB of noise). */
async function newWorkspace() {
  const w = await workspace("ocistream-push-progress-", "progress");
  // Incompressible, so the layer is a few MiB and is sent in many pieces.
  await writeNoise(`${w.context}/noise.bin`, 2 * 1024 * 1024);
  const built = await runBuild(w.context, w.store, "type=image,name=example.com/progress:1", {
    progress: "quiet",
    metadataFile: w.meta,
    env: w.env,
  });
  assert.equal(built.code, 0, built.stderr);
  assert.equal(built.stderr, "");
  return { ...w, metadata: await readMetadata(w.meta) };
}

/** The layer and config descriptors of the single-platform image in `store`. */
async function blobsOf(store: string, digest: string) {
  const manifest = JSON.parse(await Deno.readTextFile(`${store}/blobs/sha256/${digest.slice(7)}`));
  return [manifest.config, ...manifest.layers] as { digest: string; size: number }[];
}

Deno.test("push --progress json reports bytes sent per blob up to its size", async () => {
  const reg = await startRegistry();
  const w = await newWorkspace();
  try {
    const r = await runCli([
      "push",
      "--progress",
      "json",
      "--store",
      w.store,
      "example.com/progress:1",
      `${reg.host}/json:1`,
    ], { env: w.env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "");
    const events: Event[] = r.stderr.trim().split("\n").filter((l) => l.startsWith("{")).map((l) =>
      JSON.parse(l)
    );
    const target = `${reg.host}/json`;
    for (const blob of await blobsOf(w.store, w.metadata["containerimage.digest"])) {
      const uploads = events.filter((e) => e.type === "blob-upload" && e.digest === blob.digest);
      assert.ok(uploads.length >= 1, `no blob-upload for ${blob.digest}`);
      assert.ok(uploads.every((e) => e.target === target && e.total === blob.size));
      // Cumulative and ending at the size.
      const sent = uploads.map((e) => e.sent!);
      assert.deepEqual(sent, [...sent].sort((a, b) => a - b));
      assert.equal(sent[sent.length - 1], blob.size);
      assert.ok(
        events.some((e) => e.type === "blob-done" && e.digest === blob.digest && !e.skipped),
      );
    }
    // Throttled: far fewer events than 64 KiB pieces of the layer.
    assert.ok(events.filter((e) => e.type === "blob-upload").length < 20);
    assert.ok(events.some((e) => e.type === "manifest"));
  } finally {
    await reg.stop();
    await Deno.remove(w.dir, { recursive: true });
  }
});

Deno.test("push and build --progress plain print each pushed blob with its bytes and rate", async () => {
  const reg = await startRegistry();
  const w = await newWorkspace();
  try {
    const r = await runCli([
      "push",
      "--progress",
      "plain",
      "--store",
      w.store,
      "example.com/progress:1",
      `${reg.host}/plain:1`,
    ], { env: w.env });
    assert.equal(r.code, 0, r.stderr);
    for (const blob of await blobsOf(w.store, w.metadata["containerimage.digest"])) {
      assert.match(
        r.stderr,
        new RegExp(
          `pushed ${blob.digest} to ${reg.host}/plain \\([0-9.]+ (B|KiB|MiB), [0-9.]+ (B|KiB|MiB|GiB)/s\\)`,
        ),
      );
    }
    assert.match(
      r.stderr,
      new RegExp(`pushed manifest ${w.metadata["containerimage.digest"]} as 1`),
    );

    const b = await runBuild(w.context, w.store, `type=registry,name=${reg.host}/built:1`, {
      progress: "plain",
      env: w.env,
    });
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stderr, new RegExp(`pushed sha256:[0-9a-f]{64} to ${reg.host}/built \\(`));
  } finally {
    await reg.stop();
    await Deno.remove(w.dir, { recursive: true });
  }
});

Deno.test("--progress quiet prints nothing on success and only the error on failure", async () => {
  const reg = await startRegistry();
  const w = await newWorkspace();
  try {
    const push = await runCli([
      "push",
      "--progress",
      "quiet",
      "--store",
      w.store,
      "example.com/progress:1",
      `${reg.host}/quiet:1`,
    ], { env: w.env });
    assert.equal(push.code, 0, push.stderr);
    assert.equal(push.stderr + push.stdout, "");
    const build = await runBuild(
      w.context,
      w.store,
      `type=registry,store=false,name=${reg.host}/quiet:2`,
      { progress: "quiet", env: w.env },
    );
    assert.equal(build.code, 0, build.stderr);
    assert.equal(build.stderr + build.stdout, "");

    const down = `127.0.0.1:${freePort()}`;
    const failed = await runCli([
      "push",
      "--progress",
      "quiet",
      "--store",
      w.store,
      "example.com/progress:1",
      `${down}/quiet:1`,
    ], { env: w.env });
    assert.equal(failed.code, 1);
    const lines = failed.stderr.trim().split("\n");
    assert.equal(lines.length, 1, failed.stderr);
    assert.match(lines[0]!, new RegExp(`^error: .*${down}`));
  } finally {
    await reg.stop();
    await Deno.remove(w.dir, { recursive: true });
  }
});

Deno.test("plain progress logs long uploads every 5 seconds and puts bytes and rate on the pushed line", () => {
  let t = 0;
  const lines: string[] = [];
  const { listener } = createProgressRenderer("plain", (l) => lines.push(l), undefined, () => t);
  const d = `sha256:${"a".repeat(64)}`;
  const upload = (sent: number) =>
    listener({ type: "blob-upload", id: d, target: "r/app", digest: d, sent, total: 4 * MiB });
  upload(MiB);
  t = 4000;
  upload(2 * MiB);
  assert.deepEqual(lines, []);
  t = 6000;
  upload(3 * MiB);
  assert.deepEqual(lines, [`[  6.0s] uploading ${d} to r/app: 3.0 MiB of 4.0 MiB (512.0 KiB/s)`]);
  t = 8000;
  upload(4 * MiB);
  listener({ type: "blob-done", id: d, target: "r/app", digest: d });
  listener({ type: "blob-done", id: "x", target: "r/app", digest: "x", skipped: true });
  assert.deepEqual(lines.slice(1), [
    `[  8.0s] pushed ${d} to r/app (4.0 MiB, 512.0 KiB/s)`,
    "[  8.0s] exists x to r/app",
  ]);
});
