/**
 * The readable end of the eStargz writer: bytes pushed into it are counted, hashed (the
 * blob digest) and handed to the consumer; `push` waits while the consumer has not asked for
 * more, so a slow sink holds the writer back instead of growing a queue.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { BlobOutput } from "./_estargz_output.ts";
 * import type { Hasher } from "@ocistream/ocistream/stages";
 * import { nativeCodecs } from "@ocistream/ocistream/deno";
 * const out = new BlobOutput(nativeCodecs.sha256() as Hasher, () => {});
 * const read = new Response(out.readable).arrayBuffer();
 * await out.push(new Uint8Array([1, 2, 3]));
 * out.close();
 * assertEquals([(await read).byteLength, out.size], [3, 3]);
 * ```
 * @module
 */

import type { Hasher } from "../types/codecs.ts";

// Bytes the consumer may lag behind before `push` waits.
const HIGH_WATER_MARK = 1 << 20;

/** A byte source with backpressure, a running size and a running sha256. */
export class BlobOutput {
  /** The stream the consumer reads. */
  readonly readable: ReadableStream<Uint8Array>;
  /** Bytes pushed so far. */
  size = 0;
  #hasher: Hasher | undefined;
  #pendingHasher: Hasher | Promise<Hasher>;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #wake: (() => void) | undefined;
  #cancelled: { reason: unknown } | undefined;

  /** `onCancel` runs when the consumer cancels the readable. */
  constructor(hasher: Hasher | Promise<Hasher>, onCancel: (reason: unknown) => void) {
    this.#pendingHasher = hasher;
    // A rejected hasher is reported by the first push.
    if (hasher instanceof Promise) hasher.catch(() => {});
    this.readable = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
      pull: () => this.#wakeUp(),
      cancel: (reason) => {
        this.#cancelled = { reason };
        this.#wakeUp();
        onCancel(reason);
      },
    }, new ByteLengthQueuingStrategy({ highWaterMark: HIGH_WATER_MARK }));
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** Hands bytes to the consumer; resolves once it wants more. */
  async push(bytes: Uint8Array): Promise<void> {
    this.#throwIfCancelled();
    if (bytes.length === 0) return;
    this.#hasher ??= await this.#pendingHasher;
    this.#hasher.update(bytes);
    this.size += bytes.length;
    this.#controller.enqueue(bytes);
    while ((this.#controller.desiredSize ?? 1) <= 0 && !this.#cancelled) {
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
    this.#throwIfCancelled();
  }

  #throwIfCancelled(): void {
    if (this.#cancelled) {
      throw new Error(
        `The eStargz blob was cancelled by its reader: ${String(this.#cancelled.reason)}`,
      );
    }
  }

  /** The `sha256:` digest of everything pushed; call once, after the last push. */
  async digest(): Promise<string> {
    this.#hasher ??= await this.#pendingHasher;
    return `sha256:${this.#hasher.digestHex()}`;
  }

  /** Ends the stream. */
  close(): void {
    if (!this.#cancelled) this.#controller.close();
  }

  /** Fails the stream (the consumer's read rejects with `reason`). */
  error(reason: unknown): void {
    if (this.#cancelled) return;
    try {
      this.#controller.error(reason);
    } catch {
      // already closed or errored
    }
    this.#cancelled = { reason };
    this.#wakeUp();
  }
}
