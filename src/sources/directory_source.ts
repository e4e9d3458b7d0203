/**
 * Walks a folder into a deterministic stream of {@link TarEntry}, ready for `TarStream`.
 *
 * @example
 * ```ts
 * import { directoryEntries } from "./directory_source.ts";
 * import { denoFileSystem } from "../runtime/deno_file_system.ts";
 * const dir = `/tmp/ocistream-example-${crypto.randomUUID()}`;
 * await denoFileSystem.mkdir(`${dir}/a`, { recursive: true });
 * await denoFileSystem.writeFile(`${dir}/b.txt`, new TextEncoder().encode("b"));
 * for await (const e of directoryEntries(denoFileSystem, dir)) console.log(e.path); // a, b.txt
 * await denoFileSystem.remove(dir, { recursive: true });
 * ```
 * @module
 */

import { type FileInfo, type FileSystem, NotFoundError } from "../types/file_system.ts";
import type { TarEntry } from "../types/tar_entry.ts";
import { splitDevice } from "../stages/_tar_device.ts";
import { readAheadSafe } from "../stages/tar_stream.ts";

/** Options of {@link directoryEntries}. */
export interface DirectorySourceOptions {
  /**
   * Keep each file's uid/gid (names stay empty). Default `false`: everything is owned by
   * 0:0, as BuildKit's `COPY` does for context files.
   */
  preserveOwnership?: boolean;
  /** Owner id for every entry (wins over `preserveOwnership`). */
  uid?: number;
  /** Group id for every entry (wins over `preserveOwnership`). */
  gid?: number;
  /** Owner name for every entry; default `""`. */
  uname?: string;
  /** Group name for every entry; default `""`. */
  gname?: string;
  /**
   * Path inside the layer under which the tree goes, e.g. `"app"` or `"usr/src/app"`.
   * Its folders are emitted first, with the root folder's mode and mtime. Default `""`.
   */
  prefix?: string;
  /** Read extended attributes with `fs.getXattrs` (when the file system has it). */
  xattrs?: boolean;
  /**
   * Skips a path (relative to the root, `/`-separated) when it returns `false`; a skipped
   * folder is not entered.
   */
  filter?: (path: string, info: FileInfo) => boolean;
}

const utf8 = new TextEncoder();

// What `lstat` said about each entry this module produced. A side table rather than a field
// on the shared TarEntry: the layer cache uses it to prove an entry's body is the file's
// current content (inode, size, mtime); entries made or rewritten elsewhere are not in it.
const statOfEntry = new WeakMap<TarEntry, FileInfo>();

/**
 * The `lstat` result behind an entry that {@link directoryEntries} produced (the very object,
 * not a copy); `undefined` for any other entry. The layer cache keys on it.
 *
 * @example
 * ```ts
 * import { directoryEntries, entryFileInfo } from "./directory_source.ts";
 * import { denoFileSystem } from "../runtime/deno_file_system.ts";
 * const dir = `/tmp/ocistream-example-${crypto.randomUUID()}`;
 * await denoFileSystem.mkdir(dir, { recursive: true });
 * await denoFileSystem.writeFile(`${dir}/a.txt`, new TextEncoder().encode("a"));
 * for await (const e of directoryEntries(denoFileSystem, dir)) console.log(entryFileInfo(e)?.ino);
 * console.log(entryFileInfo({ path: "x", type: "directory", mode: 0o755, uid: 0, gid: 0, mtime: 0 })); // undefined
 * await denoFileSystem.remove(dir, { recursive: true });
 * ```
 */
export function entryFileInfo(entry: TarEntry): FileInfo | undefined {
  return statOfEntry.get(entry);
}

/** Orders names by the bytes of their UTF-8 encoding. */
function compareBytes(a: string, b: string): number {
  const x = utf8.encode(a);
  const y = utf8.encode(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

// UTF-16 code units order strings as UTF-8 bytes do, except surrogates against U+E000–U+FFFF.
const NOT_UTF16_ORDERED = /[\uD800-\uFFFF]/;

/** Sorts names by their UTF-8 bytes; cheap string order when it agrees (nearly always). */
function sortNames(names: string[]): string[] {
  if (!names.some((n) => NOT_UTF16_ORDERED.test(n))) return names.sort();
  return names.sort(compareBytes);
}

function unreadable(file: string, cause: unknown): Error {
  return new Error(
    `Cannot read file ${file} for the layer: ${(cause as Error).message}; ` +
      "fix its permissions or exclude it",
    { cause },
  );
}

/** How many entries are made ahead of the reader (metadata only: bodies are read later). */
const ENTRIES_AHEAD = 64;

/** How many `lstat` calls of a folder's names run ahead of the entry being written. */
const LSTAT_AHEAD = 16;

function join(dir: string, name: string): string {
  return dir === "" ? name : `${dir}/${name}`;
}

function normalizePrefix(prefix: string): string {
  const parts = prefix.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) {
    throw new TypeError(`Invalid layer prefix "${prefix}": it must not contain ".."`);
  }
  return parts.join("/");
}

/**
 * Streams the entries of the tree under `root`: depth first, names sorted by UTF-8 bytes at
 * each level, a folder before its children, the root itself not included. The walk is
 * lazy (one folder listing at a time) and the same tree always gives the same entries.
 *
 * - Symlinks are stored, not followed (dangling ones too).
 * - Files with `nlink > 1` sharing (dev, ino) with an earlier file become `hardlink`
 *   entries whose `linkName` is the first path.
 * - Fifos and char/block devices are kept (`devMajor`/`devMinor` from `rdev`).
 * - A socket, or a folder that cannot be listed, is an error naming the path.
 * - File bodies are opened only when the tar writer reaches them (`entry.open`); a file that
 *   cannot be opened is an error naming the path.
 *
 * @example
 * ```ts
 * import { directoryEntries } from "./directory_source.ts";
 * import { TarStream } from "../stages/tar_stream.ts";
 * import { denoFileSystem } from "../runtime/deno_file_system.ts";
 * const dir = `/tmp/ocistream-example-${crypto.randomUUID()}`;
 * await denoFileSystem.mkdir(dir, { recursive: true });
 * await denoFileSystem.writeFile(`${dir}/hello.txt`, new TextEncoder().encode("hello"));
 * const tar = directoryEntries(denoFileSystem, dir, { prefix: "app" })
 *   .pipeThrough(new TarStream());
 * console.log((await new Response(tar).arrayBuffer()).byteLength); // 3072
 * await denoFileSystem.remove(dir, { recursive: true });
 * ```
 */
export function directoryEntries(
  fs: FileSystem,
  root: string,
  options: DirectorySourceOptions = {},
): ReadableStream<TarEntry> {
  const base = root.length > 1 ? root.replace(/\/+$/, "") : root;
  const abs = (rel: string): string =>
    rel === "" ? base : base.endsWith("/") ? base + rel : `${base}/${rel}`;
  const prefix = normalizePrefix(options.prefix ?? "");
  const firstPaths = new Map<string, string>();
  // Stack of folders being walked: their relative path and remaining sorted names.
  // `stats` holds the lstat calls started ahead (bounded by LSTAT_AHEAD), by name index.
  const stack: {
    rel: string;
    names: string[];
    index: number;
    stats: (Promise<FileInfo> | undefined)[];
  }[] = [];
  let started = false;

  const owner = (info: FileInfo) => ({
    uid: options.uid ?? (options.preserveOwnership ? info.uid : 0),
    gid: options.gid ?? (options.preserveOwnership ? info.gid : 0),
    uname: options.uname ?? "",
    gname: options.gname ?? "",
  });

  const list = async (rel: string): Promise<string[]> => {
    const dir = abs(rel);
    try {
      return sortNames(await fs.readDir(dir));
    } catch (e) {
      throw new Error(
        `Cannot read folder ${dir} for the layer: ${(e as Error).message}; ` +
          "fix its permissions or exclude it",
        { cause: e },
      );
    }
  };

  const entryFor = async (rel: string, info: FileInfo): Promise<TarEntry> => {
    const file = abs(rel);
    const path = join(prefix, rel);
    const common = { path, mode: info.mode & 0o7777, mtime: info.mtime, ...owner(info) };
    let entry: TarEntry;
    switch (info.type) {
      case "directory":
        return { ...common, type: "directory" };
      case "symlink":
        entry = { ...common, type: "symlink", linkName: await fs.readLink(file) };
        break;
      case "file": {
        const size = info.size;
        entry = {
          ...common,
          type: "file",
          size,
          // Only reads the file, so the tar writer may read small bodies ahead, whole.
          open: readAheadSafe(
            () => fs.openRead(file).catch((e) => Promise.reject(unreadable(file, e))),
            fs.readInto
              ? (target) =>
                fs.readInto!(file, target).catch((e) => Promise.reject(unreadable(file, e)))
              : undefined,
          ),
        };
        break;
      }
      case "fifo":
        entry = { ...common, type: "fifo", devMajor: 0, devMinor: 0 };
        break;
      case "char":
      case "block": {
        const { major, minor } = splitDevice(info.rdev);
        entry = { ...common, type: info.type, devMajor: major, devMinor: minor };
        break;
      }
      case "socket":
        throw new Error(`cannot add socket ${file} to a layer: remove it or exclude it`);
      default:
        throw new TypeError(`Cannot add ${file} to a layer: unknown file type "${info.type}"`);
    }
    if (info.nlink > 1) {
      const key = `${info.dev}:${info.ino}`;
      const first = firstPaths.get(key);
      if (first !== undefined) {
        const { open: _open, size: _size, ...rest } = entry;
        return { ...rest, type: "hardlink", linkName: first };
      }
      firstPaths.set(key, path);
    }
    return entry;
  };

  const withXattrs = async (entry: TarEntry, rel: string): Promise<TarEntry> => {
    if (!options.xattrs || !fs.getXattrs) return entry;
    const xattrs = await fs.getXattrs(abs(rel));
    return Object.keys(xattrs).length > 0 ? { ...entry, xattrs } : entry;
  };

  /**
   * lstat of a name just listed. Runtimes hand out names that are not valid UTF-8 with U+FFFD in
   * place of the bad bytes, so such a name no longer finds its file: refuse it clearly rather
   * than store a different name. A file deleted since the listing is named too.
   */
  const lstatListed = async (rel: string, name: string): Promise<FileInfo> => {
    try {
      return await fs.lstat(abs(rel));
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e;
      const folder = abs(rel.slice(0, Math.max(rel.length - name.length - 1, 0)));
      if (name.includes("\uFFFD")) {
        throw new TypeError(
          `Cannot add a name in folder ${folder} to the layer: it is not valid UTF-8 ` +
            `(read as ${JSON.stringify(name)}); rename it to UTF-8 or exclude it`,
          { cause: e },
        );
      }
      throw new Error(
        `${abs(rel)} vanished while the layer was being written; keep the folder unchanged ` +
          "during the build",
        { cause: e },
      );
    }
  };

  const prefixEntries: TarEntry[] = [];

  return new ReadableStream<TarEntry>({
    async pull(controller) {
      if (!started) {
        started = true;
        const info = await fs.lstat(base);
        if (info.type !== "directory") {
          throw new TypeError(`Cannot use ${root} as a layer source: it is not a folder`);
        }
        const parts = prefix === "" ? [] : prefix.split("/");
        for (let i = 1; i <= parts.length; i++) {
          const entry: TarEntry = {
            path: parts.slice(0, i).join("/"),
            type: "directory",
            mode: info.mode & 0o7777,
            mtime: info.mtime,
            ...owner(info),
          };
          statOfEntry.set(entry, info);
          prefixEntries.push(entry);
        }
        stack.push({ rel: "", names: await list(""), index: 0, stats: [] });
      }
      const pending = prefixEntries.shift();
      if (pending) return controller.enqueue(pending);
      for (;;) {
        const top = stack.at(-1);
        if (top === undefined) return controller.close();
        if (top.index >= top.names.length) {
          stack.pop();
          continue;
        }
        const at = top.index++;
        const name = top.names[at]!;
        const rel = join(top.rel, name);
        // Start the next few lstat calls now: their latency overlaps with this entry's work.
        for (let i = at; i < Math.min(at + LSTAT_AHEAD, top.names.length); i++) {
          if (top.stats[i] !== undefined) continue;
          const ahead = lstatListed(join(top.rel, top.names[i]!), top.names[i]!);
          ahead.catch(() => {}); // rethrown when the walk reaches that name
          top.stats[i] = ahead;
        }
        const info = await top.stats[at]!;
        top.stats[at] = undefined;
        if (options.filter && !options.filter(rel, info)) continue;
        const entry = await withXattrs(await entryFor(rel, info), rel);
        if (info.type === "directory") {
          stack.push({ rel, names: await list(rel), index: 0, stats: [] });
        }
        statOfEntry.set(entry, info);
        controller.enqueue(entry);
        if ((controller.desiredSize ?? 0) <= 0) return;
      }
    },
    // Entries are made a batch ahead: one pull per entry would cost more than the entry.
  }, { highWaterMark: ENTRIES_AHEAD });
}
