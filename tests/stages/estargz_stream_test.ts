import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as zlib from "node:zlib";
import type { Codecs } from "../../src/types/codecs.ts";
import type { TarEntry } from "../../src/types/tar_entry.ts";
import { EstargzStream, type EstargzStreamOptions } from "../../src/stages/estargz_stream.ts";
import { readAheadSafe, TarStream } from "../../src/stages/tar_stream.ts";
import { estargzBuild, estargzVerify } from "../_harness/oracles.ts";

// Test-only codecs over node:zlib / node:crypto, so these tests need nothing else of ocistream.
function nodeStream(make: () => zlib.Gzip | zlib.Gunzip): TransformStream<Uint8Array, Uint8Array> {
  let z: zlib.Gzip | zlib.Gunzip;
  return new TransformStream({
    start(controller) {
      z = make();
      z.on("data", (d: Uint8Array) => controller.enqueue(new Uint8Array(d)));
    },
    transform(chunk) {
      return new Promise((resolve, reject) => z.write(chunk, (e) => (e ? reject(e) : resolve())));
    },
    flush() {
      return new Promise((resolve, reject) => {
        z.once("end", resolve);
        z.once("error", reject);
        z.end();
      });
    },
  });
}

const codecs: Codecs = {
  sha256() {
    const h = createHash("sha256");
    return { update: (d) => void h.update(d), digestHex: () => h.digest("hex") };
  },
  compress: (_algorithm, level) => nodeStream(() => zlib.createGzip({ level })),
  decompress: () => nodeStream(() => zlib.createGunzip()),
};

const sha256 = (b: Uint8Array) => "sha256:" + createHash("sha256").update(b).digest("hex");

// Deterministic, partly compressible bytes.
function bytes(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed * 2654435761 >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = (i & 1024) ? x & 0xff : 0x20 + (x & 0x1f);
  }
  return out;
}

const BASE = { uid: 0, gid: 0, mtime: 1700000000 };

function dir(path: string, extra: Partial<TarEntry> = {}): TarEntry {
  return { ...BASE, path, type: "directory", mode: 0o755, ...extra };
}

// A file whose body comes in pieces of `piece` bytes (odd sizes cross chunk boundaries).
function file(path: string, body: Uint8Array, extra: Partial<TarEntry> = {}, piece = 10007) {
  return {
    ...BASE,
    path,
    type: "file" as const,
    mode: 0o644,
    size: body.length,
    open: () => {
      let at = 0;
      return new ReadableStream<Uint8Array>({
        pull(c) {
          if (at >= body.length) return c.close();
          c.enqueue(body.slice(at, at + piece));
          at += piece;
        },
      });
    },
    ...extra,
  };
}

function tree(): TarEntry[] {
  return [
    dir("etc"),
    file("etc/hosts", new TextEncoder().encode("127.0.0.1 localhost\n"), {
      uid: 1000,
      gid: 1000,
      uname: "app",
      gname: "app",
    }),
    file("etc/empty", new Uint8Array(0)),
    file("etc/other", bytes(3000, 7), { uid: 1000, gid: 1000, uname: "app", gname: "app" }),
    { ...BASE, path: "etc/link", type: "symlink", mode: 0o777, linkName: "hosts" },
    { ...BASE, path: "etc/hard", type: "hardlink", mode: 0o644, linkName: "etc/hosts" },
    { ...BASE, path: "etc/fifo", type: "fifo", mode: 0o600 },
    { ...BASE, path: "etc/null", type: "char", mode: 0o666, devMajor: 1, devMinor: 3 },
    dir("usr", { mtime: 1700000000.6 }),
    dir("usr/bin", { mode: 0o1755 }),
    file("usr/bin/big", bytes(200 * 1024 + 123, 2)),
    file("usr/bin/exact", bytes(128 * 1024, 3), { mode: 0o4755 }),
    file("usr/bin/attrs", bytes(10, 4), { xattrs: { "user.k": "v<&>", "security.x": "é" } }),
    file(`usr/${"long-name-".repeat(12)}`, bytes(5, 5)), // over 100 bytes: PAX path
    file("usr/日本語 <a&b>.txt", bytes(700, 6), { mtime: 0 }),
  ];
}

async function tempDir(t: Deno.TestContext, fn: (dir: string) => Promise<void>): Promise<void> {
  const d = await Deno.makeTempDir({ prefix: "estargz_test_" });
  try {
    await fn(d);
  } finally {
    await Deno.remove(d, { recursive: true });
  }
  void t;
}

/**
 * Writes `entries` as eStargz; unless `options` says otherwise, with the reference
 * `estargz.Build` landmarks, the layout `estargz-build` writes and these tests compare with
 * (BuildKit's lossless default is tested on its own below).
 */
async function writeBlob(entries: TarEntry[], options: EstargzStreamOptions, path: string) {
  const estargz = new EstargzStream(codecs, { landmarks: true, ...options });
  const out = await Deno.open(path, { write: true, create: true, truncate: true });
  await ReadableStream.from(entries).pipeThrough(estargz).pipeTo(out.writable);
  return await estargz.result;
}

async function run(cmd: string, ...args: string[]): Promise<Uint8Array> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return out.stdout;
}

interface Toc {
  version: number;
  entries: Record<string, unknown>[];
}

async function readToc(blob: string, dir: string): Promise<{ toc: Toc; text: string }> {
  const into = await Deno.makeTempDir({ dir });
  await run("tar", "-xzf", blob, "-C", into, "stargz.index.json");
  const text = await Deno.readTextFile(`${into}/stargz.index.json`);
  return { toc: JSON.parse(text), text };
}

async function assertVerified(blob: string, result: { tocDigest: string; diffId: string }) {
  const { ok, report } = await estargzVerify(blob, result.tocDigest, result.diffId);
  assert.ok(ok, `estargz-verify rejected ${blob}: ${report.error}`);
  return report;
}

Deno.test("EstargzStream() writes a blob the reference reader accepts", async (t) => {
  await tempDir(t, async (d) => {
    const blob = `${d}/layer.gz`;
    const result = await writeBlob(tree(), { chunkSize: 64 * 1024 }, blob);
    const data = await Deno.readFile(blob);
    assert.equal(result.size, data.length);
    assert.equal(result.digest, sha256(data));
    const report = await assertVerified(blob, result);
    assert.equal(report.noPrefetchLandmark, true);
    assert.equal(report.prefetchLandmark, false);
    assert.equal(report.uncompressedSize, result.uncompressedSize);
    assert.equal(report.files, 10); // landmark, 8 regular files, the hardlink (to a file)
    // One gzip stream for gzip(1); its content is the diffID.
    await run("gzip", "-t", blob);
    assert.equal(sha256(await run("gzip", "-dc", blob)), result.diffId);
    // GNU tar reads it as one tar: landmark first, TOC last.
    const names = new TextDecoder().decode(await run("tar", "-tzf", blob)).trim().split("\n");
    assert.equal(names[0], ".no.prefetch.landmark");
    assert.equal(names.at(-1), "stargz.index.json");
    assert.equal(names.length, tree().length + 2);
  });
});

for (const level of [0, 1, 9]) {
  Deno.test(`EstargzStream() at level ${level} is accepted by the reference reader`, async (t) => {
    await tempDir(t, async (d) => {
      const blob = `${d}/layer.gz`;
      const result = await writeBlob(tree(), { level, chunkSize: 64 * 1024 }, blob);
      await assertVerified(blob, result);
      await run("gzip", "-t", blob);
    });
  });
}

Deno.test("EstargzStream() starts a gzip member per payload and per chunk", async (t) => {
  await tempDir(t, async (d) => {
    const blob = `${d}/layer.gz`;
    const big = bytes(9 * 1024 * 1024 + 5, 9);
    const result = await writeBlob(
      [dir("data"), file("data/big", big, {}, 1 << 20), file("data/small", bytes(9, 1))],
      {},
      blob,
    );
    const report = await assertVerified(blob, result);
    assert.equal(report.chunks, 1 + 3 + 1);
    const data = await Deno.readFile(blob);
    const { toc } = await readToc(blob, d);
    const parts = toc.entries.filter((e) => e.name === "data/big");
    assert.deepEqual(parts.map((e) => [e.type, e.chunkOffset, e.chunkSize]), [
      ["reg", undefined, 4 << 20],
      ["chunk", 4 << 20, 4 << 20],
      ["chunk", 8 << 20, undefined], // the last chunk runs to the end of the file
    ]);
    assert.equal(parts[0].digest, sha256(big));
    parts.forEach((e, i) =>
      assert.equal(e.chunkDigest, sha256(big.subarray(i * (4 << 20), (i + 1) * (4 << 20))))
    );
    // Every data offset is the start of a gzip member holding exactly that chunk first.
    for (const e of toc.entries.filter((e) => e.offset !== undefined)) {
      const at = e.offset as number;
      assert.deepEqual([...data.subarray(at, at + 3)], [0x1f, 0x8b, 0x08], `${e.name} @${at}`);
    }
    const first = zlib.gunzipSync(data.subarray(parts[1].offset as number), {
      finishFlush: zlib.constants.Z_SYNC_FLUSH,
    });
    assert.deepEqual([...first.subarray(0, 16)], [...big.subarray(4 << 20, (4 << 20) + 16)]);
    // Footer: an empty gzip member naming the TOC member's offset.
    const footer = data.subarray(data.length - 51);
    const sub = new TextDecoder().decode(footer.subarray(16, 38));
    assert.match(sub, /^[0-9a-f]{16}STARGZ$/);
    const tocOffset = parseInt(sub.slice(0, 16), 16);
    const tocTar = zlib.gunzipSync(data.subarray(tocOffset, data.length - 51));
    assert.equal(new TextDecoder().decode(tocTar.subarray(0, 17)), "stargz.index.json");
    assert.equal(zlib.gunzipSync(footer).length, 0);
  });
});

Deno.test("EstargzStream() puts prioritized files, their folders and link targets first", async (t) => {
  await tempDir(t, async (d) => {
    const blob = `${d}/layer.gz`;
    const result = await writeBlob(
      tree(),
      { prioritizedFiles: ["/usr/bin/exact", "./etc/hard"], chunkSize: 64 * 1024 },
      blob,
    );
    const report = await assertVerified(blob, result);
    assert.equal(report.prefetchLandmark, true);
    assert.equal(report.noPrefetchLandmark, false);
    const { toc } = await readToc(blob, d);
    const names = toc.entries.filter((e) => e.type !== "chunk").map((e) => e.name);
    assert.deepEqual(names.slice(0, 7), [
      "usr/",
      "usr/bin/",
      "usr/bin/exact",
      "etc/",
      "etc/hosts",
      "etc/hard",
      ".prefetch.landmark",
    ]);
    assert.equal(names.length, tree().length + 1);
  });
});

Deno.test("EstargzStream() rejects a prioritized file the layer does not contain", async () => {
  const estargz = new EstargzStream(codecs, { prioritizedFiles: ["etc/missing"] });
  const piping = ReadableStream.from(tree()).pipeThrough(estargz).pipeTo(new WritableStream());
  await assert.rejects(piping, RangeError);
  await assert.rejects(estargz.result, /etc\/missing/);
});

Deno.test("EstargzStream() rejects a body shorter than its size", async () => {
  const short = { ...file("a", bytes(10)), size: 11 };
  const estargz = new EstargzStream(codecs);
  const piping = ReadableStream.from([short]).pipeThrough(estargz).pipeTo(new WritableStream());
  await assert.rejects(piping, /changed size/);
  await assert.rejects(estargz.result, /changed size/);
});

Deno.test("EstargzStream() rejects invalid options before any work", () => {
  assert.throws(() => new EstargzStream(codecs, { level: 10 }), RangeError);
  assert.throws(() => new EstargzStream(codecs, { level: 1.5 }), RangeError);
  assert.throws(() => new EstargzStream(codecs, { chunkSize: 0 }), RangeError);
  assert.throws(
    () => new EstargzStream(codecs, { chunkSize: 64 * 1024 * 1024 + 1 }),
    /chunk size 67108865: use an integer from 1 to 67108864 bytes/,
  );
});

Deno.test("EstargzStream() writes only the landmark and TOC for no entries", async (t) => {
  await tempDir(t, async (d) => {
    const blob = `${d}/layer.gz`;
    const result = await writeBlob([], {}, blob);
    const report = await assertVerified(blob, result);
    assert.equal(report.files, 1);
    const { toc } = await readToc(blob, d);
    assert.deepEqual(toc.entries.map((e) => e.name), [".no.prefetch.landmark"]);
  });
});

Deno.test("EstargzStream() reads a body only as fast as the blob is read", async () => {
  const size = 64 << 20;
  let produced = 0;
  const entry: TarEntry = {
    ...BASE,
    path: "big",
    type: "file",
    mode: 0o644,
    size,
    open: () =>
      new ReadableStream<Uint8Array>({
        pull(c) {
          if (produced >= size) return c.close();
          const piece = bytes(1 << 16, produced);
          produced += piece.length;
          c.enqueue(piece);
        },
      }, { highWaterMark: 0 }),
  };
  const estargz = new EstargzStream(codecs, { level: 1 });
  const reader = ReadableStream.from([entry]).pipeThrough(estargz).getReader();
  let received = 0;
  while (received < 1 << 20) received += (await reader.read()).value!.length;
  // Let anything that is not held back run ahead.
  for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(produced < 16 << 20, `read ${produced} bytes of the body for ${received} out`);
  await reader.cancel();
  await assert.rejects(estargz.result);
});

// The reference builds with GOMAXPROCS=1 here: one writer, the layout we write.
async function compareWithReference(
  t: Deno.TestContext,
  entries: TarEntry[],
  prioritized: string[],
  level: number,
) {
  await tempDir(t, async (d) => {
    const tar = `${d}/layer.tar`;
    const tarFile = await Deno.open(tar, { write: true, create: true });
    await ReadableStream.from(entries).pipeThrough(new TarStream()).pipeTo(tarFile.writable);
    const ref = await estargzBuild(tar, `${d}/ref.gz`, level, prioritized);
    const ours = await writeBlob(entries, { level, prioritizedFiles: prioritized }, `${d}/ours.gz`);
    await assertVerified(`${d}/ours.gz`, ours);
    await assertVerified(`${d}/ref.gz`, { tocDigest: ref.tocDigest, diffId: ref.diffID });

    // Same entries, fields and formatting; only compressed offsets differ.
    const a = await readToc(`${d}/ours.gz`, d);
    const b = await readToc(`${d}/ref.gz`, d);
    const withoutOffsets = (toc: Toc) =>
      toc.entries.map((e) => Object.fromEntries(Object.entries(e).filter(([k]) => k !== "offset")));
    assert.deepEqual(withoutOffsets(a.toc), withoutOffsets(b.toc));
    const strip = (s: string) => s.replace(/\t+"offset": \d+,\n/g, "");
    assert.equal(strip(a.text), strip(b.text));
    assert.deepEqual(
      a.toc.entries.map((e) => e.offset !== undefined),
      b.toc.entries.map((e) => e.offset !== undefined),
    );

    // DiffID: sha256 of the whole uncompressed stream, TOC entry and end blocks included.
    const ourTar = await run("gzip", "-dc", `${d}/ours.gz`);
    const refTar = await run("gzip", "-dc", `${d}/ref.gz`);
    assert.equal(sha256(ourTar), ours.diffId);
    assert.equal(sha256(refTar), ref.diffID);
    assert.equal(ourTar.length, ours.uncompressedSize);
    // Up to the TOC entry the uncompressed streams are the same bytes.
    const tail = (text: string) =>
      512 + Math.ceil(new TextEncoder().encode(text).length / 512) * 512 + 1024;
    const ourBody = ourTar.subarray(0, ourTar.length - tail(a.text));
    const refBody = refTar.subarray(0, refTar.length - tail(b.text));
    assert.equal(ourBody.length, refBody.length);
    // Every block, PAX `x` headers included (named and formatted like Go's archive/tar).
    for (let at = 0; at < ourBody.length; at += 512) {
      const x = ourBody.subarray(at, at + 512);
      const y = refBody.subarray(at, at + 512);
      if (!x.every((v, i) => v === y[i])) {
        assert.fail(`uncompressed streams differ in the block at ${at}`);
      }
    }
    const tocName = (tar: Uint8Array, at: number) =>
      new TextDecoder().decode(tar.subarray(at, at + 18));
    assert.equal(tocName(ourTar, ourBody.length), "stargz.index.json\0");
    assert.equal(tocName(refTar, refBody.length), "stargz.index.json\0");
  });
}

Deno.test("EstargzStream() writes the same TOC as the reference estargz-build", async (t) => {
  await compareWithReference(t, tree(), [], 6);
});

Deno.test("EstargzStream() writes the same TOC as the reference with prioritized files", async (t) => {
  await compareWithReference(t, tree(), ["usr/bin/exact", "etc/hard"], 9);
});

Deno.test("EstargzStream() chunks a large file like the reference", async (t) => {
  await compareWithReference(
    t,
    [...tree(), file("usr/bin/large", bytes((9 << 20) + 77, 11))],
    [],
    1,
  );
});

Deno.test("EstargzStream() writes a TOC of many pieces (over 256 KiB) as the reference does", async (t) => {
  const many = Array.from(
    { length: 2500 },
    (_, i) => file(`many/${"n".repeat(40)}-${i}.js`, bytes(20 + (i % 50), i)),
  );
  await compareWithReference(t, [dir("many"), ...many], [], 6);
});

Deno.test("EstargzStream() reads whole-body files in one call into the same blob as streamed ones", async () => {
  const { nativeCodecs } = await import("../../src/runtime/native_codecs.ts");
  // Whole-body reads for files of at most one chunk (64 KiB here); larger ones stream.
  const sizes = [1, 511, 5000, 65535, 65536, 65537, 300_000];
  const reads = { whole: 0, streamed: 0 };
  const entries = (whole: boolean): TarEntry[] =>
    sizes.map((size, i) => {
      const body = bytes(size, i + 1);
      const plain = file(`f${i}`, body);
      if (!whole) return plain;
      const readInto = (target: Uint8Array) => {
        reads.whole++;
        target.set(body.subarray(0, target.length));
        return Promise.resolve(body.length);
      };
      const open = () => {
        reads.streamed++;
        return plain.open!();
      };
      return { ...plain, open: readAheadSafe(open, readInto) };
    });
  const blob = async (list: TarEntry[], codecsUnderTest: Codecs) => {
    const estargz = new EstargzStream(codecsUnderTest, { chunkSize: 64 * 1024 });
    const out = new Uint8Array(
      await new Response(ReadableStream.from(list).pipeThrough(estargz)).arrayBuffer(),
    );
    return { digest: sha256(out), result: await estargz.result };
  };
  // Batched members (gzipMembers, native) and one member at a time (a codec without it).
  for (
    const [name, codecsUnderTest] of [["batched", nativeCodecs], ["one at a time", codecs]] as const
  ) {
    const streamed = await blob(entries(false), codecsUnderTest);
    Object.assign(reads, { whole: 0, streamed: 0 });
    const whole = await blob(entries(true), codecsUnderTest);
    assert.deepEqual(whole, streamed, name);
    assert.deepEqual(reads, { whole: 5, streamed: 2 }, `${name}: up to 64 KiB read whole`);
  }
  const changed = file("changed", bytes(100));
  const shrunk = { ...changed, open: readAheadSafe(changed.open, () => Promise.resolve(99)) };
  await assert.rejects(
    blob([shrunk], codecs),
    /changed changed size while being read: expected 100 bytes, got 99/,
  );
});

Deno.test("EstargzStream() by default is BuildKit's lossless conversion: the input tar, then the TOC, no landmark", async (t) => {
  await tempDir(t, async (d) => {
    const entries = tree();
    const estargz = new EstargzStream(codecs);
    const blob = `${d}/layer.gz`;
    const out = await Deno.open(blob, { write: true, create: true, truncate: true });
    await ReadableStream.from(entries).pipeThrough(estargz).pipeTo(out.writable);
    const result = await estargz.result;
    await assertVerified(blob, result);
    const { toc } = await readToc(blob, d);
    assert.ok(!toc.entries.some((e) => String(e.name).endsWith("landmark")), "no landmark entry");
    // The uncompressed stream starts with exactly the plain tar's entries (its end blocks
    // aside), as estargz's AppendTarLossLess keeps them.
    const chunks: Uint8Array[] = [];
    for await (const c of ReadableStream.from(tree()).pipeThrough(new TarStream())) chunks.push(c);
    const plain = new Uint8Array(await new Blob(chunks as Uint8Array<ArrayBuffer>[]).arrayBuffer());
    const body = plain.subarray(0, plain.length - 1024);
    const unpacked = await run("gzip", "-dc", blob);
    assert.ok(unpacked.length > body.length);
    assert.equal(
      createHash("sha256").update(unpacked.subarray(0, body.length)).digest("hex"),
      createHash("sha256").update(body).digest("hex"),
    );
    assert.equal(
      new TextDecoder().decode(unpacked.subarray(body.length, body.length + 17)),
      "stargz.index.json",
    );
  });
});

Deno.test("EstargzStream() without landmarks refuses a layer with its own stargz.index.json", async () => {
  const estargz = new EstargzStream(codecs);
  const write = ReadableStream.from([file("stargz.index.json", bytes(3))]).pipeThrough(estargz)
    .pipeTo(new WritableStream());
  await assert.rejects(write, /Cannot write eStargz losslessly/);
});
