/**
 * Encodes the header block(s) of one tar entry the way Go's `archive/tar` (and so BuildKit)
 * does: plain ustar when everything fits, else a PAX extended header (`x`) before the ustar
 * header.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { encodeTarHeader, TAR_END, tarPadding } from "@ocistream/ocistream/tar";
 * const header = encodeTarHeader({
 *   path: "hello.txt", type: "file", mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 5,
 * });
 * assertEquals([header.length, tarPadding(5).length, TAR_END.length], [512, 507, 1024]);
 * ```
 * @module
 */

import type { TarEntry, TarEntryType } from "../types/tar_entry.ts";

/** Size of one tar block. */
export const TAR_BLOCK_SIZE = 512;

/**
 * The end-of-archive marker: two zero blocks (1024 bytes).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { TAR_END } from "@ocistream/ocistream/tar";
 * assertEquals(TAR_END.every((b) => b === 0), true);
 * ```
 */
export const TAR_END: Uint8Array = new Uint8Array(2 * TAR_BLOCK_SIZE);

const encoder = new TextEncoder();

const TYPE_FLAGS: Record<TarEntryType, string> = {
  file: "0",
  hardlink: "1",
  symlink: "2",
  char: "3",
  block: "4",
  directory: "5",
  fifo: "6",
};

// Largest values the ustar octal fields hold (Go's limits).
const MAX_OCTAL_7 = 0o7777777;
const MAX_OCTAL_11 = 0o77777777777;

/**
 * Zeros that pad a body of `size` bytes up to the next 512-byte boundary: a view into
 * {@link TAR_END} (no allocation), so never write to it.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { tarPadding } from "@ocistream/ocistream/tar";
 * assertEquals([tarPadding(1).length, tarPadding(512).length], [511, 0]);
 * ```
 */
export function tarPadding(size: number): Uint8Array {
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new RangeError(`Cannot pad a tar body of size ${size}: expected a non-negative integer`);
  }
  const rest = size % TAR_BLOCK_SIZE;
  return TAR_END.subarray(0, rest === 0 ? 0 : TAR_BLOCK_SIZE - rest);
}

/**
 * The path written into the tar for an entry: no leading `/` or `./`, folders end in `/`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { tarPath } from "@ocistream/ocistream/tar";
 * assertEquals(tarPath("./usr/bin", "directory"), "usr/bin/");
 * ```
 */
export function tarPath(path: string, type: TarEntryType): string {
  const p = trimTarPath(path);
  if (p === "") {
    // The root folder may appear as "./" (GNU tar writes it); nothing else can be the root.
    if (type === "directory") return "./";
    throw new TypeError(`Cannot write a tar entry for path "${path}": it names the root`);
  }
  return type === "directory" ? p + "/" : p;
}

/**
 * A tar path without leading `./` or `/` and trailing `/`, as writers and readers
 * compare them; `""` for the root (`.`, `./`, `/`).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { trimTarPath } from "@ocistream/ocistream/tar";
 * assertEquals([trimTarPath("./usr/bin/"), trimTarPath("./")], ["usr/bin", ""]);
 * ```
 */
export function trimTarPath(path: string): string {
  let p = path;
  for (;;) {
    if (p.startsWith("./")) p = p.slice(2);
    else if (p.startsWith("/")) p = p.slice(1);
    else break;
  }
  while (p.endsWith("/")) p = p.slice(0, -1);
  return p === "." ? "" : p;
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return false;
  return true;
}

// Go's toASCII: drops every non-ASCII character (best effort for the ustar field).
function toAscii(s: string): string {
  let out = "";
  for (const ch of s) if (ch.charCodeAt(0) < 0x80) out += ch;
  return out;
}

function writeString(block: Uint8Array, offset: number, size: number, s: string): void {
  // ASCII (nearly every field) is copied directly: a TextEncoder call per field costs more.
  if (s.length <= size && isAscii(s)) {
    for (let i = 0; i < s.length; i++) block[offset + i] = s.charCodeAt(i);
    return;
  }
  const bytes = encoder.encode(s);
  block.set(bytes.subarray(0, size), offset);
}

function writeOctal(block: Uint8Array, offset: number, size: number, value: number): void {
  // `size - 1` zero-padded octal digits and a NUL, like Go's formatOctal.
  const digits = value.toString(8).padStart(size - 1, "0");
  writeString(block, offset, size - 1, digits);
}

// GNU base-256: first byte 0x80, big-endian value in the rest (only for device numbers).
function writeBase256(block: Uint8Array, offset: number, size: number, value: number): void {
  let v = value;
  for (let i = offset + size - 1; i > offset; i--) {
    block[i] = v % 256;
    v = Math.floor(v / 256);
  }
  block[offset] = 0x80;
}

function writeNumeric(
  block: Uint8Array,
  offset: number,
  size: number,
  value: number,
  max: number,
): void {
  if (value <= max) writeOctal(block, offset, size, value);
  else writeBase256(block, offset, size, value);
}

// Go's splitUSTARPath: a name longer than 100 bytes may go into prefix (155) + name (100).
function splitUstarPath(name: string): [string, string] | undefined {
  let length = name.length;
  if (length <= 100 || !isAscii(name)) return undefined;
  if (length > 156) length = 156;
  else if (name[length - 1] === "/") length--;
  const i = name.lastIndexOf("/", length - 1);
  const nlen = name.length - i - 1;
  if (i <= 0 || nlen > 100 || nlen === 0 || i > 155) return undefined;
  return [name.slice(0, i), name.slice(i + 1)];
}

/** Go's `path.Join`: joins the non-empty parts with `/` and cleans the result (`path.Clean`). */
function joinClean(...parts: string[]): string {
  const joined = parts.filter((p) => p !== "").join("/");
  const out: string[] = [];
  for (const seg of joined.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === ".." && out.length > 0 && out[out.length - 1] !== "..") out.pop();
    else out.push(seg);
  }
  return out.join("/") || ".";
}

/** Formats a time in seconds as a PAX decimal (`1700000000.5`), at most 9 fractional digits. */
function formatPaxTime(t: number): string {
  if (Number.isInteger(t)) return String(t);
  const plain = String(t);
  if (!/e/i.test(plain)) {
    const dot = plain.indexOf(".");
    if (dot < 0 || plain.length - dot - 1 <= 9) return plain;
  }
  const sec = Math.floor(t);
  let nanos = Math.round((t - sec) * 1e9);
  let s = sec;
  if (nanos >= 1e9) {
    s += 1;
    nanos -= 1e9;
  }
  if (nanos === 0) return String(s);
  // Negative times: PAX writes -1.5 for sec -2 + 0.5, like Go's formatPAXTime.
  if (s < 0) {
    const neg = -(s + 1);
    const frac = String(1e9 - nanos).padStart(9, "0").replace(/0+$/, "");
    return `-${neg}.${frac}`;
  }
  return `${s}.${String(nanos).padStart(9, "0").replace(/0+$/, "")}`;
}

/** Encodes one PAX record: `"<len> <key>=<value>\n"` where len counts the whole record. */
function paxRecord(key: string, value: string | Uint8Array): Uint8Array {
  let body: Uint8Array;
  if (typeof value === "string") body = encoder.encode(` ${key}=${value}\n`);
  else {
    // A byte value (a binary xattr) goes in as it is, as Go's tar writer does.
    const head = encoder.encode(` ${key}=`);
    body = new Uint8Array(head.length + value.length + 1);
    body.set(head, 0);
    body.set(value, head.length);
    body[body.length - 1] = 0x0a;
  }
  let size = body.length;
  let total = size + String(size).length;
  if (String(total).length !== String(size).length) total = size + String(total).length;
  size = total;
  const out = new Uint8Array(size);
  out.set(encoder.encode(String(size)), 0);
  out.set(body, size - body.length);
  return out;
}

function checkNumber(entry: TarEntry, field: string, value: number | undefined): void {
  if (value === undefined) return;
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(
      `Cannot write tar entry ${entry.path}: ${field} is ${value}, expected a non-negative integer`,
    );
  }
}

function checkTime(entry: TarEntry, field: string, value: number | undefined): void {
  if (value === undefined) return;
  if (!Number.isFinite(value)) {
    throw new RangeError(`Cannot write tar entry ${entry.path}: ${field} is ${value}`);
  }
}

function finishBlock(block: Uint8Array): void {
  // Checksum over the block with the checksum field as spaces: 6 octal digits, NUL, space.
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < TAR_BLOCK_SIZE; i++) sum += block[i];
  writeOctal(block, 148, 7, sum);
  block[154] = 0;
  block[155] = 0x20;
}

function ustarBlock(fields: {
  name: string;
  prefix: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  flag: string;
  linkName: string;
  uname: string;
  gname: string;
  devMajor: number;
  devMinor: number;
  noDevice?: boolean;
}): Uint8Array {
  const block = new Uint8Array(TAR_BLOCK_SIZE);
  writeString(block, 0, 100, fields.name);
  writeOctal(block, 100, 8, fields.mode);
  writeOctal(block, 108, 8, fields.uid);
  writeOctal(block, 116, 8, fields.gid);
  writeOctal(block, 124, 12, fields.size);
  writeOctal(block, 136, 12, fields.mtime);
  writeString(block, 156, 1, fields.flag);
  writeString(block, 157, 100, fields.linkName);
  writeString(block, 257, 6, "ustar\0");
  writeString(block, 263, 2, "00");
  writeString(block, 265, 32, fields.uname);
  writeString(block, 297, 32, fields.gname);
  if (!fields.noDevice) {
    writeNumeric(block, 329, 8, fields.devMajor, MAX_OCTAL_7);
    writeNumeric(block, 337, 8, fields.devMinor, MAX_OCTAL_7);
  }
  writeString(block, 345, 155, fields.prefix);
  finishBlock(block);
  return block;
}

// The ustar header block's constant part: magic, version, device fields of 0 (as
// `writeNumeric` formats them) and the checksum field as spaces. Variable fields are zero here,
// so a header's checksum is TEMPLATE_SUM plus the bytes written into them.
const TEMPLATE = new Uint8Array(TAR_BLOCK_SIZE);
writeString(TEMPLATE, 257, 6, "ustar\0");
writeString(TEMPLATE, 263, 2, "00");
writeOctal(TEMPLATE, 329, 8, 0);
writeOctal(TEMPLATE, 337, 8, 0);
TEMPLATE.fill(0x20, 148, 156);
const TEMPLATE_SUM = TEMPLATE.reduce((n, b) => n + b, 0);

const FLAG_BYTES: Record<string, number> = {
  file: 0x30,
  hardlink: 0x31,
  symlink: 0x32,
  char: 0x33,
  block: 0x34,
  directory: 0x35,
  fifo: 0x36,
};

/** Writes `s[from, to)` (ASCII) at `offset`; returns the sum of the bytes written. */
function putAscii(target: Uint8Array, offset: number, s: string, from: number, to: number): number {
  let sum = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    target[offset + i - from] = c;
    sum += c;
  }
  return sum;
}

/** `size - 1` zero-padded octal digits (the NUL is already there); returns their byte sum. */
function putOctal(target: Uint8Array, offset: number, size: number, value: number): number {
  let v = value;
  let sum = 0;
  let i = offset + size - 2;
  // Above 2^31 - 1 (large sizes, times after 2038) by division, then with integer ops.
  for (; v > 0x7fffffff && i >= offset; i--) {
    const digit = v % 8;
    target[i] = 0x30 + digit;
    sum += 0x30 + digit;
    v = (v - digit) / 8;
  }
  for (; i >= offset; i--) {
    const digit = v & 7;
    target[i] = 0x30 + digit;
    sum += 0x30 + digit;
    v >>>= 3;
  }
  return sum;
}

/** Whether `s` is ASCII with at most `max` characters. */
function shortAscii(s: string, max: number): boolean {
  if (s.length > max) return false;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return false;
  return true;
}

function plainInteger(value: number | undefined, max: number): boolean {
  return value === undefined || (Number.isSafeInteger(value) && value >= 0 && value <= max);
}

/**
 * Writes the header of `entry` in place at `target[offset, offset + 512)` when it is one plain
 * ustar block (no PAX records: the common case) and returns 512; returns 0, writing nothing,
 * when the entry needs {@link encodeTarHeader} (PAX records, a path to clean, a value to check).
 * The bytes are those `encodeTarHeader` gives: a fixed template block, the fields written over
 * it and a running checksum, with no per-entry allocation.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { encodeTarHeader, writeTarHeader } from "@ocistream/ocistream/tar";
 * const entry = { path: "a.txt", type: "file" as const, mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 1 };
 * const block = new Uint8Array(512);
 * assertEquals(writeTarHeader(entry, block, 0), 512);
 * assertEquals(block.every((b, i) => b === encodeTarHeader(entry)[i]), true);
 * ```
 */
export function writeTarHeader(entry: TarEntry, target: Uint8Array, offset: number): number {
  const flag = FLAG_BYTES[entry.type];
  const path = entry.path;
  const n = path.length;
  if (
    typeof flag !== "number" || n === 0 || path.charCodeAt(0) === 0x2f ||
    path.charCodeAt(n - 1) === 0x2f ||
    path.startsWith("./") || path === "." || entry.atime !== undefined ||
    entry.ctime !== undefined || entry.xattrs !== undefined
  ) return 0;
  const size = entry.type === "file" ? entry.size ?? 0 : 0;
  const { mode, uid, gid, mtime } = entry;
  if (
    !plainInteger(size, MAX_OCTAL_11) || !plainInteger(mode, Number.MAX_SAFE_INTEGER) ||
    !plainInteger(uid, MAX_OCTAL_7) || !plainInteger(gid, MAX_OCTAL_7) ||
    !plainInteger(mtime, MAX_OCTAL_11) || !plainInteger(entry.devMajor, MAX_OCTAL_7) ||
    !plainInteger(entry.devMinor, MAX_OCTAL_7)
  ) return 0;
  const link = entry.linkName ?? "";
  if (entry.type === "hardlink" || entry.type === "symlink") {
    // Hardlink targets are cleaned like paths: leave anything to clean to encodeTarHeader.
    if (
      link === "" || (entry.type === "hardlink" &&
        (link.charCodeAt(0) === 0x2f || link.endsWith("/") || link.startsWith("./") ||
          link === "."))
    ) return 0;
  }
  const uname = entry.uname ?? "";
  const gname = entry.gname ?? "";
  if (!shortAscii(link, 100) || !shortAscii(uname, 32) || !shortAscii(gname, 32)) return 0;
  const dir = entry.type === "directory";
  let split: [string, string] | undefined;
  if (dir ? n + 1 > 100 : n > 100) {
    split = splitUstarPath(dir ? path + "/" : path);
    if (!split) return 0;
  } else if (!shortAscii(path, 100)) return 0;
  let sum = TEMPLATE_SUM;
  target.set(TEMPLATE, offset);
  if (split) {
    const [prefix, name] = split;
    sum += putAscii(target, offset, name, 0, name.length);
    sum += putAscii(target, offset + 345, prefix, 0, prefix.length);
  } else {
    sum += putAscii(target, offset, path, 0, n);
    if (dir) {
      target[offset + n] = 0x2f;
      sum += 0x2f;
    }
  }
  sum += putOctal(target, offset + 100, 8, mode & 0o7777);
  sum += putOctal(target, offset + 108, 8, uid);
  sum += putOctal(target, offset + 116, 8, gid);
  sum += putOctal(target, offset + 124, 12, size);
  sum += putOctal(target, offset + 136, 12, mtime);
  target[offset + 156] = flag;
  sum += flag;
  sum += putAscii(target, offset + 157, link, 0, link.length);
  sum += putAscii(target, offset + 265, uname, 0, uname.length);
  sum += putAscii(target, offset + 297, gname, 0, gname.length);
  const major = entry.devMajor ?? 0;
  const minor = entry.devMinor ?? 0;
  // The template holds devices 0 (its sum included): rewrite only others.
  if (major !== 0) sum += putOctal(target, offset + 329, 8, major) - 7 * 0x30;
  if (minor !== 0) sum += putOctal(target, offset + 337, 8, minor) - 7 * 0x30;
  // Checksum: 6 octal digits, NUL, space; the template's spaces are in TEMPLATE_SUM.
  putOctal(target, offset + 148, 7, sum);
  target[offset + 154] = 0;
  return TAR_BLOCK_SIZE;
}

/**
 * Encodes the header of one entry: a PAX extended header (`x` block plus its records,
 * padded) when needed, then the ustar header block. The result is a multiple of 512 bytes
 * and depends only on the entry's fields (deterministic).
 *
 * PAX records are written only when needed and sorted by key: `path`/`linkpath` longer than
 * the ustar fields (and not splittable into prefix/name) or non-ASCII, `size` ≥ 8 GiB,
 * `uid`/`gid` > 0o7777777, `uname`/`gname` non-ASCII or longer than 32 bytes, `mtime` with a
 * fractional part or out of the octal range, `atime`/`ctime` whenever present, and
 * `SCHILY.xattr.<name>` per extended attribute.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { encodeTarHeader } from "@ocistream/ocistream/tar";
 * const long = encodeTarHeader({
 *   path: "é".repeat(80), type: "file", mode: 0o644, uid: 0, gid: 0, mtime: 1.5, size: 0,
 * });
 * assertEquals(long.length, 1536); // x header, one block of records, ustar header
 * ```
 */
export function encodeTarHeader(entry: TarEntry): Uint8Array {
  const block = new Uint8Array(TAR_BLOCK_SIZE);
  if (writeTarHeader(entry, block, 0) !== 0) return block;
  return encodeTarHeaderGeneral(entry);
}

/**
 * {@link encodeTarHeader} without the in-place shortcut of {@link writeTarHeader}: every entry
 * through the general encoder (field checks, path cleaning, PAX records). The two give the same
 * bytes; tests compare them.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { encodeTarHeader, encodeTarHeaderGeneral } from "@ocistream/ocistream/tar";
 * const e = { path: "a", type: "file" as const, mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 0 };
 * assertEquals(encodeTarHeaderGeneral(e).join() === encodeTarHeader(e).join(), true);
 * ```
 */
export function encodeTarHeaderGeneral(entry: TarEntry): Uint8Array {
  const flag = Object.hasOwn(TYPE_FLAGS, entry.type) ? TYPE_FLAGS[entry.type] : undefined;
  if (flag === undefined) {
    throw new TypeError(`Cannot write tar entry ${entry.path}: unknown type "${entry.type}"`);
  }
  const name = tarPath(entry.path, entry.type);
  const size = entry.type === "file" ? entry.size ?? 0 : 0;
  checkNumber(entry, "size", size);
  checkNumber(entry, "uid", entry.uid);
  checkNumber(entry, "gid", entry.gid);
  checkNumber(entry, "mode", entry.mode);
  checkNumber(entry, "devMajor", entry.devMajor);
  checkNumber(entry, "devMinor", entry.devMinor);
  checkTime(entry, "mtime", entry.mtime);
  checkTime(entry, "atime", entry.atime);
  checkTime(entry, "ctime", entry.ctime);

  let linkName = entry.linkName ?? "";
  if (entry.type === "hardlink") {
    if (linkName === "") {
      throw new TypeError(`Cannot write hardlink ${entry.path}: linkName is empty`);
    }
    linkName = tarPath(linkName, "file");
  } else if (entry.type === "symlink" && linkName === "") {
    throw new TypeError(`Cannot write symlink ${entry.path}: linkName is empty`);
  }
  const uname = entry.uname ?? "";
  const gname = entry.gname ?? "";

  const pax = new Map<string, string | Uint8Array>();
  let ustarName = name;
  let ustarPrefix = "";
  if (!isAscii(name) || name.length > 100) {
    const split = splitUstarPath(name);
    if (split) [ustarPrefix, ustarName] = split;
    else {
      pax.set("path", name);
      ustarName = toAscii(name);
    }
  }
  let ustarLink = linkName;
  if (!isAscii(linkName) || linkName.length > 100) {
    pax.set("linkpath", linkName);
    ustarLink = toAscii(linkName);
  }
  let ustarUname = uname;
  if (!isAscii(uname) || uname.length > 32) {
    pax.set("uname", uname);
    ustarUname = toAscii(uname);
  }
  let ustarGname = gname;
  if (!isAscii(gname) || gname.length > 32) {
    pax.set("gname", gname);
    ustarGname = toAscii(gname);
  }
  let ustarSize = size;
  if (size > MAX_OCTAL_11) {
    pax.set("size", String(size));
    ustarSize = 0;
  }
  let ustarUid = entry.uid;
  if (entry.uid > MAX_OCTAL_7) {
    pax.set("uid", String(entry.uid));
    ustarUid = 0;
  }
  let ustarGid = entry.gid;
  if (entry.gid > MAX_OCTAL_7) {
    pax.set("gid", String(entry.gid));
    ustarGid = 0;
  }
  let ustarMtime = Math.floor(entry.mtime);
  if (!Number.isInteger(entry.mtime) || entry.mtime < 0 || entry.mtime > MAX_OCTAL_11) {
    pax.set("mtime", formatPaxTime(entry.mtime));
    ustarMtime = entry.mtime < 0 || entry.mtime > MAX_OCTAL_11 ? 0 : ustarMtime;
  }
  if (entry.atime !== undefined) pax.set("atime", formatPaxTime(entry.atime));
  if (entry.ctime !== undefined) pax.set("ctime", formatPaxTime(entry.ctime));
  for (const [key, value] of Object.entries(entry.xattrs ?? {})) {
    if (key === "" || key.includes("=") || key.includes("\0")) {
      throw new TypeError(`Cannot write tar entry ${entry.path}: invalid xattr name "${key}"`);
    }
    pax.set(`SCHILY.xattr.${key}`, value);
  }

  const header = ustarBlock({
    name: ustarName,
    prefix: ustarPrefix,
    mode: entry.mode & 0o7777,
    uid: ustarUid,
    gid: ustarGid,
    size: ustarSize,
    mtime: ustarMtime,
    flag,
    linkName: ustarLink,
    uname: ustarUname,
    gname: ustarGname,
    devMajor: entry.devMajor ?? 0,
    devMinor: entry.devMinor ?? 0,
  });
  if (pax.size === 0) return header;

  // Records sorted by key (byte order of the ASCII keys) so output is deterministic.
  const keys = [...pax.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const records = keys.map((k) => paxRecord(k, pax.get(k)!));
  const dataSize = records.reduce((n, r) => n + r.length, 0);
  // Go: `dir, file := path.Split(name); path.Join(dir, "PaxHeaders.0", file)` on the name
  // as written (folder `usr/` → `usr/PaxHeaders.0`, `a/b` → `a/PaxHeaders.0/b`), then ASCII,
  // at most 100 bytes, trailing slashes trimmed (writeRawFile).
  const slash = name.lastIndexOf("/");
  const paxName = toAscii(
    joinClean(name.slice(0, slash + 1), "PaxHeaders.0", name.slice(slash + 1)),
  ).slice(0, 100).replace(/\/+$/, "");
  const xBlock = ustarBlock({
    name: paxName,
    prefix: "",
    mode: 0,
    uid: 0,
    gid: 0,
    size: dataSize,
    mtime: 0,
    flag: "x",
    linkName: "",
    uname: "",
    gname: "",
    devMajor: 0,
    devMinor: 0,
    // Go's writeRawFile never formats the device fields of an `x` block: they stay NUL.
    noDevice: true,
  });
  const out = new Uint8Array(
    TAR_BLOCK_SIZE + dataSize + tarPadding(dataSize).length + TAR_BLOCK_SIZE,
  );
  out.set(xBlock, 0);
  let offset = TAR_BLOCK_SIZE;
  for (const r of records) {
    out.set(r, offset);
    offset += r.length;
  }
  out.set(header, out.length - TAR_BLOCK_SIZE);
  return out;
}
