import assert from "node:assert/strict";
import { parallelCompressStream } from "../../src/runtime/parallel_compress.ts";
import { CompressPool } from "../../src/runtime/parallel_pool.ts";
import { chunked, collect, dataBytes, runCli, sha256Hex } from "./parallel_helpers.ts";

const KIB = 1024;
const MIB = 1024 * KIB;

function compress(
  data: Uint8Array,
  algorithm: "gzip" | "zstd",
  level: number,
  workers: number,
  blockSize?: number,
): Promise<Uint8Array> {
  return collect(
    chunked(data, 100_000).pipeThrough(
      parallelCompressStream(algorithm, level, { workers, blockSize }),
    ),
  );
}

Deno.test("parallelCompressStream() gzip is identical for 0, 1, 2 and 4 workers and valid", async () => {
  // Sizes: under one block, exactly two blocks, and several blocks plus a bit.
  for (const size of [1000, 2 * MIB, 5 * MIB + 17]) {
    const data = dataBytes(size, size);
    const outputs = await Promise.all([0, 1, 2, 4].map((w) => compress(data, "gzip", 6, w)));
    const digests = new Set(outputs.map(sha256Hex));
    assert.equal(digests.size, 1, `size ${size}`);
    await runCli("gzip", ["-t"], outputs[0]);
    await runCli("pigz", ["-t"], outputs[0]);
    assert.equal(sha256Hex(await runCli("gzip", ["-dc"], outputs[0])), sha256Hex(data));
    // One member: gzip -l reports a single entry with the right size.
    const trailer = new DataView(outputs[0].buffer, outputs[0].byteLength - 4);
    assert.equal(trailer.getUint32(0, true), size);
  }
});

Deno.test("parallelCompressStream() zstd is identical for 0, 1, 2 and 4 workers and valid", async () => {
  for (const size of [1000, 8 * MIB, 9 * MIB + 3]) {
    const data = dataBytes(size, size + 1);
    const outputs = await Promise.all([0, 1, 2, 4].map((w) => compress(data, "zstd", 3, w)));
    assert.equal(new Set(outputs.map(sha256Hex)).size, 1, `size ${size}`);
    await runCli("zstd", ["-t"], outputs[0]);
    assert.equal(sha256Hex(await runCli("zstd", ["-dc"], outputs[0])), sha256Hex(data));
  }
});

Deno.test("parallelCompressStream() keeps block order with many small blocks", async () => {
  const data = dataBytes(3 * MIB + 5, 21);
  for (const algorithm of ["gzip", "zstd"] as const) {
    const [a, b] = await Promise.all([
      compress(data, algorithm, 1, 0, 64 * KIB),
      compress(data, algorithm, 1, 3, 64 * KIB),
    ]);
    assert.equal(sha256Hex(a), sha256Hex(b));
    const cli = algorithm === "gzip" ? "gzip" : "zstd";
    assert.equal(sha256Hex(await runCli(cli, ["-dc"], b)), sha256Hex(data));
  }
});

Deno.test("parallelCompressStream() gzip level 0 stores and level 9 compresses", async () => {
  const data = dataBytes(2 * MIB + 1, 4);
  const stored = await compress(data, "gzip", 0, 2);
  const best = await compress(data, "gzip", 9, 2);
  assert.ok(stored.byteLength > data.byteLength);
  assert.ok(best.byteLength < data.byteLength * 0.6);
  assert.equal(best[8], 2, "XFL 2 for level 9");
  for (const gz of [stored, best]) {
    assert.equal(sha256Hex(await runCli("gzip", ["-dc"], gz)), sha256Hex(data));
  }
});

Deno.test("parallelCompressStream() gzip level 1 on incompressible data: the same bytes on 0 to 2 workers, valid", async () => {
  // Level 1 may code random bytes with fixed Huffman codes only (9 bits a byte), growing them.
  const data = crypto.getRandomValues(new Uint8Array(64 * KIB));
  const random = new Uint8Array(3 * MIB);
  for (let at = 0; at < random.length; at += data.length) random.set(data.map((b) => b ^ at), at);
  const outputs = await Promise.all([0, 1, 2].map((w) => compress(random, "gzip", 1, w)));
  assert.equal(sha256Hex(outputs[1]!), sha256Hex(outputs[0]!));
  assert.equal(sha256Hex(outputs[2]!), sha256Hex(outputs[0]!));
  assert.equal(sha256Hex(await runCli("gzip", ["-dc"], outputs[0]!)), sha256Hex(random));
});

Deno.test("parallelCompressStream() validates its options", () => {
  assert.throws(() => parallelCompressStream("gzip", 10), /from 0 to 9/);
  assert.throws(() => parallelCompressStream("zstd", 23), RangeError);
  assert.throws(() => parallelCompressStream("gzip", 6, { workers: -1 }), RangeError);
  assert.throws(() => parallelCompressStream("gzip", 6, { blockSize: 1000 }), RangeError);
  assert.throws(() => parallelCompressStream("gzip", 6, { blockSize: 65 * MIB }), RangeError);
});

Deno.test("parallelCompressStream() can be cancelled mid-stream: the source is cancelled with the reason and read no further", async () => {
  const chunk = dataBytes(MIB, 8);
  const total = 32; // MiB: far more than the blocks in flight, so a cancel stops it early
  let pulled = 0;
  let cancelled: unknown = "not cancelled";
  const source = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (pulled >= total) return controller.close();
      pulled++;
      controller.enqueue(chunk.slice());
    },
    cancel(reason) {
      cancelled = reason;
    },
  }, { highWaterMark: 0 });
  const reader = source.pipeThrough(parallelCompressStream("gzip", 6, { workers: 2 }))
    .getReader();
  const header = await reader.read();
  assert.deepEqual([...header.value!.subarray(0, 3)], [0x1f, 0x8b, 8]);
  const block = await reader.read();
  assert.ok(!block.done && block.value.byteLength > 0, "a first compressed block");
  await reader.cancel("stop");
  // pipeThrough passes the reason back to the source, and stops pulling from it.
  for (let i = 0; i < 50 && cancelled === "not cancelled"; i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(cancelled, "stop");
  assert.ok(pulled < total, `the source was read to its end (${pulled} MiB) despite the cancel`);
  const seen = pulled;
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(pulled, seen, "the source is read no further after the cancel");
  assert.deepEqual(await reader.closed, undefined);
  await CompressPool.terminateAll();
});

Deno.test("parallelCompressStream() errors when the source errors", async () => {
  let sent = 0;
  const source = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent++ < 3) controller.enqueue(dataBytes(MIB, sent));
      else controller.error(new Error("disk on fire"));
    },
  });
  await assert.rejects(
    collect(source.pipeThrough(parallelCompressStream("zstd", 3, { workers: 2 }))),
    /disk on fire/,
  );
  await CompressPool.terminateAll();
});
