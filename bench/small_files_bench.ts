/**
 * Per-file cost of the layer writer on a tree of many small files (issue 7): times each stage
 * in isolation on workload (a) (`bench/.cache/nodemodules`, prepared by `deno task bench`).
 *
 * ```sh
 * deno run -A bench/small_files_bench.ts [folder] [--runs 5]
 * ```
 *
 * Rows: the walk alone (metadata only), walk + tar, walk + tar + sha256 (an uncompressed layer),
 * and the layer cache's metadata key. Medians of wall and CPU time.
 * @module
 */
import { directoryEntries } from "../src/sources/directory_source.ts";
import { denoFileSystem } from "../src/runtime/deno_file_system.ts";
import { TarStream } from "../src/stages/tar_stream.ts";
import { encodeLayer } from "../src/stages/layer_encoder.ts";
import { nativeCodecs } from "../src/runtime/native_codecs.ts";
import { LayerCache } from "../src/exporter/layer_cache.ts";
import { cpuUsage } from "node:process";

const runsAt = Deno.args.indexOf("--runs");
const runs = runsAt >= 0 ? Number(Deno.args[runsAt + 1]) : 5;
if (!Number.isInteger(runs) || runs < 1) throw new RangeError("--runs takes a whole number ≥ 1");
// The folder: the one argument that is neither a flag nor --runs' value.
const dir = Deno.args.find((a, i) => !a.startsWith("--") && (runsAt < 0 || i !== runsAt + 1)) ??
  new URL("./.cache/nodemodules", import.meta.url).pathname;

async function drain<T>(s: ReadableStream<T>): Promise<number> {
  let n = 0;
  for await (const _ of s) n++;
  return n;
}

function cpuMs(): number {
  const u = cpuUsage();
  return (u.user + u.system) / 1000;
}

const cases: [string, () => Promise<unknown>][] = [
  ["walk", () => drain(directoryEntries(denoFileSystem, dir))],
  ["walk + tar", () => drain(directoryEntries(denoFileSystem, dir).pipeThrough(new TarStream()))],
  ["walk + tar + sha256", async () => {
    const e = encodeLayer(directoryEntries(denoFileSystem, dir), {
      compression: "uncompressed",
      codecs: nativeCodecs,
    });
    await drain(e.blob);
    return (await e.result).digest;
  }],
  ["cache key (metadata walk)", () => {
    const cache = new LayerCache(denoFileSystem, {
      root: "/nonexistent",
      blobPath: (d) => d,
      fetch: () => Promise.reject(new Error("unused")),
      putBlob: () => Promise.reject(new Error("unused")),
    }, nativeCodecs);
    return cache.key(directoryEntries(denoFileSystem, dir), { compression: "gzip" });
  }],
];

const median = (xs: number[]) => xs.toSorted((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const only = Deno.env.get("CASE");
for (const [name, fn] of cases) {
  if (only && !name.startsWith(only)) continue;
  const wall: number[] = [];
  const cpu: number[] = [];
  let out: unknown;
  for (let i = 0; i < runs; i++) {
    const c0 = cpuMs();
    const t0 = performance.now();
    out = await fn();
    wall.push(performance.now() - t0);
    cpu.push(cpuMs() - c0);
  }
  console.log(
    `${name.padEnd(28)} wall ${median(wall).toFixed(0).padStart(6)} ms  cpu ${
      median(cpu).toFixed(0).padStart(6)
    } ms  (${runs} runs) ${typeof out === "string" ? out.slice(0, 20) : out}`,
  );
}
