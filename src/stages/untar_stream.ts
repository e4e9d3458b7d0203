/**
 * Parses tar bytes (ustar, GNU and PAX) into entries, each with a streamed body.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { TarStream, UntarStream } from "@ocistream/ocistream/tar";
 * const data = new TextEncoder().encode("hi\n");
 * const entries = ReadableStream.from([
 *   { path: "hi.txt", type: "file" as const, mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 3,
 *     open: () => ReadableStream.from([data]) },
 * ]).pipeThrough(new TarStream()).pipeThrough(new UntarStream());
 * for await (const entry of entries) {
 *   assertEquals([entry.path, await new Response(entry.body).text()], ["hi.txt", "hi\n"]);
 * }
 * ```
 * @module
 */

import type { TarEntry, TarEntryType } from "../types/tar_entry.ts";
import { ByteReader } from "./_tar_byte_reader.ts";
import { decodeHeaderBlock, parsePaxRecords, type RawHeader } from "./_tar_decode.ts";
import { trimTarPath } from "./tar_header.ts";
import { printable, quote } from "../types/quote.ts";

/** A parsed entry with its body. Read the body to its end, or cancel it, to get the next entry. */
export type TarEntryWithBody = TarEntry & {
  /** The entry's data (empty for everything but files). */
  body: ReadableStream<Uint8Array>;
};

const TYPES: Record<string, TarEntryType> = {
  "0": "file",
  "\0": "file",
  "7": "file",
  "1": "hardlink",
  "2": "symlink",
  "3": "char",
  "4": "block",
  "5": "directory",
  "6": "fifo",
};

// Metadata blocks (PAX, GNU long names) are read whole; cap them so bad input cannot eat memory
// (Go's archive/tar allows 1 MiB too).
const MAX_META_SIZE = 1024 * 1024;

/** The longest path or link target accepted, in characters (Linux's PATH_MAX is 4096 bytes). */
export const MAX_TAR_PATH = 64 * 1024;

/** The largest uid or gid accepted (32-bit, as Linux's uid_t). */
const MAX_ID = 2 ** 32 - 1;

/** The largest time accepted in seconds either side of 1970 (what a JavaScript Date holds). */
const MAX_TIME = 8.64e12;

/** Options of {@link UntarStream}. */
export interface UntarStreamOptions {
  /**
   * Remember each entry's header bytes as read (extended headers included), for
   * {@link rawTarHeader}: a lossless re-write (eStargz conversion) writes them unchanged.
   */
  keepRawHeaders?: boolean;
}

// The header bytes of entries read with `keepRawHeaders` (see rawTarHeader).
const rawHeaders = new WeakMap<object, Uint8Array>();

/**
 * The header bytes an entry had in the tar it was read from (every extended header and the
 * ustar block, as read), when it was read with `keepRawHeaders`; else `undefined`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { rawTarHeader } from "@ocistream/ocistream/tar";
 * assertEquals(rawTarHeader({}), undefined);
 * ```
 */
export function rawTarHeader(entry: object): Uint8Array | undefined {
  return rawHeaders.get(entry);
}

/**
 * Gives `to` the raw header of `from` (for stages that copy an entry into a new object).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { keepRawTarHeader, rawTarHeader } from "@ocistream/ocistream/tar";
 * const from = {}, to = { ...from };
 * keepRawTarHeader(from, to);
 * assertEquals(rawTarHeader(to), rawTarHeader(from)); // none here: `from` was not read from a tar
 * ```
 */
export function keepRawTarHeader(from: object, to: object): void {
  const raw = rawHeaders.get(from);
  if (raw !== undefined) rawHeaders.set(to, raw);
}

/**
 * A tar reader stage: tar bytes in, {@link TarEntryWithBody} out. Understands ustar, GNU
 * (`L`/`K` long names, base-256 numbers) and PAX (local `x` and global `g` headers; `path`,
 * `linkpath`, `size`, `uid`, `gid`, `uname`, `gname`, `mtime`, `atime`, `ctime`,
 * `SCHILY.xattr.*`). Type `7` (contiguous) reads as a file.
 *
 * Bodies stream straight from the input: each entry's `body` must be read to its end or
 * cancelled before the next entry is produced. Input that ends inside an entry is an error
 * naming the entry. A clean end without the zero blocks is accepted (as Go's reader does).
 * Paths lose a leading `/` or `./` and a trailing `/`; the root folder entry is `"."`.
 *
 * It implements `TransformStream` (rather than extending it) because entries are pulled one
 * at a time, each only after the previous body is done.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { TAR_END, UntarStream } from "@ocistream/ocistream/tar";
 * const entries = ReadableStream.from([TAR_END]).pipeThrough(new UntarStream());
 * assertEquals((await Array.fromAsync(entries)).length, 0);
 * ```
 */
export class UntarStream implements TransformStream<Uint8Array, TarEntryWithBody> {
  #readable: ReadableStream<TarEntryWithBody>;
  #writable: WritableStream<Uint8Array>;
  #reader: ByteReader;
  #offset = 0;
  #previous: Promise<void> = Promise.resolve();
  #global = new Map<string, string>();
  // Global xattr records whose values are bytes, not UTF-8 text.
  #globalBytes = new Map<string, Uint8Array>();
  #lastPath = "";
  #ended = false;
  // With keepRawHeaders: the blocks read for the entry being parsed.
  #captured: Uint8Array[] | undefined;
  #keepRaw: boolean;

  /** Creates the stage. */
  constructor(options: UntarStreamOptions = {}) {
    this.#keepRaw = options.keepRawHeaders === true;
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>(
      undefined,
      { highWaterMark: 1 },
      { highWaterMark: 0 },
    );
    this.#writable = writable;
    this.#reader = new ByteReader(readable);
    this.#readable = new ReadableStream<TarEntryWithBody>({
      pull: async (controller) => {
        try {
          await this.#previous;
          const entry = this.#ended ? null : await this.#next();
          if (entry === null) {
            this.#ended = true;
            // Drain what follows the end blocks (record padding) so the writer can finish.
            await this.#reader.skip(Number.MAX_SAFE_INTEGER);
            controller.close();
          } else {
            controller.enqueue(entry);
          }
        } catch (e) {
          await this.#reader.cancel(e).catch(() => {});
          throw e;
        }
      },
      cancel: (reason) => this.#reader.cancel(reason),
    }, { highWaterMark: 0 });
  }

  /** Entries out. */
  get readable(): ReadableStream<TarEntryWithBody> {
    return this.#readable;
  }

  /** Tar bytes in. */
  get writable(): WritableStream<Uint8Array> {
    return this.#writable;
  }

  async #block(size: number, what: string): Promise<Uint8Array | null> {
    const block = await this.#reader.readExact(size);
    if (block === null) return null;
    if (block.length < size) {
      throw new SyntaxError(
        `Tar archive is truncated: ${what} ends after ${block.length} of ${size} bytes ` +
          `at byte ${this.#offset}`,
      );
    }
    this.#offset += size;
    this.#captured?.push(block.slice());
    return block;
  }

  async #meta(header: RawHeader): Promise<Uint8Array> {
    if (!(header.size >= 0 && header.size <= MAX_META_SIZE)) {
      throw new RangeError(
        `Tar metadata block ${printable(header.name)} (type ${header.flag}) is ${header.size} ` +
          `bytes, over the ${MAX_META_SIZE} byte limit; the layer is corrupt or hostile`,
      );
    }
    const padded = Math.ceil(header.size / 512) * 512;
    const what = `the metadata (type ${header.flag}) after entry ${this.#lastPath || "(start)"}`;
    const data = await this.#block(padded, what);
    if (data === null && padded > 0) {
      throw new SyntaxError(`Tar archive is truncated: ${what} is missing`);
    }
    return (data ?? new Uint8Array(0)).slice(0, header.size);
  }

  async #next(): Promise<TarEntryWithBody | null> {
    let local = new Map<string, string>();
    const localBytes = new Map<string, Uint8Array>();
    this.#captured = this.#keepRaw ? [] : undefined;
    let longName: string | undefined;
    let longLink: string | undefined;
    for (;;) {
      const where = this.#lastPath === "" ? "at the start" : `after entry ${this.#lastPath}`;
      const block = await this.#block(512, `the header ${where}`);
      if (block === null) {
        if (local.size > 0 || longName !== undefined || longLink !== undefined) {
          throw new SyntaxError(`Tar archive is truncated: an entry header is missing ${where}`);
        }
        return null;
      }
      const header = decodeHeaderBlock(block, this.#offset - 512);
      if (header === null) {
        // End of archive (a second zero block normally follows; it is drained later).
        return null;
      }
      switch (header.flag) {
        case "x":
          local = new Map([
            ...local,
            ...parsePaxRecords(await this.#meta(header), header.name, localBytes),
          ]);
          continue;
        case "g":
          for (
            const [k, v] of parsePaxRecords(
              await this.#meta(header),
              header.name,
              this.#globalBytes,
            )
          ) {
            this.#global.set(k, v);
          }
          continue;
        case "L":
          longName = nulTerminated(await this.#meta(header));
          continue;
        case "K":
          longLink = nulTerminated(await this.#meta(header));
          continue;
      }
      const pax = new Map([...this.#global, ...local]);
      const paxBytes = new Map([...this.#globalBytes, ...localBytes]);
      // A local text value overrides a global byte value of the same key.
      for (const k of local.keys()) if (!localBytes.has(k)) paxBytes.delete(k);
      const entry = this.#entry(header, pax, longName, longLink, paxBytes);
      if (this.#captured) {
        const blocks = this.#captured;
        this.#captured = undefined;
        const raw = new Uint8Array(blocks.reduce((n, b) => n + b.length, 0));
        let at = 0;
        for (const b of blocks) {
          raw.set(b, at);
          at += b.length;
        }
        rawHeaders.set(entry, raw);
      }
      return entry;
    }
  }

  #entry(
    header: RawHeader,
    pax: Map<string, string>,
    longName: string | undefined,
    longLink: string | undefined,
    paxBytes: Map<string, Uint8Array> = new Map(),
  ): TarEntryWithBody {
    let rawPath = pax.get("path") ?? longName ?? header.name;
    const linkName = pax.get("linkpath") ?? longLink ?? header.linkName;
    for (const [what, value] of [["path", rawPath], ["link target", linkName]]) {
      if (value!.length > MAX_TAR_PATH) {
        throw new RangeError(
          `Cannot read tar entry ${printable(rawPath)}: its ${what} is ${value!.length} ` +
            `characters long, over the ${MAX_TAR_PATH} limit; the layer is corrupt or hostile`,
        );
      }
    }
    let type = TYPES[header.flag];
    if (type === undefined) {
      throw new TypeError(
        `Cannot read tar entry ${printable(rawPath)}: unsupported type flag ${
          printable(header.flag)
        }`,
      );
    }
    // Old (V7) archives mark folders with a trailing slash on a file entry.
    if (type === "file" && header.flag !== "7" && rawPath.endsWith("/")) type = "directory";
    rawPath = normalizePath(rawPath);
    this.#lastPath = printable(rawPath);
    const bad = (key: string, v: string | number, want: string) =>
      new SyntaxError(
        `Invalid ${
          typeof v === "string" ? `PAX ${key} ${quote(v.slice(0, 40))}` : `tar header ${key} ${v}`
        } for tar entry ${printable(rawPath)}: ${want}; the layer is corrupt or hostile`,
      );
    // Sizes and ids are whole numbers in range; times may have a fraction and a sign.
    const count = (key: string, fallback: number, max: number): number => {
      const v = pax.get(key);
      const n = v === undefined || v === "" ? fallback : /^[0-9]+$/.test(v) ? Number(v) : NaN;
      if (!(Number.isSafeInteger(n) && n >= 0 && n <= max)) {
        throw bad(key, v ?? fallback, `use a whole number from 0 to ${max}`);
      }
      return n;
    };
    const time = (key: string, fallback: number): number => {
      const v = pax.get(key);
      const n = v === undefined || v === ""
        ? fallback
        : /^-?[0-9]+(\.[0-9]+)?$/.test(v)
        ? Number(v)
        : NaN;
      if (!(Number.isFinite(n) && Math.abs(n) <= MAX_TIME)) {
        throw bad(key, v ?? fallback, "use seconds since 1970, within what a date can hold");
      }
      return n;
    };
    const size = type === "file"
      ? count("size", header.size, Number.MAX_SAFE_INTEGER)
      : (count("size", 0, Number.MAX_SAFE_INTEGER), 0);
    const entry: TarEntry = {
      path: rawPath,
      type,
      mode: header.mode & 0o7777,
      uid: count("uid", header.uid, MAX_ID),
      gid: count("gid", header.gid, MAX_ID),
      uname: pax.get("uname") ?? header.uname,
      gname: pax.get("gname") ?? header.gname,
      mtime: time("mtime", header.mtime),
    };
    if (type === "file") entry.size = size;
    if (pax.has("atime")) entry.atime = time("atime", 0);
    if (pax.has("ctime")) entry.ctime = time("ctime", 0);
    if (type === "symlink") entry.linkName = linkName;
    if (type === "hardlink") entry.linkName = normalizePath(linkName);
    if (type === "char" || type === "block") {
      entry.devMajor = header.devMajor;
      entry.devMinor = header.devMinor;
    }
    const xattrs: Record<string, string | Uint8Array> = {};
    let hasXattrs = false;
    for (const [k, v] of pax) {
      if (k.startsWith("SCHILY.xattr.")) {
        xattrs[k.slice("SCHILY.xattr.".length)] = paxBytes.get(k) ?? v;
        hasXattrs = true;
      }
    }
    if (hasXattrs) entry.xattrs = xattrs;
    return { ...entry, body: this.#body(printable(rawPath), size) };
  }

  #body(path: string, size: number): ReadableStream<Uint8Array> {
    const padding = (512 - (size % 512)) % 512;
    let remaining = size;
    let settle!: (error?: unknown) => void;
    this.#previous = new Promise<void>((resolve, reject) => {
      settle = (error) => (error === undefined ? resolve() : reject(error));
    });
    this.#previous.catch(() => {}); // reported through the body; avoid unhandled rejections
    const truncated = (): Error =>
      new SyntaxError(
        `Tar archive is truncated: entry ${path} ends ${remaining} bytes short of its size ${size}`,
      );
    const finish = async (): Promise<void> => {
      const skipped = await this.#reader.skip(padding);
      this.#offset += skipped;
      if (skipped < padding) throw truncated();
    };
    if (size === 0) {
      settle();
      return new ReadableStream({ start: (c) => c.close() });
    }
    // cancel() may run while a pull is in flight: it waits for it, and a pull that finds
    // the body cancelled enqueues nothing.
    let busy: Promise<void> = Promise.resolve();
    let cancelled = false;
    let finished = false;
    return new ReadableStream<Uint8Array>({
      pull: (controller) =>
        busy = (async () => {
          try {
            const part = await this.#reader.readUpTo(Math.min(remaining, 1 << 20));
            if (part === null) throw truncated();
            remaining -= part.length;
            this.#offset += part.length;
            if (remaining === 0) {
              await finish();
              finished = true;
            }
            if (!cancelled) {
              controller.enqueue(part);
              if (finished) controller.close();
            }
            if (finished) settle();
          } catch (e) {
            finished = true;
            settle(e);
            throw e;
          }
        })(),
      cancel: async () => {
        cancelled = true;
        await busy.catch(() => {});
        if (finished) return;
        finished = true;
        try {
          const skipped = await this.#reader.skip(remaining);
          this.#offset += skipped;
          remaining -= skipped;
          if (remaining > 0) throw truncated();
          await finish();
          settle();
        } catch (e) {
          settle(e);
        }
      },
    }, { highWaterMark: 0 });
  }
}

function nulTerminated(data: Uint8Array): string {
  const end = data.indexOf(0);
  return new TextDecoder().decode(end < 0 ? data : data.subarray(0, end));
}

function normalizePath(path: string): string {
  return trimTarPath(path) || ".";
}
