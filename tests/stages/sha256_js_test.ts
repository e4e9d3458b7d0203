import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Sha256Js } from "../../src/stages/_sha256_js.ts";

Deno.test("Sha256Js() matches node:crypto for every length and chunking", () => {
  const data = new Uint8Array(5000).map((_, i) => (i * 31 + (i >> 8)) & 0xff);
  for (const length of [0, 1, 55, 56, 63, 64, 65, 119, 120, 127, 128, 129, 1000, 5000]) {
    const want = createHash("sha256").update(data.subarray(0, length)).digest("hex");
    for (const chunk of [1, 7, 64, 100, 5000]) {
      const h = new Sha256Js();
      for (let i = 0; i < length; i += chunk) {
        h.update(data.subarray(i, Math.min(i + chunk, length)));
      }
      assert.equal(h.digestHex(), want, `length ${length}, chunk ${chunk}`);
    }
  }
});

Deno.test("Sha256Js() streams 20 MiB to the same digest as node:crypto", () => {
  const block = new Uint8Array(1 << 20).map((_, i) => i & 0xff);
  const h = new Sha256Js();
  const ref = createHash("sha256");
  for (let i = 0; i < 20; i++) {
    block[0] = i;
    h.update(block);
    ref.update(block);
  }
  assert.equal(h.digestHex(), ref.digest("hex"));
});

Deno.test("Sha256Js() refuses use after digestHex()", () => {
  const h = new Sha256Js();
  h.digestHex();
  assert.throws(() => h.update(new Uint8Array(1)), TypeError);
  assert.throws(() => h.digestHex(), TypeError);
});
