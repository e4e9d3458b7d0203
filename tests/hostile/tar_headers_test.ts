/**
 * Crafted tar headers against UntarStream: PAX sizes that are negative or
 * fractional (which used to spin at 100% CPU), out-of-range ids and times,
 * huge paths. Each must end with a one-line error naming the field, fast.
 */
import assert from "node:assert/strict";
import { encodeTarHeader, TAR_END } from "../../src/stages/tar_header.ts";
import { UntarStream } from "../../src/stages/untar_stream.ts";
import { collect, concat } from "../fixtures/tar_tools.ts";

/** Recomputes a header block's checksum after a test patched it. */
function checksum(block: Uint8Array): Uint8Array {
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of block) sum += b;
  block.set(new TextEncoder().encode(sum.toString(8).padStart(6, "0") + "\0 "), 148);
  return block;
}

/** A PAX `x` header carrying `records`, then a file header for `name` with `data`. */
export function paxEntry(records: Record<string, string>, name = "f", data = "hi"): Uint8Array {
  let text = "";
  for (const [k, v] of Object.entries(records)) {
    const body = ` ${k}=${v}\n`;
    let len = body.length + 1;
    while (String(len).length + body.length !== len) len = String(len).length + body.length;
    text += `${len}${body}`;
  }
  const recs = new TextEncoder().encode(text);
  const x = encodeTarHeader({
    path: "PaxHeaders/f",
    type: "file",
    mode: 0o644,
    uid: 0,
    gid: 0,
    mtime: 0,
    size: recs.byteLength,
  });
  x[156] = "x".charCodeAt(0);
  checksum(x);
  const bytes = new TextEncoder().encode(data);
  const pad = (n: number) => new Uint8Array((512 - (n % 512)) % 512);
  const file = encodeTarHeader({
    path: name,
    type: "file",
    mode: 0o644,
    uid: 0,
    gid: 0,
    mtime: 0,
    size: bytes.byteLength,
  });
  return concat([x, recs, pad(recs.byteLength), file, bytes, pad(bytes.byteLength), TAR_END]);
}

async function readAll(tar: Uint8Array): Promise<void> {
  for await (const e of ReadableStream.from([tar]).pipeThrough(new UntarStream())) {
    await collect(e.body);
  }
}

const CASES: [string, Record<string, string>, RegExp][] = [
  ["size=-1", { size: "-1" }, /Invalid PAX size "-1" for tar entry f: use a whole number/],
  ["size=0.5", { size: "0.5" }, /Invalid PAX size "0\.5" for tar entry f/],
  ["size=1e3", { size: "1e3" }, /Invalid PAX size "1e3"/],
  ["size=2^60", { size: "1152921504606846976" }, /Invalid PAX size "1152921504606846976"/],
  [
    "uid=-1",
    { uid: "-1" },
    /Invalid PAX uid "-1" for tar entry f: use a whole number from 0 to 4294967295/,
  ],
  ["gid=2^40", { gid: String(2 ** 40) }, /Invalid PAX gid/],
  ["mtime=1e400", { mtime: "1e400" }, /Invalid PAX mtime "1e400"/],
  ["mtime=9e15", { mtime: "9000000000000000" }, /Invalid PAX mtime/],
  ["atime=NaN", { atime: "NaN" }, /Invalid PAX atime "NaN"/],
];

for (const [name, records, expected] of CASES) {
  Deno.test(`UntarStream() refuses PAX ${name} with a clear error`, async () => {
    await assert.rejects(readAll(paxEntry(records)), expected);
  });
}

Deno.test("UntarStream() keeps valid PAX numbers: fractional and negative times, big ids", async () => {
  const tar = paxEntry({ mtime: "-12.5", atime: "1700000000.25", uid: "4294967295", size: "2" });
  const entries = [];
  for await (const e of ReadableStream.from([tar]).pipeThrough(new UntarStream())) {
    entries.push({ mtime: e.mtime, atime: e.atime, uid: e.uid, size: e.size });
    await collect(e.body);
  }
  assert.deepEqual(entries, [{ mtime: -12.5, atime: 1700000000.25, uid: 4294967295, size: 2 }]);
});

Deno.test("UntarStream() refuses a path over 64 Ki characters, quoting only its start", async () => {
  const err = await readAll(paxEntry({ path: "a/".repeat(40_000) + "x" })).then(
    () => undefined,
    (e: Error) => e,
  );
  assert.match(
    err?.message ?? "",
    /^Cannot read tar entry "(a\/){100}"… \(80001 characters\): its path is 80001 characters long, over the 65536 limit/,
  );
  assert.ok(err!.message.length < 400, `error line of ${err!.message.length} characters`);
});

Deno.test("UntarStream() refuses a PAX block over 1 MiB before reading it", async () => {
  const big = paxEntry({ comment: "z".repeat(2 * 1024 * 1024) });
  await assert.rejects(readAll(big), /is \d+ bytes, over the 1048576 byte limit/);
});

Deno.test("UntarStream() escapes control characters of entry names in its errors", async () => {
  const tar = paxEntry({ path: "evil\x1b]0;pwned\x07\x1b[2K\rname", size: "-1" });
  const err = await readAll(tar).then(() => undefined, (e: Error) => e);
  assert.match(err!.message, /for tar entry "evil\\u001b\]0;pwned\\u0007\\u001b\[2K\\rname"/);
  // deno-lint-ignore no-control-regex
  assert.doesNotMatch(err!.message, /[\x00-\x1f]/);
});

Deno.test("UntarStream() refuses a negative base-256 size in the header", async () => {
  const h = encodeTarHeader({
    path: "neg",
    type: "file",
    mode: 0o644,
    uid: 0,
    gid: 0,
    mtime: 0,
    size: 0,
  });
  h.fill(0xff, 124, 136); // base-256 -1
  checksum(h);
  await assert.rejects(
    readAll(concat([h, TAR_END])),
    /Invalid tar header size -1 for tar entry neg/,
  );
});
