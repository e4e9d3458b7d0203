/**
 * Decoding of single tar header blocks and PAX records (ustar, GNU and V7 variants).
 * Private helper of `UntarStream`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { decodeHeaderBlock } from "./_tar_decode.ts";
 * import { encodeTarHeader } from "@ocistream/ocistream/tar";
 * const block = encodeTarHeader({ path: "a", type: "file", mode: 0o644, uid: 0, gid: 0, mtime: 0 });
 * assertEquals(decodeHeaderBlock(block, 0)?.name, "a");
 * ```
 * @module
 */

const decoder = new TextDecoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true });

/** The fields of one header block, before PAX/GNU overrides are applied. */
export interface RawHeader {
  /** Name, joined with the ustar prefix when there is one. */
  name: string;
  /** Permission bits and whatever else the mode field holds. */
  mode: number;
  /** Owner id. */
  uid: number;
  /** Group id. */
  gid: number;
  /** Size field. */
  size: number;
  /** Modification time (whole seconds). */
  mtime: number;
  /** Type flag character (`"\0"` for old files). */
  flag: string;
  /** Link target. */
  linkName: string;
  /** Owner name. */
  uname: string;
  /** Group name. */
  gname: string;
  /** Device major. */
  devMajor: number;
  /** Device minor. */
  devMinor: number;
}

function readString(block: Uint8Array, offset: number, size: number): string {
  const field = block.subarray(offset, offset + size);
  const end = field.indexOf(0);
  return decoder.decode(end < 0 ? field : field.subarray(0, end));
}

function readNumber(block: Uint8Array, offset: number, size: number, what: string): number {
  const field = block.subarray(offset, offset + size);
  if (field[0] & 0x80) {
    // GNU base-256: big-endian two's complement over the bits after the 0x80 marker.
    let v = BigInt(field[0] & 0x7f);
    for (let i = 1; i < field.length; i++) v = (v << 8n) | BigInt(field[i]);
    if (field[0] & 0x40) v -= 1n << BigInt(8 * field.length - 1);
    return Number(v);
  }
  const text = decoder.decode(field).replace(/[\0 ]+$/, "").replace(/^[ \0]+/, "");
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) {
    throw new SyntaxError(`Invalid tar header: ${what} field "${text}" is not an octal number`);
  }
  return parseInt(text, 8);
}

function isZero(block: Uint8Array): boolean {
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}

/**
 * Decodes a 512-byte header block; `null` for an all-zero block (end of archive).
 * `offset` is only for error messages.
 */
export function decodeHeaderBlock(block: Uint8Array, offset: number): RawHeader | null {
  if (isZero(block)) return null;
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < 512; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i];
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  const stored = readNumber(block, 148, 8, "checksum");
  if (stored !== unsigned && stored !== signed) {
    throw new SyntaxError(
      `Invalid tar header at byte ${offset}: checksum ${stored} does not match ${unsigned}; ` +
        "the input is not a tar archive or is corrupt",
    );
  }
  const magic = decoder.decode(block.subarray(257, 263));
  const version = decoder.decode(block.subarray(263, 265));
  const isUstar = magic === "ustar\0" && version === "00";
  let name = readString(block, 0, 100);
  if (isUstar) {
    const prefix = readString(block, 345, 155);
    if (prefix !== "") name = `${prefix}/${name}`;
  }
  return {
    name,
    mode: readNumber(block, 100, 8, "mode"),
    uid: readNumber(block, 108, 8, "uid"),
    gid: readNumber(block, 116, 8, "gid"),
    size: readNumber(block, 124, 12, "size"),
    mtime: readNumber(block, 136, 12, "mtime"),
    flag: String.fromCharCode(block[156]),
    linkName: readString(block, 157, 100),
    uname: readString(block, 265, 32),
    gname: readString(block, 297, 32),
    devMajor: readNumber(block, 329, 8, "devmajor"),
    devMinor: readNumber(block, 337, 8, "devminor"),
  };
}

/**
 * Parses PAX records (`"<len> key=value\n"...`) into a map; later keys win. An xattr value
 * (`SCHILY.xattr.*`) that is not UTF-8 (a binary `security.capability`) is also put, as its
 * bytes, into `bytes` when given.
 */
export function parsePaxRecords(
  data: Uint8Array,
  path: string,
  bytes?: Map<string, Uint8Array>,
): Map<string, string> {
  const out = new Map<string, string>();
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) break; // some writers pad the data with NULs
    const space = data.indexOf(0x20, pos);
    const len = space < 0 ? NaN : Number(decoder.decode(data.subarray(pos, space)));
    if (
      !Number.isInteger(len) || len <= 0 || pos + len > data.length || data[pos + len - 1] !== 0x0a
    ) {
      throw new SyntaxError(`Invalid PAX header for ${path}: malformed record at byte ${pos}`);
    }
    const record = data.subarray(space + 1, pos + len - 1);
    const eq = record.indexOf(0x3d);
    if (eq < 0) {
      throw new SyntaxError(`Invalid PAX header for ${path}: record without "=" at byte ${pos}`);
    }
    const key = decoder.decode(record.subarray(0, eq));
    const value = record.subarray(eq + 1);
    out.set(key, decoder.decode(value));
    if (bytes && key.startsWith("SCHILY.xattr.")) {
      try {
        strictDecoder.decode(value);
        bytes.delete(key);
      } catch {
        bytes.set(key, value.slice());
      }
    }
    pos += len;
  }
  return out;
}
