/**
 * Compresses one block of a parallel gzip or zstd stream. Pure: the bytes
 * depend only on the task, so where it runs (a worker or the calling thread)
 * cannot change the output.
 *
 * Memory: `zlib.*Sync` allocates a fresh native context and a chain of 16 KiB
 * output buffers per call, all freed only when V8 gets round to collecting
 * them (tens of MiB per thread). Here one zstd context per level is kept and
 * reused (a zstd context starts a new frame after `ZSTD_e_end`), and output
 * goes into one reused buffer, copied out once at its exact size.
 *
 * @example
 * ```ts
 * import { compressBlock } from "./_compress_block.ts";
 * const out = compressBlock({ algorithm: "zstd", level: 3, input: new Uint8Array(10), last: true });
 * console.log(out[0].toString(16)); // "28" (zstd magic, little endian)
 * ```
 * @module
 */
import {
  constants,
  createDeflateRaw,
  createZstdCompress,
  deflateRawSync,
  gzipSync,
  zstdCompressSync,
} from "node:zlib";

/** One block to compress. */
export interface CompressTask {
  /** `gzip` (raw deflate pieces of one gzip member) or `zstd` (one frame per block). */
  algorithm: "gzip" | "zstd";
  /** gzip 0–9, zstd 0–22. */
  level: number;
  /** The block's input bytes. */
  input: Uint8Array;
  /** gzip only: the 32 KiB of input before this block, so matches may reach back into it. */
  dictionary?: Uint8Array;
  /** gzip only: whether this block ends the deflate stream (else it ends with a sync flush). */
  last: boolean;
}

/**
 * gzip: raw deflate of `input` primed with `dictionary`, ending byte-aligned
 * with a sync flush (`00 00 ff ff`) unless `last`; concatenated in order the
 * pieces form one deflate stream, as pigz writes. zstd: one complete frame
 * with content size and checksum.
 *
 * The result owns its whole buffer (offset 0, exact length), so it can be
 * transferred to another thread.
 *
 * @example
 * ```ts
 * import { compressBlock } from "./_compress_block.ts";
 * const piece = compressBlock({ algorithm: "gzip", level: 6, input: new Uint8Array(100), last: false });
 * console.log(piece.subarray(-4)); // 0 0 255 255
 * ```
 */
export function compressBlock(task: CompressTask): Uint8Array {
  if (task.algorithm === "gzip") return deflateBlock(task);
  return zstdFrame(task.input, task.level);
}

/**
 * Compresses each of `members` into a complete gzip stream of its own (header
 * with mtime 0 and OS 3, as Go's and zlib's gzip write it), as one job: many
 * small eStargz members cost one message, not one each. Each result owns its
 * buffer.
 *
 * @example
 * ```ts
 * import { gzipMembers } from "./_compress_block.ts";
 * const [a, b] = gzipMembers(6, [[new Uint8Array(3)], [new Uint8Array(5), new Uint8Array(1)]]);
 * console.log(a[0] === 0x1f && b[0] === 0x1f); // true true
 * ```
 */
export function gzipMembers(
  level: number,
  members: readonly (readonly Uint8Array[])[],
): Uint8Array[] {
  return members.map((pieces) => {
    const input = pieces.length === 1 ? pieces[0] : concat(pieces);
    const out = gzipSync(input, { level, chunkSize: outputBound(input.byteLength) });
    return own(new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
  });
}

function concat(pieces: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const p of pieces) size += p.byteLength;
  const all = new Uint8Array(size);
  let at = 0;
  for (const p of pieces) {
    all.set(p, at);
    at += p.byteLength;
  }
  return all;
}

/** A copy that owns its buffer, unless `bytes` already does. */
function own(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
    ? bytes
    : bytes.slice();
}

/** More than deflate or zstd can ever produce from `n` bytes (stored blocks, frame headers). */
function outputBound(n: number): number {
  return n + (n >> 7) + 1024;
}

// The reused output buffer of this thread (grown to the largest block seen).
let scratch = new Uint8Array(0);
function scratchFor(n: number): Uint8Array {
  const need = outputBound(n);
  if (scratch.byteLength < need) scratch = new Uint8Array(need);
  return scratch;
}

/** The parts of a node:zlib stream used to drive it synchronously. */
interface NativeHandle {
  writeSync(
    flush: number,
    input: Uint8Array,
    inOffset: number,
    inLength: number,
    output: Uint8Array,
    outOffset: number,
    outLength: number,
  ): void;
  close(): void;
  reset?(): void;
}
interface Engine {
  _handle?: NativeHandle | null;
  _writeState?: Uint32Array;
  close(): void;
}

/**
 * Runs `input` through `engine`'s native handle into the scratch buffer with
 * `flush`; undefined when the handle is not there to drive (another runtime),
 * so the caller can use the plain `*Sync` call (same bytes).
 */
function drive(
  engine: Engine,
  flush: number,
  input: Uint8Array,
  keep = true,
): Uint8Array | undefined {
  const handle = engine._handle;
  const state = engine._writeState;
  if (!handle || typeof handle.writeSync !== "function" || !state) return undefined;
  const out = scratchFor(input.byteLength);
  handle.writeSync(flush, input, 0, input.byteLength, out, 0, out.byteLength);
  const [availOut, availIn] = state;
  // The bound leaves room for everything, so one call always finishes.
  if (availIn !== 0 || availOut === 0) {
    throw new Error(`Compression did not finish in one pass (${availIn} bytes left)`);
  }
  return keep ? out.slice(0, out.byteLength - availOut) : EMPTY;
}

const EMPTY = new Uint8Array(0);

// Driven engines never use their own output buffer: keep it tiny.
const ENGINE_CHUNK = 64;
const zstdEngines = new Map<number, Engine>();

function zstdFrame(input: Uint8Array, level: number): Uint8Array {
  const params = {
    [constants.ZSTD_c_compressionLevel]: level,
    [constants.ZSTD_c_checksumFlag]: 1,
  };
  let engine = zstdEngines.get(level);
  if (!engine) {
    engine = createZstdCompress({ params, chunkSize: ENGINE_CHUNK }) as unknown as Engine;
    zstdEngines.set(level, engine);
  }
  try {
    // ZSTD_e_end with all input in the first call: one frame with its content size, and the
    // context is ready for the next frame.
    const frame = drive(engine, constants.ZSTD_e_end, input);
    if (frame) return frame;
  } catch {
    // The context is in an unknown state: drop it and compress this block the plain way.
    zstdEngines.delete(level);
    engine.close();
  }
  const out = zstdCompressSync(input, { params, chunkSize: outputBound(input.byteLength) });
  return own(new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
}

const deflaters = new Map<number, Engine>();

function deflateBlock(task: CompressTask): Uint8Array {
  const options = { level: task.level, windowBits: 15, memLevel: 8 };
  const flush = task.last ? constants.Z_FINISH : constants.Z_SYNC_FLUSH;
  const dictionary = task.dictionary && task.dictionary.byteLength > 0
    ? task.dictionary
    : undefined;
  let engine = deflaters.get(task.level);
  if (!engine) {
    engine = createDeflateRaw({ ...options, chunkSize: ENGINE_CHUNK }) as unknown as Engine;
    deflaters.set(task.level, engine);
  }
  try {
    const handle = engine._handle;
    if (handle && typeof handle.reset === "function") {
      handle.reset();
      // The previous 32 KiB go into the window by compressing them (output dropped), not
      // by deflateSetDictionary, which a reused native state cannot take again. The bytes
      // differ from a primed dictionary but are just as valid and as deterministic.
      if (dictionary && !drive(engine, constants.Z_SYNC_FLUSH, dictionary, false)) {
        throw new Error("no native handle");
      }
      const piece = drive(engine, flush, task.input);
      if (piece) return piece;
    }
  } catch {
    deflaters.delete(task.level);
    engine.close();
  }
  // No native handle to drive (another runtime): the same stream format, one call.
  const chunkSize = outputBound(task.input.byteLength);
  const out = deflateRawSync(task.input, {
    ...options,
    ...(dictionary ? { dictionary } : {}),
    chunkSize,
    finishFlush: flush,
  });
  return own(new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
}
