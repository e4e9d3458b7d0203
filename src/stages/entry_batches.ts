/**
 * Streams of {@link TarEntry} that can also be read a batch at a time. A read per entry (a
 * promise and a few microtasks through the streams machinery) costs more than the entry itself
 * on trees of small files, so a source that makes entries in batches (a folder walk) registers
 * its batch reader here, and consumers that know about it (the tar writer, the layer cache)
 * take the batches instead of reading the stream.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { batchedEntries, entryBatches } from "./entry_batches.ts";
 * const batches = [[{ path: "a", type: "directory" as const, mode: 0o755, uid: 0, gid: 0, mtime: 0 }]];
 * const stream = batchedEntries(() => Promise.resolve(batches.shift()));
 * const next = entryBatches(stream)!;
 * assertEquals([(await next())?.length, await next()], [1, undefined]);
 * ```
 * @module
 */
import type { TarEntry } from "../types/tar_entry.ts";

/** Gives the next batch of entries, or `undefined` at the end. */
export type NextBatch = () => Promise<TarEntry[] | undefined>;

// The batch reader behind each unread batched stream.
const batchReaders = new WeakMap<ReadableStream<TarEntry>, NextBatch>();

/**
 * A stream of the entries `next` makes. Nothing is read before the first read of the stream
 * (high-water mark 0), so {@link entryBatches} can take it over; a read of the stream then makes
 * a whole batch.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { batchedEntries } from "./entry_batches.ts";
 * const stream = batchedEntries(() => Promise.resolve(undefined));
 * assertEquals((await Array.fromAsync(stream)).length, 0);
 * ```
 */
export function batchedEntries(next: NextBatch): ReadableStream<TarEntry> {
  const stream = new ReadableStream<TarEntry>({
    async pull(controller) {
      batchReaders.delete(stream);
      const batch = await next();
      if (batch === undefined) return controller.close();
      for (const entry of batch) controller.enqueue(entry);
    },
  }, { highWaterMark: 0 });
  batchReaders.set(stream, next);
  return stream;
}

/**
 * Takes over an unread {@link batchedEntries} stream to read it a batch at a time. Returns a
 * function giving the next batch (`undefined` at the end), or `undefined` for any other stream,
 * or one already read from. The stream stays locked: read the entries through the function only.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { entryBatches } from "./entry_batches.ts";
 * assertEquals(entryBatches(new ReadableStream()), undefined);
 * ```
 */
export function entryBatches(entries: ReadableStream<TarEntry>): NextBatch | undefined {
  const next = batchReaders.get(entries);
  if (next === undefined || entries.locked) return undefined;
  batchReaders.delete(entries);
  entries.getReader(); // nobody else reads these entries
  return next;
}

/**
 * The entries of `entries`, with `observe` called on each batch before it is passed on, and once
 * with `undefined` at the end: a stage that only looks (a layer cache key) costs a call per
 * batch. For a stream {@link entryBatches} cannot take over, `undefined`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { batchedEntries, observeBatches } from "./entry_batches.ts";
 * const batches = [[{ path: "a", type: "directory" as const, mode: 0o755, uid: 0, gid: 0, mtime: 0 }]];
 * let seen = 0;
 * const observed = observeBatches(batchedEntries(() => Promise.resolve(batches.shift())), (b) => {
 *   seen += b?.length ?? 0;
 * })!;
 * await Array.fromAsync(observed);
 * assertEquals(seen, 1);
 * ```
 */
export function observeBatches(
  entries: ReadableStream<TarEntry>,
  observe: (batch: TarEntry[] | undefined) => void,
): ReadableStream<TarEntry> | undefined {
  const next = entryBatches(entries);
  if (next === undefined) return undefined;
  let ended = false;
  return batchedEntries(async () => {
    if (ended) return undefined;
    const batch = await next();
    if (batch === undefined) ended = true;
    observe(batch);
    return batch;
  });
}
