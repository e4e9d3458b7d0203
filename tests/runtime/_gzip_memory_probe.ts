/**
 * Run in a process of its own by native_codecs_test.ts, so its resident memory is this
 * stream's alone (not that of other test modules sharing a `--parallel` runner): gzips a
 * 512 MiB stream with nativeCodecs and prints one JSON line with the RSS figures in MiB.
 * @module
 */
import { nativeCodecs } from "../../src/runtime/native_codecs.ts";
import { compressWith, dataBytes } from "./parallel_helpers.ts";

const MIB = 1024 * 1024;
const total = 512 * MIB;
// One semi-compressible MiB, re-stamped per chunk so no two chunks are equal.
const pattern = dataBytes(MIB, 9);
await compressWith(nativeCodecs, "gzip", 1, pattern.subarray(0, 3 * MIB)); // warm workers
const before = Deno.memoryUsage().rss;
let quarter = 0; // RSS once a quarter has gone through: garbage-collector slack is in by then
let peak = before;
let produced = 0;
let n = 0;
const source = new ReadableStream<Uint8Array>({
  pull(controller) {
    if (produced >= total) return controller.close();
    const chunk = pattern.slice(); // a fresh MiB each time, like a real producer
    new DataView(chunk.buffer).setUint32(0, n++);
    produced += chunk.byteLength;
    controller.enqueue(chunk);
    if (n % 16 === 0) peak = Math.max(peak, Deno.memoryUsage().rss);
    if (n === 128) quarter = Deno.memoryUsage().rss;
  },
}, { highWaterMark: 0 });
let compressed = 0;
await source.pipeThrough(nativeCodecs.compress("gzip", 1)).pipeTo(
  new WritableStream({
    async write(chunk) {
      compressed += chunk.byteLength;
      await Promise.resolve();
    },
  }),
);
peak = Math.max(peak, Deno.memoryUsage().rss);
console.log(JSON.stringify({
  input: total / MIB,
  compressed: compressed / MIB,
  before: before / MIB,
  growth: (peak - before) / MIB,
  lateGrowth: (peak - quarter) / MIB,
}));
// Workers linger briefly after the last job; the figures are out.
Deno.exit(0);
