/**
 * A pass-through stage that counts bytes, for progress display.
 *
 * @example
 * ```ts
 * import { CountStream } from "./count_stream.ts";
 * const count = new CountStream({ onProgress: (n) => console.log(`${n} bytes`) });
 * await new Blob(["hello"]).stream().pipeThrough(count).pipeTo(new WritableStream());
 * console.log(count.bytes); // 5
 * ```
 * @module
 */

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
 * import { CountStream } from "./count_stream.ts";
 * const count = new CountStream();
 * await new Blob([new Uint8Array(300)]).stream().pipeThrough(count).pipeTo(new WritableStream());
 * console.log(count.bytes, await count.result); // 300 300
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
    const { promise, resolve, reject } = Promise.withResolvers<number>();
    promise.catch(() => {});
    super({
      transform(chunk, controller) {
        state.bytes += chunk.byteLength;
        controller.enqueue(chunk);
        onProgress?.(state.bytes);
      },
      flush() {
        resolve(state.bytes);
      },
      cancel(reason) {
        reject(reason ?? new Error("CountStream was cancelled before its input ended"));
      },
    });
    this.#state = state;
    this.result = promise;
  }

  /** Bytes seen so far. */
  get bytes(): number {
    return this.#state.bytes;
  }
}
