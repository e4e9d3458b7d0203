/**
 * Crash and concurrency safety of the store (SPEC §9, issue 6 point 2):
 * exports killed with SIGKILL at random moments leave a store that `verify`
 * and skopeo accept and that a rerun completes; concurrent exports lose no
 * name and no blob; prune during an export keeps that export's blobs.
 */
import assert from "node:assert/strict";
import { verifyStore } from "../../src/image/store_maintenance.ts";
import { OciLayout } from "../../src/sinks/oci_layout.ts";
import { denoFileSystem as fs } from "../../src/runtime/deno_file_system.ts";
import { nativeCodecs as codecs } from "../../src/runtime/native_codecs.ts";
import { run } from "../sinks/_image_fixture.ts";

const MAIN = new URL("../../src/cli/main.ts", import.meta.url).pathname;
const KILLS = 12;

function buildArgs(context: string, store: string, name: string, extra: string[] = []): string[] {
  return [
    "run",
    "-A",
    "--no-check",
    MAIN,
    "build",
    context,
    "--store",
    store,
    "--progress",
    "quiet",
    "--output",
    // OCI media types: skopeo 1.9 ignores Docker-typed entries of an OCI layout's index.json.
    `type=image,name=${name},oci-mediatypes=true`,
    ...extra,
  ];
}

async function cli(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), { args, stdout: "piped", stderr: "piped" })
    .output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

/** A context with a few MiB of incompressible data, so an export takes a while. */
async function makeContext(dir: string, seed: number): Promise<void> {
  await Deno.mkdir(`${dir}/sub`, { recursive: true });
  let x = seed;
  const big = new Uint8Array(4 * 1024 * 1024).map(() => {
    x = (x * 1103515245 + 12345) >>> 0;
    return x >>> 24;
  });
  await Deno.writeFile(`${dir}/big.bin`, big);
  for (let i = 0; i < 50; i++) await Deno.writeTextFile(`${dir}/sub/f${i}.txt`, `${seed}-${i}\n`);
}

/** A seeded generator, so a failing run can be repeated. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

async function assertSound(store: string, when: string): Promise<void> {
  const layout = await OciLayout.open(fs, store, codecs, { create: false });
  const result = await verifyStore(layout, { fs, codecs });
  assert.deepEqual(result.problems, [], `verify after ${when}`);
}

/**
 * skopeo reads every named image of the store whole (manifest, config, each layer checked
 * against its digest) and copies it: a peer's view, not only our own verifyStore's.
 */
async function assertSkopeoReads(store: string, when: string): Promise<string[]> {
  const index = JSON.parse(await Deno.readTextFile(`${store}/index.json`));
  const names: string[] = index.manifests
    .map((m: { annotations?: Record<string, string> }) =>
      m.annotations?.["org.opencontainers.image.ref.name"]
    )
    .filter((n: string | undefined) => n !== undefined);
  const copy = await Deno.makeTempDir({ prefix: "ocistream-crash-copy-" });
  try {
    for (const [i, name] of names.entries()) {
      const r = await new Deno.Command("skopeo", {
        args: ["copy", "--quiet", "--preserve-digests", `oci:${store}:${name}`, `oci:${copy}:${i}`],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(
        r.success,
        `skopeo cannot read ${name} after ${when}: ${new TextDecoder().decode(r.stderr)}`,
      );
    }
  } finally {
    await Deno.remove(copy, { recursive: true });
  }
  return names;
}

const PAUSED_CLI = new URL("./_paused_cli.ts", import.meta.url).pathname;

Deno.test(`an export killed with SIGKILL at ${KILLS} moments spread over its progress events leaves a store skopeo reads after every kill; a rerun succeeds`, async () => {
  const tmp = await Deno.makeTempDir({ prefix: "ocistream-crash-" });
  const seed = Number(Deno.env.get("CRASH_SEED") ?? Date.now() % 100000);
  const next = random(seed);
  const args = (i: number) =>
    buildArgs(`${tmp}/ctx`, store, `example.com/crash:${i % 3}`, [
      "--progress",
      "json",
      // Every run does the whole work (no layer-cache hit), with the same progress events.
      "--no-cache",
      "--output",
      `type=image,name=example.com/crash-zstd:${i % 2},compression=zstd,oci-mediatypes=true`,
    ]);
  const store = `${tmp}/store`;
  try {
    await makeContext(`${tmp}/ctx`, 1);
    // One full export first: the store then holds an image every kill must leave readable,
    // and the run shows how many progress events an export gives.
    const first = await cli(args(0));
    assert.equal(first.code, 0, first.stderr);
    const total = first.stderr.split("\n").filter((l) => l.startsWith("{")).length;
    assert.ok(total >= 6, `only ${total} progress events:\n${first.stderr}`);
    const before = await assertSkopeoReads(store, "the first export");

    const moments: string[] = [];
    for (let i = 0; i < KILLS; i++) {
      // Stratified over the events up to the last but one (`done` ends the export).
      const at = 1 + Math.floor(((i + next()) / KILLS) * (total - 1));
      // The CLI paused for good at event `at` (its main thread blocked), then killed.
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--no-check", PAUSED_CLI, String(at), ...args(i + 1).slice(4)],
        stdout: "piped",
        stderr: "null",
      }).spawn();
      let paused = "";
      for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) {
        paused += text;
        if (paused.includes("\n")) break;
      }
      const event = paused.startsWith("paused {") ? JSON.parse(paused.slice(7)).type : "";
      try {
        child.kill("SIGKILL");
      } catch {
        // It had already exited: the status check below says so.
      }
      const status = await child.status;
      const when = `a kill at event ${at}/${total} (${event}; seed ${seed})`;
      assert.equal(
        status.signal,
        "SIGKILL",
        `${when}: the export was not paused there (${JSON.stringify(status)}, ${paused})`,
      );
      moments.push(`${at}:${event}`);
      await assertSound(store, when);
      const names = await assertSkopeoReads(store, when);
      for (const name of before) assert.ok(names.includes(name), `${when} lost ${name}`);
    }
    // The kills covered more than one phase of the export.
    assert.ok(new Set(moments.map((m) => m.split(":")[1])).size >= 2, moments.join(" "));

    const rerun = await cli(buildArgs(`${tmp}/ctx`, store, "example.com/crash:final"));
    assert.equal(rerun.code, 0, rerun.stderr);
    await assertSound(store, "the rerun");
    const layout = await OciLayout.open(fs, store, codecs, { create: false });
    const names = (await layout.images()).map((i) => i.name);
    assert.ok(names.includes("example.com/crash:final"), names.join(", "));
    const inspected = JSON.parse(
      await run("skopeo", ["inspect", `oci:${store}:example.com/crash:final`]),
    );
    assert.equal(inspected.Layers.length, 1);
    // prune cleans what the killed exports left (blobs, temp files), verify stays clean.
    const prune = await cli([
      "run",
      "-A",
      "--no-check",
      MAIN,
      "prune",
      "--store",
      store,
      "--grace",
      "0",
    ]);
    assert.equal(prune.code, 0, prune.stderr);
    const left = (await Array.fromAsync(Deno.readDir(`${store}/blobs/sha256`))).map((e) => e.name);
    assert.ok(!left.some((n) => n.includes(".tmp-")), left.join(", "));
    await assertSound(store, "prune");
    await assertSkopeoReads(store, "prune");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("concurrent exports into one store keep every name and blob, with prune running meanwhile", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "ocistream-concurrent-" });
  try {
    const store = `${tmp}/store`;
    const count = 4;
    for (let i = 0; i < count; i++) await makeContext(`${tmp}/ctx${i}`, i + 10);
    const exports = Array.from(
      { length: count },
      (_, i) => cli(buildArgs(`${tmp}/ctx${i}`, store, `example.com/concurrent:${i}`)),
    );
    // prune (default grace) and verify race the exports.
    const pruneLoop = (async () => {
      for (let i = 0; i < 5; i++) {
        await new Promise((r) => setTimeout(r, 100));
        if (!(await Deno.lstat(`${store}/oci-layout`).catch(() => undefined))) continue;
        const prune = await cli(["run", "-A", "--no-check", MAIN, "prune", "--store", store]);
        assert.equal(prune.code, 0, prune.stderr);
      }
    })();
    const results = await Promise.all(exports);
    await pruneLoop;
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    const layout = await OciLayout.open(fs, store, codecs, { create: false });
    const names = (await layout.images()).map((i) => i.name).sort();
    assert.deepEqual(names, Array.from({ length: count }, (_, i) => `example.com/concurrent:${i}`));
    await assertSound(store, "concurrent exports");
    for (let i = 0; i < count; i++) {
      await run("skopeo", ["inspect", `oci:${store}:example.com/concurrent:${i}`]);
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
