import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { createNativeCodecs } from "../../src/runtime/native_codecs.ts";
import { CompressPool } from "../../src/runtime/parallel_pool.ts";
import { gzipMembers } from "../../src/runtime/workers/_compress_block.ts";
import { concat } from "../fixtures/tar_tools.ts";
import { dataBytes } from "./parallel_helpers.ts";

const members: Uint8Array[][] = [
  [dataBytes(1, 1)],
  [dataBytes(512, 2), dataBytes(9000, 3)],
  [dataBytes(100_000, 4)],
  [dataBytes(3 << 20, 5)],
  [dataBytes(20, 6), dataBytes(0, 7), dataBytes(700, 8)],
];
const joined = members.map(concat);

Deno.test("Codecs.gzipMembers() of the native codecs gives one gzip stream per member, the same bytes on 0 to 3 workers", async () => {
  try {
    let first: Uint8Array[] | undefined;
    for (const workers of [0, 1, 2, 3]) {
      const codecs = createNativeCodecs({ workers });
      // Several jobs at once, so the calling thread takes some when the workers are busy.
      const runs = await Promise.all([1, 2, 3].map(() => codecs.gzipMembers!(6, members)));
      for (const out of runs) {
        assert.equal(out.length, members.length);
        out.forEach((member, i) => {
          assert.deepEqual([...member.subarray(0, 3)], [0x1f, 0x8b, 8]);
          assert.deepEqual(new Uint8Array(gunzipSync(member)), joined[i]);
        });
        first ??= out;
        out.forEach((member, i) => assert.deepEqual(member, first![i], `workers ${workers}`));
      }
    }
  } finally {
    await CompressPool.terminateAll();
  }
});

Deno.test("Codecs.gzipMembers() refuses a level outside 0–9", () => {
  const codecs = createNativeCodecs({ workers: 0 });
  assert.throws(() => codecs.gzipMembers!(10, members), RangeError);
});

Deno.test("gzipMembers() packs members back to back with their sizes, each level's output readable", () => {
  const input = joined[1];
  for (const level of [0, 1, 6, 9]) {
    const { output, sizes } = gzipMembers(level, input, [512, 9000]);
    assert.equal(sizes.length, 2);
    assert.equal(output.byteLength, sizes[0] + sizes[1]);
    assert.deepEqual(
      new Uint8Array(gunzipSync(output.subarray(0, sizes[0]))),
      input.subarray(0, 512),
    );
    assert.deepEqual(new Uint8Array(gunzipSync(output.subarray(sizes[0]))), input.subarray(512));
  }
});
