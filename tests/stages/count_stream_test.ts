import assert from "node:assert/strict";
import { CountStream } from "../../src/stages/count_stream.ts";
import { chunked, collect, dataBytes, sha256Hex } from "../runtime/parallel_helpers.ts";

Deno.test("CountStream() counts bytes, reports running totals and passes bytes through", async () => {
  const data = dataBytes(1_000_001, 2);
  const seen: number[] = [];
  const count = new CountStream({ onProgress: (n) => seen.push(n) });
  const out = await collect(chunked(data, 100_000).pipeThrough(count));
  assert.equal(count.bytes, data.byteLength);
  assert.equal(await count.result, data.byteLength);
  assert.equal(seen.length, 11);
  assert.equal(seen[0], 100_000);
  assert.equal(seen.at(-1), data.byteLength);
  assert.equal(sha256Hex(out), sha256Hex(data));
});

Deno.test("CountStream() result rejects when cancelled", async () => {
  const count = new CountStream();
  await count.readable.cancel(new Error("stop"));
  await assert.rejects(count.result, /stop/);
  assert.equal(count.bytes, 0);
});
