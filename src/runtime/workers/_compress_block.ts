/**
 * Compresses one block of a parallel gzip or zstd stream. Pure: the bytes
 * depend only on the task, so where it runs (a worker or the calling thread)
 * cannot change the output.
 *
 * @example
 * ```ts
 * import { compressBlock } from "./_compress_block.ts";
 * const out = compressBlock({ algorithm: "zstd", level: 3, input: new Uint8Array(10), last: true });
 * console.log(out[0].toString(16)); // "28" (zstd magic, little endian)
 * ```
 * @module
 */
import { constants, deflateRawSync, zstdCompressSync } from "node:zlib";

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
 * @example
 * ```ts
 * import { compressBlock } from "./_compress_block.ts";
 * const piece = compressBlock({ algorithm: "gzip", level: 6, input: new Uint8Array(100), last: false });
 * console.log(piece.subarray(-4)); // 0 0 255 255
 * ```
 */
export function compressBlock(task: CompressTask): Uint8Array {
  if (task.algorithm === "gzip") {
    const out = deflateRawSync(task.input, {
      level: task.level,
      windowBits: 15,
      memLevel: 8,
      ...(task.dictionary && task.dictionary.byteLength > 0 ? { dictionary: task.dictionary } : {}),
      finishFlush: task.last ? constants.Z_FINISH : constants.Z_SYNC_FLUSH,
    });
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  }
  const out = zstdCompressSync(task.input, {
    params: {
      [constants.ZSTD_c_compressionLevel]: task.level,
      [constants.ZSTD_c_checksumFlag]: 1,
    },
  });
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}
