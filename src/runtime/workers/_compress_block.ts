/**
 * Compresses one block of a parallel gzip or zstd stream. Pure: the bytes
 * depend only on the task, so where it runs (a worker or the calling thread)
 * cannot change the output.
 *
 * Memory: `zlib.*Sync` allocates a fresh native context and a chain of 16 KiB
 * output buffers per call, all freed only when V8 gets round to collecting
 * them (tens of MiB per thread). Here one native context per algorithm and
 * level is kept and reused (reset between blocks; a zstd context starts a new
 * frame after `ZSTD_e_end`), and output goes into one reused buffer, copied
 * out once at its exact size.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { compressBlock } from "./_compress_block.ts";
 * const out = compressBlock({ algorithm: "zstd", level: 3, input: new Uint8Array(10), last: true });
 * assertEquals(out[0], 0x28); // the zstd magic, little endian
 * ```
 * @module
 */
import {
  constants,
  createDeflateRaw,
  createGzip,
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

/** Several independent gzip members to compress in one job (see {@linkcode gzipMembers}). */
export interface MembersTask {
  /** gzip level 0–9. */
  level: number;
  /** The members' input bytes, back to back. */
  input: Uint8Array;
  /** Input bytes of each member, in order. */
  sizes: number[];
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
 * import { assertEquals } from "@std/assert";
 * import { compressBlock } from "./_compress_block.ts";
 * const piece = compressBlock({ algorithm: "gzip", level: 6, input: new Uint8Array(100), last: false });
 * // A sync flush ends the piece, so pieces join into one deflate stream.
 * assertEquals(piece.subarray(-4), new Uint8Array([0, 0, 255, 255]));
 * ```
 */
export function compressBlock(task: CompressTask): Uint8Array {
  if (task.algorithm === "gzip") return deflateBlock(task);
  return zstdFrame(task.input, task.level);
}

/**
 * Compresses consecutive parts of `input` (`sizes[i]` bytes each) into one
 * complete gzip stream each (zlib's header: mtime 0, OS 3): many small
 * eStargz members cost one job, not one each. Returns the members back to
 * back in one buffer of its own, and their sizes.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { gzipMembers } from "./_compress_block.ts";
 * const { output, sizes } = gzipMembers(6, new Uint8Array(8), [3, 5]);
 * assertEquals([sizes.length, output[0] === 0x1f && output[sizes[0]] === 0x1f], [2, true]);
 * ```
 */
export function gzipMembers(
  level: number,
  input: Uint8Array,
  sizes: readonly number[],
): { output: Uint8Array; sizes: number[] } {
  const need = outputBound(input.byteLength) + 32 * sizes.length;
  if (membersOut.byteLength < need) membersOut = new Uint8Array(need);
  const out = membersOut;
  const outSizes: number[] = [];
  let at = 0;
  let written = 0;
  for (const size of sizes) {
    const n = gzipMember(level, input.subarray(at, at + size), out, written);
    at += size;
    written += n;
    outSizes.push(n);
  }
  return { output: out.slice(0, written), sizes: outSizes };
}

// Reused: the members of one job gather here before one copy out.
let membersOut = new Uint8Array(0);
const gzippers = new Map<number, Engine>();

/** Compresses one member into `out` at `at` (room for its bound is there); returns its size. */
function gzipMember(level: number, input: Uint8Array, out: Uint8Array, at: number): number {
  let engine = gzippers.get(level);
  if (!engine) {
    engine = createGzip({ level, chunkSize: ENGINE_CHUNK }) as unknown as Engine;
    gzippers.set(level, engine);
  }
  try {
    const handle = engine._handle;
    if (handle && typeof handle.reset === "function") {
      // A fresh native state per member would be freed only when V8 collects it.
      handle.reset();
      // Straight into the job's output: no scratch buffer, no copy.
      const n = driveInto(engine, constants.Z_FINISH, input, out.subarray(at));
      if (n !== undefined) return n;
    }
  } catch {
    gzippers.delete(level);
    engine.close();
  }
  const member = gzipSync(input, { level, chunkSize: outputBound(input.byteLength) + 32 });
  out.set(member, at);
  return member.byteLength;
}

/** A copy that owns its buffer, unless `bytes` already does. */
function own(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
    ? bytes
    : bytes.slice();
}

/**
 * More than deflate or zstd can ever produce from `n` bytes. Deflate at level 1 may use fixed
 * Huffman codes only (zlib-ng's quick strategy, which Deno's zlib has): up to 9 bits a byte,
 * never falling back to stored blocks; zstd and the other levels stay well under that.
 */
function outputBound(n: number): number {
  return n + (n >> 3) + 1024;
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
 * Runs `input` through `engine`'s native handle into `out` (which has room for its bound)
 * with `flush`; returns the bytes written, or undefined when there is no handle to drive.
 */
function driveInto(
  engine: Engine,
  flush: number,
  input: Uint8Array,
  out: Uint8Array,
): number | undefined {
  const handle = engine._handle;
  const state = engine._writeState;
  if (!handle || typeof handle.writeSync !== "function" || !state) return undefined;
  handle.writeSync(flush, input, 0, input.byteLength, out, 0, out.byteLength);
  const [availOut, availIn] = state;
  if (availIn !== 0 || availOut === 0) {
    throw new Error(`Compression did not finish in one pass (${availIn} bytes left)`);
  }
  return out.byteLength - availOut;
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
  const out = scratchFor(input.byteLength + 32);
  const n = driveInto(engine, flush, input, out);
  if (n === undefined) return undefined;
  return keep ? out.slice(0, n) : EMPTY;
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
  const handle = engine._handle;
  if (
    handle && typeof handle.reset === "function" && typeof handle.writeSync === "function" &&
    engine._writeState
  ) {
    try {
      handle.reset();
      // The previous 32 KiB go into the window by compressing them (output dropped), not
      // by deflateSetDictionary, which a reused native state cannot take again. The bytes
      // differ from a primed dictionary but are just as valid and as deterministic.
      if (dictionary) drive(engine, constants.Z_SYNC_FLUSH, dictionary, false);
      return drive(engine, flush, task.input)!;
    } catch (e) {
      // No fallback for this one block: the plain call below makes different bytes, and a
      // layer's digest must not depend on a block that failed here once.
      deflaters.delete(task.level);
      engine.close();
      throw e;
    }
  }
  // No native handle to drive (another runtime): a valid stream, but with a primed
  // dictionary its bytes (so digests) differ from the driven path's.
  const chunkSize = outputBound(task.input.byteLength);
  const out = deflateRawSync(task.input, {
    ...options,
    ...(dictionary ? { dictionary } : {}),
    chunkSize,
    finishFlush: flush,
  });
  return own(new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
}
