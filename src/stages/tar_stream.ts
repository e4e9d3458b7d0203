/**
 * Turns a stream of {@link TarEntry} into tar bytes, streaming each file body chunk by chunk.
 *
 * @example
 * ```ts
 * import { TarStream } from "./tar_stream.ts";
 * const body = new TextEncoder().encode("hi\n");
 * const tar = ReadableStream.from([
 *   { path: "hi.txt", type: "file" as const, mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 3,
 *     open: () => ReadableStream.from([body]) },
 * ]).pipeThrough(new TarStream());
 * const bytes = new Uint8Array(await new Response(tar).arrayBuffer());
 * console.log(bytes.length); // 2048: header, body block, two end blocks
 * ```
 * @module
 */

import type { TarEntry } from "../types/tar_entry.ts";
import { encodeTarHeader, TAR_END, tarPadding } from "./tar_header.ts";

/**
 * A tar writer stage: `TarEntry` in, tar bytes out (ustar + PAX as Go's `archive/tar`
 * writes them), ending with the two zero end-of-archive blocks.
 *
 * Output is pull-driven: a body chunk is read from `entry.open()` only when the consumer
 * asks for more bytes, so a large file streams with flat memory. A body that yields more or
 * fewer bytes than `entry.size` is an error naming the path.
 *
 * It implements `TransformStream` (rather than extending it) because the output must be
 * pulled: a transformer cannot wait for the readable side's demand.
 *
 * @example
 * ```ts
 * import { TarStream } from "./tar_stream.ts";
 * const tar = ReadableStream.from([
 *   { path: "etc", type: "directory" as const, mode: 0o755, uid: 0, gid: 0, mtime: 0 },
 * ]).pipeThrough(new TarStream());
 * console.log((await new Response(tar).arrayBuffer()).byteLength); // 1536
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
    const entries = readable.getReader();
    let body: ReadableStreamDefaultReader<Uint8Array> | undefined;
    const chunks = generate(entries, (reader) => (body = reader));
    this.#readable = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { value, done } = await chunks.next();
        if (done) controller.close();
        else controller.enqueue(value);
      },
      async cancel(reason) {
        await body?.cancel(reason).catch(() => {});
        await entries.cancel(reason);
      },
    }, { highWaterMark: 0 });
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

async function* generate(
  entries: ReadableStreamDefaultReader<TarEntry>,
  setBody: (reader: ReadableStreamDefaultReader<Uint8Array> | undefined) => void,
): AsyncGenerator<Uint8Array> {
  try {
    for (;;) {
      const { value: entry, done } = await entries.read();
      if (done) break;
      yield encodeTarHeader(entry);
      if (entry.type !== "file") continue;
      const size = entry.size ?? 0;
      if (size === 0 && !entry.open) continue;
      if (!entry.open) {
        throw new TypeError(
          `Cannot write file ${entry.path} to the tar: it has size ${size} but no open()`,
        );
      }
      const reader = (await entry.open()).getReader();
      setBody(reader);
      let written = 0;
      try {
        for (;;) {
          const { value: chunk, done: end } = await reader.read();
          if (end) break;
          if (chunk.length === 0) continue;
          written += chunk.length;
          if (written > size) throw sizeError(entry.path, size, written);
          yield chunk;
        }
      } catch (e) {
        await reader.cancel(e).catch(() => {});
        throw e;
      } finally {
        reader.releaseLock();
        setBody(undefined);
      }
      if (written !== size) throw sizeError(entry.path, size, written);
      const pad = tarPadding(size);
      if (pad.length > 0) yield pad;
    }
    yield TAR_END;
  } catch (e) {
    // Fail the writable side too, so whoever feeds entries learns about the error.
    await entries.cancel(e).catch(() => {});
    throw e;
  }
}

function sizeError(path: string, expected: number, got: number): Error {
  return new Error(
    `${path} changed size while being read: expected ${expected} bytes, got ${got}; ` +
      "keep files unchanged while the layer is written",
  );
}
