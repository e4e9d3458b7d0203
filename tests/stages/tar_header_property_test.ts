/**
 * Property tests of tar headers against GNU tar: seeded random names, link targets and
 * xattr values of 1–300 bytes, ASCII and multi-byte (2, 3 and 4-byte UTF-8), owners and
 * times in and out of ustar range. GNU tar lists each archive (`--full-time -tv`) and the
 * listing is compared with what each entry says; xattr values are extracted by GNU tar
 * and read back with getfattr. Lengths near the PAX record size boundaries (a record
 * length gaining a digit) come up on purpose.
 */
import assert from "node:assert/strict";
import { encodeTarHeader, TAR_END, tarPadding } from "../../src/stages/tar_header.ts";
import type { TarEntry } from "../../src/types/tar_entry.ts";
import { concat, runTar, tarOk } from "../fixtures/tar_tools.ts";
import { withTempDir } from "../_harness/store.ts";
import { run } from "../_harness/cli.ts";

/** A small seeded generator (mulberry32), so a failure names a reproducible case. */
function prng(seed: number): () => number {
  let t = seed >>> 0;
  return () => {
    t = (t + 0x6d2b79f5) >>> 0;
    let r = Math.imul(t ^ (t >>> 15), 1 | t);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}

const ASCII = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.+=,";
/** 2, 3 and 4 bytes in UTF-8. */
const MULTI = ["é", "ß", "ж", "世", "界", "€", "😀", "𝄞"];
const utf8 = (s: string) => new TextEncoder().encode(s).byteLength;

/** A string of exactly `bytes` UTF-8 bytes, ASCII only or with multi-byte characters. */
function text(rand: () => number, bytes: number, multi: boolean): string {
  let out = "";
  let n = 0;
  while (n < bytes) {
    const left = bytes - n;
    let c = ASCII[Math.floor(rand() * ASCII.length)]!;
    if (multi && rand() < 0.6) {
      const fits = MULTI.filter((m) => utf8(m) <= left);
      if (fits.length > 0) c = fits[Math.floor(rand() * fits.length)]!;
    }
    out += c;
    n += utf8(c);
  }
  return out;
}

/** A relative path of exactly `bytes` bytes: components of 1–60 bytes, none "." or "..". */
function pathOf(rand: () => number, bytes: number, multi: boolean): string {
  const parts: string[] = [];
  let left = bytes;
  while (left > 0) {
    // Leave no room for a lone slash at the end: the last component takes the rest.
    let len = Math.min(left, 1 + Math.floor(rand() * 60));
    if (left - len === 1) len = left;
    let part = text(rand, len, multi);
    if (part === "." || part === "..") part = "x".repeat(len);
    parts.push(part);
    left -= len + 1;
    if (left <= 0) break;
  }
  return parts.join("/");
}

/** Byte lengths 1–300, with the PAX record boundaries and the ustar limits made likely. */
function length(rand: () => number): number {
  const edges = [1, 2, 90, 91, 92, 93, 94, 99, 100, 101, 155, 156, 255, 256, 299, 300];
  return rand() < 0.3 ? edges[Math.floor(rand() * edges.length)]! : 1 + Math.floor(rand() * 300);
}

const TYPE_CHAR: Record<string, string> = {
  file: "-",
  directory: "d",
  symlink: "l",
  hardlink: "h",
};

/** `ls -l` style mode as GNU tar prints it. */
function modeString(type: string, mode: number): string {
  const bit = (m: number, c: string) => (mode & m ? c : "-");
  const special = (x: number, s: number, lower: string) =>
    mode & s ? (mode & x ? lower : lower.toUpperCase()) : bit(x, "x");
  return TYPE_CHAR[type]! +
    bit(0o400, "r") + bit(0o200, "w") + special(0o100, 0o4000, "s") +
    bit(0o040, "r") + bit(0o020, "w") + special(0o010, 0o2000, "s") +
    bit(0o004, "r") + bit(0o002, "w") + special(0o001, 0o1000, "t");
}

function timeString(t: number): string {
  const whole = Math.floor(t);
  const iso = new Date(whole * 1000).toISOString();
  const frac = t - whole;
  // Only binary fractions are generated, so the decimal digits are exact.
  const digits = frac === 0 ? "" : String(frac).slice(1);
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${digits}`;
}

/** What `tar --numeric-owner --full-time -tv` prints for an entry (spaces squeezed). */
function expectedLine(e: TarEntry): string {
  const size = e.type === "file" ? String(e.size ?? 0) : "0";
  const name = e.type === "directory" ? `${e.path}/` : e.path;
  const link = e.type === "symlink"
    ? ` -> ${e.linkName}`
    : e.type === "hardlink"
    ? ` link to ${e.linkName}`
    : "";
  return `${modeString(e.type, e.mode)} ${e.uid}/${e.gid} ${size} ${
    timeString(e.mtime)
  } ${name}${link}`;
}

/** Random entries: every field that can need PAX varies, one at a time and together. */
function entries(seed: number, count: number): TarEntry[] {
  const rand = prng(seed);
  const out: TarEntry[] = [];
  const types = ["file", "directory", "symlink", "hardlink"] as const;
  for (let i = 0; i < count; i++) {
    const type = types[Math.floor(rand() * types.length)]!;
    const multi = rand() < 0.5;
    // A numbered prefix keeps names unique, so GNU tar never sees a duplicate.
    const prefix = `${i}/`;
    const path = prefix + pathOf(rand, Math.max(1, length(rand) - prefix.length), multi);
    const big = rand() < 0.2;
    const e: TarEntry = {
      path,
      type,
      mode: type === "symlink"
        ? 0o777
        : (type === "directory" ? 0o755 : 0o644) | (rand() < 0.2 ? 0o4000 | 0o2000 : 0),
      uid: big ? 0o7777777 + 1 + Math.floor(rand() * 1e6) : Math.floor(rand() * 70000),
      gid: big ? 0o7777777 + 1 + Math.floor(rand() * 1e6) : Math.floor(rand() * 70000),
      // Past 2^33 - 1 seconds (year 2242) the ustar field overflows into PAX.
      mtime: Math.floor(rand() * (rand() < 0.2 ? 2 ** 34 : 2 ** 31)) + (rand() < 0.2 ? 0.5 : 0),
    };
    if (type === "file") e.size = rand() < 0.3 ? Math.floor(rand() * 1000) : 0;
    if (type === "symlink") e.linkName = pathOf(rand, length(rand), rand() < 0.5);
    if (type === "hardlink") {
      const earlier = out.filter((o) => o.type === "file");
      if (earlier.length === 0) {
        e.type = "file";
        e.size = 0;
      } else e.linkName = earlier[Math.floor(rand() * earlier.length)]!.path;
    }
    out.push(e);
  }
  return out;
}

function archive(list: TarEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of list) {
    parts.push(encodeTarHeader(e));
    const size = e.type === "file" ? e.size ?? 0 : 0;
    if (size > 0) parts.push(new Uint8Array(size).fill(0x61), tarPadding(size));
  }
  parts.push(TAR_END);
  return concat(parts);
}

/** GNU tar's listing: fails on any warning (a malformed PAX header is only a warning). */
async function gnuList(dir: string, bytes: Uint8Array, extra: string[] = []): Promise<string[]> {
  await Deno.writeFile(`${dir}/a.tar`, bytes);
  const r = await runTar(["--numeric-owner", "--full-time", "-tvf", `${dir}/a.tar`, ...extra]);
  assert.equal(r.stderr, "", "GNU tar warned");
  assert.equal(r.code, 0);
  return r.stdout.trimEnd().split("\n").map((l) => l.replace(/ +/g, " "));
}

for (const seed of [1, 2, 3, 4]) {
  Deno.test(`encodeTarHeader() random names, link targets, owners and times are listed by GNU tar as written (seed ${seed})`, async () => {
    const list = entries(seed, 250);
    await withTempDir("ocistream-tar-prop-", async (dir) => {
      const lines = await gnuList(dir, archive(list));
      assert.equal(lines.length, list.length);
      for (const [i, e] of list.entries()) {
        assert.equal(lines[i], expectedLine(e), `seed ${seed}, entry ${i}`);
      }
    });
  });
}

Deno.test("encodeTarHeader() PAX records whose length gains a digit are read by GNU tar", async () => {
  // " path=" + 92 bytes + "\n" is 99 bytes: with its own length the record is 102, not 101.
  const list: TarEntry[] = [];
  for (const [i, c] of ["é", "世", "😀", "a"].entries()) {
    for (let bytes = 85; bytes <= 100; bytes++) {
      const name = `${i}/` + c.repeat(Math.floor(bytes / utf8(c))).padEnd(bytes, "x");
      list.push({ path: name, type: "file", mode: 0o644, uid: 0, gid: 0, mtime: 1700000000 });
      list.push({
        path: `${name}.l`,
        type: "symlink",
        linkName: "é".repeat(46),
        mode: 0o777,
        uid: 0,
        gid: 0,
        mtime: 1700000000,
      });
    }
  }
  list.push({
    path: "é".repeat(46),
    type: "file",
    mode: 0o644,
    uid: 0,
    gid: 0,
    mtime: 1700000000,
  });
  await withTempDir("ocistream-tar-pax-", async (dir) => {
    const lines = await gnuList(dir, archive(list));
    assert.deepEqual(lines, list.map(expectedLine));
  });
});

/** `getfattr -d -e hex` of every file below `root`: file name → xattr name → hex value. */
async function readXattrs(root: string): Promise<Map<string, Map<string, string>>> {
  const r = await run("getfattr", [
    "-R",
    "-d",
    "-m",
    "^user\\.",
    "-e",
    "hex",
    "--absolute-names",
    root,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const out = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  for (const line of r.stdout.split("\n")) {
    const file = line.match(/^# file: (.*)$/);
    if (file) {
      current = new Map();
      out.set(file[1]!.slice(root.length + 1), current);
      continue;
    }
    const attr = line.match(/^([^=]+)=0x([0-9a-f]+)$/);
    if (attr && current) current.set(attr[1]!, attr[2]!);
  }
  return out;
}

const hex = (s: string) =>
  [...new TextEncoder().encode(s)].map((b) => b.toString(16).padStart(2, "0")).join("");

Deno.test("encodeTarHeader() random xattr values of 1–300 bytes are extracted by GNU tar byte for byte", async () => {
  const rand = prng(22);
  const list: TarEntry[] = [];
  const want = new Map<string, Map<string, string>>();
  for (let i = 0; i < 120; i++) {
    const xattrs: Record<string, string> = {};
    const values = new Map<string, string>();
    const n = 1 + Math.floor(rand() * 3);
    for (let k = 0; k < n; k++) {
      const value = text(rand, length(rand), rand() < 0.5);
      xattrs[`user.k${k}`] = value;
      values.set(`user.k${k}`, hex(value));
    }
    const path = `f${i}-${text(rand, 1 + Math.floor(rand() * 40), rand() < 0.5)}`;
    list.push({ path, type: "file", mode: 0o644, uid: 0, gid: 0, mtime: 1700000000, xattrs });
    want.set(path, values);
  }
  await withTempDir("ocistream-tar-xattr-", async (dir) => {
    const bytes = archive(list);
    // The listing shows each xattr's length and name.
    const listing = await gnuList(dir, bytes, ["--xattrs", "-v"]);
    const shown = listing.filter((l) => l.startsWith(" x: ")).length;
    assert.equal(shown, [...want.values()].reduce((n, m) => n + m.size, 0));
    await Deno.mkdir(`${dir}/out`);
    await tarOk([
      "--xattrs",
      "--xattrs-include=user.*",
      "-xf",
      `${dir}/a.tar`,
      "-C",
      `${dir}/out`,
    ]);
    const got = await readXattrs(`${dir}/out`);
    for (const [path, values] of want) {
      assert.deepEqual(got.get(path), values, `xattrs of ${path}`);
    }
  });
});
