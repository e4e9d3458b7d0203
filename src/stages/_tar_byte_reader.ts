/**
 * A pull-based reader over a byte stream that hands out exact-size blocks (copied only when
 * they span chunks) or zero-copy slices of what is buffered. Private helper of the tar parser.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { ByteReader } from "./_tar_byte_reader.ts";
 * const r = new ByteReader(ReadableStream.from([new Uint8Array([1, 2]), new Uint8Array([3])]));
 * assertEquals(await r.readExact(3), new Uint8Array([1, 2, 3]));
 * ```
 * @module
 */

/** Reads exact-size blocks or slices from a `ReadableStream<Uint8Array>`. */
export class ByteReader {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #chunk: Uint8Array = new Uint8Array(0);
  #ended = false;

  /** Wraps a stream (locks it). */
  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }

  async #fill(): Promise<boolean> {
    while (this.#chunk.length === 0) {
      if (this.#ended) return false;
      const { value, done } = await this.#reader.read();
      if (done) {
        this.#ended = true;
        return false;
      }
      this.#chunk = value;
    }
    return true;
  }

  /**
   * Exactly `n` bytes; `null` at a clean end (no bytes left); a shorter array when the
   * stream ends inside the block.
   */
  async readExact(n: number): Promise<Uint8Array | null> {
    if (!(await this.#fill())) return null;
    if (this.#chunk.length >= n) {
      const out = this.#chunk.subarray(0, n);
      this.#chunk = this.#chunk.subarray(n);
      return out;
    }
    const out = new Uint8Array(n);
    let got = 0;
    while (got < n && (await this.#fill())) {
      const take = Math.min(n - got, this.#chunk.length);
      out.set(this.#chunk.subarray(0, take), got);
      this.#chunk = this.#chunk.subarray(take);
      got += take;
    }
    return got === n ? out : out.subarray(0, got);
  }

  /** Up to `n` bytes (at least one) without copying; `null` at the end of the stream. */
  async readUpTo(n: number): Promise<Uint8Array | null> {
    if (n <= 0) return new Uint8Array(0);
    if (!(await this.#fill())) return null;
    const out = this.#chunk.subarray(0, Math.min(n, this.#chunk.length));
    this.#chunk = this.#chunk.subarray(out.length);
    return out;
  }

  /** Skips `n` bytes; returns how many were skipped (fewer at the end of the stream). */
  async skip(n: number): Promise<number> {
    let left = n;
    while (left > 0) {
      const part = await this.readUpTo(left);
      if (part === null) break;
      left -= part.length;
    }
    return n - left;
  }

  /** Cancels the underlying stream. */
  async cancel(reason?: unknown): Promise<void> {
    this.#ended = true;
    this.#chunk = new Uint8Array(0);
    await this.#reader.cancel(reason);
  }
}
