/**
 * The file system the core asks for. Runtimes supply it (see `src/runtime/`);
 * the core never imports `Deno` or `node:` directly.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import type { FileSystem } from "@ocistream/ocistream/layout";
 * import { createDenoEnvironment, denoFileSystem } from "@ocistream/ocistream/deno";
 * function countEntries(fs: FileSystem, dir: string): Promise<number> {
 *   return fs.readDir(dir).then((names) => names.length);
 * }
 * // A temporary folder of the environment's own, removed at the end.
 * const temp = await (await createDenoEnvironment({ openStore: false })).makeTempLayout!();
 * const dir = `${temp.layout.root}/files`;
 * await denoFileSystem.mkdir(dir);
 * await denoFileSystem.writeFile(`${dir}/a`, new TextEncoder().encode("a"));
 * assertEquals(await countEntries(denoFileSystem, dir), 1);
 * await temp.dispose();
 * ```
 * @module
 */

/** File types as seen by `lstat`. */
export type FileType =
  | "file"
  | "directory"
  | "symlink"
  | "fifo"
  | "socket"
  | "char"
  | "block";

/** What `lstat` reports. */
export interface FileInfo {
  /** File type, not following symlinks. */
  type: FileType;
  /** Size in bytes. */
  size: number;
  /** Permission bits with setuid/setgid/sticky. */
  mode: number;
  /** Owner id. */
  uid: number;
  /** Group id. */
  gid: number;
  /** Modification time in seconds, fractional. */
  mtime: number;
  /** Device of the file system holding it. */
  dev: number;
  /** Inode number. */
  ino: number;
  /** Link count. */
  nlink: number;
  /** Device number for char/block devices. */
  rdev: number;
}

/** Error thrown by a {@link FileSystem} when a path does not exist. */
export class NotFoundError extends Error {
  /** Creates the error for a path. */
  constructor(path: string, options?: ErrorOptions) {
    super(`No such file or folder: ${path}`, options);
    this.name = "NotFoundError";
  }
}

/** Error thrown by {@link FileSystem.createExclusive} when the file exists. */
export class AlreadyExistsError extends Error {
  /** Creates the error for a path. */
  constructor(path: string, options?: ErrorOptions) {
    super(`Already exists: ${path}`, options);
    this.name = "AlreadyExistsError";
  }
}

/** What {@link FileSystem.createFile} sets on the file it creates, in this order. */
export interface NewFileMeta {
  /** Owner and group to set (not following symlinks); none: left as created. */
  owner?: { uid: number; gid: number };
  /** Permission bits with setuid/setgid/sticky, set after the owner (which may clear them). */
  mode: number;
  /** Access time, seconds. */
  atime: number;
  /** Modification time, seconds. */
  mtime: number;
}

/** Metadata {@link FileSystem.createFile} could not set; the file itself was written. */
export interface NewFileProblems {
  /** Why the owner could not be set (e.g. not running as root). */
  owner?: unknown;
  /** Why the times could not be set. */
  times?: unknown;
}

/** A POSIX-like file system with `/`-separated paths. */
export interface FileSystem {
  /** Metadata without following symlinks; throws {@link NotFoundError}. */
  lstat(path: string): Promise<FileInfo>;
  /** Names in a folder (unsorted). */
  readDir(path: string): Promise<string[]>;
  /**
   * A folder's names (unsorted), each with its {@link lstat} taken right after the listing; a
   * name whose `lstat` failed (it vanished meanwhile) has no `info`. Optional: folder walks use
   * it to save a round trip per entry.
   */
  readDirInfo?(path: string): Promise<{ name: string; info?: FileInfo }[]>;
  /** A symlink's target. */
  readLink(path: string): Promise<string>;
  /** Streams a file's bytes. */
  openRead(path: string): Promise<ReadableStream<Uint8Array>>;
  /** Reads a whole (small) file. */
  readFile(path: string): Promise<Uint8Array>;
  /**
   * Reads a file expected to be `target.length` bytes long into `target`; resolves to
   * `target.length` when it is that long, else to another number (its length, or more than
   * `target.length` when it is longer) and `target`'s content is unspecified. Optional: a cheaper
   * way to read the many small files of a folder than {@link openRead}.
   */
  readInto?(path: string, target: Uint8Array): Promise<number>;
  /** Writes a file, replacing it; `mode` applies on creation. */
  writeFile(
    path: string,
    data: Uint8Array | ReadableStream<Uint8Array>,
    options?: { mode?: number },
  ): Promise<void>;
  /** Creates a file only if it does not exist; throws {@link AlreadyExistsError}. */
  createExclusive(path: string, data: Uint8Array): Promise<void>;
  /**
   * Optional, for unpacking many files: creates a regular file at `path` with `data`, then sets
   * `meta` (owner, mode, times). Anything already at `path`, a symlink included (never
   * followed), makes it throw {@link AlreadyExistsError} and leaves it untouched. Owner and
   * times that cannot be set are returned, not thrown. Without it, callers check with
   * {@link lstat} and use {@link writeFile}, {@link lchown}, {@link chmod} and {@link utime}.
   */
  createFile?(
    path: string,
    data: Uint8Array | ReadableStream<Uint8Array>,
    meta: NewFileMeta,
  ): Promise<NewFileProblems>;
  /** Creates a folder (and parents with `recursive`); no error if it exists with `recursive`. */
  mkdir(path: string, options?: { recursive?: boolean; mode?: number }): Promise<void>;
  /** Renames atomically within one file system. */
  rename(from: string, to: string): Promise<void>;
  /** Removes a file, or a folder with `recursive`; no error when missing. */
  remove(path: string, options?: { recursive?: boolean }): Promise<void>;
  /** Makes a symlink at `path` pointing at `target`. */
  symlink(target: string, path: string): Promise<void>;
  /** Makes a hardlink at `path` to `existing`. */
  link(existing: string, path: string): Promise<void>;
  /** Sets permission bits. */
  chmod(path: string, mode: number): Promise<void>;
  /** Sets owner and group, not following symlinks. */
  lchown?(path: string, uid: number, gid: number): Promise<void>;
  /** Sets access and modification times (seconds), not following symlinks where possible. */
  utime(path: string, atime: number, mtime: number): Promise<void>;
  /** Makes a fifo or device node (may be unsupported). */
  mknod?(path: string, type: "fifo" | "char" | "block", mode: number, dev: number): Promise<void>;
  /**
   * Reads extended attributes, not following a final symlink: all of them, or only `names`
   * (may be unsupported).
   */
  getXattrs?(
    path: string,
    names?: readonly string[],
  ): Promise<Record<string, string | Uint8Array>>;
  /** Same as {@link getXattrs}, synchronous (a fast path for walks of many small files). */
  getXattrsSync?(path: string, names?: readonly string[]): Record<string, string | Uint8Array>;
  /** Flushes a file's data to disk. */
  fsync?(path: string): Promise<void>;
}

/** Whether `path` exists (without following a final symlink). */
export async function pathExists(fs: Pick<FileSystem, "lstat">, path: string): Promise<boolean> {
  try {
    await fs.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof NotFoundError) return false;
    throw e;
  }
}

/**
 * Writes `path` whole or not at all: the bytes go to `path.tmp-<random>`, which is
 * renamed over `path` (removed on failure). A crash can leave the `.tmp-` file behind
 * (`prune` clears those of blobs, `index.json` and unpacked images).
 */
export async function writeFileAtomic(
  fs: Pick<FileSystem, "writeFile" | "rename" | "remove">,
  path: string,
  bytes: Uint8Array,
): Promise<void> {
  const tmp = `${path}.tmp-${crypto.randomUUID().slice(0, 12)}`;
  try {
    await fs.writeFile(tmp, bytes, { mode: 0o644 });
    await fs.rename(tmp, path);
  } catch (e) {
    await fs.remove(tmp).catch(() => {});
    throw e;
  }
}
