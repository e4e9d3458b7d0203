/**
 * Portable streaming zstd decompression over the pure-JS `fzstd`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { ZstdDecompressStream } from "./_zstd_decompress.ts";
 * import { ZstdBlockCompressStream } from "./_zstd_compress.ts";
 * const text = new Blob(["hi"]).stream()
 *   .pipeThrough(new ZstdBlockCompressStream(3))
 *   .pipeThrough(new ZstdDecompressStream());
 * assertEquals(await new Response(text).text(), "hi");
 * ```
 * @module
 */

import { Decompress } from "fzstd";

/**
 * Decompresses any number of concatenated zstd frames (skippable frames are
 * ignored); throws on corrupt or truncated input.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { ZstdDecompressStream } from "./_zstd_decompress.ts";
 * const empty = new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x00, 0x01, 0x00, 0x00]);
 * const out = new Blob([empty]).stream().pipeThrough(new ZstdDecompressStream());
 * assertEquals((await new Response(out).arrayBuffer()).byteLength, 0);
 * ```
 */
export class ZstdDecompressStream extends TransformStream<Uint8Array, Uint8Array> {
  /** A new decompressor. */
  constructor() {
    let controller!: TransformStreamDefaultController<Uint8Array>;
    let seen = 0;
    const zstd = new Decompress((data) => {
      if (data.byteLength > 0) controller.enqueue(data);
    });
    const fail = (error: unknown, where: string) =>
      new TypeError(`Cannot decompress zstd data ${where}: ${(error as Error).message}`, {
        cause: error,
      });
    super({
      start(c) {
        controller = c;
      },
      transform(chunk) {
        seen += chunk.byteLength;
        try {
          zstd.push(chunk);
        } catch (error) {
          throw fail(error, `near byte ${seen}`);
        }
      },
      flush() {
        if (seen === 0) throw new TypeError("Cannot decompress zstd data: the input is empty");
        try {
          zstd.push(new Uint8Array(0), true);
        } catch (error) {
          throw fail(error, "at its end (truncated?)");
        }
      },
    });
  }
}
