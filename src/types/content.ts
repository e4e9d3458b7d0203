/**
 * Content stores: where blobs and manifests are read from and written to.
 * The local store, an OCI layout, a registry repository and memory all implement these.
 *
 * @example
 * ```ts
 * import type { ContentSink } from "./content.ts";
 * async function maybeWrite(sink: ContentSink, digest: string) {
 *   return await sink.hasBlob(digest);
 * }
 * console.log(typeof maybeWrite);
 * ```
 * @module
 */
import type { Descriptor } from "./descriptor.ts";

/** A blob's digest and size. */
export interface BlobId {
  /** `sha256:<hex>`. */
  digest: string;
  /** Size in bytes. */
  size: number;
}

/** Options of {@link ContentSource.fetch}. */
export interface FetchOptions {
  /**
   * `false` lets the source skip its own digest check (it may check anyway): for bytes going
   * straight into a {@link ContentSink}, which checks them itself. Default `true`.
   */
  verify?: boolean;
}

/** Reads content by descriptor. Implementations verify digests as they stream. */
export interface ContentSource {
  /** Streams a blob or manifest. */
  fetch(descriptor: Descriptor, options?: FetchOptions): Promise<ReadableStream<Uint8Array>>;
}

/** Writes content. */
export interface ContentSink {
  /** Whether the blob is already there (so writing it can be skipped). */
  hasBlob(digest: string): Promise<boolean>;
  /**
   * Writes a blob. `expected` is known up front (copying) or resolves when
   * `body` has been read to its end (a freshly compressed layer).
   * The sink must not make the blob visible unless the bytes match, and reports bytes that
   * do not match with a `DigestMismatchError` (so a copy can tell them from other failures).
   */
  putBlob(body: ReadableStream<Uint8Array>, expected: BlobId | Promise<BlobId>): Promise<void>;
  /** Writes a manifest or index; `tag` names it (registries), else it is stored by digest. */
  putManifest(bytes: Uint8Array, descriptor: Descriptor, tag?: string): Promise<void>;
}
