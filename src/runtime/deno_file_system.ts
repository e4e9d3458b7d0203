/**
 * The {@link FileSystem} the core asks for, implemented with Deno's APIs (and `node:fs` where
 * Deno has no equivalent: `lchown`, `lutimes`).
 *
 * Metadata calls (`lstat`, `readDir`, `readDirInfo`, `readLink`), opening files, whole reads of
 * files up to 1 MiB (`readFile`, `readInto`), reads of up to 64 KiB, and the calls that change
 * the tree (`createFile`, `mkdir`, `remove`, `symlink`, `link`, `chmod`, `lchown`, `utime`) use
 * synchronous calls: each takes microseconds on a local disk, while an async call costs about
 * 20 µs of scheduling (and far more when the blocking pool is busy), which dominates on trees of
 * many small files. On a slow network file system they briefly block the event loop.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { denoFileSystem } from "@ocistream/ocistream/deno";
 * const dir = await Deno.makeTempDir();
 * await denoFileSystem.writeFile(`${dir}/a.txt`, new TextEncoder().encode("hi"));
 * assertEquals((await denoFileSystem.lstat(`${dir}/a.txt`)).size, 2);
 * await Deno.remove(dir, { recursive: true });
 * ```
 * @module
 */

import {
  AlreadyExistsError,
  type FileInfo,
  type FileSystem,
  type FileType,
  type NewFileMeta,
  type NewFileProblems,
  NotFoundError,
} from "../types/file_system.ts";
import { splitDevice } from "../stages/_tar_device.ts";
import { readXattrs } from "./xattrs.ts";

function mapError(error: unknown, path: string): unknown {
  if (error instanceof Deno.errors.NotFound) return new NotFoundError(path, { cause: error });
  if (error instanceof Deno.errors.AlreadyExists) {
    return new AlreadyExistsError(path, { cause: error });
  }
  return error;
}

async function wrap<T>(path: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw mapError(e, path);
  }
}

function wrapSync<T>(path: string, fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (e) {
    return Promise.reject(mapError(e, path));
  }
}

type NodeFs = typeof import("node:fs");
// `node:fs` is imported on first use (Node compatibility costs start-up time); once loaded,
// `lchown` and `utime` use its synchronous calls.
let nodeFs: NodeFs | undefined;
async function loadNodeFs(): Promise<NodeFs> {
  return nodeFs ??= await import("node:fs");
}

function writeAllSync(file: Deno.FsFile, data: Uint8Array): void {
  let done = 0;
  while (done < data.length) done += file.writeSync(data.subarray(done));
}

function fileType(info: Deno.FileInfo): FileType {
  if (info.isSymlink) return "symlink";
  if (info.isDirectory) return "directory";
  if (info.isFile) return "file";
  if (info.isFifo) return "fifo";
  if (info.isSocket) return "socket";
  if (info.isCharDevice) return "char";
  if (info.isBlockDevice) return "block";
  return "file";
}

/** Largest read; also the first read's size when `fstat` fails. */
const MAX_READ = 256 * 1024;
/** Read size once the file is past the size `fstat` gave (it is growing). */
const TAIL_READ = 16 * 1024;
/** Reads up to this size are synchronous. */
const SYNC_READ = 64 * 1024;
/** Small reads are carved from slabs this large. */
const SLAB = 512 * 1024;

// One `ArrayBuffer` per small file costs more than reading it; small synchronous reads take
// consecutive, never reused, pieces of a shared slab instead (a piece keeps its slab alive).
let slab = new Uint8Array(SLAB);
let slabUsed = 0;
function carve(size: number): Uint8Array {
  if (size > SLAB - slabUsed) {
    slab = new Uint8Array(SLAB);
    slabUsed = 0;
  }
  const piece = slab.subarray(slabUsed, slabUsed + size);
  slabUsed += size;
  return piece;
}
// The end-of-file check reads here; bytes found (a file that grew) are copied out.
const tail = new Uint8Array(TAIL_READ);

/**
 * A plain pull stream over an open file. `FsFile.readable` is a byte stream whose per-chunk
 * and release costs dominate on trees of many small files (issue 7). This one sizes its reads
 * from `fstat` (no buffer larger than the file) and checks for the end with one synchronous
 * read once the `fstat` size is reached: that read fetches nothing from disk, so it is cheaper
 * than an async call's thread hop, and it still catches a file that grew. Reads up to 64 KiB
 * are synchronous too: an async op costs ~20 µs of main-thread time, more than such a read
 * from the page cache, and most files in a tree like node_modules are that small; larger reads
 * stay async so a cold disk never stalls the event loop for long.
 */
function fileStream(file: Deno.FsFile): ReadableStream<Uint8Array> {
  let expected: number | undefined;
  let total = 0;
  let open = true;
  const close = () => {
    if (!open) return;
    open = false;
    try {
      file.close();
    } catch {
      // Already closed.
    }
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let buffer: Uint8Array;
      let n: number | null;
      try {
        if (expected === undefined) {
          try {
            expected = file.statSync().size;
          } catch {
            expected = MAX_READ;
          }
        }
        const left = expected - total;
        if (left > SYNC_READ) {
          buffer = new Uint8Array(Math.min(left, MAX_READ));
          n = await file.read(buffer);
        } else if (left > 0) {
          buffer = carve(left);
          n = file.readSync(buffer);
          // A short read leaves the rest of the piece unused (the slab moves on regardless).
        } else {
          n = file.readSync(tail);
          buffer = n === null ? tail : tail.slice(0, n);
          // It grew: go on with full-size async reads.
          if (n !== null) expected = total + n + MAX_READ;
        }
      } catch (e) {
        close();
        throw e;
      }
      if (n === null) {
        close();
        controller.close();
        return;
      }
      total += n;
      controller.enqueue(n === buffer.length ? buffer : buffer.subarray(0, n));
    },
    cancel: close,
  }, { highWaterMark: 0 });
}

/** Largest file {@link DenoFileSystem.readFile} reads synchronously. */
const SYNC_WHOLE = 1024 * 1024;

/**
 * Reads a file into `target` with synchronous calls; returns its length (more than
 * `target.length` when it is larger: then only `target.length` of the bytes were read).
 */
function readIntoSync(file: Deno.FsFile, target: Uint8Array): number {
  let filled = 0;
  while (filled < target.length) {
    const n = file.readSync(target.subarray(filled));
    if (n === null) return filled;
    filled += n;
  }
  // The end-of-file check; a file that grew is longer than `target`.
  const extra = file.readSync(tail);
  return extra === null ? filled : filled + extra;
}

function fileInfo(info: Deno.FileInfo): FileInfo {
  return {
    type: fileType(info),
    size: info.size,
    mode: (info.mode ?? 0) & 0o7777,
    uid: info.uid ?? 0,
    gid: info.gid ?? 0,
    mtime: (info.mtime?.getTime() ?? 0) / 1000,
    dev: info.dev ?? 0,
    ino: info.ino ?? 0,
    nlink: info.nlink ?? 1,
    rdev: info.rdev ?? 0,
  };
}

async function run(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/**
 * A {@link FileSystem} over the local disk using Deno APIs.
 *
 * - `mknod` runs the `mkfifo`/`mknod` commands (Deno has no API for them).
 * - `lchown` and `utime` (of a symlink) use `node:fs` `lchown`/`lutimes`, so symlinks are not
 *   followed.
 * - `getXattrs` reads extended attributes through libc with Deno's FFI on Linux
 *   (`src/runtime/xattrs.ts`); `{}` elsewhere or without `--allow-ffi`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { DenoFileSystem } from "@ocistream/ocistream/deno";
 * const fs = new DenoFileSystem();
 * assertEquals((await fs.lstat("/")).type, "directory");
 * ```
 */
export class DenoFileSystem implements FileSystem {
  /**
   * Metadata without following symlinks. The synchronous call is deliberate: `lstat` reads no
   * file data (the inode is cached once its folder was listed), and the async op's thread-pool
   * hop costs about 3× the system call, which adds up on trees of many small files (issue 7).
   */
  lstat(path: string): Promise<FileInfo> {
    try {
      return Promise.resolve(fileInfo(Deno.lstatSync(path)));
    } catch (e) {
      return Promise.reject(mapError(e, path));
    }
  }

  /** A folder's names with their `lstat`, all synchronous (see {@link lstat}). */
  readDirInfo(path: string): Promise<{ name: string; info?: FileInfo }[]> {
    try {
      const listed: { name: string; info?: FileInfo }[] = [];
      const folder = path.endsWith("/") ? path : `${path}/`;
      for (const { name } of Deno.readDirSync(path)) {
        try {
          listed.push({ name, info: fileInfo(Deno.lstatSync(folder + name)) });
        } catch {
          listed.push({ name }); // vanished, or a name that is not valid UTF-8: the walk says which
        }
      }
      return Promise.resolve(listed);
    } catch (e) {
      return Promise.reject(mapError(e, path));
    }
  }

  /** Names in a folder (unsorted); synchronous for the same reason as {@link lstat}. */
  readDir(path: string): Promise<string[]> {
    try {
      const names: string[] = [];
      for (const e of Deno.readDirSync(path)) names.push(e.name);
      return Promise.resolve(names);
    } catch (e) {
      return Promise.reject(mapError(e, path));
    }
  }

  /** A symlink's target; synchronous like {@link lstat} (it reads only the inode). */
  readLink(path: string): Promise<string> {
    try {
      return Promise.resolve(Deno.readLinkSync(path));
    } catch (e) {
      return Promise.reject(mapError(e, path));
    }
  }

  /** Streams a file's bytes; the file closes when the stream ends or is cancelled. */
  openRead(path: string): Promise<ReadableStream<Uint8Array>> {
    // Opening is a path lookup like lstat: synchronous (see fileStream for reads).
    try {
      return Promise.resolve(fileStream(Deno.openSync(path, { read: true })));
    } catch (e) {
      return Promise.reject(mapError(e, path));
    }
  }

  /**
   * Reads a whole file. Files up to 1 MiB are read with synchronous calls (a folder's many
   * small files cost per call, not per byte), larger ones asynchronously.
   */
  readFile(path: string): Promise<Uint8Array> {
    try {
      using file = Deno.openSync(path, { read: true });
      const size = file.statSync().size;
      if (size <= SYNC_WHOLE) {
        const bytes = new Uint8Array(size);
        const length = readIntoSync(file, bytes);
        // A file that changed size since fstat is read again the slow way.
        if (length === size) return Promise.resolve(bytes);
      }
    } catch (e) {
      return Promise.reject(mapError(e, path));
    }
    return wrap(path, () => Deno.readFile(path));
  }

  /**
   * Reads a file of `target.length` bytes into `target` with synchronous calls (meant for small
   * files); resolves to `target.length` when the file still has that size, else to another
   * number (see {@link FileSystem.readInto}).
   */
  readInto(path: string, target: Uint8Array): Promise<number> {
    try {
      using file = Deno.openSync(path, { read: true });
      return Promise.resolve(readIntoSync(file, target));
    } catch (e) {
      return Promise.reject(mapError(e, path));
    }
  }

  /** Writes a file, replacing it; `mode` applies on creation. */
  writeFile(
    path: string,
    data: Uint8Array | ReadableStream<Uint8Array>,
    options?: { mode?: number },
  ): Promise<void> {
    return wrap(path, () => Deno.writeFile(path, data, { mode: options?.mode }));
  }

  /** Creates a file only if it does not exist. */
  createExclusive(path: string, data: Uint8Array): Promise<void> {
    return wrap(path, () => Deno.writeFile(path, data, { createNew: true }));
  }

  /**
   * Creates a new file with `O_CREAT | O_EXCL` (an existing entry, even a dangling symlink,
   * fails with {@link AlreadyExistsError}), writes `data` with synchronous calls, then sets the
   * owner and the mode where they differ from what creation gave (one `fstat` says: an `lchown`
   * or `chmod` that changes nothing still costs a journalled inode update), and the times
   * (`futimens` on the open file).
   */
  async createFile(
    path: string,
    data: Uint8Array | ReadableStream<Uint8Array>,
    meta: NewFileMeta,
  ): Promise<NewFileProblems> {
    if (meta.owner && !nodeFs) await loadNodeFs();
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(path, { write: true, createNew: true, mode: meta.mode & 0o777 });
    } catch (e) {
      throw mapError(e, path);
    }
    try {
      if (data instanceof Uint8Array) writeAllSync(file, data);
      else for await (const chunk of data) writeAllSync(file, chunk);
      const problems: NewFileProblems = {};
      const made = file.statSync();
      const mode = meta.mode & 0o7777;
      let chown = false;
      if (meta.owner && (made.uid !== meta.owner.uid || made.gid !== meta.owner.gid)) {
        try {
          nodeFs!.lchownSync(path, meta.owner.uid, meta.owner.gid);
          chown = true;
        } catch (e) {
          problems.owner = e;
        }
      }
      // chmod after chown: chown clears setuid and setgid bits.
      if (((made.mode ?? 0) & 0o7777) !== mode || (chown && (mode & 0o6000) !== 0)) {
        Deno.chmodSync(path, mode);
      }
      try {
        file.utimeSync(meta.atime, meta.mtime);
      } catch (e) {
        problems.times = e;
      }
      file.close();
      return problems;
    } catch (e) {
      try {
        file.close();
      } catch {
        // Already closed.
      }
      try {
        Deno.removeSync(path);
      } catch {
        // Nothing half-written is left when it can be helped; the error below says what failed.
      }
      throw mapError(e, path);
    }
  }

  /** Creates a folder (synchronously, see {@link lstat}). */
  mkdir(path: string, options?: { recursive?: boolean; mode?: number }): Promise<void> {
    return wrapSync(path, () => Deno.mkdirSync(path, options));
  }

  /** Renames atomically within one file system. */
  rename(from: string, to: string): Promise<void> {
    return wrap(from, () => Deno.rename(from, to));
  }

  /** Removes a file, or a folder with `recursive`; no error when missing. */
  remove(path: string, options?: { recursive?: boolean }): Promise<void> {
    try {
      Deno.removeSync(path, options);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) return Promise.reject(e);
    }
    return Promise.resolve();
  }

  /** Makes a symlink at `path` pointing at `target`. */
  symlink(target: string, path: string): Promise<void> {
    return wrapSync(path, () => Deno.symlinkSync(target, path));
  }

  /** Makes a hardlink at `path` to `existing`. */
  link(existing: string, path: string): Promise<void> {
    return wrapSync(path, () => Deno.linkSync(existing, path));
  }

  /** Sets permission bits. */
  chmod(path: string, mode: number): Promise<void> {
    return wrapSync(path, () => Deno.chmodSync(path, mode & 0o7777));
  }

  /** Sets owner and group without following symlinks. */
  async lchown(path: string, uid: number, gid: number): Promise<void> {
    const fs = nodeFs ?? await loadNodeFs();
    try {
      fs.lchownSync(path, uid, gid);
    } catch (e) {
      throw mapError(e, path);
    }
  }

  /** Sets access and modification times (seconds) without following symlinks. */
  utime(path: string, atime: number, mtime: number): Promise<void> {
    // Once `node:fs` is loaded, one `lutimes` call does it; before, Deno's own call (which
    // follows symlinks but needs no Node compatibility layer, ~30 ms to load) does it for
    // everything but a symlink.
    if (nodeFs) return wrapSync(path, () => nodeFs!.lutimesSync(path, atime, mtime));
    return wrap(path, async () => {
      if (!Deno.lstatSync(path).isSymlink) return Deno.utimeSync(path, atime, mtime);
      (await loadNodeFs()).lutimesSync(path, atime, mtime);
    });
  }

  /** Makes a fifo or device node with the `mkfifo`/`mknod` commands. */
  mknod(path: string, type: "fifo" | "char" | "block", mode: number, dev: number): Promise<void> {
    const octal = (mode & 0o7777).toString(8);
    if (type === "fifo") return wrap(path, () => run("mkfifo", ["-m", octal, path]));
    const { major, minor } = splitDevice(dev);
    return wrap(
      path,
      () => run("mknod", ["-m", octal, path, type === "char" ? "c" : "b", `${major}`, `${minor}`]),
    );
  }

  /** Extended attributes through libc (FFI); `{}` where that is not possible. */
  getXattrs(
    path: string,
    names?: readonly string[],
  ): Promise<Record<string, string | Uint8Array>> {
    try {
      return Promise.resolve(readXattrs(path, names));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Same as {@link getXattrs}, synchronous. */
  getXattrsSync(path: string, names?: readonly string[]): Record<string, string | Uint8Array> {
    return readXattrs(path, names);
  }

  /** Flushes a file's data to disk. */
  fsync(path: string): Promise<void> {
    return wrap(path, async () => {
      using file = await Deno.open(path, { read: true });
      await file.syncData();
    });
  }
}

/**
 * A ready {@link DenoFileSystem}.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { denoFileSystem } from "@ocistream/ocistream/deno";
 * assertEquals((await denoFileSystem.readDir("/")).length > 0, true);
 * ```
 */
export const denoFileSystem: DenoFileSystem = new DenoFileSystem();
