/**
 * Files held in memory (a static site posted to a worker, generated config)
 * as a deterministic stream of {@link TarEntry}, ready for `TarStream`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { memoryEntries } from "@ocistream/ocistream";
 * const entries = memoryEntries({ "index.html": "<h1>hi</h1>", "css/site.css": "h1{}" });
 * assertEquals(await Array.fromAsync(entries, (e) => `${e.type} ${e.path}`), [
 *   "directory css",
 *   "file css/site.css",
 *   "file index.html",
 * ]);
 * ```
 * @module
 */
import type { TarEntry } from "../types/tar_entry.ts";

/** One file, folder or symlink held in memory. */
export interface MemoryFile {
  /** Path inside the layer, `/`-separated; a leading `/` or `./` is ignored. */
  path: string;
  /** `file` (default), `directory` or `symlink`. */
  type?: "file" | "directory" | "symlink";
  /** A file's bytes: text (written as UTF-8), bytes, or a `Blob`/`File` (streamed, not copied). */
  content?: string | Uint8Array | Blob;
  /** A symlink's target. */
  linkName?: string;
  /** Permission bits (`0o7777` mask); default from the options. */
  mode?: number;
  /** Modification time in seconds since the epoch; default from the options. */
  mtime?: number;
  /** Owner id; default from the options. */
  uid?: number;
  /** Group id; default from the options. */
  gid?: number;
}

/** Files as a list, or as a map from path to content (a path ending in `/` is a folder). */
export type MemoryFiles = MemoryFile[] | Record<string, string | Uint8Array | Blob>;

/** Options of {@linkcode memoryEntries}. */
export interface MemorySourceOptions {
  /** Path inside the layer under which the files go, e.g. `"usr/share/nginx/html"`. Default `""`. */
  prefix?: string;
  /** mtime of entries that do not give one, and of implied folders. Default `0`, so output is reproducible. */
  mtime?: number;
  /** Mode of files that do not give one. Default `0o644`. */
  fileMode?: number;
  /** Mode of folders (implied or without a mode). Default `0o755`. */
  directoryMode?: number;
  /** Owner id of entries that do not give one. Default `0`. */
  uid?: number;
  /** Group id of entries that do not give one. Default `0`. */
  gid?: number;
  /** Owner name of every entry. Default `""`. */
  uname?: string;
  /** Group name of every entry. Default `""`. */
  gname?: string;
}

/** Bytes per chunk when streaming an in-memory file body. */
const CHUNK = 64 * 1024;

const utf8 = new TextEncoder();

/** Orders paths as a depth-first walk with names sorted by UTF-8 bytes (as `directoryEntries`). */
function comparePaths(a: string[], b: string[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] === b[i]) continue;
    const x = utf8.encode(a[i]);
    const y = utf8.encode(b[i]);
    const m = Math.min(x.length, y.length);
    for (let j = 0; j < m; j++) if (x[j] !== y[j]) return x[j]! - y[j]!;
    return x.length - y.length;
  }
  return a.length - b.length;
}

/** Splits and checks a path; throws a TypeError naming it. */
function splitPath(path: string, what: string): string[] {
  if (typeof path !== "string") throw new TypeError(`Invalid ${what}: the path must be a string`);
  if (path.includes("\0")) throw new TypeError(`Invalid ${what} "${path}": it contains a NUL byte`);
  const parts = path.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) {
    throw new TypeError(`Invalid ${what} "${path}": it must not contain ".."`);
  }
  return parts;
}

function checkMode(mode: number, path: string): number {
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
    throw new RangeError(
      `Invalid mode ${mode} for "${path}": use permission bits 0o0000–0o7777, e.g. 0o644`,
    );
  }
  return mode;
}

function checkTime(mtime: number, path: string): number {
  if (!Number.isFinite(mtime) || mtime < 0) {
    throw new RangeError(`Invalid mtime ${mtime} for "${path}": use seconds since 1970, 0 or more`);
  }
  return mtime;
}

function checkId(id: number, what: string, path: string): number {
  if (!Number.isInteger(id) || id < 0 || id > 0xffff_ffff) {
    throw new RangeError(`Invalid ${what} ${id} for "${path}": use a non-negative integer`);
  }
  return id;
}

/** Streams `bytes` in {@linkcode CHUNK}-sized views. */
function bytesStream(bytes: Uint8Array): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= bytes.byteLength) {
        controller.close();
        return;
      }
      const end = Math.min(offset + CHUNK, bytes.byteLength);
      controller.enqueue(bytes.slice(offset, end));
      offset = end;
    },
  });
}

function toList(files: MemoryFiles): MemoryFile[] {
  if (Array.isArray(files)) return files;
  if (files === null || typeof files !== "object") {
    throw new TypeError("memoryEntries() takes an array of files or an object { path: content }");
  }
  return Object.entries(files).map(([path, content]) =>
    path.endsWith("/") ? { path, type: "directory" } : { path, content }
  );
}

/**
 * Streams in-memory files as tar entries, sorted as a depth-first walk with
 * names ordered by UTF-8 bytes (the order `directoryEntries` uses, so the same
 * tree gives the same layer from disk or memory). Parent folders that are not
 * listed are created with `directoryMode` and `mtime`. Everything is checked
 * before the stream is returned: a bad path (`..`, NUL), a duplicate, a file
 * used as a folder, a symlink without target or a bad mode throws a
 * TypeError/RangeError naming the path. Bodies are streamed from the given
 * bytes or `Blob` when the tar writer reaches them; each call returns a fresh,
 * identical stream.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { memoryEntries } from "@ocistream/ocistream";
 * import { TarStream } from "@ocistream/ocistream/tar";
 * const tar = memoryEntries([
 *   { path: "index.html", content: "<h1>hello</h1>" },
 *   { path: "run.sh", content: "#!/bin/sh\necho hi\n", mode: 0o755 },
 *   { path: "latest", type: "symlink", linkName: "index.html" },
 * ], { prefix: "srv/www", mtime: 1700000000 }).pipeThrough(new TarStream());
 * // Two folders, then three entries in byte order: five headers, two bodies, the end.
 * assertEquals((await new Response(tar).arrayBuffer()).byteLength, 5 * 512 + 2 * 512 + 1024);
 * ```
 */
export function memoryEntries(
  files: MemoryFiles,
  options: MemorySourceOptions = {},
): ReadableStream<TarEntry> {
  const prefix = splitPath(options.prefix ?? "", "prefix");
  const defaultMtime = checkTime(options.mtime ?? 0, "options.mtime");
  const fileMode = checkMode(options.fileMode ?? 0o644, "options.fileMode");
  const dirMode = checkMode(options.directoryMode ?? 0o755, "options.directoryMode");
  const uid = checkId(options.uid ?? 0, "uid", "options.uid");
  const gid = checkId(options.gid ?? 0, "gid", "options.gid");
  const owner = { uname: options.uname ?? "", gname: options.gname ?? "" };

  const entries = new Map<string, { parts: string[]; entry: TarEntry; implied: boolean }>();
  const implyFolders = (parts: string[], path: string) => {
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join("/");
      const existing = entries.get(dir);
      if (existing && existing.entry.type !== "directory") {
        throw new TypeError(
          `Cannot add "${path}": "${dir}" is a ${existing.entry.type}, not a folder`,
        );
      }
      if (!existing) {
        entries.set(dir, {
          parts: parts.slice(0, i),
          implied: true,
          entry: {
            path: dir,
            type: "directory",
            mode: dirMode,
            uid,
            gid,
            ...owner,
            mtime: defaultMtime,
          },
        });
      }
    }
  };

  for (const file of toList(files)) {
    const parts = [...prefix, ...splitPath(file.path, "file path")];
    if (parts.length === prefix.length) {
      throw new TypeError(`Invalid file path "${file.path}": it names the layer root`);
    }
    const path = parts.join("/");
    const type = file.type ?? "file";
    const base = {
      path,
      uid: file.uid === undefined ? uid : checkId(file.uid, "uid", path),
      gid: file.gid === undefined ? gid : checkId(file.gid, "gid", path),
      ...owner,
      mtime: file.mtime === undefined ? defaultMtime : checkTime(file.mtime, path),
    };
    let entry: TarEntry;
    if (type === "file") {
      if (file.linkName !== undefined) {
        throw new TypeError(`Invalid file "${file.path}": linkName needs type "symlink"`);
      }
      const content = file.content ?? "";
      const mode = checkMode(file.mode ?? fileMode, path);
      if (content instanceof Blob) {
        entry = { ...base, type, mode, size: content.size, open: () => content.stream() };
      } else if (typeof content === "string" || content instanceof Uint8Array) {
        const bytes = typeof content === "string" ? utf8.encode(content) : content;
        entry = { ...base, type, mode, size: bytes.byteLength, open: () => bytesStream(bytes) };
      } else {
        throw new TypeError(
          `Invalid content for "${file.path}": use a string, a Uint8Array or a Blob`,
        );
      }
    } else if (type === "directory") {
      if (file.content !== undefined && file.content !== "") {
        throw new TypeError(`Invalid folder "${file.path}": a folder has no content`);
      }
      entry = { ...base, type, mode: checkMode(file.mode ?? dirMode, path) };
    } else if (type === "symlink") {
      if (
        typeof file.linkName !== "string" || file.linkName === "" || file.linkName.includes("\0")
      ) {
        throw new TypeError(
          `Invalid symlink "${file.path}": give its target as linkName, e.g. "../index.html"`,
        );
      }
      entry = { ...base, type, mode: checkMode(file.mode ?? 0o777, path), linkName: file.linkName };
    } else {
      throw new TypeError(
        `Invalid type "${type}" for "${file.path}": use "file", "directory" or "symlink"`,
      );
    }
    const existing = entries.get(path);
    if (existing && !(existing.implied && type === "directory")) {
      throw new TypeError(
        existing.implied
          ? `Cannot add ${type} "${file.path}": other files are inside "${path}"`
          : `Duplicate path "${path}" in the files`,
      );
    }
    entries.set(path, { parts, entry, implied: false });
    implyFolders(parts, file.path);
  }

  const sorted = [...entries.values()].sort((a, b) => comparePaths(a.parts, b.parts));
  let index = 0;
  return new ReadableStream<TarEntry>({
    pull(controller) {
      if (index >= sorted.length) {
        controller.close();
        return;
      }
      // A fresh object each time so consumers may not change our copy.
      controller.enqueue({ ...sorted[index++]!.entry });
    },
  }, { highWaterMark: 0 });
}
