import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { workerDecompress } from "../../src/runtime/worker_decompress.ts";
import { nativeCodecs } from "../../src/runtime/native_codecs.ts";
import { measuredDigest } from "../../src/stages/digest_stream.ts";

function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = (x >>> 24) % 7; // compressible, not trivially
  }
  return out;
}

function sha256(data: Uint8Array): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

Deno.test("workerDecompress() gives the bytes and declares their digest for gzip members and zstd frames", async () => {
  const a = bytes(3 << 20, 1);
  const b = bytes(700_000, 2);
  const whole = new Uint8Array(a.length + b.length);
  whole.set(a);
  whole.set(b, a.length);
  // Two gzip members (as pigz or a concatenation writes them), and our own multi-frame zstd.
  const gzipA = new Uint8Array(
    await new Response(ReadableStream.from([a]).pipeThrough(nativeCodecs.compress("gzip", 1)))
      .arrayBuffer(),
  );
  const gzipB = new Uint8Array(
    await new Response(ReadableStream.from([b]).pipeThrough(nativeCodecs.compress("gzip", 9)))
      .arrayBuffer(),
  );
  const zstd = new Uint8Array(
    await new Response(ReadableStream.from([whole]).pipeThrough(nativeCodecs.compress("zstd", 3)))
      .arrayBuffer(),
  );
  for (
    const [algorithm, input] of [
      ["gzip", [gzipA.subarray(0, 1000), gzipA.subarray(1000), gzipB]],
      ["zstd", [zstd.subarray(0, 7), zstd.subarray(7)]],
    ] as const
  ) {
    const out = ReadableStream.from(input).pipeThrough(workerDecompress(algorithm));
    const declared = measuredDigest(out);
    assert.ok(declared, "the output's digest is declared");
    const got = new Uint8Array(await new Response(out).arrayBuffer());
    assert.equal(got.length, whole.length);
    assert.equal(sha256(got), sha256(whole));
    assert.deepEqual(await declared, { digest: sha256(whole), size: whole.length });
  }
});

Deno.test("workerDecompress() fails with a one-line error on corrupt or empty input", async () => {
  const corrupt = new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6, 7, 8]);
  await assert.rejects(
    new Response(ReadableStream.from([corrupt]).pipeThrough(workerDecompress("gzip")))
      .arrayBuffer(),
    /Cannot decompress gzip data/,
  );
  await assert.rejects(
    new Response(ReadableStream.from<Uint8Array>([]).pipeThrough(workerDecompress("zstd")))
      .arrayBuffer(),
    /Cannot decompress zstd data: the input is empty/,
  );
  assert.throws(() => workerDecompress("lz4" as "gzip"), /Cannot decompress "lz4"/);
});

Deno.test("workerDecompress() stops its worker when the reader cancels, with most of the stream unread", async () => {
  // 64 MiB of zeros is 64 KiB of gzip: most of the output is never asked for.
  const zeros = new Uint8Array(64 << 20);
  const gz = new Uint8Array(
    await new Response(ReadableStream.from([zeros]).pipeThrough(nativeCodecs.compress("gzip", 6)))
      .arrayBuffer(),
  );
  const out = ReadableStream.from([gz]).pipeThrough(workerDecompress("gzip"));
  const digest = measuredDigest(out)!;
  const reader = out.getReader();
  const first = await reader.read();
  assert.ok(first.value && first.value.length > 0);
  await reader.cancel("enough");
  await assert.rejects(digest, /enough/);
});
