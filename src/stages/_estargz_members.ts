/**
 * Writes a sequence of gzip members into a {@link BlobOutput}: bytes go to the current
 * member (opened on first write), `end()` closes it so the next write starts a new one.
 * Concatenated members are still one valid gzip stream.
 *
 * @example
 * ```ts
 * import { GzipMembers } from "./_estargz_members.ts";
 * import { BlobOutput } from "./_estargz_output.ts";
 * import type { Codecs } from "../types/codecs.ts";
 * const codecs: Codecs = {
 *   sha256: () => ({ update: () => {}, digestHex: () => "" }),
 *   compress: () => new CompressionStream("gzip") as TransformStream<Uint8Array, Uint8Array>,
 *   decompress: () => new DecompressionStream("gzip") as TransformStream<Uint8Array, Uint8Array>,
 * };
 * const out = new BlobOutput(await codecs.sha256(), () => {});
 * const blob = new Response(out.readable).arrayBuffer();
 * const members = new GzipMembers(codecs, 6, out);
 * await members.write(new TextEncoder().encode("a"));
 * await members.end();
 * await members.write(new TextEncoder().encode("b"));
 * await members.end();
 * out.close();
 * const bytes = new Uint8Array(await blob);
 * console.log(bytes[0] === 0x1f && bytes[1] === 0x8b, out.size === bytes.length); // true true
 * ```
 * @module
 */

import type { Codecs } from "../types/codecs.ts";
import type { BlobOutput } from "./_estargz_output.ts";

/** A writer of consecutive gzip members. */
export class GzipMembers {
  #codecs: Codecs;
  #level: number;
  #out: BlobOutput;
  #writer: WritableStreamDefaultWriter<Uint8Array> | undefined;
  #piping: Promise<void> | undefined;

  /** Members are compressed with `codecs.compress("gzip", level)` into `out`. */
  constructor(codecs: Codecs, level: number, out: BlobOutput) {
    this.#codecs = codecs;
    this.#level = level;
    this.#out = out;
  }

  /** Whether a member is open (has received bytes and not been ended). */
  get open(): boolean {
    return this.#writer !== undefined;
  }

  /** Compresses `bytes` into the current member; the array must not change afterwards. */
  async write(bytes: Uint8Array): Promise<void> {
    if (bytes.length === 0) return;
    let writer = this.#writer;
    if (writer === undefined) {
      const gzip = this.#codecs.compress("gzip", this.#level);
      const out = this.#out;
      this.#piping = gzip.readable.pipeTo(
        new WritableStream({ write: (chunk) => out.push(chunk) }),
      );
      // Reported by end(); this only keeps an early failure from going unhandled.
      this.#piping.catch(() => {});
      writer = this.#writer = gzip.writable.getWriter();
    }
    await writer.ready;
    // Not awaited: compression of this piece overlaps with reading the next one. A failure
    // surfaces through `ready` or `end()`.
    writer.write(bytes).catch(() => {});
  }

  /** Closes the current member (if any) once all its bytes reached the output. */
  async end(): Promise<void> {
    const writer = this.#writer;
    if (writer === undefined) return;
    this.#writer = undefined;
    await writer.close();
    await this.#piping;
  }

  /** Abandons the current member after a failure. */
  async abort(reason: unknown): Promise<void> {
    const writer = this.#writer;
    this.#writer = undefined;
    await writer?.abort(reason).catch(() => {});
  }
}
