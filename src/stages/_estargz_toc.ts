/**
 * The eStargz table of contents (`stargz.index.json`): its entries and their JSON text,
 * written byte for byte as the reference writer (`containerd/stargz-snapshotter/estargz`,
 * Go's `json.MarshalIndent(toc, "", "\t")`) writes them.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import {
 *   formatModtime,
 *   goJsonString,
 *   LANDMARK_CONTENTS,
 *   NO_PREFETCH_LANDMARK,
 *   PREFETCH_LANDMARK,
 *   TOC_TAR_NAME,
 *   type TocEntry,
 *   tocEntryJson,
 *   tocJsonFrame,
 * } from "./_estargz_toc.ts";
 * const dir: TocEntry = { name: "etc/", type: "dir", mode: 0o755, modtime: formatModtime(1.5) };
 * const { head, tail } = tocJsonFrame(1);
 * const json = head + tocEntryJson(dir) + tail;
 * assertEquals(JSON.parse(json).entries[0], {
 *   name: "etc/",
 *   type: "dir",
 *   modtime: "1970-01-01T00:00:02Z",
 *   mode: 0o755,
 * });
 * assertEquals(goJsonString("<a>"), String.raw`"\u003ca\u003e"`); // as Go's encoding/json
 * assertEquals(
 *   [TOC_TAR_NAME, PREFETCH_LANDMARK, NO_PREFETCH_LANDMARK, LANDMARK_CONTENTS],
 *   ["stargz.index.json", ".prefetch.landmark", ".no.prefetch.landmark", 0x0f],
 * );
 * ```
 * @module
 */

/** The name of the TOC's tar entry. */
export const TOC_TAR_NAME = "stargz.index.json";
/** The landmark written first when prioritized files come before it. */
export const PREFETCH_LANDMARK = ".prefetch.landmark";
/** The landmark written first when no file is prioritized. */
export const NO_PREFETCH_LANDMARK = ".no.prefetch.landmark";
/** The landmark's single byte. */
export const LANDMARK_CONTENTS = 0x0f;

/**
 * One TOC entry. Field order and omission follow the reference's `TOCEntry` struct: every
 * field but `name` and `type` is `omitempty` (absent when 0, "" or empty).
 */
export interface TocEntry {
  /** Tar entry name as in the tar header (folders end in `/`). */
  name: string;
  /** `dir`, `reg`, `symlink`, `hardlink`, `char`, `block`, `fifo` or `chunk`. */
  type: string;
  /** Size of a regular file. */
  size?: number;
  /** RFC 3339 UTC modification time, rounded to the second; absent for the epoch. */
  modtime?: string;
  /** Link target of symlinks and hardlinks. */
  linkName?: string;
  /** Permission bits as in the tar header. */
  mode?: number;
  /** Owner id. */
  uid?: number;
  /** Group id. */
  gid?: number;
  /** Owner name, only where it changed for this uid. */
  userName?: string;
  /** Group name, only where it changed for this gid. */
  groupName?: string;
  /** Offset in the blob of the gzip member holding this file's (chunk's) data. */
  offset?: number;
  /** Device major number. */
  devMajor?: number;
  /** Device minor number. */
  devMinor?: number;
  /** Extended attributes, values as bytes (base64 in JSON, as Go encodes `[]byte`). */
  xattrs?: Record<string, Uint8Array>;
  /** `sha256:` digest of a regular file's whole content. */
  digest?: string;
  /** Offset of this chunk in the file. */
  chunkOffset?: number;
  /** Size of this chunk; absent for the last chunk of a file (it runs to the end). */
  chunkSize?: number;
  /** `sha256:` digest of this chunk. */
  chunkDigest?: string;
}

const HEX = "0123456789abcdef";

/**
 * Quotes a string as Go's `encoding/json` does (Go 1.19, the reference's toolchain here):
 * `<`, `>`, `&`, U+2028 and U+2029 escaped, control characters as `\n`, `\r`, `\t` or
 * `\u00XX`, lone surrogates replaced by U+FFFD.
 */
export function goJsonString(s: string): string {
  let out = '"';
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let esc: string | undefined;
    if (c < 0x20 || c === 0x22 || c === 0x5c || c === 0x3c || c === 0x3e || c === 0x26) {
      switch (c) {
        case 0x22:
          esc = '\\"';
          break;
        case 0x5c:
          esc = "\\\\";
          break;
        case 0x0a:
          esc = "\\n";
          break;
        case 0x0d:
          esc = "\\r";
          break;
        case 0x09:
          esc = "\\t";
          break;
        default:
          esc = "\\u00" + HEX[c >> 4] + HEX[c & 0xf];
      }
    } else if (c === 0x2028 || c === 0x2029) {
      esc = c === 0x2028 ? "\\u2028" : "\\u2029";
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const next = s.charCodeAt(i + 1);
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        i++; // a valid pair: kept as is
        continue;
      }
      esc = "\ufffd";
    }
    if (esc !== undefined) {
      out += s.slice(start, i) + esc;
      start = i + 1;
    }
  }
  return out + s.slice(start) + '"';
}

function base64(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

const utf8 = new TextEncoder();

function compareUtf8(a: string, b: string): number {
  const x = utf8.encode(a);
  const y = utf8.encode(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

/**
 * Serializes one TOC entry as an element of the `entries` array of
 * `json.MarshalIndent(toc, "", "\t")`: indented by two tabs, no trailing comma.
 */
export function tocEntryJson(e: TocEntry): string {
  const fields: string[] = [];
  const str = (key: string, v: string | undefined) => {
    if (v) fields.push(`"${key}": ${goJsonString(v)}`);
  };
  const num = (key: string, v: number | undefined) => {
    if (v) fields.push(`"${key}": ${v}`);
  };
  fields.push(`"name": ${goJsonString(e.name)}`);
  fields.push(`"type": ${goJsonString(e.type)}`);
  num("size", e.size);
  str("modtime", e.modtime);
  str("linkName", e.linkName);
  num("mode", e.mode);
  num("uid", e.uid);
  num("gid", e.gid);
  str("userName", e.userName);
  str("groupName", e.groupName);
  num("offset", e.offset);
  num("devMajor", e.devMajor);
  num("devMinor", e.devMinor);
  const keys = Object.keys(e.xattrs ?? {});
  if (keys.length > 0) {
    // Go sorts map keys by their bytes.
    keys.sort(compareUtf8);
    const inner = keys.map((k) => `\t\t\t\t${goJsonString(k)}: "${base64(e.xattrs![k])}"`);
    fields.push(`"xattrs": {\n${inner.join(",\n")}\n\t\t\t}`);
  }
  str("digest", e.digest);
  num("chunkOffset", e.chunkOffset);
  num("chunkSize", e.chunkSize);
  str("chunkDigest", e.chunkDigest);
  return `\t\t{\n\t\t\t${fields.join(",\n\t\t\t")}\n\t\t}`;
}

/**
 * The whole TOC JSON (`{version: 1, entries}`) is `head`, then `count` serialized entries
 * joined by `",\n"`, then `tail`; the writer streams the entries in between.
 */
export function tocJsonFrame(count: number): { head: string; tail: string } {
  return count === 0
    ? { head: `{\n\t"version": 1,\n\t"entries": []`, tail: "\n}" }
    : { head: `{\n\t"version": 1,\n\t"entries": [\n`, tail: "\n\t]\n}" };
}

/**
 * The TOC `modtime` of a tar mtime (seconds, maybe fractional, as the tar header carries it):
 * Go's `t.UTC().Round(time.Second).Format(time.RFC3339)`, and "" when the whole seconds are 0.
 */
export function formatModtime(mtime: number): string {
  // Same split into seconds and nanoseconds as the PAX record the tar writer emits.
  let sec = Math.floor(mtime);
  let nanos = Math.round((mtime - sec) * 1e9);
  if (nanos >= 1e9) {
    sec += 1;
    nanos -= 1e9;
  }
  if (sec === 0) return "";
  // Go rounds half up.
  const rounded = nanos >= 5e8 ? sec + 1 : sec;
  const iso = new Date(rounded * 1000).toISOString();
  return iso.slice(0, iso.length - 5) + "Z";
}
