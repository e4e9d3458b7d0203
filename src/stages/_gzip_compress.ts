/**
 * Portable gzip compression over `fflate`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { GzipCompressStream } from "./_gzip_compress.ts";
 * import { webCodecs } from "@ocistream/ocistream/stages";
 * const gz = new Blob(["hello"]).stream().pipeThrough(new GzipCompressStream(6));
 * const back = gz.pipeThrough(webCodecs.decompress("gzip"));
 * assertEquals(await new Response(back).text(), "hello");
 * ```
 * @module
 */
import { Gzip } from "fflate";

// fflate emits deflate blocks at points that depend on how input was pushed,
// so input is re-cut into fixed pieces: the output depends on the bytes only.
const PIECE = 64 * 1024;

/**
 * One gzip member (mtime 0, no name) at `level` 0–9; the same input gives
 * the same bytes however it is chunked. The caller validates `level`.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { GzipCompressStream } from "./_gzip_compress.ts";
 * const out = new Blob([new Uint8Array(100_000)]).stream().pipeThrough(new GzipCompressStream(9));
 * assert((await new Response(out).arrayBuffer()).byteLength < 1000);
 * ```
 */
export class GzipCompressStream extends TransformStream<Uint8Array, Uint8Array> {
  /** Compresses at `level` (0–9). */
  constructor(level: number) {
    let controller!: TransformStreamDefaultController<Uint8Array>;
    const gzip = new Gzip(
      { level: level as 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9, mtime: 0 },
      (data) => {
        if (data.byteLength > 0) controller.enqueue(data);
      },
    );
    const piece = new Uint8Array(PIECE);
    let fill = 0;
    super({
      start(c) {
        controller = c;
      },
      transform(chunk) {
        let offset = 0;
        while (offset < chunk.byteLength) {
          const n = Math.min(PIECE - fill, chunk.byteLength - offset);
          piece.set(chunk.subarray(offset, offset + n), fill);
          fill += n;
          offset += n;
          if (fill === PIECE) {
            gzip.push(piece); // fflate copies what it keeps
            fill = 0;
          }
        }
      },
      flush() {
        gzip.push(piece.subarray(0, fill), true);
      },
    });
  }
}
