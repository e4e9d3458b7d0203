import assert from "node:assert/strict";
import {
  encodeTarHeader,
  encodeTarHeaderGeneral,
  TAR_END,
  writeTarHeader,
} from "../../src/stages/tar_header.ts";
import type { TarEntry, TarEntryType } from "../../src/types/tar_entry.ts";
import { concat, tarOk } from "../fixtures/tar_tools.ts";

/** Deterministic generator (xorshift32), so a failure names a reproducible entry. */
function random(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x100000000;
  };
}

const TYPES: TarEntryType[] = [
  "file",
  "directory",
  "symlink",
  "hardlink",
  "fifo",
  "char",
  "block",
];

/** Entries around every limit the in-place encoder checks (lengths, octal ranges, ASCII). */
function generate(count: number, seed: number): TarEntry[] {
  const next = random(seed);
  const pick = <T>(items: T[]): T => items[Math.floor(next() * items.length)];
  // Mostly the plain first value, sometimes any: every field near its limits, yet many entries
  // plain enough for the in-place path.
  const mostly = <T>(items: T[]): T => next() < 0.8 ? items[0] : pick(items);
  const segment = () => {
    const length = pick([1, 3, 8, 30, 60, 99, 100, 101, 154, 155, 156]);
    const char = mostly(["a", "b", "-", "_", ".", "é", "世", "Z"]);
    return char.repeat(Math.max(1, Math.floor(length / char.length)));
  };
  const path = () => {
    const parts = Array.from({ length: 1 + Math.floor(next() * 4) }, segment);
    const p = parts.join("/");
    return mostly([p, `./${p}`, `/${p}`, `${p}/`, "."]);
  };
  const number = () =>
    mostly([0, 1, 7, 8, 0o777, 1000, 0o7777777, 0o7777777 + 1, 2 ** 31 - 1, 2 ** 31, 2 ** 33 - 1]);
  const time = () =>
    mostly([1700000000, 0, 1, 1700000000.5, -1, 0o77777777777, 0o77777777777 + 1, 2 ** 31]);
  const entries: TarEntry[] = [];
  for (let i = 0; i < count; i++) {
    const type = pick(TYPES);
    const e: TarEntry = {
      path: path(),
      type,
      mode: pick([0o644, 0o755, 0o4755, 0o7777, 0o100644]),
      uid: number(),
      gid: number(),
      mtime: time(),
    };
    if (type === "file") e.size = mostly([0, 1, 511, 512, 2 ** 33 - 1, 2 ** 33]);
    if (type === "symlink" || type === "hardlink" || next() < 0.05) e.linkName = path();
    if (type === "char" || type === "block") {
      e.devMajor = mostly([0, 1, 8, 0o7777777, 0o7777777 + 1]);
      e.devMinor = pick([0, 3, 255]);
    }
    if (next() < 0.3) e.uname = pick(["", "root", "u".repeat(32), "u".repeat(33), "ü"]);
    if (next() < 0.3) e.gname = pick(["", "wheel", "g".repeat(32), "g".repeat(33)]);
    if (next() < 0.05) e.atime = 1700000000;
    if (next() < 0.05) e.xattrs = { "user.a": "b" };
    entries.push(e);
  }
  return entries;
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function general(entry: TarEntry): Uint8Array | Error {
  try {
    return encodeTarHeaderGeneral(entry);
  } catch (e) {
    return e as Error;
  }
}

Deno.test("writeTarHeader() writes the general encoder's bytes, or nothing and 0", () => {
  const target = new Uint8Array(3 * 512).fill(0xee);
  let written = 0;
  for (const entry of generate(20000, 0x5eed)) {
    const expected = general(entry);
    target.fill(0xee);
    const n = writeTarHeader(entry, target, 512);
    const what = JSON.stringify(entry);
    // Never a byte outside its block.
    assert.ok(target.subarray(0, 512).every((b) => b === 0xee), what);
    assert.ok(target.subarray(1024).every((b) => b === 0xee), what);
    if (n === 0) {
      assert.ok(target.subarray(512, 1024).every((b) => b === 0xee), what);
      continue;
    }
    written++;
    assert.equal(n, 512, what);
    assert.ok(expected instanceof Uint8Array, `${what}: the general encoder fails: ${expected}`);
    assert.ok(same(target.subarray(512, 1024), expected), what);
    assert.ok(same(encodeTarHeader(entry), expected), what);
  }
  // The generator reaches the shortcut often enough for the comparison to mean something.
  assert.ok(written > 2000, `only ${written} entries took the in-place path`);
});

Deno.test("encodeTarHeader() throws the general encoder's errors", () => {
  for (const entry of generate(5000, 42)) {
    const expected = general(entry);
    if (!(expected instanceof Error)) continue;
    assert.throws(() => encodeTarHeader(entry), { message: expected.message });
  }
  assert.throws(
    () =>
      encodeTarHeader({
        path: "x",
        type: "constructor" as TarEntryType,
        mode: 0,
        uid: 0,
        gid: 0,
        mtime: 0,
      }),
    /unknown type "constructor"/,
  );
});

Deno.test("writeTarHeader() headers of a node_modules-like tree are listed by GNU tar", async () => {
  const long = ["@scope", "package-name-".repeat(5), "dist", "esm", "internal", "helpers"].join(
    "/",
  );
  const entries: TarEntry[] = [
    { path: "@scope", type: "directory", mode: 0o755, uid: 0, gid: 0, mtime: 1577836800 },
    { path: long, type: "directory", mode: 0o755, uid: 0, gid: 0, mtime: 1577836800 },
    {
      path: `${long}/index.js`,
      type: "file",
      mode: 0o644,
      uid: 0,
      gid: 0,
      mtime: 1577836800,
      size: 0,
    },
    {
      path: "@scope/.bin/tool",
      type: "symlink",
      linkName: "../package/cli.js",
      mode: 0o777,
      uid: 0,
      gid: 0,
      mtime: 1577836800,
    },
  ];
  const blocks = entries.map((e) => {
    const block = new Uint8Array(512);
    assert.equal(writeTarHeader(e, block, 0), 512, e.path);
    return block;
  });
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${dir}/a.tar`, concat([...blocks, TAR_END]));
    const out = await tarOk(["--numeric-owner", "-tvf", `${dir}/a.tar`]);
    const lines = out.trimEnd().split("\n").map((l) => l.replace(/ +/g, " "));
    const t = "2020-01-01 00:00";
    assert.deepEqual(lines, [
      `drwxr-xr-x 0/0 0 ${t} @scope/`,
      `drwxr-xr-x 0/0 0 ${t} ${long}/`,
      `-rw-r--r-- 0/0 0 ${t} ${long}/index.js`,
      `lrwxrwxrwx 0/0 0 ${t} @scope/.bin/tool -> ../package/cli.js`,
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
