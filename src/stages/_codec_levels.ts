/**
 * Compression level ranges shared by every `Codecs` implementation.
 *
 * @example
 * ```ts
 * import { assertThrows } from "@std/assert";
 * import { assertCompressionLevel } from "./_codec_levels.ts";
 * assertCompressionLevel("gzip", 6); // ok
 * assertThrows(() => assertCompressionLevel("zstd", 23), RangeError, "23");
 * ```
 * @module
 */
import type { StreamCompression } from "../types/codecs.ts";

/** The highest level each algorithm accepts (the lowest is 0). */
export const MAX_COMPRESSION_LEVEL: Readonly<Record<StreamCompression, number>> = {
  gzip: 9,
  zstd: 22,
};

/**
 * Throws unless `algorithm` is `gzip` or `zstd` and `level` is an integer in its range
 * (gzip 0–9, zstd 0–22).
 *
 * @example
 * ```ts
 * import { assertThrows } from "@std/assert";
 * import { assertCompressionLevel } from "./_codec_levels.ts";
 * assertCompressionLevel("zstd", 3);
 * assertThrows(() => assertCompressionLevel("gzip", 10), RangeError);
 * ```
 */
export function assertCompressionLevel(algorithm: StreamCompression, level: number): void {
  if (algorithm !== "gzip" && algorithm !== "zstd") {
    throw new TypeError(
      `Cannot compress with "${String(algorithm)}": use "gzip" or "zstd"`,
    );
  }
  const max = MAX_COMPRESSION_LEVEL[algorithm];
  if (!Number.isInteger(level) || level < 0 || level > max) {
    throw new RangeError(
      `Cannot use ${algorithm} compression level ${level}: use an integer from 0 to ${max}`,
    );
  }
}

/** Throws a TypeError unless `algorithm` is `gzip` or `zstd`. */
export function assertAlgorithm(algorithm: StreamCompression): void {
  if (algorithm !== "gzip" && algorithm !== "zstd") {
    throw new TypeError(
      `Cannot decompress "${String(algorithm)}": use "gzip" or "zstd"`,
    );
  }
}
