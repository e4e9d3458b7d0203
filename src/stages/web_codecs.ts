/**
 * Hashing and (de)compression that work in any runtime with web APIs
 * (Deno, Node, Bun, Cloudflare workerd, browsers), in wasm and plain JS.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { webCodecs } from "@ocistream/ocistream/stages";
 * const gz = new Blob(["hello"]).stream().pipeThrough(webCodecs.compress("gzip", 6));
 * const back = gz.pipeThrough(webCodecs.decompress("gzip"));
 * assertEquals(await new Response(back).text(), "hello");
 * ```
 * @module
 */
import { createSHA256 } from "hash-wasm";
import type { Codecs, Hasher, StreamCompression } from "../types/codecs.ts";
import { assertAlgorithm, assertCompressionLevel } from "./_codec_levels.ts";
import { GzipCompressStream } from "./_gzip_compress.ts";
import { GunzipStream } from "./_gzip_decompress.ts";
import { ZstdBlockCompressStream } from "./_zstd_compress.ts";
import { ZstdDecompressStream } from "./_zstd_decompress.ts";

/**
 * Portable {@linkcode Codecs}: sha256 from `hash-wasm`, gzip from `fflate`
 * (one member, mtime 0), zstd compression from `@bokuweb/zstd-wasm` (one
 * frame per MiB of input), zstd decompression from `fzstd`. Outputs depend
 * only on the input bytes and level. `compress` throws a RangeError for a
 * level outside gzip 0–9 / zstd 0–22.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { webCodecs } from "@ocistream/ocistream/stages";
 * const hasher = await webCodecs.sha256();
 * hasher.update(new TextEncoder().encode("hello"));
 * assertEquals(
 *   hasher.digestHex(),
 *   "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
 * );
 * ```
 */
export const webCodecs: Codecs = {
  async sha256(): Promise<Hasher> {
    const hash = await createSHA256();
    return {
      update(data: Uint8Array): void {
        hash.update(data);
      },
      digestHex(): string {
        return hash.digest("hex");
      },
    };
  },
  compress(algorithm: StreamCompression, level: number): TransformStream<Uint8Array, Uint8Array> {
    assertCompressionLevel(algorithm, level);
    return algorithm === "gzip"
      ? new GzipCompressStream(level)
      : new ZstdBlockCompressStream(level);
  },
  decompress(algorithm: StreamCompression): TransformStream<Uint8Array, Uint8Array> {
    assertAlgorithm(algorithm);
    return algorithm === "gzip" ? new GunzipStream() : new ZstdDecompressStream();
  },
};
