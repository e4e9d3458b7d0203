/**
 * Writes a sequence of gzip members into a {@link BlobOutput}: bytes go to the current
 * member (opened on first write), `end()` closes it so the next write starts a new one.
 * Concatenated members are still one valid gzip stream.
 *
 * With `codecs.gzipMembers` the members are compressed in batches, several batches at a
 * time (on worker threads, for the native codecs), and written out in order as they
 * finish; so a member's offset in the blob is known only later: ask {@link
 * GzipMembers.offsetOf}. Without it each member goes through `codecs.compress("gzip")` in
 * turn.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { GzipMembers } from "./_estargz_members.ts";
 * import { BlobOutput } from "./_estargz_output.ts";
 * import type { Codecs } from "@ocistream/ocistream/stages";
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
 * const second = members.next;
 * await members.write(new TextEncoder().encode("b"));
 * await members.flush();
 * out.close();
 * const bytes = new Uint8Array(await blob);
 * assertEquals([bytes[members.offsetOf(second)!] === 0x1f, out.size === bytes.length], [true, true]);
 * ```
 * @module
 */

import type { Codecs } from "../types/codecs.ts";
import type { BlobOutput } from "./_estargz_output.ts";

// A batch is sent once it holds this many input bytes (a big member goes alone).
const BATCH_BYTES = 512 * 1024;
// Input bytes in batches not yet written out before a new batch waits for the oldest.
const IN_FLIGHT_BYTES = 12 * 1024 * 1024;
// Batches not yet written out before a new one waits (many small ones need no deep queue).
const IN_FLIGHT_BATCHES = 6;

interface Batch {
  bytes: number;
  first: number; // index of its first member
  outputs: Promise<Uint8Array[]>;
  done: boolean; // outputs has settled
}

/** A writer of consecutive gzip members. */
export class GzipMembers {
  #codecs: Codecs;
  #level: number;
  #out: BlobOutput;
  // One member at a time, through `compress`:
  #writer: WritableStreamDefaultWriter<Uint8Array> | undefined;
  #piping: Promise<void> | undefined;
  // Batched, through `gzipMembers`: members are copied back to back into the batch's buffer
  // (holding on to the caller's arrays could keep far larger read buffers alive).
  #arena: Uint8Array = new Uint8Array(0);
  #fill = 0;
  #sizes: number[] = []; // sizes of the batch's ended members
  #memberBytes = -1; // bytes of the open member, -1 when none is open
  #spare: Uint8Array[] = [];
  #queue: Batch[] = [];
  #queuedBytes = 0;
  // Members opened so far, and blob offsets of started members not yet asked for.
  #count = 0;
  #offsets = new Map<number, number>();

  #tap: ((bytes: Uint8Array) => void) | undefined;

  /**
   * Members are compressed with `codecs` (gzip at `level`) into `out`. `tap`, when given,
   * sees every input byte in order (in large pieces when batched), e.g. to hash the
   * uncompressed stream without a call per small write.
   */
  constructor(
    codecs: Codecs,
    level: number,
    out: BlobOutput,
    tap?: (bytes: Uint8Array) => void,
  ) {
    this.#codecs = codecs;
    this.#level = level;
    this.#out = out;
    this.#tap = tap;
  }

  /** Whether a member is open (has received bytes and not been ended). */
  get open(): boolean {
    return this.#writer !== undefined || this.#memberBytes >= 0;
  }

  /** The index of the member the next write opens (when none is open, e.g. after `end()`). */
  get next(): number {
    return this.#count;
  }

  /**
   * The blob offset where member `index` starts, once every member before it has been
   * written out (else undefined). Each index can be asked for once.
   */
  offsetOf(index: number): number | undefined {
    const offset = this.#offsets.get(index);
    if (offset !== undefined) this.#offsets.delete(index);
    return offset;
  }

  /** Compresses `bytes` into the current member; the array must not change afterwards. */
  async write(bytes: Uint8Array): Promise<void> {
    if (bytes.length === 0) return;
    if (this.#codecs.gzipMembers) {
      if (this.#memberBytes < 0) {
        this.#memberBytes = 0;
        this.#count++;
      }
      this.#append(bytes);
      this.#memberBytes += bytes.length;
      return;
    }
    this.#tap?.(bytes);
    let writer = this.#writer;
    if (writer === undefined) {
      this.#offsets.set(this.#count, this.#out.size);
      this.#count++;
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

  /**
   * Closes the current member (if any). One at a time: once all its bytes reached the
   * output. Batched: once the batches still in flight are few enough.
   */
  async end(): Promise<void> {
    if (this.#memberBytes >= 0) {
      this.#sizes.push(this.#memberBytes);
      this.#memberBytes = -1;
      if (this.#fill >= BATCH_BYTES) await this.#send();
      return;
    }
    const writer = this.#writer;
    if (writer === undefined) return;
    this.#writer = undefined;
    await writer.close();
    await this.#piping;
  }

  /**
   * Writes `size` bytes that `fill` reads into the place given (straight into the batch buffer
   * when batching, so there is no copy). Returns that place, valid until the next write, and
   * the length `fill` reported; when it is not `size` nothing was written.
   */
  async writeFrom(
    size: number,
    fill: (target: Uint8Array) => Promise<number>,
  ): Promise<{ bytes: Uint8Array; length: number }> {
    if (!this.#codecs.gzipMembers) {
      const bytes = new Uint8Array(size);
      const length = await fill(bytes);
      if (length === size) await this.write(bytes);
      return { bytes, length };
    }
    this.#grow(this.#fill + size, false);
    const bytes = this.#arena.subarray(this.#fill, this.#fill + size);
    const length = await fill(bytes);
    if (length === size && size > 0) {
      if (this.#memberBytes < 0) {
        this.#memberBytes = 0;
        this.#count++;
      }
      this.#fill += size;
      this.#memberBytes += size;
    }
    return { bytes, length };
  }

  /** Ends the current member and waits until every member has been written out. */
  async flush(): Promise<void> {
    await this.end();
    if (this.#sizes.length > 0) await this.#send();
    while (this.#queue.length > 0) await this.#writeOldest();
  }

  /**
   * Announces `bytes` more input to come (a large chunk's known size), so the batch buffer
   * grows once to fit rather than by doubling (each step a copy and a dead buffer).
   */
  reserve(bytes: number): void {
    if (this.#codecs.gzipMembers) this.#grow(this.#fill + bytes, true);
  }

  #grow(need: number, exact: boolean): void {
    if (need <= this.#arena.length) return;
    const spare = this.#spare.findIndex((b) => b.length >= need);
    const next = spare >= 0
      ? this.#spare.splice(spare, 1)[0]
      : new Uint8Array(exact ? need : Math.max(need, 2 * this.#arena.length, BATCH_BYTES));
    next.set(this.#arena.subarray(0, this.#fill));
    this.#arena = next;
  }

  #append(bytes: Uint8Array): void {
    const need = this.#fill + bytes.length;
    this.#grow(need, false);
    this.#arena.set(bytes, this.#fill);
    this.#fill = need;
  }

  async #send(): Promise<void> {
    const arena = this.#arena;
    const bytes = this.#fill;
    this.#tap?.(arena.subarray(0, bytes));
    const members: Uint8Array[][] = [];
    let at = 0;
    for (const size of this.#sizes) {
      members.push([arena.subarray(at, at + size)]);
      at += size;
    }
    this.#sizes = [];
    this.#fill = 0;
    this.#arena = this.#spare.pop() ?? new Uint8Array(0);
    const outputs = this.#codecs.gzipMembers!(this.#level, members);
    // The buffer is free again once its members are compressed.
    const batch: Batch = { bytes, first: this.#count - members.length, outputs, done: false };
    outputs.then(() => {
      batch.done = true;
      if (this.#spare.length < 2) this.#spare.push(arena);
    }, () => {});
    this.#queue.push(batch);
    this.#queuedBytes += bytes;
    // Finished batches go out at once: their outputs (and TOC entries waiting for offsets)
    // are not held until the in-flight limit is reached.
    while (this.#queue.length > 0 && this.#queue[0].done) await this.#writeOldest();
    while (
      this.#queue.length > 1 &&
      (this.#queuedBytes > IN_FLIGHT_BYTES || this.#queue.length > IN_FLIGHT_BATCHES)
    ) {
      await this.#writeOldest();
    }
  }

  async #writeOldest(): Promise<void> {
    const batch = this.#queue[0];
    const outputs = await batch.outputs;
    this.#queue.shift();
    this.#queuedBytes -= batch.bytes;
    // Members of a job usually lie back to back in one buffer: push such a run as one chunk
    // (one hash update, one enqueue and one sink write instead of one per member).
    let offset = this.#out.size;
    let run: Uint8Array | undefined;
    for (const [i, member] of outputs.entries()) {
      this.#offsets.set(batch.first + i, offset);
      offset += member.byteLength;
      if (
        run && run.buffer === member.buffer &&
        run.byteOffset + run.byteLength === member.byteOffset
      ) {
        run = new Uint8Array(run.buffer, run.byteOffset, run.byteLength + member.byteLength);
        continue;
      }
      if (run) await this.#out.push(run);
      run = member;
    }
    if (run) await this.#out.push(run);
  }

  /** Abandons the current member and anything in flight after a failure. */
  async abort(reason: unknown): Promise<void> {
    this.#memberBytes = -1;
    this.#sizes = [];
    this.#queue = [];
    const writer = this.#writer;
    this.#writer = undefined;
    await writer?.abort(reason).catch(() => {});
  }
}
