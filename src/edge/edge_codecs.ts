/**
 * {@linkcode Codecs} for edge runtimes: `webCodecs`, except that SHA-256
 * falls back to plain JavaScript where WebAssembly cannot be compiled from
 * bytes at run time (Cloudflare workerd). Same digests either way.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { edgeCodecs } from "@ocistream/ocistream/stages";
 * const h = await edgeCodecs.sha256();
 * h.update(new TextEncoder().encode("hello"));
 * assertEquals(h.digestHex(), "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
 * ```
 * @module
 */
import type { Codecs, Hasher, StreamCompression } from "../types/codecs.ts";
import { webCodecs } from "../stages/web_codecs.ts";
import { Sha256Js } from "../stages/_sha256_js.ts";

let wasmWorks: Promise<boolean> | undefined;

/** Whether hash-wasm loads here; asked once per isolate. */
function wasmSha256Works(): Promise<boolean> {
  wasmWorks ??= Promise.resolve()
    .then(() => webCodecs.sha256())
    .then(() => true, () => false);
  return wasmWorks;
}

/**
 * Portable codecs: gzip (fflate, pure JS) and zstd (wasm) as in `webCodecs`;
 * SHA-256 from hash-wasm, or from a pure-JS hasher when this runtime forbids
 * run-time WebAssembly compilation ("Wasm code generation disallowed by
 * embedder" in workerd). zstd still needs WebAssembly: in workerd use gzip or
 * `uncompressed`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { edgeCodecs } from "@ocistream/ocistream/stages";
 * const gz = new Blob(["hi"]).stream().pipeThrough(edgeCodecs.compress("gzip", 6));
 * assertEquals(await new Response(gz.pipeThrough(edgeCodecs.decompress("gzip"))).text(), "hi");
 * ```
 */
export const edgeCodecs: Codecs = {
  async sha256(): Promise<Hasher> {
    return (await wasmSha256Works()) ? await webCodecs.sha256() : new Sha256Js();
  },
  compress(algorithm: StreamCompression, level: number): TransformStream<Uint8Array, Uint8Array> {
    return webCodecs.compress(algorithm, level);
  },
  decompress(algorithm: StreamCompression): TransformStream<Uint8Array, Uint8Array> {
    return webCodecs.decompress(algorithm);
  },
};

/**
 * Which SHA-256 {@linkcode edgeCodecs} uses in this runtime: `"wasm"` or `"js"`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { edgeSha256Kind } from "@ocistream/ocistream/stages";
 * assertEquals(await edgeSha256Kind(), "wasm"); // in Deno, Node and Bun; "js" in workerd
 * ```
 */
export async function edgeSha256Kind(): Promise<"wasm" | "js"> {
  return (await wasmSha256Works()) ? "wasm" : "js";
}
