/**
 * Test helpers for the codec tests: deterministic semi-compressible data,
 * running the gzip/zstd/pigz CLIs, and sha256 of bytes.
 * @module
 */
import { createHash } from "node:crypto";

const VOCABULARY: Uint8Array[] = (() => {
  const words: Uint8Array[] = [];
  let s = 12345;
  for (let w = 0; w < 512; w++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    const word = new Uint8Array(3 + ((s >>> 3) & 7));
    for (let k = 0; k < word.length - 1; k++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      word[k] = 97 + ((s >>> 5) % 26);
    }
    word[word.length - 1] = (s & 15) === 0 ? 10 : 32;
    words.push(word);
  }
  return words;
})();

/** Fills `out` with semi-compressible bytes (text-like runs and random runs), from `state`. */
function fill(out: Uint8Array, state: { s: number }): void {
  let s = state.s;
  let i = 0;
  while (i < out.length) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    const kind = s & 7;
    const run = 16 + ((s >>> 3) & 255);
    const end = Math.min(out.length, i + run);
    if (kind === 0) {
      // random bytes
      for (; i < end; i++) {
        s ^= s << 13;
        s ^= s >>> 17;
        s ^= s << 5;
        out[i] = s & 255;
      }
    } else {
      // words from a fixed vocabulary: compresses about 3:1, like text and code
      while (i < end) {
        s ^= s << 13;
        s ^= s >>> 17;
        s ^= s << 5;
        const word = VOCABULARY[(s >>> 4) & 511];
        const n = Math.min(word.length, out.length - i);
        out.set(word.subarray(0, n), i);
        i += n;
      }
    }
  }
  state.s = s;
}

/** `size` deterministic semi-compressible bytes as a stream of `chunkSize` chunks. */
export function dataStream(
  size: number,
  options: { seed?: number; chunkSize?: number } = {},
): ReadableStream<Uint8Array> {
  const state = { s: options.seed ?? 0x9e3779b9 };
  const chunkSize = options.chunkSize ?? 64 * 1024;
  let left = size;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (left === 0) return controller.close();
      const chunk = new Uint8Array(Math.min(chunkSize, left));
      fill(chunk, state);
      left -= chunk.length;
      controller.enqueue(chunk);
    },
  }, { highWaterMark: 0 });
}

/** `size` deterministic semi-compressible bytes in memory. */
export function dataBytes(size: number, seed?: number): Uint8Array {
  const out = new Uint8Array(size);
  fill(out, { s: seed ?? 0x9e3779b9 });
  return out;
}

/** Reads a stream whole. */
export async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Lowercase hex sha256. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Streams `input` through `cmd args` and returns its stdout; throws with stderr on failure. */
export async function runCli(
  cmd: string,
  args: string[],
  input: Uint8Array | ReadableStream<Uint8Array>,
): Promise<Uint8Array> {
  const child = new Deno.Command(cmd, { args, stdin: "piped", stdout: "piped", stderr: "piped" })
    .spawn();
  const body = input instanceof Uint8Array ? new Blob([input as BlobPart]).stream() : input;
  const [, out] = await Promise.all([body.pipeTo(child.stdin), child.output()]);
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return out.stdout;
}

/** Streams `input` through `cmd args` and returns the sha256 and size of its stdout. */
export async function cliDigest(
  cmd: string,
  args: string[],
  input: ReadableStream<Uint8Array>,
): Promise<{ hex: string; size: number }> {
  const child = new Deno.Command(cmd, { args, stdin: "piped", stdout: "piped", stderr: "piped" })
    .spawn();
  const hash = createHash("sha256");
  let size = 0;
  const errText = new Response(child.stderr).text();
  await Promise.all([
    input.pipeTo(child.stdin),
    child.stdout.pipeTo(
      new WritableStream({
        write(chunk) {
          hash.update(chunk);
          size += chunk.byteLength;
        },
      }),
    ),
  ]);
  const status = await child.status;
  if (!status.success) throw new Error(`${cmd} ${args.join(" ")} failed: ${await errText}`);
  await errText;
  return { hex: hash.digest("hex"), size };
}

/** sha256 and size of a stream. */
export async function streamDigest(
  stream: ReadableStream<Uint8Array>,
): Promise<{ hex: string; size: number }> {
  const hash = createHash("sha256");
  let size = 0;
  await stream.pipeTo(
    new WritableStream({
      write(chunk) {
        hash.update(chunk);
        size += chunk.byteLength;
      },
    }),
  );
  return { hex: hash.digest("hex"), size };
}

/** Splits `bytes` into a stream of chunks of `size` (the last may be shorter). */
export function chunked(bytes: Uint8Array, size: number): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= bytes.byteLength) return controller.close();
      // A copy, so a stage that keeps a chunk cannot see it change.
      controller.enqueue(bytes.slice(offset, offset + size));
      offset += size;
    },
  });
}

/** Compresses `bytes` with `codecs`, fed in `chunkSize` chunks. */
export function compressWith(
  codecs: import("../../src/types/codecs.ts").Codecs,
  algorithm: "gzip" | "zstd",
  level: number,
  bytes: Uint8Array,
  chunkSize = 64 * 1024,
): Promise<Uint8Array> {
  return collect(chunked(bytes, chunkSize).pipeThrough(codecs.compress(algorithm, level)));
}

/** Decompresses `bytes` with `codecs`, fed in `chunkSize` chunks. */
export function decompressWith(
  codecs: import("../../src/types/codecs.ts").Codecs,
  algorithm: "gzip" | "zstd",
  bytes: Uint8Array,
  chunkSize = 64 * 1024,
): Promise<Uint8Array> {
  return collect(chunked(bytes, chunkSize).pipeThrough(codecs.decompress(algorithm)));
}

/** Concatenates byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.byteLength;
  }
  return out;
}
