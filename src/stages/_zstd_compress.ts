/**
 * Portable zstd compression over `@bokuweb/zstd-wasm`, which only compresses
 * whole buffers: input is cut into fixed blocks, each written as its own frame.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { ZstdBlockCompressStream } from "./_zstd_compress.ts";
 * import { webCodecs } from "@ocistream/ocistream/stages";
 * const out = new Blob(["hello"]).stream().pipeThrough(new ZstdBlockCompressStream(3));
 * assertEquals(await new Response(out.pipeThrough(webCodecs.decompress("zstd"))).text(), "hello");
 * ```
 * @module
 */
import { compress, init } from "@bokuweb/zstd-wasm";

/** Input bytes per zstd frame; fixed so the output depends on the input only. */
export const ZSTD_WEB_BLOCK_SIZE = 1024 * 1024;

let ready: Promise<void> | undefined;

/** Loads the wasm module once per process. */
function loadZstd(): Promise<void> {
  ready ??= init().catch((error: unknown) => {
    ready = undefined;
    throw new Error(`Cannot load the zstd wasm module: ${(error as Error).message}`, {
      cause: error,
    });
  });
  return ready;
}

/**
 * Compresses at `level` (0–22; 0 means zstd's default, 3) into one frame per
 * {@linkcode ZSTD_WEB_BLOCK_SIZE} bytes of input; empty input gives one empty frame.
 * The caller validates `level`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { ZstdBlockCompressStream } from "./_zstd_compress.ts";
 * const out = new Blob([new Uint8Array(10)]).stream().pipeThrough(new ZstdBlockCompressStream(19));
 * // A zstd frame starts with its magic number.
 * assertEquals(
 *   new Uint8Array(await new Response(out).arrayBuffer()).slice(0, 4),
 *   new Uint8Array([0x28, 0xb5, 0x2f, 0xfd]),
 * );
 * ```
 */
export class ZstdBlockCompressStream extends TransformStream<Uint8Array, Uint8Array> {
  /** Compresses at `level` (0–22). */
  constructor(level: number, blockSize: number = ZSTD_WEB_BLOCK_SIZE) {
    let block = new Uint8Array(blockSize);
    let fill = 0;
    let frames = 0;
    super({
      start: () => loadZstd(),
      transform(chunk, controller) {
        let offset = 0;
        while (offset < chunk.byteLength) {
          const n = Math.min(blockSize - fill, chunk.byteLength - offset);
          block.set(chunk.subarray(offset, offset + n), fill);
          fill += n;
          offset += n;
          if (fill === blockSize) {
            controller.enqueue(compress(block, level));
            frames++;
            fill = 0;
          }
        }
      },
      flush(controller) {
        if (fill > 0 || frames === 0) controller.enqueue(compress(block.subarray(0, fill), level));
        block = new Uint8Array(0);
      },
    });
  }
}
