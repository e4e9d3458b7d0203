/**
 * Walks a folder into a deterministic stream of {@link TarEntry}, ready for `TarStream`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { directoryEntries } from "@ocistream/ocistream/deno";
 * import { denoFileSystem } from "@ocistream/ocistream/deno";
 * const dir = `/tmp/ocistream-example-${crypto.randomUUID()}`;
 * await denoFileSystem.mkdir(`${dir}/a`, { recursive: true });
 * await denoFileSystem.writeFile(`${dir}/b.txt`, new TextEncoder().encode("b"));
 * const paths = await Array.fromAsync(directoryEntries(denoFileSystem, dir), (e) => e.path);
 * assertEquals(paths, ["a", "b.txt"]);
 * await denoFileSystem.remove(dir, { recursive: true });
 * ```
 * @module
 */

import { type FileInfo, type FileSystem, NotFoundError } from "../types/file_system.ts";
import type { TarEntry } from "../types/tar_entry.ts";
import { splitDevice } from "../stages/_tar_device.ts";
import { readAheadSafe } from "../stages/tar_stream.ts";
import { type MatchInfo, PatternMatcher } from "./pattern_matcher.ts";
import { batchedEntries } from "../stages/entry_batches.ts";

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
   * Its folders are emitted first, with the root folder's mode and mtime unless
   * {@link prefixMode} / {@link prefixMtime} say otherwise. Default `""`.
   */
  prefix?: string;
  /** Mode of the {@link prefix} folders (as `COPY` creates its destination: `0o755`). */
  prefixMode?: number;
  /** mtime (seconds) of the {@link prefix} folders. */
  prefixMtime?: number;
  /**
   * Per {@link prefix} folder (`"app"`, `"app/node_modules"`), attributes that win over the
   * others: e.g. those an earlier layer gave a folder that already exists below this one.
   */
  prefixFolders?: Readonly<Record<string, PrefixFolder>>;
  /**
   * Permission bits for every entry but symlinks, as `COPY --chmod` (`0o0000`–`0o7777`);
   * default: each file's own.
   */
  mode?: number;
  /**
   * Docker path patterns (`.dockerignore` lines, `COPY --exclude`) of what to leave out,
   * relative to the root: see `PatternMatcher`. An excluded folder is not entered unless an
   * exception (`!pattern`) may re-include something in it; it is then written only if
   * something inside it is.
   */
  exclude?: readonly string[];
  /**
   * Read extended attributes with `fs.getXattrs` (when the file system has it): `true` for
   * all, or a list of names, e.g. `["security.capability"]`, the one containerd's differ
   * (behind BuildKit's `COPY` layers) writes.
   */
  xattrs?: boolean | readonly string[];
  /**
   * Skips a path (relative to the root, `/`-separated) when it returns `false`; a skipped
   * folder is not entered.
   */
  filter?: (path: string, info: FileInfo) => boolean;
}

/** Attributes of one {@link DirectorySourceOptions.prefix} folder. */
export interface PrefixFolder {
  /** Permission bits. */
  mode: number;
  /** Owner id. */
  uid: number;
  /** Group id. */
  gid: number;
  /** Modification time, seconds. */
  mtime: number;
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
 * import { assertEquals } from "@std/assert";
 * import { directoryEntries } from "@ocistream/ocistream/deno";
 * import { entryFileInfo } from "@ocistream/ocistream/tar";
 * import { denoFileSystem } from "@ocistream/ocistream/deno";
 * const dir = `/tmp/ocistream-example-${crypto.randomUUID()}`;
 * await denoFileSystem.mkdir(dir, { recursive: true });
 * await denoFileSystem.writeFile(`${dir}/a.txt`, new TextEncoder().encode("a"));
 * for await (const e of directoryEntries(denoFileSystem, dir)) {
 *   assertEquals(entryFileInfo(e)?.ino, (await denoFileSystem.lstat(`${dir}/${e.path}`)).ino);
 * }
 * assertEquals(entryFileInfo({ path: "x", type: "directory", mode: 0o755, uid: 0, gid: 0, mtime: 0 }), undefined);
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

/**
 * Sorts `items` by their names' UTF-8 bytes, in place; cheap string order when it agrees
 * (nearly always).
 */
function sortByName<T>(items: T[], name: (item: T) => string): T[] {
  const bytes = items.some((item) => NOT_UTF16_ORDERED.test(name(item)));
  return items.sort((x, y) => {
    const a = name(x);
    const b = name(y);
    return bytes ? compareBytes(a, b) : a < b ? -1 : a > b ? 1 : 0;
  });
}

function unreadable(file: string, cause: unknown): Error {
  return new Error(
    `Cannot read file ${file} for the layer: ${(cause as Error).message}; ` +
      "fix its permissions or exclude it",
    { cause },
  );
}

/** Pattern results of a folder walked without patterns (shared: no allocation per entry). */
const NO_MATCH: MatchInfo = [];

/** How many entries one read makes (metadata only: bodies are read later). */
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
 * import { assertEquals } from "@std/assert";
 * import { directoryEntries } from "@ocistream/ocistream/deno";
 * import { TarStream, UntarStream } from "@ocistream/ocistream/tar";
 * import { denoFileSystem } from "@ocistream/ocistream/deno";
 * const dir = `/tmp/ocistream-example-${crypto.randomUUID()}`;
 * await denoFileSystem.mkdir(dir, { recursive: true });
 * await denoFileSystem.writeFile(`${dir}/hello.txt`, new TextEncoder().encode("hello"));
 * const tar = directoryEntries(denoFileSystem, dir, { prefix: "app" })
 *   .pipeThrough(new TarStream());
 * const entries = tar.pipeThrough(new UntarStream());
 * const names = [];
 * for await (const e of entries) {
 *   names.push(e.path);
 *   await e.body.cancel();
 * }
 * assertEquals(names, ["app", "app/hello.txt"]);
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
  const { mode } = options;
  if (mode !== undefined && (!Number.isInteger(mode) || mode < 0 || mode > 0o7777)) {
    throw new RangeError(`Invalid mode ${mode}: use permission bits 0o0000–0o7777, e.g. 0o755`);
  }
  const excludes = options.exclude?.length ? new PatternMatcher(options.exclude) : undefined;
  const firstPaths = new Map<string, string>();
  // Stack of folders being walked: their relative path and remaining sorted names.
  // `infos` holds the lstat results a `readDirInfo` listing came with; otherwise `stats` holds
  // the lstat calls started ahead (bounded by LSTAT_AHEAD), by name index.
  const stack: {
    rel: string;
    names: string[];
    infos: (FileInfo | undefined)[];
    index: number;
    stats: (Promise<FileInfo> | undefined)[];
    /** The folder's pattern results, passed to its children. */
    match: MatchInfo;
    /** The folder's own entry while it is excluded and nothing inside was kept yet. */
    pending?: TarEntry;
  }[] = [];
  let started = false;
  // How many folders on the stack are excluded and not written yet (see `pending`).
  let pendingFolders = 0;

  const list = async (
    rel: string,
    match: MatchInfo = NO_MATCH,
  ): Promise<(typeof stack)[number]> => {
    const dir = abs(rel);
    try {
      if (!fs.readDirInfo) {
        const names = sortByName(await fs.readDir(dir), (name) => name);
        return { rel, names, infos: [], index: 0, stats: [], match };
      }
      const listed = sortByName(await fs.readDirInfo(dir), ({ name }) => name);
      const names = listed.map(({ name }) => name);
      return { rel, names, infos: listed.map(({ info }) => info), index: 0, stats: [], match };
    } catch (e) {
      throw new Error(
        `Cannot read folder ${dir} for the layer: ${(e as Error).message}; ` +
          "fix its permissions or exclude it",
        { cause: e },
      );
    }
  };

  /** The entry for `info`; synchronous but for a symlink's target (see {@link entryOf}). */
  const entryFor = (rel: string, info: FileInfo, linkName = ""): TarEntry => {
    const file = abs(rel);
    // One literal per entry, fields set after: object spreads cost more than the entry's lstat.
    const entry: TarEntry = {
      path: join(prefix, rel),
      type: "directory",
      mode: mode !== undefined && info.type !== "symlink" ? mode : info.mode & 0o7777,
      // Whole seconds, truncated as containerd's differ does (archive.WriteDiff, behind
      // BuildKit's COPY): no PAX mtime record, the same diffID as BuildKit's layer.
      mtime: Math.floor(info.mtime),
      uid: options.uid ?? (options.preserveOwnership ? info.uid : 0),
      gid: options.gid ?? (options.preserveOwnership ? info.gid : 0),
      uname: options.uname ?? "",
      gname: options.gname ?? "",
    };
    switch (info.type) {
      case "directory":
        return entry;
      case "symlink":
        entry.type = "symlink";
        entry.linkName = linkName;
        break;
      case "file": {
        entry.type = "file";
        entry.size = info.size;
        // Only reads the file, so the tar writer may read small bodies ahead, whole.
        entry.open = readAheadSafe(
          () => fs.openRead(file).catch((e) => Promise.reject(unreadable(file, e))),
          fs.readInto
            ? (target) =>
              fs.readInto!(file, target).catch((e) => Promise.reject(unreadable(file, e)))
            : undefined,
        );
        break;
      }
      case "fifo":
        entry.type = "fifo";
        entry.devMajor = 0;
        entry.devMinor = 0;
        break;
      case "char":
      case "block": {
        const { major, minor } = splitDevice(info.rdev);
        entry.type = info.type;
        entry.devMajor = major;
        entry.devMinor = minor;
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
      firstPaths.set(key, entry.path);
    }
    return entry;
  };

  // Awaits only what needs a call (a symlink's target, xattrs): a microtask hop per entry
  // costs more than the rest of the entry on trees of small files.
  const entryOf = (rel: string, info: FileInfo): TarEntry | Promise<TarEntry> =>
    info.type === "symlink"
      ? fs.readLink(abs(rel)).then((target) => withXattrs(entryFor(rel, info, target), rel))
      : withXattrs(entryFor(rel, info), rel);

  const xattrNames = Array.isArray(options.xattrs)
    ? options.xattrs as readonly string[]
    : undefined;
  const withXattrs = (entry: TarEntry, rel: string): TarEntry | Promise<TarEntry> => {
    if (!options.xattrs) return entry;
    const add = (xattrs: Record<string, string | Uint8Array>) =>
      Object.keys(xattrs).length > 0 ? { ...entry, xattrs } : entry;
    // The synchronous path where there is one: no microtask hop per entry.
    if (fs.getXattrsSync) return add(fs.getXattrsSync(abs(rel), xattrNames));
    if (!fs.getXattrs) return entry;
    return fs.getXattrs(abs(rel), xattrNames).then(add);
  };

  /** The lstat of the folder's name at `at`: listed with it, or started a few names ahead. */
  const infoAt = (top: (typeof stack)[number], at: number): FileInfo | Promise<FileInfo> => {
    const listed = top.infos[at];
    if (listed) return listed;
    for (let i = at; i < Math.min(at + LSTAT_AHEAD, top.names.length); i++) {
      if (top.stats[i] !== undefined || top.infos[i]) continue;
      const ahead = lstatListed(join(top.rel, top.names[i]!), top.names[i]!);
      ahead.catch(() => {}); // rethrown when the walk reaches that name
      top.stats[i] = ahead;
    }
    const started = top.stats[at]!;
    top.stats[at] = undefined;
    return started;
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

  /** The next entries of the walk (at most ENTRIES_AHEAD), or `undefined` at its end. */
  const nextBatch = async (): Promise<TarEntry[] | undefined> => {
    const batch: TarEntry[] = [];
    if (!started) {
      started = true;
      const info = await fs.lstat(base);
      if (info.type !== "directory") {
        throw new TypeError(`Cannot use ${root} as a layer source: it is not a folder`);
      }
      const parts = prefix === "" ? [] : prefix.split("/");
      for (let i = 1; i <= parts.length; i++) {
        const entry = entryFor("", info);
        entry.path = parts.slice(0, i).join("/");
        if (options.prefixMode !== undefined) entry.mode = options.prefixMode;
        if (options.prefixMtime !== undefined) entry.mtime = options.prefixMtime;
        const given = options.prefixFolders?.[entry.path];
        if (given) {
          entry.mode = given.mode;
          entry.uid = given.uid;
          entry.gid = given.gid;
          entry.mtime = given.mtime;
        }
        statOfEntry.set(entry, info);
        batch.push(entry);
      }
      stack.push(await list(""));
    }
    while (batch.length < ENTRIES_AHEAD) {
      const top = stack.at(-1);
      if (top === undefined) break;
      if (top.index >= top.names.length) {
        if (stack.pop()!.pending !== undefined) pendingFolders--;
        continue;
      }
      const at = top.index++;
      const rel = join(top.rel, top.names[at]!);
      let excluded = false;
      let match = NO_MATCH;
      if (excludes) {
        ({ matched: excluded, info: match } = excludes.match(rel, top.match));
        // Nothing inside can come back: not even an lstat for it.
        if (excluded && !excludes.hasExclusions) continue;
      }
      const found = infoAt(top, at);
      const info = found instanceof Promise ? await found : found;
      if (excluded && info.type !== "directory") continue;
      if (options.filter && !options.filter(rel, info)) continue;
      const made = entryOf(rel, info);
      const entry = made instanceof Promise ? await made : made;
      statOfEntry.set(entry, info);
      if (!excluded) {
        // Excluded folders above it are written after all, as Docker's walk does.
        if (pendingFolders > 0) {
          for (const frame of stack) {
            if (frame.pending === undefined) continue;
            batch.push(frame.pending);
            frame.pending = undefined;
          }
          pendingFolders = 0;
        }
        batch.push(entry);
      }
      if (info.type === "directory") {
        const frame = await list(rel, match);
        if (excluded) {
          frame.pending = entry;
          pendingFolders++;
        }
        stack.push(frame);
      }
    }
    return batch.length > 0 ? batch : undefined;
  };

  // Read a batch at a time through `entryBatches` (see stages/entry_batches.ts).
  return batchedEntries(nextBatch);
}

export { entryBatches, type NextBatch } from "../stages/entry_batches.ts";
