import assert from "node:assert/strict";
import { ClampTimestampsStream } from "../../src/stages/clamp_timestamps_stream.ts";
import type { TarEntry } from "../../src/types/tar_entry.ts";

const EPOCH = 1_700_000_000;

async function clamp(entries: TarEntry[], epoch = EPOCH): Promise<TarEntry[]> {
  const out: TarEntry[] = [];
  for await (
    const e of ReadableStream.from(entries).pipeThrough(new ClampTimestampsStream(epoch))
  ) {
    out.push(e);
  }
  return out;
}

const entry = (path: string, times: Partial<TarEntry>): TarEntry => ({
  path,
  type: "file",
  mode: 0o644,
  uid: 0,
  gid: 0,
  mtime: 0,
  size: 0,
  ...times,
});

Deno.test("ClampTimestampsStream() lowers later times to the epoch and keeps earlier ones as they are", async () => {
  const out = await clamp([
    entry("later", { mtime: EPOCH + 1, atime: EPOCH + 3600.5, ctime: 2 ** 33 }),
    entry("earlier", { mtime: 1_000_000_000, atime: 999_999_999.25, ctime: 0 }),
    entry("at-epoch", { mtime: EPOCH, atime: EPOCH, ctime: EPOCH }),
    entry("mixed", { mtime: EPOCH - 1, atime: EPOCH + 1 }),
    entry("fraction-after", { mtime: EPOCH + 0.5 }),
    entry("fraction-before", { mtime: EPOCH - 0.5 }),
  ]);
  const times = out.map((e) => [e.path, e.mtime, e.atime, e.ctime]);
  assert.deepEqual(times, [
    ["later", EPOCH, EPOCH, EPOCH],
    ["earlier", 1_000_000_000, 999_999_999.25, 0],
    ["at-epoch", EPOCH, EPOCH, EPOCH],
    ["mixed", EPOCH - 1, EPOCH, undefined],
    ["fraction-after", EPOCH, undefined, undefined],
    ["fraction-before", EPOCH - 0.5, undefined, undefined],
  ]);
  // Absent times stay absent (no atime/ctime invented).
  assert.equal("atime" in out[4]!, false);
  assert.equal("ctime" in out[4]!, false);
});

Deno.test("ClampTimestampsStream() keeps every other field and leaves its input unchanged", async () => {
  const open = () => new Blob(["x"]).stream();
  const input = entry("f", {
    mtime: EPOCH + 10,
    size: 1,
    open,
    uid: 7,
    gid: 8,
    mode: 0o4755,
    xattrs: { "user.a": "b" },
    uname: "u",
  });
  const [out] = await clamp([input], 0);
  assert.deepEqual({ ...out, mtime: undefined }, { ...input, mtime: undefined });
  assert.equal(out!.mtime, 0);
  assert.equal(out!.open, open);
  assert.equal(input.mtime, EPOCH + 10);
});

Deno.test("ClampTimestampsStream() refuses an epoch that is not whole non-negative seconds", () => {
  for (const bad of [-1, 1.5, NaN, Infinity, 2 ** 60]) {
    assert.throws(
      () => new ClampTimestampsStream(bad),
      /Invalid epoch .*: expected whole seconds since 1970/,
    );
  }
});
