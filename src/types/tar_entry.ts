/**
 * One entry of a layer tar, the unit every source produces and the tar writer consumes.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { type TarEntry, tarPath } from "@ocistream/ocistream/tar";
 * const e: TarEntry = { path: "etc", type: "directory", mode: 0o755, uid: 0, gid: 0, mtime: 0 };
 * assertEquals(tarPath(e.path, e.type), "etc/");
 * ```
 * @module
 */

/** File types a layer can hold. */
export type TarEntryType =
  | "file"
  | "directory"
  | "symlink"
  | "hardlink"
  | "fifo"
  | "char"
  | "block";

/** A tar entry with its metadata and, for files, a lazily opened body. */
export interface TarEntry {
  /** Path relative to the root, `/`-separated, without leading `/` or `./` or trailing `/`. */
  path: string;
  /** Entry type. */
  type: TarEntryType;
  /** Permission bits including setuid/setgid/sticky (`0o7777` mask). */
  mode: number;
  /** Owner id. */
  uid: number;
  /** Group id. */
  gid: number;
  /** Owner name. */
  uname?: string;
  /** Group name. */
  gname?: string;
  /** Size in bytes of a regular file's body; 0 or absent for other types. */
  size?: number;
  /** Modification time in seconds since the epoch; may be fractional. */
  mtime: number;
  /** Access time (written only when present). */
  atime?: number;
  /** Change time (written only when present). */
  ctime?: number;
  /** Symlink target, or for hardlinks the path of the first entry with the same inode. */
  linkName?: string;
  /** Device major number. */
  devMajor?: number;
  /** Device minor number. */
  devMinor?: number;
  /**
   * Extended attributes (PAX `SCHILY.xattr.*`): a text value is written as UTF-8, a byte
   * value (e.g. a binary `security.capability`) as its bytes.
   */
  xattrs?: Record<string, string | Uint8Array>;
  /** Opens the body of a regular file; it must yield exactly `size` bytes. */
  open?: () => ReadableStream<Uint8Array> | Promise<ReadableStream<Uint8Array>>;
}
