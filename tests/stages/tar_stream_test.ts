import assert from "node:assert/strict";
import { readAheadSafe, TarStream } from "../../src/stages/tar_stream.ts";
import { UntarStream } from "../../src/stages/untar_stream.ts";
import type { TarEntry } from "../../src/types/tar_entry.ts";
import { pseudoRandomBytes } from "../fixtures/fixture_tree.ts";
import { collect, sha256, tarOk } from "../fixtures/tar_tools.ts";

const base = { mode: 0o644, uid: 0, gid: 0, mtime: 1700000000 };

function file(path: string, data: Uint8Array, chunk = 1000): TarEntry {
  return {
    ...base,
    path,
    type: "file",
    size: data.length,
    open: () => {
      let offset = 0;
      return new ReadableStream<Uint8Array>({
        pull(c) {
          if (offset >= data.length) return c.close();
          c.enqueue(data.slice(offset, offset + chunk));
          offset += chunk;
        },
      });
    },
  };
}

Deno.test("TarStream() writes an archive GNU tar extracts byte for byte", async () => {
  const big = pseudoRandomBytes(1_000_003);
  const entries: TarEntry[] = [
    { ...base, path: "d", type: "directory", mode: 0o755 },
    file("d/big.bin", big, 65536),
    file("d/empty", new Uint8Array(0)),
    file("d/one", new Uint8Array([7])),
    file("d/exact", new Uint8Array(512).fill(1)),
    { ...base, path: "d/link", type: "symlink", linkName: "big.bin", mode: 0o777 },
    { ...base, path: "d/hard", type: "hardlink", linkName: "d/one" },
  ];
  const tar = await collect(ReadableStream.from(entries).pipeThrough(new TarStream()));
  assert.equal(tar.length % 512, 0);
  assert.deepEqual(tar.subarray(tar.length - 1024), new Uint8Array(1024));
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${dir}/a.tar`, tar);
    await Deno.mkdir(`${dir}/out`);
    await tarOk(["-xf", `${dir}/a.tar`, "-C", `${dir}/out`]);
    assert.equal(sha256(await Deno.readFile(`${dir}/out/d/big.bin`)), sha256(big));
    assert.equal((await Deno.readFile(`${dir}/out/d/empty`)).length, 0);
    assert.deepEqual(await Deno.readFile(`${dir}/out/d/one`), new Uint8Array([7]));
    assert.deepEqual(await Deno.readFile(`${dir}/out/d/exact`), new Uint8Array(512).fill(1));
    assert.equal(await Deno.readLink(`${dir}/out/d/link`), "big.bin");
    assert.equal(
      (await Deno.stat(`${dir}/out/d/hard`)).ino,
      (await Deno.stat(`${dir}/out/d/one`)).ino,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("TarStream() output is identical for the same entries", async () => {
  const entries = () => [file("a", pseudoRandomBytes(5000), 333), file("b", new Uint8Array(3))];
  const a = await collect(ReadableStream.from(entries()).pipeThrough(new TarStream()));
  const b = await collect(ReadableStream.from(entries()).pipeThrough(new TarStream()));
  assert.equal(sha256(a), sha256(b));
});

Deno.test("TarStream() fails when a body is shorter than its size", async () => {
  const entry = { ...file("short.txt", new Uint8Array(10)), size: 20 };
  await assert.rejects(
    collect(ReadableStream.from([entry]).pipeThrough(new TarStream())),
    /short\.txt changed size while being read: expected 20 bytes, got 10/,
  );
});

Deno.test("TarStream() fails when a body is longer than its size", async () => {
  const entry = { ...file("long.txt", new Uint8Array(30), 10), size: 15 };
  await assert.rejects(
    collect(ReadableStream.from([entry]).pipeThrough(new TarStream())),
    /long\.txt changed size while being read: expected 15 bytes, got 20/,
  );
});

Deno.test("TarStream() reports a file with size but no open()", async () => {
  await assert.rejects(
    collect(
      ReadableStream.from<TarEntry>([{ ...base, path: "x", type: "file", size: 3 }]).pipeThrough(
        new TarStream(),
      ),
    ),
    /file x .* no open\(\)/,
  );
});

Deno.test("TarStream() reads a body only as fast as the output is consumed", async () => {
  // A 1 GiB body made of 1 MiB chunks; count how many chunks were produced.
  const chunk = new Uint8Array(1 << 20);
  let produced = 0;
  let cancelled = false;
  const entry: TarEntry = {
    ...base,
    path: "huge.bin",
    type: "file",
    size: 1 << 30,
    open: () =>
      new ReadableStream<Uint8Array>({
        pull(c) {
          produced++;
          c.enqueue(chunk);
        },
        cancel() {
          cancelled = true;
        },
      }, { highWaterMark: 0 }),
  };
  const reader = ReadableStream.from([entry]).pipeThrough(new TarStream()).getReader();
  let read = 0;
  for (let i = 0; i < 11; i++) {
    const { value } = await reader.read();
    read += value!.length;
  }
  assert.equal(read, 512 + 10 * (1 << 20));
  // Pull-based: at most one chunk ahead of what was read.
  assert.ok(produced <= 11, `produced ${produced} chunks for 10 read`);
  await reader.cancel();
  assert.equal(cancelled, true);
});

/** Entries of `size` bytes each whose opens are recorded, optionally marked read-ahead safe. */
function recordedEntries(count: number, size: number, safe: boolean) {
  const opened: number[] = [];
  const entries: TarEntry[] = Array.from({ length: count }, (_, i) => {
    const open = () => {
      opened.push(i);
      return new Blob([new Uint8Array(size).fill(i)]).stream();
    };
    const path = `f${String(i).padStart(3, "0")}`;
    return { ...base, mtime: 0, path, type: "file", size, open: safe ? readAheadSafe(open) : open };
  });
  return { opened, entries };
}

/** Reads the tar chunk by chunk, recording how many bodies were open beyond those written. */
async function maxOpenedAhead(entries: TarEntry[], opened: number[], entrySize: number) {
  const reader = ReadableStream.from(entries).pipeThrough(new TarStream()).getReader();
  let bytes = 0;
  let most = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes += value.byteLength;
    const started = Math.ceil(bytes / entrySize); // entries whose header has been written
    most = Math.max(most, opened.length - started);
  }
  return most;
}

Deno.test("TarStream() reads at most 8 small bodies ahead of the one it writes", async () => {
  const size = 1024 * 1024; // the largest body read ahead; 8 of them fill the 8 MiB budget
  const { opened, entries } = recordedEntries(40, size, true);
  const ahead = await maxOpenedAhead(entries, opened, size + 512);
  assert.equal(opened.length, 40);
  assert.ok(ahead <= 8, `read ${ahead} bodies ahead`);
  assert.ok(ahead >= 1, "read-ahead is used for marked opens");
  assert.deepEqual(opened, [...opened].sort((a, b) => a - b), "bodies are opened in order");
});

Deno.test("TarStream() opens unmarked or large bodies only when it writes them", async () => {
  for (const [size, safe] of [[4096, false], [2 * 1024 * 1024, true]] as const) {
    const { opened, entries } = recordedEntries(12, size, safe);
    const ahead = await maxOpenedAhead(entries, opened, size + 512);
    assert.ok(ahead <= 1, `size ${size} safe ${safe}: read ${ahead} bodies ahead`);
  }
});

/** An empty file with every metadata field set (fractional times, large ids, names, xattrs). */
const META: TarEntry = {
  ...base,
  path: "a/meta",
  type: "file",
  size: 0,
  mtime: 1700000000.5,
  atime: 1700000001,
  ctime: 1700000002.25,
  uid: 3000000,
  gid: 4000000,
  uname: "üser",
  gname: "grp",
  xattrs: { "user.k": "v" },
};

Deno.test("TarStream() round-trips through UntarStream", async () => {
  const data = pseudoRandomBytes(70000);
  const entries: TarEntry[] = [
    { ...base, path: "a", type: "directory", mode: 0o700, uid: 5, gid: 6 },
    file("a/" + "x".repeat(200), data, 4096),
    { ...base, path: "a/é", type: "symlink", linkName: "../" + "y".repeat(150), mode: 0o777 },
    META,
    { ...base, path: "dev", type: "char", devMajor: 1, devMinor: 5 },
    { ...base, path: "fifo", type: "fifo" },
    { ...base, path: "h", type: "hardlink", linkName: "a/meta" },
  ];
  const out = ReadableStream.from(entries).pipeThrough(new TarStream()).pipeThrough(
    new UntarStream(),
  );
  const got = [];
  for await (const e of out) {
    const { body, ...rest } = e;
    got.push({ ...rest, data: sha256(await collect(body)) });
  }
  const empty = sha256(new Uint8Array(0));
  assert.deepEqual(got, [
    {
      ...base,
      path: "a",
      type: "directory",
      mode: 0o700,
      uid: 5,
      gid: 6,
      uname: "",
      gname: "",
      data: empty,
    },
    {
      ...base,
      path: "a/" + "x".repeat(200),
      type: "file",
      size: 70000,
      uname: "",
      gname: "",
      data: sha256(data),
    },
    {
      ...base,
      path: "a/é",
      type: "symlink",
      linkName: "../" + "y".repeat(150),
      mode: 0o777,
      uname: "",
      gname: "",
      data: empty,
    },
    { ...META, data: empty },
    {
      ...base,
      path: "dev",
      type: "char",
      devMajor: 1,
      devMinor: 5,
      uname: "",
      gname: "",
      data: empty,
    },
    { ...base, path: "fifo", type: "fifo", uname: "", gname: "", data: empty },
    { ...base, path: "h", type: "hardlink", linkName: "a/meta", uname: "", gname: "", data: empty },
  ]);
});

Deno.test("TarStream() reads small bodies in place with readInto, the same bytes as streamed", async () => {
  const sizes = [0, 1, 511, 512, 513, 60000, 65535, 65536, 65537, 200000, 300000, 1 << 20];
  const bodies = sizes.map((size, i) => pseudoRandomBytes(size).map((b) => b ^ i));
  let opened = 0;
  let readWhole = 0;
  const entries = (inPlace: boolean): TarEntry[] =>
    bodies.map((body, i) => {
      const open = () => {
        opened++;
        return new Blob([body]).stream();
      };
      const readInto = (target: Uint8Array) => {
        readWhole++;
        target.set(body.subarray(0, target.length));
        return Promise.resolve(body.length);
      };
      return {
        ...base,
        path: `f${i}`,
        type: "file",
        size: body.length,
        open: inPlace ? readAheadSafe(open, readInto) : open,
      };
    });
  const tar = async (list: TarEntry[]) =>
    new Uint8Array(
      await new Response(ReadableStream.from(list).pipeThrough(new TarStream())).arrayBuffer(),
    );
  const inPlace = await tar(entries(true));
  // Every body (all up to 1 MiB) went through readInto, none through a stream.
  assert.deepEqual([opened, readWhole], [0, sizes.length]);
  assert.deepEqual(sha256(inPlace), sha256(await tar(entries(false))));

  // A file whose length is not the entry's size is named, whichever way it changed.
  for (const actual of [99, 101]) {
    const changed: TarEntry = {
      ...base,
      path: "changed",
      type: "file",
      size: 100,
      open: readAheadSafe(() => new Blob([]).stream(), () => Promise.resolve(actual)),
    };
    await assert.rejects(
      tar([changed]),
      new RegExp(`changed changed size while being read: expected 100 bytes, got ${actual}`),
    );
  }
});
