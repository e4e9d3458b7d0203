/**
 * Turns a stream of {@link TarEntry} into tar bytes, streaming each file body chunk by chunk.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { TarStream } from "@ocistream/ocistream/tar";
 * const body = new TextEncoder().encode("hi\n");
 * const tar = ReadableStream.from([
 *   { path: "hi.txt", type: "file" as const, mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 3,
 *     open: () => ReadableStream.from([body]) },
 * ]).pipeThrough(new TarStream());
 * const bytes = new Uint8Array(await new Response(tar).arrayBuffer());
 * assertEquals(bytes.length, 2048); // header, body block, two end blocks
 * ```
 * @module
 */

import type { TarEntry } from "../types/tar_entry.ts";
import { encodeTarHeader, TAR_BLOCK_SIZE, TAR_END, writeTarHeader } from "./tar_header.ts";
import { entryBatches, type NextBatch } from "./entry_batches.ts";

/** Output chunk size: small headers and bodies are packed into chunks this large. */
const OUT_CHUNK = 256 * 1024;
/** Body chunks at least this large are passed on as they are (no copy). */
const PASS_THROUGH = 64 * 1024;
/**
 * Bodies up to this size may be read ahead whole (see {@link readAheadSafe}), or read in one
 * call when their source can (see {@link wholeBodyReader}).
 */
export const SMALL_BODY = 1024 * 1024;
/** At most this many entries are read ahead of the one being written... */
const READ_AHEAD_ENTRIES = 8;
/** ...holding at most this many body bytes. */
const READ_AHEAD_BYTES = 8 * 1024 * 1024;

/**
 * Reads a whole body into `target` (sized to the entry's `size`) and resolves to the body's
 * actual length, which differs from `target.length` when the file changed size (then
 * `target`'s content is unspecified).
 */
export type ReadBodyInto = (target: Uint8Array) => Promise<number>;

// `open` functions whose bodies may be read before the writer reaches them, with a cheaper
// whole-body read when their source has one.
const readAheadOpens = new WeakMap<object, ReadBodyInto | undefined>();

/**
 * Marks an entry's `open` as safe to call early: it only reads the file (no side effect whose
 * order matters), so {@link TarStream} may read up to 8 small bodies (≤ 1 MiB, 8 MiB in all)
 * ahead of the one it writes, overlapping their I/O. The mark is on the function, so an entry
 * whose `open` is wrapped by a later stage (a hashing inventory, ...) is read in order.
 * `readInto`, when given, reads the same bytes in one call: the writer reads small bodies with it
 * straight into its output (no stream, no buffer per file: a folder of many small files costs
 * per call, not per byte) instead of reading them ahead.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { readAheadSafe, TarStream } from "@ocistream/ocistream/tar";
 * const tar = ReadableStream.from([
 *   { path: "a", type: "file" as const, mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 1,
 *     open: readAheadSafe(() => new Blob(["a"]).stream()) },
 * ]).pipeThrough(new TarStream());
 * assertEquals((await new Response(tar).arrayBuffer()).byteLength, 2048);
 * ```
 */
export function readAheadSafe<F extends NonNullable<TarEntry["open"]>>(
  open: F,
  readInto?: ReadBodyInto,
): F {
  readAheadOpens.set(open, readInto);
  return open;
}

/**
 * The whole-body reader an entry's `open` was marked with by {@link readAheadSafe}, if any: how
 * other writers of file bodies (eStargz) take the same shortcut.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { readAheadSafe, wholeBodyReader } from "@ocistream/ocistream/tar";
 * const readInto = (t: Uint8Array) => Promise.resolve(t.length);
 * const open = readAheadSafe(() => new Blob(["a"]).stream(), readInto);
 * const entry = { path: "a", type: "file" as const, mode: 0o644, uid: 0, gid: 0, mtime: 0 };
 * assertEquals(wholeBodyReader({ ...entry, size: 1, open }), readInto);
 * assertEquals(wholeBodyReader({ ...entry, size: 1, open: () => new Blob(["a"]).stream() }), undefined);
 * ```
 */
export function wholeBodyReader(entry: TarEntry): ReadBodyInto | undefined {
  return entry.open ? readAheadOpens.get(entry.open) : undefined;
}

/** An entry taken from the input, with its body being read ahead when allowed. */
interface Pending {
  entry: TarEntry;
  size: number;
  /** The whole body (its chunks), when read ahead. */
  body?: Promise<Uint8Array[]>;
}

/**
 * A tar writer stage: `TarEntry` in, tar bytes out (ustar + PAX as Go's `archive/tar`
 * writes them), ending with the two zero end-of-archive blocks.
 *
 * Output is pull-driven: a body chunk is read from `entry.open()` only when the consumer
 * asks for more bytes, so a large file streams with flat memory. A body that yields more or
 * fewer bytes than `entry.size` is an error naming the path.
 *
 * Many small files cost per entry, not per byte, so headers, small bodies and padding are
 * packed into 256 KiB chunks (fewer hops for the hash and compressor stages downstream); body
 * chunks of 64 KiB or more pass through uncopied. Small bodies whose `open` is
 * {@link readAheadSafe} are read ahead (bounded: 8 entries, 8 MiB).
 *
 * It implements `TransformStream` (rather than extending it) because the output must be
 * pulled: a transformer cannot wait for the readable side's demand.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { TarStream } from "@ocistream/ocistream/tar";
 * const tar = ReadableStream.from([
 *   { path: "etc", type: "directory" as const, mode: 0o755, uid: 0, gid: 0, mtime: 0 },
 * ]).pipeThrough(new TarStream());
 * assertEquals((await new Response(tar).arrayBuffer()).byteLength, 1536);
 * ```
 */
export class TarStream implements TransformStream<TarEntry, Uint8Array> {
  #readable: ReadableStream<Uint8Array>;
  #writable: WritableStream<TarEntry>;

  /** Creates the stage. */
  constructor() {
    const { readable, writable } = new TransformStream<TarEntry, TarEntry>(
      undefined,
      { highWaterMark: 1 },
      { highWaterMark: 0 },
    );
    this.#writable = writable;
    this.#readable = tarOutput(new TarWriter(new ReaderSource(readable.getReader())));
  }

  /** Tar bytes out. */
  get readable(): ReadableStream<Uint8Array> {
    return this.#readable;
  }

  /** Entries in. */
  get writable(): WritableStream<TarEntry> {
    return this.#writable;
  }
}

/**
 * The tar of `entries`, as `entries.pipeThrough(new TarStream())` gives it; entries a folder
 * walk makes in batches (see `entry_batches.ts`) are taken a batch at a time, not read from the
 * stream one by one.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { tarStream } from "@ocistream/ocistream/tar";
 * const tar = tarStream(ReadableStream.from([
 *   { path: "etc", type: "directory" as const, mode: 0o755, uid: 0, gid: 0, mtime: 0 },
 * ]));
 * assertEquals((await new Response(tar).arrayBuffer()).byteLength, 1536);
 * ```
 */
export function tarStream(entries: ReadableStream<TarEntry>): ReadableStream<Uint8Array> {
  const next = entryBatches(entries);
  if (next === undefined) return entries.pipeThrough(new TarStream());
  return tarOutput(new TarWriter(new BatchSource(next)));
}

function tarOutput(writer: TarWriter): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const chunk = await writer.next();
      if (chunk === undefined) controller.close();
      else controller.enqueue(chunk);
    },
    cancel: (reason) => writer.cancel(reason),
  }, { highWaterMark: 0 });
}

/** Where the writer's entries come from: the next one (`undefined` at the end), maybe later. */
interface EntrySource {
  read(): TarEntry | undefined | Promise<TarEntry | undefined>;
  cancel(reason: unknown): Promise<void>;
}

/** Entries read one by one from a stream. */
class ReaderSource implements EntrySource {
  readonly #reader: ReadableStreamDefaultReader<TarEntry>;
  constructor(reader: ReadableStreamDefaultReader<TarEntry>) {
    this.#reader = reader;
  }
  read(): Promise<TarEntry | undefined> {
    return this.#reader.read().then((r) => r.done ? undefined : r.value);
  }
  cancel(reason: unknown): Promise<void> {
    return this.#reader.cancel(reason);
  }
}

/** Entries taken from batches: synchronous but once per batch. */
class BatchSource implements EntrySource {
  readonly #next: NextBatch;
  #batch: TarEntry[] = [];
  #at = 0;
  #done = false;
  constructor(next: NextBatch) {
    this.#next = next;
  }
  read(): TarEntry | undefined | Promise<TarEntry | undefined> {
    if (this.#at < this.#batch.length) return this.#batch[this.#at++];
    if (this.#done) return undefined;
    return this.#more();
  }
  async #more(): Promise<TarEntry | undefined> {
    for (;;) {
      const batch = await this.#next();
      if (batch === undefined) {
        this.#done = true;
        this.#batch = [];
        return undefined;
      }
      if (batch.length === 0) continue;
      this.#batch = batch;
      this.#at = 1;
      return batch[0];
    }
  }
  cancel(): Promise<void> {
    this.#done = true;
    this.#batch = [];
    return Promise.resolve();
  }
}

/** The writer's state: input entries, read-ahead queue, output packing. */
class TarWriter {
  readonly #entries: EntrySource;
  readonly #ahead: Pending[] = [];
  #aheadBytes = 0;
  #inputDone = false;
  #finished = false;
  /** The body being streamed chunk by chunk (large or not read-ahead-safe). */
  #body?: { reader: ReadableStreamDefaultReader<Uint8Array>; entry: TarEntry; written: number };
  /** Chunks ready to hand out, in order. */
  readonly #ready: Uint8Array[] = [];
  #out?: Uint8Array;
  #outLength = 0;

  constructor(entries: EntrySource) {
    this.#entries = entries;
  }

  /** The next output chunk, or `undefined` at the end. */
  async next(): Promise<Uint8Array | undefined> {
    try {
      while (this.#ready.length === 0) {
        if (this.#finished) return undefined;
        await this.#step();
      }
      return this.#ready.shift();
    } catch (e) {
      // Fail the writable side too, so whoever feeds entries learns about the error.
      await this.#entries.cancel(e).catch(() => {});
      throw e;
    }
  }

  async cancel(reason: unknown): Promise<void> {
    await this.#body?.reader.cancel(reason).catch(() => {});
    await this.#entries.cancel(reason);
  }

  /** Moves the archive forward by one body chunk or one entry. */
  async #step(): Promise<void> {
    const body = this.#body;
    if (body) {
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = await body.reader.read();
        if (!result.done && result.value.length > 0) {
          body.written += result.value.length;
          const size = body.entry.size ?? 0;
          if (body.written > size) throw sizeError(body.entry.path, size, body.written);
        }
      } catch (e) {
        this.#body = undefined;
        await body.reader.cancel(e).catch(() => {});
        throw e;
      }
      if (result.done) {
        // The reader is dropped, not released: the body has ended, and releaseLock() is
        // costly (it builds an error for the closed promise) once per file.
        this.#body = undefined;
        this.#endBody(body.entry, body.written);
      } else this.#putBody(result.value);
      return;
    }
    const pending = await this.#nextEntry();
    if (pending === undefined) {
      this.#put(TAR_END);
      this.#flush();
      this.#finished = true;
      return;
    }
    const { entry, size } = pending;
    this.#putHeader(entry);
    if (entry.type !== "file" || (size === 0 && !entry.open)) return;
    if (!entry.open) {
      throw new TypeError(
        `Cannot write file ${entry.path} to the tar: it has size ${size} but no open()`,
      );
    }
    // Bodies with a whole-body reader are never read ahead (see #nextEntry): read in place.
    const readInto = wholeBodyReader(entry);
    if (readInto && size <= SMALL_BODY) {
      const read = await readInto(this.#reserve(size));
      this.#endBody(entry, read);
      return;
    }
    if (pending.body) {
      const chunks = await pending.body;
      this.#aheadBytes -= size;
      for (const chunk of chunks) this.#putBody(chunk);
      this.#endBody(entry, size);
      return;
    }
    this.#body = { reader: (await entry.open()).getReader(), entry, written: 0 };
  }

  /** The next entry, topping up the read-ahead queue first. */
  async #nextEntry(): Promise<Pending | undefined> {
    while (
      !this.#inputDone && this.#ahead.length < READ_AHEAD_ENTRIES &&
      this.#aheadBytes < READ_AHEAD_BYTES
    ) {
      const read = this.#entries.read();
      const entry = read instanceof Promise ? await read : read;
      if (entry === undefined) {
        this.#inputDone = true;
        break;
      }
      const size = entry.type === "file" ? entry.size ?? 0 : 0;
      const pending: Pending = { entry, size };
      // Read ahead: marked bodies without a whole-body reader (one is a cheap call anyway).
      const marked = entry.open !== undefined && readAheadOpens.has(entry.open);
      if (
        marked && !wholeBodyReader(entry) && entry.type === "file" && size > 0 &&
        size <= SMALL_BODY && Number.isSafeInteger(size)
      ) {
        pending.body = readWhole(entry, size);
        // Handled here; the error is rethrown when the writer reaches the entry.
        pending.body.catch(() => {});
        this.#aheadBytes += size;
      }
      this.#ahead.push(pending);
      // Without a body in flight there is nothing to overlap: write this entry now.
      if (!pending.body) break;
    }
    return this.#ahead.shift();
  }

  #endBody(entry: TarEntry, written: number): void {
    const size = entry.size ?? 0;
    if (written !== size) throw sizeError(entry.path, size, written);
    const rest = size % TAR_BLOCK_SIZE;
    if (rest !== 0) this.#putZeros(TAR_BLOCK_SIZE - rest);
  }

  /** The entry's header, written in place into the packed output when it is one plain block. */
  #putHeader(entry: TarEntry): void {
    if (OUT_CHUNK - this.#outLength < TAR_BLOCK_SIZE) this.#flush();
    this.#out ??= new Uint8Array(OUT_CHUNK);
    if (writeTarHeader(entry, this.#out, this.#outLength) === 0) {
      this.#put(encodeTarHeader(entry));
      return;
    }
    this.#outLength += TAR_BLOCK_SIZE;
    if (this.#outLength === OUT_CHUNK) this.#flush();
  }

  #putBody(chunk: Uint8Array): void {
    if (chunk.length >= PASS_THROUGH) {
      this.#flush();
      this.#ready.push(chunk);
    } else if (chunk.length > 0) this.#put(chunk);
  }

  /** Copies bytes into the packed output. */
  #put(bytes: Uint8Array): void {
    let offset = 0;
    while (offset < bytes.length) {
      this.#out ??= new Uint8Array(OUT_CHUNK);
      const n = Math.min(bytes.length - offset, OUT_CHUNK - this.#outLength);
      this.#out.set(bytes.subarray(offset, offset + n), this.#outLength);
      this.#outLength += n;
      offset += n;
      if (this.#outLength === OUT_CHUNK) this.#flush();
    }
  }

  /** `size` bytes of the packed output to fill in place (a chunk of their own when large). */
  #reserve(size: number): Uint8Array {
    if (size >= PASS_THROUGH || size > OUT_CHUNK - this.#outLength) this.#flush();
    if (size >= PASS_THROUGH) {
      const own = new Uint8Array(size);
      this.#ready.push(own);
      return own;
    }
    this.#out ??= new Uint8Array(OUT_CHUNK);
    const target = this.#out.subarray(this.#outLength, this.#outLength + size);
    this.#outLength += size;
    if (this.#outLength === OUT_CHUNK) this.#flush();
    return target;
  }

  /** Zeros into the packed output (a fresh buffer is already zero). */
  #putZeros(count: number): void {
    let left = count;
    while (left > 0) {
      this.#out ??= new Uint8Array(OUT_CHUNK);
      const n = Math.min(left, OUT_CHUNK - this.#outLength);
      this.#outLength += n;
      left -= n;
      if (this.#outLength === OUT_CHUNK) this.#flush();
    }
  }

  #flush(): void {
    if (this.#out && this.#outLength > 0) {
      this.#ready.push(
        this.#outLength === OUT_CHUNK ? this.#out : this.#out.subarray(0, this.#outLength),
      );
    }
    this.#out = undefined;
    this.#outLength = 0;
  }
}

/** Reads a small body whole, checking its size as it comes. */
async function readWhole(entry: TarEntry, size: number): Promise<Uint8Array[]> {
  const reader = (await entry.open!()).getReader();
  const chunks: Uint8Array[] = [];
  let written = 0;
  try {
    for (;;) {
      const { value: chunk, done } = await reader.read();
      if (done) break;
      if (chunk.length === 0) continue;
      written += chunk.length;
      if (written > size) throw sizeError(entry.path, size, written);
      chunks.push(chunk);
    }
  } catch (e) {
    await reader.cancel(e).catch(() => {});
    throw e;
  }
  // Not released: the body has ended and releaseLock() costs an error object per file.
  if (written !== size) throw sizeError(entry.path, size, written);
  return chunks;
}

function sizeError(path: string, expected: number, got: number): Error {
  return new Error(
    `${path} changed size while being read: expected ${expected} bytes, got ${got}; ` +
      "keep files unchanged while the layer is written",
  );
}
