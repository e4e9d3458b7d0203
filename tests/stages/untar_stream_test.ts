import assert from "node:assert/strict";
import { encodeTarHeader, TAR_END } from "../../src/stages/tar_header.ts";
import { TarStream } from "../../src/stages/tar_stream.ts";
import { type TarEntryWithBody, UntarStream } from "../../src/stages/untar_stream.ts";
import { makeFixtureTree, pseudoRandomBytes } from "../fixtures/fixture_tree.ts";
import { collect, concat, sha256, tarOk } from "../fixtures/tar_tools.ts";

interface Seen {
  path: string;
  type: string;
  size?: number;
  mode: number;
  linkName?: string;
  sha?: string;
}

async function parse(
  bytes: Uint8Array | ReadableStream<Uint8Array>,
  chunk = 7000,
): Promise<(Seen & Omit<TarEntryWithBody, "body">)[]> {
  const input = bytes instanceof Uint8Array
    ? ReadableStream.from((function* () {
      for (let i = 0; i < bytes.length; i += chunk) yield bytes.slice(i, i + chunk);
    })())
    : bytes;
  const out = [];
  for await (const e of input.pipeThrough(new UntarStream())) {
    const { body, ...rest } = e;
    const data = await collect(body);
    out.push({ ...rest, sha: e.type === "file" ? sha256(data) : undefined });
  }
  return out;
}

async function gnuTar(dir: string, format: string, extra: string[] = []): Promise<Uint8Array> {
  await tarOk([
    `--format=${format}`,
    "--sort=name",
    "-cf",
    `${dir}/out.tar`,
    "-C",
    `${dir}/tree`,
    ...extra,
    ".",
  ]);
  return await Deno.readFile(`${dir}/out.tar`);
}

async function withTree(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/tree`);
    await makeFixtureTree(`${dir}/tree`);
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

for (const format of ["gnu", "pax", "posix", "oldgnu"]) {
  Deno.test(`UntarStream() reads GNU tar --format=${format} archives of the fixture tree`, async () => {
    await withTree(async (dir) => {
      const entries = await parse(await gnuTar(dir, format), 4096);
      const byPath = new Map(entries.map((e) => [e.path, e]));
      assert.equal(byPath.get(".")?.type, "directory");
      assert.equal(byPath.get("dir/sub/deep")?.type, "directory");
      const random = byPath.get("random.bin")!;
      assert.equal(random.size, 3 * 1024 * 1024);
      assert.equal(random.sha, sha256(await Deno.readFile(`${dir}/tree/random.bin`)));
      const long = [...byPath.keys()].find((p) => p.startsWith("long/") && p.endsWith("file.txt"));
      assert.ok(long && new TextEncoder().encode(long).length > 255, "long path kept whole");
      assert.ok(byPath.has("n".repeat(116) + ".txt"));
      assert.equal(byPath.get("héllo-世界.txt")?.type, "file");
      assert.equal(byPath.get("link-rel")?.linkName, "dir/sub/deep/file.txt");
      assert.equal(byPath.get("link-abs")?.linkName, "/etc/hostname");
      assert.equal(byPath.get("link-dangling")?.linkName, "does/not/exist");
      // --sort=name puts dir/hard-b first, so hard-a is the link.
      assert.equal(byPath.get("hard-a")?.type, "hardlink");
      assert.equal(byPath.get("hard-a")?.linkName, "dir/hard-b");
      assert.equal(byPath.get("fifo")?.type, "fifo");
      assert.equal(byPath.get("run.sh")?.mode, 0o755);
      assert.equal(byPath.get("secret")?.mode, 0o600);
      assert.equal(byPath.get("empty.txt")?.size, 0);
      assert.equal(random.mtime, 1700000000);
    });
  });
}

Deno.test("UntarStream() reads GNU long link targets and base-256 numbers", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/tree`);
    const target = "t".repeat(180);
    await Deno.symlink(target, `${dir}/tree/ln`);
    await Deno.writeTextFile(`${dir}/tree/f`, "x");
    const tar = await gnuTar(dir, "gnu", [
      "--owner=big:300000000",
      "--group=big:300000001",
      "--mtime=@99999999999",
    ]);
    const entries = await parse(tar, 512);
    const ln = entries.find((e) => e.path === "ln")!;
    assert.equal(ln.linkName, target);
    assert.equal(ln.uid, 300000000);
    assert.equal(ln.gid, 300000001);
    assert.equal(ln.mtime, 99999999999);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("UntarStream() applies global PAX headers to later entries", async () => {
  // A 'g' header made from an 'x' header by changing the type flag and checksum.
  const x = encodeTarHeader({
    path: "g",
    type: "file",
    mode: 0,
    uid: 0,
    gid: 0,
    mtime: 0,
    uname: "glöbal",
  }).slice(0, 1024);
  x[156] = "g".charCodeAt(0);
  x.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += x[i];
  x.set(new TextEncoder().encode(sum.toString(8).padStart(6, "0") + "\0 "), 148);
  const plain = (path: string, uname?: string) =>
    encodeTarHeader({ path, type: "file", mode: 0o644, uid: 0, gid: 0, mtime: 0, uname });
  const entries = await parse(concat([x, plain("a"), plain("b", "ö-local"), TAR_END]));
  assert.deepEqual(entries.map((e) => [e.path, e.uname]), [["a", "glöbal"], ["b", "ö-local"]]);
});

Deno.test("UntarStream() reports truncated input naming the entry", async () => {
  const data = pseudoRandomBytes(5000);
  const tar = await collect(
    ReadableStream.from([
      {
        path: "cut.bin",
        type: "file" as const,
        mode: 0o644,
        uid: 0,
        gid: 0,
        mtime: 0,
        size: data.length,
        open: () => ReadableStream.from([data]),
      },
    ]).pipeThrough(new TarStream()),
  );
  await assert.rejects(
    parse(tar.slice(0, 3000)),
    /truncated: entry cut\.bin ends 2512 bytes short/,
  );
  await assert.rejects(parse(tar.slice(0, 300)), /truncated/);
});

Deno.test("UntarStream() rejects data that is not a tar", async () => {
  await assert.rejects(parse(new Uint8Array(512).fill(65)), /checksum/);
});

Deno.test("UntarStream() skips a cancelled body and goes on with the next entry", async () => {
  const a = pseudoRandomBytes(100_000);
  const b = new TextEncoder().encode("second");
  const mk = (path: string, data: Uint8Array) => ({
    path,
    type: "file" as const,
    mode: 0o644,
    uid: 0,
    gid: 0,
    mtime: 0,
    size: data.length,
    open: () => ReadableStream.from([data]),
  });
  const entries = ReadableStream.from([mk("a", a), mk("b", b)])
    .pipeThrough(new TarStream())
    .pipeThrough(new UntarStream());
  const reader = entries.getReader();
  const first = (await reader.read()).value!;
  const bodyReader = first.body.getReader();
  const part = await bodyReader.read();
  assert.ok(part.value!.length > 0);
  await bodyReader.cancel();
  const second = (await reader.read()).value!;
  assert.equal(second.path, "b");
  assert.equal(new TextDecoder().decode(await collect(second.body)), "second");
  assert.equal((await reader.read()).done, true);
});

Deno.test("UntarStream() accepts an archive without end blocks and drains trailing zeros", async () => {
  const h = encodeTarHeader({
    path: "d",
    type: "directory",
    mode: 0o755,
    uid: 0,
    gid: 0,
    mtime: 0,
  });
  assert.deepEqual((await parse(h)).map((e) => e.path), ["d"]);
  const padded = concat([h, new Uint8Array(10240 - 512)]);
  assert.deepEqual((await parse(padded)).map((e) => e.path), ["d"]);
});

Deno.test("UntarStream() reads a PAX size over 8 GiB and names the entry when data is missing", async () => {
  const size = 9 * 2 ** 30 + 7;
  const header = encodeTarHeader({
    path: "huge.img",
    type: "file",
    mode: 0o644,
    uid: 0,
    gid: 0,
    mtime: 0,
    size,
  });
  const reader = ReadableStream.from([header, new Uint8Array(1000)])
    .pipeThrough(new UntarStream()).getReader();
  const entry = (await reader.read()).value!;
  assert.equal(entry.path, "huge.img");
  assert.equal(entry.size, size);
  await assert.rejects(collect(entry.body), /truncated: entry huge\.img ends \d+ bytes short/);
  await assert.rejects(reader.read(), /huge\.img/);
});
