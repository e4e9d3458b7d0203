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
const KILLS = 20;

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

Deno.test("an export killed with SIGKILL at 20 random moments leaves a valid store; a rerun succeeds", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "ocistream-crash-" });
  const seed = Number(Deno.env.get("CRASH_SEED") ?? Date.now() % 100000);
  const next = random(seed);
  try {
    await makeContext(`${tmp}/ctx`, 1);
    const store = `${tmp}/store`;
    // One full export first, to learn how long one takes here.
    const started = performance.now();
    const first = await cli(buildArgs(`${tmp}/ctx`, store, "example.com/crash:first"));
    assert.equal(first.code, 0, first.stderr);
    const span = Math.max(200, (performance.now() - started) * 1.2);
    await Deno.remove(store, { recursive: true });

    for (let i = 0; i < KILLS; i++) {
      const child = new Deno.Command(Deno.execPath(), {
        args: buildArgs(`${tmp}/ctx`, store, `example.com/crash:${i % 3}`, [
          "--output",
          `type=image,name=example.com/crash-zstd:${i % 2},compression=zstd`,
        ]),
        stdout: "null",
        stderr: "null",
      }).spawn();
      const delay = Math.floor(next() * span);
      await new Promise((r) => setTimeout(r, delay));
      try {
        child.kill("SIGKILL");
      } catch {
        // It already finished: that is one of the moments too.
      }
      const status = await child.status;
      if (Deno.env.get("CRASH_DEBUG")) {
        console.log(`kill at ${delay} ms: ${status.signal ?? `exit ${status.code}`}`);
      }
      if (await Deno.lstat(`${store}/oci-layout`).catch(() => undefined)) {
        await assertSound(store, `a kill at ${delay} ms (seed ${seed})`);
      }
    }

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
