/**
 * Content held in memory: the small documents of an export (configs,
 * manifests, attestation statements), readable before or without a store.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { MemoryContent } from "@ocistream/ocistream/layout";
 * import { webCodecs } from "@ocistream/ocistream/stages";
 * const memory = new MemoryContent(webCodecs);
 * const d = { mediaType: "application/vnd.oci.empty.v1+json", digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", size: 2 };
 * await memory.put(new TextEncoder().encode("{}"), d);
 * assertEquals(await memory.hasBlob(d.digest), true);
 * ```
 * @module
 */
import type { Codecs } from "../types/codecs.ts";
import type { BlobId, ContentSink, ContentSource } from "../types/content.ts";
import type { Descriptor } from "../types/descriptor.ts";
import { NotFoundError } from "../types/file_system.ts";
import { DigestStream } from "../stages/digest_stream.ts";
import { DigestMismatchError } from "../stages/verify_digest_stream.ts";

/** Largest blob kept by {@link MemoryContent.discardingLargeBlobs}. */
const SMALL_BLOB = 4 * 1024 * 1024;

/** A map from digest to bytes that is both a source and a sink. */
export class MemoryContent implements ContentSource, ContentSink {
  readonly #blobs = new Map<string, Uint8Array>();
  readonly #codecs: Codecs;

  /** Creates an empty store using `codecs` to check digests. */
  constructor(codecs: Codecs) {
    this.#codecs = codecs;
  }

  /** Adds bytes whose descriptor is already known. */
  put(bytes: Uint8Array, id: BlobId): Promise<void> {
    this.#blobs.set(id.digest, bytes);
    return Promise.resolve();
  }

  /** Whether the digest is held. */
  hasBlob(digest: string): Promise<boolean> {
    return Promise.resolve(this.#blobs.has(digest));
  }

  /** Streams held bytes. */
  fetch(descriptor: Descriptor): Promise<ReadableStream<Uint8Array>> {
    const bytes = this.#blobs.get(descriptor.digest);
    if (!bytes) return Promise.reject(new NotFoundError(`blob ${descriptor.digest} in memory`));
    return Promise.resolve(new Blob([bytes as Uint8Array<ArrayBuffer>]).stream());
  }

  /** Reads a blob into memory, checking its digest. */
  async putBlob(
    body: ReadableStream<Uint8Array>,
    expected: BlobId | Promise<BlobId>,
  ): Promise<void> {
    const digester = new DigestStream(this.#codecs);
    const bytes = new Uint8Array(await new Response(body.pipeThrough(digester)).arrayBuffer());
    const [actual, wanted] = await Promise.all([digester.result, expected]);
    if (actual.digest !== wanted.digest) {
      throw new DigestMismatchError(
        `Blob content does not match: expected ${wanted.digest}, got ${actual.digest}`,
      );
    }
    this.#blobs.set(actual.digest, bytes);
  }

  /** Stores a manifest. */
  putManifest(bytes: Uint8Array, descriptor: Descriptor): Promise<void> {
    return this.put(bytes, descriptor);
  }

  /**
   * A sink that keeps small blobs here and only hashes large ones (an export
   * with nowhere to keep layers still computes every digest).
   */
  discardingLargeBlobs(): ContentSink & ContentSource {
    return {
      hasBlob: (digest) => this.hasBlob(digest),
      fetch: (descriptor) => this.fetch(descriptor),
      putManifest: (bytes, descriptor) => this.putManifest(bytes, descriptor),
      putBlob: async (body, expected) => {
        const known = "digest" in expected ? expected : undefined;
        if (known && known.size <= SMALL_BLOB) return await this.putBlob(body, known);
        const digester = new DigestStream(this.#codecs);
        await body.pipeThrough(digester).pipeTo(new WritableStream());
        const [actual, wanted] = await Promise.all([digester.result, expected]);
        if (actual.digest !== wanted.digest) {
          throw new DigestMismatchError(
            `Blob content does not match: expected ${wanted.digest}, got ${actual.digest}`,
          );
        }
      },
    };
  }

  /** A source that reads from here first, then from `fallback`. */
  over(fallback: ContentSource): ContentSource {
    return {
      fetch: (descriptor, options) =>
        this.#blobs.has(descriptor.digest)
          ? this.fetch(descriptor)
          : fallback.fetch(descriptor, options),
    };
  }
}
