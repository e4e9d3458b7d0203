import assert from "node:assert/strict";
import { encodeJson, encodeJsonText } from "../../src/image/canonical_json.ts";

Deno.test("encodeJson() keeps build order, writes UTF-8 and no trailing newline", () => {
  const bytes = encodeJson({ b: 1, a: "é", c: [true, null] });
  assert.equal(new TextDecoder().decode(bytes), '{"b":1,"a":"é","c":[true,null]}');
  assert.deepEqual([...bytes.slice(12, 14)], [0xc3, 0xa9]);
  assert.notEqual(bytes[bytes.length - 1], 0x0a);
});

Deno.test("encodeJson() escapes like Go's encoding/json", () => {
  assert.equal(
    encodeJsonText({ "a<b": "x>y & z\u2028\u2029", q: '"\\' }),
    '{"a\\u003cb":"x\\u003ey \\u0026 z\\u2028\\u2029","q":"\\"\\\\"}',
  );
  // Still valid JSON for the same value.
  assert.deepEqual(JSON.parse(encodeJsonText({ k: "<&>" })), { k: "<&>" });
});

Deno.test("encodeJson() indents with two spaces like json.MarshalIndent", () => {
  assert.equal(
    encodeJsonText({ a: [], b: {}, c: [1, { d: "e" }] }, { indent: true }),
    '{\n  "a": [],\n  "b": {},\n  "c": [\n    1,\n    {\n      "d": "e"\n    }\n  ]\n}',
  );
});

Deno.test("encodeJson() refuses values JSON cannot hold", () => {
  assert.throws(() => encodeJson(undefined), TypeError);
  assert.throws(() => encodeJson(() => 1), TypeError);
});
