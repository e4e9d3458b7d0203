/**
 * The JSON bytes of every config, manifest, index and attestation we write.
 *
 * BuildKit writes Go structs, so its key order is the struct's field order
 * (maps sorted), not a sorted canonical form. Our builders create objects in
 * that fixed order, so `JSON.stringify` already gives stable bytes; this file
 * adds what Go's `encoding/json` does on top: `<`, `>`, `&`, U+2028 and U+2029
 * are escaped, and manifests and indexes are indented with two spaces like
 * `json.MarshalIndent(v, "", "  ")`. No trailing newline.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { encodeJson } from "@ocistream/ocistream/image";
 * // "&", "<" and ">" escaped as Go's encoding/json does.
 * assertEquals(new TextDecoder().decode(encodeJson({ a: "x&y" })), String.raw`{"a":"x\u0026y"}`);
 * ```
 * @module
 */

/** Options for {@link encodeJson}. */
export interface EncodeJsonOptions {
  /** Indent with two spaces (manifests and indexes), as BuildKit does; default compact. */
  indent?: boolean;
}

const GO_ESCAPES: Record<string, string> = {
  "<": "\\u003c",
  ">": "\\u003e",
  "&": "\\u0026",
  "\u2028": "\\u2028",
  "\u2029": "\\u2029",
};

/**
 * Encodes `value` as UTF-8 JSON with Go's escaping. Keys keep the order in
 * which the objects were built; build them in a fixed order for stable bytes.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { encodeJson } from "@ocistream/ocistream/image";
 * const bytes = encodeJson({ schemaVersion: 2, layers: [] }, { indent: true });
 * assertEquals(new TextDecoder().decode(bytes), '{\n  "schemaVersion": 2,\n  "layers": []\n}');
 * ```
 */
export function encodeJson(value: unknown, options: EncodeJsonOptions = {}): Uint8Array {
  const text = encodeJsonText(value, options);
  return new TextEncoder().encode(text);
}

/**
 * Same as {@link encodeJson} but returns the string.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { encodeJsonText } from "@ocistream/ocistream/image";
 * assertEquals(encodeJsonText(["<b>"]), String.raw`["\u003cb\u003e"]`);
 * ```
 */
export function encodeJsonText(value: unknown, options: EncodeJsonOptions = {}): string {
  const text = JSON.stringify(value, null, options.indent ? 2 : undefined);
  if (text === undefined) {
    throw new TypeError(`Cannot encode ${typeof value} as JSON: pass an object, array or value`);
  }
  // These characters can only occur inside strings, so a global replace is safe.
  return text.replace(/[<>&\u2028\u2029]/g, (c) => GO_ESCAPES[c]!);
}
