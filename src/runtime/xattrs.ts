/**
 * Extended attributes of local files, read through libc with Deno's FFI
 * (`llistxattr`, `lgetxattr`; symlinks are not followed), since Deno has no
 * xattr API. Linux only; elsewhere, or when the process may not use FFI
 * (no `--allow-ffi`), every file reads as having none, so callers stay
 * portable.
 *
 * A value is returned as text when it is valid UTF-8, else as its bytes (a binary
 * `security.capability`, e.g. with `cap_setuid`); the tar writer writes either form
 * byte for byte.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { readXattrs, xattrsAvailable } from "./xattrs.ts";
 * assertEquals(typeof xattrsAvailable(), "boolean");
 * assertEquals(readXattrs("/", ["security.capability"]), {}); // none on most systems
 * ```
 * @module
 */

const SYMBOLS = {
  llistxattr: { parameters: ["buffer", "buffer", "usize"], result: "isize" },
  lgetxattr: { parameters: ["buffer", "buffer", "buffer", "usize"], result: "isize" },
} as const;

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

let libc: Libc | null | undefined;

function open(): Libc | null {
  if (libc !== undefined) return libc;
  libc = null;
  if (Deno.build.os !== "linux") return libc;
  try {
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return libc;
    libc = Deno.dlopen("libc.so.6", SYMBOLS).symbols;
  } catch {
    libc = null;
  }
  return libc;
}

/**
 * Whether this process can read extended attributes (Linux, FFI permitted, libc found).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { xattrsAvailable } from "./xattrs.ts";
 * // Linux with FFI allowed (as these tests run): capabilities can be read and kept.
 * assertEquals(xattrsAvailable(), Deno.build.os === "linux");
 * ```
 */
export function xattrsAvailable(): boolean {
  return open() !== null;
}

const encoder = new TextEncoder();
const strict = new TextDecoder("utf-8", { fatal: true });

function cString(text: string): Uint8Array<ArrayBuffer> {
  const bytes = encoder.encode(text);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/**
 * Calls `fn(buffer, size)` with a growing buffer until the answer fits; `undefined` when absent
 * or unreadable. `errno` is read by a second FFI call, and the runtime may make system calls
 * of its own in between (a build once failed on "errno 11", EAGAIN, which these calls never
 * set): so no errno is trusted enough to fail a build on, and only a value whose size the
 * second call confirms is returned.
 */
function readSized(
  call: (buf: Uint8Array<ArrayBuffer> | null, size: bigint) => number | bigint,
): Uint8Array | undefined {
  for (let attempt = 0; attempt < 4; attempt++) {
    const needed = Number(call(null, 0n));
    if (needed < 0) return undefined; // ENODATA, ENOTSUP, or the file went away
    if (needed === 0) return new Uint8Array(0);
    const buf = new Uint8Array(needed);
    const got = Number(call(buf, BigInt(needed)));
    if (got >= 0) return buf.subarray(0, got);
    // Usually ERANGE: the value grew between the two calls; ask again.
  }
  return undefined;
}

/**
 * The extended attributes of `path` (not following a final symlink): all of them, or only
 * those in `names`. `{}` where xattrs cannot be read (see {@link xattrsAvailable}).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { readXattrs } from "./xattrs.ts";
 * assertEquals(typeof readXattrs("/etc/hostname"), "object"); // usually {}
 * ```
 */
export function readXattrs(
  path: string,
  names?: readonly string[],
): Record<string, string | Uint8Array> {
  const c = open();
  if (c === null) return {};
  const file = cString(path);
  let wanted: readonly string[];
  if (names !== undefined) {
    wanted = names;
  } else {
    const list = readSized((buf, size) => c.llistxattr(file, buf, size));
    if (list === undefined || list.length === 0) return {};
    wanted = new TextDecoder().decode(list).split("\0").filter((n) => n !== "");
  }
  const out: Record<string, string | Uint8Array> = {};
  for (const name of [...wanted].sort()) {
    const key = cString(name);
    const value = readSized((buf, size) => c.lgetxattr(file, key, buf, size));
    if (value === undefined) continue;
    try {
      out[name] = strict.decode(value);
    } catch {
      out[name] = value.slice();
    }
  }
  return out;
}
