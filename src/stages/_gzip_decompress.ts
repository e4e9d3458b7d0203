/**
 * Portable gzip decompression over `fflate`, for any number of concatenated members.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { GunzipStream } from "./_gzip_decompress.ts";
 * import { GzipCompressStream } from "./_gzip_compress.ts";
 * const text = new Blob(["hi"]).stream()
 *   .pipeThrough(new GzipCompressStream(6))
 *   .pipeThrough(new GunzipStream());
 * assertEquals(await new Response(text).text(), "hi");
 * ```
 * @module
 */
import { Gunzip } from "fflate";

/**
 * Decompresses a gzip stream of one or more members (eStargz blobs are many);
 * throws on corrupt or truncated input.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { GunzipStream } from "./_gzip_decompress.ts";
 * const gz = new Uint8Array([31, 139, 8, 0, 0, 0, 0, 0, 0, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
 * const out = new Blob([gz]).stream().pipeThrough(new GunzipStream());
 * assertEquals((await new Response(out).arrayBuffer()).byteLength, 0);
 * ```
 */
export class GunzipStream extends TransformStream<Uint8Array, Uint8Array> {
  /** A new decompressor. */
  constructor() {
    let controller!: TransformStreamDefaultController<Uint8Array>;
    let seen = 0;
    const gunzip = new Gunzip((data) => {
      if (data.byteLength > 0) controller.enqueue(data);
    });
    super({
      start(c) {
        controller = c;
      },
      transform(chunk) {
        seen += chunk.byteLength;
        try {
          gunzip.push(chunk);
        } catch (error) {
          throw new TypeError(
            `Cannot decompress gzip data near byte ${seen}: ${(error as Error).message}`,
            { cause: error },
          );
        }
      },
      flush() {
        if (seen === 0) {
          throw new TypeError("Cannot decompress gzip data: the input is empty");
        }
        try {
          gunzip.push(new Uint8Array(0), true);
        } catch (error) {
          throw new TypeError(
            `Cannot decompress gzip data: it ends early or is corrupt (${
              (error as Error).message
            })`,
            { cause: error },
          );
        }
      },
    });
  }
}
