/**
 * A pass-through stage that counts bytes, for progress display.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { CountStream } from "@ocistream/ocistream/stages";
 * const seen: number[] = [];
 * const count = new CountStream({ onProgress: (n) => seen.push(n) });
 * await new Blob(["hello"]).stream().pipeThrough(count).pipeTo(new WritableStream());
 * assertEquals(count.bytes, 5);
 * assertEquals(seen.at(-1), 5);
 * ```
 * @module
 */
import { type CancellableTransformer, deferred } from "./_deferred.ts";

/** Options for {@linkcode CountStream}. */
export interface CountStreamOptions {
  /** Called after each chunk with the total number of bytes so far; keep it cheap. */
  onProgress?: (bytes: number) => void;
}

/**
 * Passes bytes through unchanged and counts them.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { CountStream } from "@ocistream/ocistream/stages";
 * const count = new CountStream();
 * await new Blob([new Uint8Array(300)]).stream().pipeThrough(count).pipeTo(new WritableStream());
 * assertEquals([count.bytes, await count.result], [300, 300]);
 * ```
 */
export class CountStream extends TransformStream<Uint8Array, Uint8Array> {
  #state: { bytes: number };
  /** The total byte count; resolves when the input ends, rejects if the stream is cancelled. */
  readonly result: Promise<number>;

  /** Counts bytes; `onProgress` hears the running total. */
  constructor(options: CountStreamOptions = {}) {
    const state = { bytes: 0 };
    const onProgress = options.onProgress;
    const { promise, resolve, reject } = deferred<number>();
    promise.catch(() => {});
    const transformer: CancellableTransformer<Uint8Array, Uint8Array> = {
      transform(chunk, controller) {
        state.bytes += chunk.byteLength;
        controller.enqueue(chunk);
        onProgress?.(state.bytes);
      },
      flush() {
        resolve(state.bytes);
      },
      cancel(reason: unknown) {
        reject(reason ?? new Error("CountStream was cancelled before its input ended"));
      },
    };
    super(transformer);
    this.#state = state;
    this.result = promise;
  }

  /** Bytes seen so far. */
  get bytes(): number {
    return this.#state.bytes;
  }
}
