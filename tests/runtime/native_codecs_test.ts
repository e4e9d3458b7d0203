import assert from "node:assert/strict";
import { createNativeCodecs, nativeCodecs } from "../../src/runtime/native_codecs.ts";
import { CompressPool } from "../../src/runtime/parallel_pool.ts";
import { webCodecs } from "../../src/stages/web_codecs.ts";
import { defineCodecTests } from "./parallel_codec_suite.ts";
import {
  compressWith,
  concat,
  dataBytes,
  decompressWith,
  runCli,
  sha256Hex,
} from "./parallel_helpers.ts";

defineCodecTests("nativeCodecs", nativeCodecs);
defineCodecTests("createNativeCodecs({ workers: 0 })", createNativeCodecs({ workers: 0 }));

Deno.test("createNativeCodecs() output does not depend on the worker count", async () => {
  const data = dataBytes(9 * 1024 * 1024 + 5, 3);
  for (const [algorithm, level] of [["gzip", 6], ["zstd", 3]] as const) {
    const digests = new Set<string>();
    for (const workers of [0, 1, 2, 4]) {
      const out = await compressWith(createNativeCodecs({ workers }), algorithm, level, data);
      digests.add(sha256Hex(out));
    }
    assert.equal(digests.size, 1, `${algorithm}: ${[...digests].join(", ")}`);
  }
});

Deno.test("nativeCodecs.decompress() splits zstd frames with RLE and raw blocks", async () => {
  // Zeros give RLE blocks, random bytes raw blocks; with and without checksums.
  const zeros = new Uint8Array(700_000);
  const random = crypto.getRandomValues(new Uint8Array(60_000));
  const parts = [
    await runCli("zstd", ["-c", "-1"], zeros),
    await runCli("zstd", ["-c", "-1", "--no-check"], random),
    await runCli("zstd", ["-c", "-1", "--no-check"], zeros),
    await runCli("zstd", ["-c", "-1"], random),
  ];
  const expected = sha256Hex(concat(zeros, random, zeros, random));
  for (const chunk of [3, 1000, 1 << 20]) {
    const out = await decompressWith(nativeCodecs, "zstd", concat(...parts), chunk);
    assert.equal(sha256Hex(out), expected, `chunks of ${chunk}`);
  }
});

Deno.test("createNativeCodecs() rejects a bad worker count", () => {
  assert.throws(() => createNativeCodecs({ workers: -1 }), RangeError);
  assert.throws(() => createNativeCodecs({ workers: 1.5 }), RangeError);
});

Deno.test("nativeCodecs and webCodecs read each other's output", async () => {
  const data = dataBytes(2 * 1024 * 1024 + 99, 5);
  const hex = sha256Hex(data);
  for (const algorithm of ["gzip", "zstd"] as const) {
    const fromNative = await compressWith(nativeCodecs, algorithm, 6, data);
    const fromWeb = await compressWith(webCodecs, algorithm, 6, data);
    assert.equal(sha256Hex(await decompressWith(webCodecs, algorithm, fromNative)), hex);
    assert.equal(sha256Hex(await decompressWith(nativeCodecs, algorithm, fromWeb)), hex);
  }
});

Deno.test("nativeCodecs gzip keeps memory flat on a 512 MiB stream", async () => {
  const MIB = 1024 * 1024;
  const total = 512 * MIB;
  // One semi-compressible MiB, re-stamped per chunk so no two chunks are equal.
  const pattern = dataBytes(MIB, 9);
  await compressWith(nativeCodecs, "gzip", 1, pattern.subarray(0, 3 * 1024 * 1024)); // warm workers
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
  const end = Deno.memoryUsage().rss;
  peak = Math.max(peak, end);
  const growth = (peak - before) / MIB;
  const lateGrowth = (peak - quarter) / MIB;
  console.log(
    `512 MiB -> ${(compressed / MIB).toFixed(1)} MiB gzip-1; RSS ${(before / MIB).toFixed(0)} MiB` +
      ` before, peak growth ${growth.toFixed(1)} MiB, after the first 128 MiB ${
        lateGrowth.toFixed(1)
      } MiB`,
  );
  assert.ok(compressed > 0 && compressed < total);
  // Holding the stream would take 512 MiB in + ~260 MiB out. Growth here is V8 letting dead
  // ArrayBuffers pile up in each isolate (the calling thread and its workers) before
  // collecting; a 2 GiB run plateaus at the same level.
  assert.ok(growth < 400, `RSS grew by ${growth.toFixed(1)} MiB`);
});

Deno.test("nativeCodecs gzip output passes gzip -t and pigz -t", async () => {
  const data = dataBytes(5 * 1024 * 1024 + 1, 13);
  const gz = await compressWith(nativeCodecs, "gzip", 6, data);
  await runCli("gzip", ["-t"], gz);
  await runCli("pigz", ["-t"], gz);
  const listed = new TextDecoder().decode(await runCli("gzip", ["-lv"], gz));
  assert.match(listed, new RegExp(`${data.byteLength}`)); // ISIZE is right
});

Deno.test("CompressPool.terminateAll() stops the workers", async () => {
  await CompressPool.terminateAll();
});
