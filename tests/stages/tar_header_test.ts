import assert from "node:assert/strict";
import { encodeTarHeader, TAR_END, tarPadding, tarPath } from "../../src/stages/tar_header.ts";
import type { TarEntry } from "../../src/types/tar_entry.ts";
import { concat, runTar, tarOk } from "../fixtures/tar_tools.ts";

const base = { mode: 0o644, uid: 0, gid: 0, mtime: 1700000000 };

/** A header-only archive: entries with size 0, or a body of zeros when small. */
function archive(entries: TarEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    parts.push(encodeTarHeader(e));
    const size = e.type === "file" ? e.size ?? 0 : 0;
    if (size > 0) parts.push(new Uint8Array(size), tarPadding(size));
  }
  parts.push(TAR_END);
  return concat(parts);
}

async function list(bytes: Uint8Array, extra: string[] = []): Promise<string[]> {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${dir}/a.tar`, bytes);
    const out = await tarOk(["--numeric-owner", "--full-time", "-tvf", `${dir}/a.tar`, ...extra]);
    return out.trimEnd().split("\n").map((l) => l.replace(/ +/g, " "));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function paxRecords(header: Uint8Array): string {
  assert.equal(String.fromCharCode(header[156]), "x");
  const size = parseInt(new TextDecoder().decode(header.subarray(124, 135)), 8);
  return new TextDecoder().decode(header.subarray(512, 512 + size));
}

Deno.test("encodeTarHeader() writes a plain ustar block when everything fits", () => {
  const h = encodeTarHeader({ ...base, path: "etc/passwd", type: "file", size: 10 });
  assert.equal(h.length, 512);
  const t = new TextDecoder();
  assert.equal(t.decode(h.subarray(0, 10)), "etc/passwd");
  assert.equal(h[10], 0);
  assert.equal(t.decode(h.subarray(100, 108)), "0000644\0");
  assert.equal(t.decode(h.subarray(124, 136)), "00000000012\0");
  assert.equal(t.decode(h.subarray(136, 148)), "14524770400\0");
  assert.equal(t.decode(h.subarray(257, 265)), "ustar\u000000");
  assert.equal(h[156], 0x30);
  // Checksum: 6 octal digits, NUL, space; sum with the field as spaces.
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i];
  assert.equal(t.decode(h.subarray(148, 156)), sum.toString(8).padStart(6, "0") + "\0 ");
});

Deno.test("encodeTarHeader() is deterministic and sorts PAX records by key", () => {
  const e: TarEntry = {
    ...base,
    path: "ü".repeat(70),
    type: "file",
    size: 0,
    mtime: 1700000000.5,
    atime: 1.25,
    xattrs: { "user.b": "2", "user.a": "1" },
  };
  const a = encodeTarHeader(e);
  assert.deepEqual(a, encodeTarHeader({ ...e }));
  const records = paxRecords(a);
  const keys = records.trimEnd().split("\n").map((r) => r.split(" ")[1].split("=")[0]);
  assert.deepEqual(keys, [
    "SCHILY.xattr.user.a",
    "SCHILY.xattr.user.b",
    "atime",
    "mtime",
    "path",
  ]);
  assert.match(records, /^\d+ SCHILY.xattr.user.a=1\n/);
  assert.ok(records.includes(" mtime=1700000000.5\n"));
  // Each record's length prefix counts the whole record.
  for (const rec of records.split(/(?<=\n)/)) {
    assert.equal(new TextEncoder().encode(rec).length, Number(rec.split(" ")[0]));
  }
});

Deno.test("encodeTarHeader() writes PAX only when needed", () => {
  assert.equal(encodeTarHeader({ ...base, path: "a".repeat(100), type: "file" }).length, 512);
  // 150 bytes with a '/' that splits into prefix + name: ustar, no PAX (as Go does).
  const split = encodeTarHeader({
    ...base,
    path: "d".repeat(80) + "/" + "f".repeat(69),
    type: "file",
  });
  assert.equal(split.length, 512);
  assert.equal(new TextDecoder().decode(split.subarray(345, 425)), "d".repeat(80));
  // Whole seconds, no atime/ctime: no PAX.
  assert.equal(encodeTarHeader({ ...base, path: "x", type: "directory" }).length, 512);
  // Sub-second mtime: PAX.
  assert.ok(encodeTarHeader({ ...base, path: "x", type: "file", mtime: 5.25 }).length > 512);
  const pax = (e: Partial<TarEntry>) =>
    paxRecords(encodeTarHeader({ ...base, path: "x", type: "file", ...e } as TarEntry));
  assert.match(pax({ uid: 0o10000000 }), / uid=2097152\n/);
  assert.match(pax({ gid: 3000000 }), / gid=3000000\n/);
  assert.match(pax({ size: 8 * 2 ** 30 }), / size=8589934592\n/);
  assert.match(pax({ uname: "jösé" }), / uname=jösé\n/);
  assert.match(pax({ gname: "g".repeat(33) }), / gname=g{33}\n/);
  assert.match(pax({ ctime: 7 }), / ctime=7\n/);
  assert.match(pax({ mtime: 1700000000.123 }), / mtime=1700000000.123\n/);
});

Deno.test("tarPath() drops ./ and / prefixes and marks folders", () => {
  assert.equal(tarPath("./a/b/", "directory"), "a/b/");
  assert.equal(tarPath("/a", "file"), "a");
  assert.equal(tarPath(".", "directory"), "./");
  assert.throws(() => tarPath("", "file"), TypeError);
});

Deno.test("tarPadding() pads to 512 and TAR_END is two zero blocks", () => {
  assert.equal(tarPadding(0).length, 0);
  assert.equal(tarPadding(1).length, 511);
  assert.equal(tarPadding(1024).length, 0);
  assert.equal(TAR_END.length, 1024);
  assert.throws(() => tarPadding(-1), RangeError);
});

Deno.test("encodeTarHeader() rejects bad fields with clear errors", () => {
  assert.throws(
    () => encodeTarHeader({ ...base, path: "l", type: "symlink" }),
    /symlink l: linkName is empty/,
  );
  assert.throws(
    () => encodeTarHeader({ ...base, path: "f", type: "file", size: -1 }),
    RangeError,
  );
  assert.throws(() => encodeTarHeader({ ...base, path: "f", type: "file", uid: 1.5 }), RangeError);
});

Deno.test("encodeTarHeader() headers are listed correctly by GNU tar", async () => {
  const name120 = "n".repeat(116) + ".txt";
  const path300 = ["a".repeat(70), "b".repeat(70), "c".repeat(70), "d".repeat(70), "f.txt"].join(
    "/",
  );
  const target150 = "../" + "t".repeat(147);
  const lines = await list(archive([
    { ...base, path: "dir", type: "directory", mode: 0o755 },
    { ...base, path: "dir/file", type: "file", size: 5, uid: 1000, gid: 1001 },
    { ...base, path: name120, type: "file", mode: 0o600 },
    { ...base, path: path300, type: "file" },
    { ...base, path: "héllo-世界.txt", type: "file", size: 3 },
    { ...base, path: "rel", type: "symlink", linkName: target150, mode: 0o777 },
    { ...base, path: "uni-link", type: "symlink", linkName: "wörld", mode: 0o777 },
    { ...base, path: "hard", type: "hardlink", linkName: path300 },
    { ...base, path: "big-ids", type: "file", uid: 3000000, gid: 0o7777777 + 1 },
    { ...base, path: "frac", type: "file", mtime: 1700000000.25 },
    { ...base, path: "fifo", type: "fifo" },
    { ...base, path: "null", type: "char", devMajor: 1, devMinor: 3, mode: 0o666 },
    { ...base, path: "sda", type: "block", devMajor: 8, devMinor: 0, mode: 0o660 },
    { ...base, path: "suid", type: "file", mode: 0o4755 },
  ]));
  const t = "2023-11-14 22:13:20";
  assert.deepEqual(lines, [
    `drwxr-xr-x 0/0 0 ${t} dir/`,
    `-rw-r--r-- 1000/1001 5 ${t} dir/file`,
    `-rw------- 0/0 0 ${t} ${name120}`,
    `-rw-r--r-- 0/0 0 ${t} ${path300}`,
    `-rw-r--r-- 0/0 3 ${t} héllo-世界.txt`,
    `lrwxrwxrwx 0/0 0 ${t} rel -> ${target150}`,
    `lrwxrwxrwx 0/0 0 ${t} uni-link -> wörld`,
    `hrw-r--r-- 0/0 0 ${t} hard link to ${path300}`,
    `-rw-r--r-- 3000000/2097152 0 ${t} big-ids`,
    `-rw-r--r-- 0/0 0 ${t}.25 frac`,
    `prw-r--r-- 0/0 0 ${t} fifo`,
    `crw-rw-rw- 0/0 1,3 ${t} null`,
    `brw-rw---- 0/0 8,0 ${t} sda`,
    `-rwsr-xr-x 0/0 0 ${t} suid`,
  ]);
});

Deno.test("encodeTarHeader() writes owner names GNU tar shows", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(
      `${dir}/a.tar`,
      archive([
        { ...base, path: "f", type: "file", uname: "alice", gname: "staff" },
        { ...base, path: "g", type: "file", uname: "jösé", gname: "grüppe" },
      ]),
    );
    const out = await tarOk(["--full-time", "-tvf", `${dir}/a.tar`]);
    assert.match(out, /alice\/staff .* f\n/);
    assert.match(out, /jösé\/grüppe .* g\n/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("encodeTarHeader() size over 8 GiB is read by GNU tar from PAX", async () => {
  // Header only, then a truncated body: GNU tar lists the first member and then fails.
  const size = 9 * 2 ** 30 + 7;
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(
      `${dir}/a.tar`,
      concat([encodeTarHeader({ ...base, path: "huge.img", type: "file", size })]),
    );
    const r = await runTar(["--numeric-owner", "-tvf", `${dir}/a.tar`], undefined);
    assert.match(r.stdout, new RegExp(`^-rw-r--r-- 0/0 +${size} .* huge\\.img\n`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("encodeTarHeader() xattrs are extracted by GNU tar --xattrs", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(
      `${dir}/a.tar`,
      archive([{ ...base, path: "x.txt", type: "file", xattrs: { "user.color": "blue" } }]),
    );
    const out = await tarOk(["--xattrs", "-tvvf", `${dir}/a.tar`]);
    // GNU tar prints "x: <len> <name>" lines for the xattrs it read.
    assert.match(out, /x: +4 user\.color/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("encodeTarHeader() writes a byte-valued xattr as its bytes (a binary security.capability)", () => {
  // cap_setuid+ep: VFS_CAP_REVISION_2 | effective, permitted bit 7 (0x80: not UTF-8).
  const cap = new Uint8Array(20);
  cap.set([0x01, 0x00, 0x00, 0x02, 0x80]);
  const h = encodeTarHeader({
    ...base,
    path: "bin/x",
    type: "file",
    size: 0,
    xattrs: { "security.capability": cap },
  });
  const record = new TextEncoder().encode(" SCHILY.xattr.security.capability=");
  const at = h.findIndex((_, i) => record.every((b, j) => h[i + j] === b));
  assert.ok(at > 0, "the record is in the PAX data");
  const value = h.subarray(at + record.length, at + record.length + cap.length);
  assert.deepEqual([...value], [...cap]);
  assert.equal(h[at + record.length + cap.length], 0x0a);
  // The record's length prefix counts bytes: "54 SCHILY…=<20 bytes>\n".
  const prefix = new TextDecoder().decode(h.subarray(at - 2, at));
  assert.equal(Number(prefix), 2 + record.length + cap.length + 1);
});
