/**
 * `rewrite-timestamp`: clamps every time of every entry to an epoch (SPEC §5).
 * Times later than the epoch become the epoch; earlier ones are kept as they
 * are (clamped, not set), so unchanged files keep their history.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { ClampTimestampsStream } from "@ocistream/ocistream/tar";
 * const out = ReadableStream.from([
 *   { path: "a", type: "file" as const, mode: 0o644, uid: 0, gid: 0, mtime: 2_000_000_000.5, size: 0 },
 * ]).pipeThrough(new ClampTimestampsStream(1_700_000_000));
 * for await (const e of out) assertEquals(e.mtime, 1700000000);
 * ```
 * @module
 */
import type { TarEntry } from "../types/tar_entry.ts";

/** Clamps `mtime`, `atime` and `ctime` of each entry to `epoch` seconds. */
export class ClampTimestampsStream extends TransformStream<TarEntry, TarEntry> {
  /** Clamps to `epoch` (whole seconds since 1970). */
  constructor(epoch: number) {
    if (!Number.isSafeInteger(epoch) || epoch < 0) {
      throw new RangeError(`Invalid epoch ${epoch}: expected whole seconds since 1970`);
    }
    super({
      transform(entry, controller) {
        const clamped: TarEntry = { ...entry, mtime: Math.min(entry.mtime, epoch) };
        if (entry.atime !== undefined) clamped.atime = Math.min(entry.atime, epoch);
        if (entry.ctime !== undefined) clamped.ctime = Math.min(entry.ctime, epoch);
        controller.enqueue(clamped);
      },
    });
  }
}
