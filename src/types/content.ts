/**
 * Content stores: where blobs and manifests are read from and written to.
 * The local store, an OCI layout, a registry repository and memory all implement these.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { type ContentSink, MemoryContent } from "@ocistream/ocistream/layout";
 * import { webCodecs } from "@ocistream/ocistream/stages";
 * async function has(sink: ContentSink, digest: string): Promise<boolean> {
 *   return await sink.hasBlob(digest);
 * }
 * const empty = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
 * assertEquals(await has(new MemoryContent(webCodecs), empty), false);
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

/** A blob made again from its source: the same bytes, if the source did not change. */
export interface RemadeBlob {
  /** The bytes. */
  body: ReadableStream<Uint8Array>;
  /** Digest and size, once `body` has been read to its end. */
  expected: Promise<BlobId>;
}

/** Why and where a streamed upload went on after a failure (for progress). */
export interface UploadResumption {
  /** What went wrong, e.g. `503` or a network error's message. */
  reason: string;
  /** Bytes the registry had when the upload went on (0 when it starts over). */
  offset: number;
  /** True when the blob is being made again from its source in a new session. */
  remade: boolean;
}

/** Options of {@link ContentSink.putBlob} for a blob learned while it is written. */
export interface PutBlobOptions {
  /**
   * Makes the blob again from its source, for a sink that lost what it had been sent (a
   * registry upload session): the re-made blob must have the same digest. Sinks that keep
   * what they were sent ignore it.
   */
  remake?: () => Promise<RemadeBlob>;
  /** Called when a write goes on after a failure. */
  onResume?: (event: UploadResumption) => void;
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
  putBlob(
    body: ReadableStream<Uint8Array>,
    expected: BlobId | Promise<BlobId>,
    options?: PutBlobOptions,
  ): Promise<void>;
  /** Writes a manifest or index; `tag` names it (registries), else it is stored by digest. */
  putManifest(bytes: Uint8Array, descriptor: Descriptor, tag?: string): Promise<void>;
}
