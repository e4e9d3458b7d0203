/**
 * What the core asks of a runtime for hashing and (de)compression. Runtimes
 * with native code pass their own; `webCodecs` in `src/stages/` works anywhere.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { type Codecs, webCodecs } from "@ocistream/ocistream/stages";
 * async function roundTrip(codecs: Codecs, text: string): Promise<string> {
 *   const gz = new Blob([text]).stream().pipeThrough(codecs.compress("gzip", 6));
 *   return await new Response(gz.pipeThrough(codecs.decompress("gzip"))).text();
 * }
 * assertEquals(await roundTrip(webCodecs, "hello"), "hello");
 * ```
 * @module
 */

/** An incremental SHA-256. */
export interface Hasher {
  /** Feeds bytes. */
  update(data: Uint8Array): void;
  /** Returns the lowercase hex digest; the hasher is done afterwards. */
  digestHex(): string;
}

/** Stream compressions the codecs provide. */
export type StreamCompression = "gzip" | "zstd";

/** Hashing and compression primitives. */
export interface Codecs {
  /** A new SHA-256 hasher. */
  sha256(): Hasher | Promise<Hasher>;
  /** A compressing stage; the output must depend only on the input bytes and level. */
  compress(algorithm: StreamCompression, level: number): TransformStream<Uint8Array, Uint8Array>;
  /** A decompressing stage (gzip accepts concatenated members; zstd several frames). */
  decompress(algorithm: StreamCompression): TransformStream<Uint8Array, Uint8Array>;
  /**
   * Optional: compresses each member (given as its pieces, in order) into a complete gzip
   * stream of its own, possibly on several threads; resolves to the streams in order. Each
   * stream must depend only on its member's bytes and the level. The eStargz writer batches
   * its many small members through this; without it they go through `compress` one by one.
   */
  gzipMembers?(level: number, members: readonly (readonly Uint8Array[])[]): Promise<Uint8Array[]>;
}
