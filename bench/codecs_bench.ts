/**
 * Codec throughput: ocistream's native (node:zlib + workers) and web (wasm/JS)
 * codecs against `pigz`, `gzip`, `zstd` and `sha256sum` on the same input.
 *
 * Run: `deno run -A bench/codecs_bench.ts [MiB]` (default 256). The input is
 * deterministic semi-compressible data (text-like runs and random runs, about
 * 2.3:1 with gzip -6) written once to bench/.cache/.
 *
 * @example
 * ```ts ignore
 * // deno run -A bench/codecs_bench.ts 64
 * ```
 * @module
 */
import { createHash } from "node:crypto";
import { createNativeCodecs } from "../src/runtime/native_codecs.ts";
import { CompressPool } from "../src/runtime/parallel_pool.ts";
import { webCodecs } from "../src/stages/web_codecs.ts";
import { DigestStream } from "../src/stages/digest_stream.ts";
import type { Codecs } from "../src/types/codecs.ts";
import { dataStream } from "../tests/runtime/parallel_helpers.ts";

const MIB = 1024 * 1024;
const size = Number(Deno.args[0] ?? 256) * MIB;
const cache = new URL("./.cache/", import.meta.url);
await Deno.mkdir(cache, { recursive: true });
const input = new URL(`codecs_input_${size / MIB}m.bin`, cache).pathname;

async function ensureInput(): Promise<void> {
  try {
    if ((await Deno.stat(input)).size === size) return;
  } catch { /* not there yet */ }
  const file = await Deno.open(input, { write: true, create: true, truncate: true });
  await dataStream(size, { chunkSize: MIB }).pipeTo(file.writable);
}

interface Row {
  name: string;
  seconds: number;
  outBytes: number;
}
const rows: Row[] = [];

function record(name: string, seconds: number, outBytes: number): void {
  rows.push({ name, seconds, outBytes });
  const rate = (size / MIB / seconds).toFixed(1);
  console.log(
    `${name.padEnd(44)} ${seconds.toFixed(2).padStart(7)} s ${rate.padStart(7)} MiB/s  out ${
      (outBytes / MIB).toFixed(1)
    } MiB`,
  );
}

/** Time a shell pipeline whose output goes to `wc -c`. */
async function shell(name: string, pipeline: string): Promise<void> {
  const start = performance.now();
  const out = await new Deno.Command("bash", {
    args: ["-o", "pipefail", "-c", `${pipeline} | wc -c`],
    cwd: new URL(".", cache).pathname,
    stdout: "piped",
  }).output();
  const seconds = (performance.now() - start) / 1000;
  if (!out.success) throw new Error(`${pipeline} failed`);
  record(name, seconds, Number(new TextDecoder().decode(out.stdout).trim()));
}

/** Count bytes written to the sink. */
function counter(): { sink: WritableStream<Uint8Array>; bytes: () => number } {
  let bytes = 0;
  return {
    sink: new WritableStream({
      write(chunk) {
        bytes += chunk.byteLength;
      },
    }),
    bytes: () => bytes,
  };
}

async function ours(
  name: string,
  stage: () => TransformStream<Uint8Array, Uint8Array>,
  from = input,
): Promise<void> {
  const start = performance.now();
  const file = await Deno.open(from);
  const out = counter();
  await file.readable.pipeThrough(stage()).pipeTo(out.sink);
  record(name, (performance.now() - start) / 1000, out.bytes());
}

async function hashWith(name: string, codecs: Codecs): Promise<void> {
  const start = performance.now();
  const file = await Deno.open(input);
  const digest = new DigestStream(codecs);
  await file.readable.pipeThrough(digest).pipeTo(new WritableStream());
  await digest.result;
  record(name, (performance.now() - start) / 1000, 64);
}

await ensureInput();
const load = () => Deno.loadavg().map((n) => n.toFixed(1)).join(" ");
console.log(
  `input: ${input} (${size / MIB} MiB), ${navigator.hardwareConcurrency} cores, load ${load()}\n`,
);

const native = (workers: number) => createNativeCodecs({ workers });
const two = native(2);

console.log("# gzip -6");
await shell("tar -c | pigz -6", `tar -cf - ${input.split("/").pop()} | pigz -6`);
await shell("pigz -6", `pigz -6 < ${input}`);
await shell("gzip -6", `gzip -6 < ${input}`);
await ours("native gzip-6, workers 2 (1 thread + caller)", () => two.compress("gzip", 6));
await ours("native gzip-6, 1 worker", () => native(1).compress("gzip", 6));
await ours("native gzip-6, in-thread (workers 0)", () => native(0).compress("gzip", 6));
await ours("web gzip-6 (fflate)", () => webCodecs.compress("gzip", 6));

console.log("\n# zstd -3");
await shell("zstd -3 -T0", `zstd -q -3 -T0 -c < ${input}`);
await shell("zstd -3 (1 thread)", `zstd -q -3 -T1 -c < ${input}`);
await ours("native zstd-3, workers 2 (1 thread + caller)", () => two.compress("zstd", 3));
await ours("native zstd-3, 1 worker", () => native(1).compress("zstd", 3));
await ours("native zstd-3, in-thread (workers 0)", () => native(0).compress("zstd", 3));
await ours("web zstd-3 (zstd-wasm)", () => webCodecs.compress("zstd", 3));

console.log("\n# decompression (of the CLI's output)");
const gz = `${input}.gz`;
const zst = `${input}.zst`;
await new Deno.Command("bash", { args: ["-c", `pigz -6 < ${input} > ${gz}`] }).output();
await new Deno.Command("bash", { args: ["-c", `zstd -q -3 -T0 -c < ${input} > ${zst}`] }).output();
await shell("gzip -dc", `gzip -dc < ${gz}`);
await ours("native gunzip", () => two.decompress("gzip"), gz);
await ours("web gunzip (fflate)", () => webCodecs.decompress("gzip"), gz);
await shell("zstd -dc", `zstd -q -dc < ${zst}`);
await ours("native unzstd", () => two.decompress("zstd"), zst);
await ours("web unzstd (fzstd)", () => webCodecs.decompress("zstd"), zst);
await Deno.remove(gz);
await Deno.remove(zst);

console.log("\n# sha256");
await shell("sha256sum", `sha256sum < ${input}`);
await hashWith("native sha256 (node:crypto)", two);
await hashWith("web sha256 (hash-wasm)", webCodecs);

// Head to head, alternating, so load from other processes hits both sides alike.
console.log("\n# head to head (3 alternating rounds)");
for (let round = 1; round <= 3; round++) {
  await shell(`round ${round}: tar -c | pigz -6`, `tar -cf - ${input.split("/").pop()} | pigz -6`);
  await ours(`round ${round}: native gzip-6, workers 2`, () => two.compress("gzip", 6));
  await shell(`round ${round}: zstd -3 -T0`, `zstd -q -3 -T0 -c < ${input}`);
  await ours(`round ${round}: native zstd-3, workers 2`, () => two.compress("zstd", 3));
}
console.log(`load ${load()}`);

// Check the native outputs match across worker counts on a slice of the input.
const slice = 32 * MIB;
const digestOf = async (codecs: Codecs, algorithm: "gzip" | "zstd") => {
  const hash = createHash("sha256");
  await dataStream(slice).pipeThrough(codecs.compress(algorithm, algorithm === "gzip" ? 6 : 3))
    .pipeTo(new WritableStream({ write: (c) => void hash.update(c) }));
  return hash.digest("hex");
};
for (const algorithm of ["gzip", "zstd"] as const) {
  const digests = new Set(
    await Promise.all([0, 1, 2, 4].map((w) => digestOf(native(w), algorithm))),
  );
  console.log(`\n${algorithm}: same bytes for workers 0/1/2/4: ${digests.size === 1}`);
}
console.log(`peak RSS now: ${(Deno.memoryUsage().rss / MIB).toFixed(0)} MiB`);
await CompressPool.terminateAll();
