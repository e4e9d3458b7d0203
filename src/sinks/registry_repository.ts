/**
 * One repository on a registry as a {@linkcode ContentSink} (push) and a
 * {@linkcode ContentSource} (pull), over a shared {@linkcode RegistryClient}.
 *
 * @example
 * ```ts ignore
 * import { RegistryClient } from "../registry/registry_client.ts";
 * import { RegistryRepository } from "./registry_repository.ts";
 * const repo = new RegistryRepository(new RegistryClient("127.0.0.1:5000"), "demo/app");
 * console.log(await repo.hasBlob("sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"));
 * ```
 * @module
 */
import type { BlobId, ContentSink, ContentSource, PutBlobOptions } from "../types/content.ts";
import type { Descriptor } from "../types/descriptor.ts";
import { isIndexMediaType, isManifestMediaType } from "../types/media_types.ts";
import { RegistryError } from "../registry/registry_error.ts";
import { DigestMismatchError } from "../stages/verify_digest_stream.ts";
import type {
  FetchedManifest,
  PushBlobResult,
  RegistryClient,
} from "../registry/registry_client.ts";

/**
 * A registry's refusal of the bytes themselves (their digest or size is not what was declared)
 * as the `DigestMismatchError` every sink reports; any other failure as it is.
 */
function rejectedContent(error: unknown): never {
  if (
    error instanceof RegistryError &&
    (error.code === "DIGEST_INVALID" || error.code === "SIZE_INVALID")
  ) {
    throw new DigestMismatchError(error.message, { cause: error });
  }
  throw error;
}

/** Bytes a streamed layer's encoder may run ahead of its upload. */
const STREAM_AHEAD = 8 * 1024 * 1024;

/** Options of a {@linkcode RegistryRepository}. */
export interface RegistryRepositoryOptions {
  /** Repositories on the same registry to mount blobs from before uploading. */
  mountFrom?: string[];
  /** Upload every blob in chunks. */
  chunked?: boolean;
  /** Called per blob with the bytes sent so far (`total` when known). */
  onProgress?: (event: BlobProgress) => void;
}

/** Progress of one blob upload. */
export interface BlobProgress {
  /** The blob digest, or `undefined` for a layer still being streamed. */
  digest?: string;
  /** Bytes handed to the network. */
  sent: number;
  /** Total size when known. */
  total?: number;
}

/** A repository such as `127.0.0.1:5000/team/app`: push and pull content by descriptor. */
export class RegistryRepository implements ContentSink, ContentSource {
  /** The client for the registry host. */
  readonly client: RegistryClient;
  /** Repository path, e.g. `team/app` or `library/alpine`. */
  readonly repository: string;
  #options: RegistryRepositoryOptions;
  /** What each pushed blob needed, by digest (for reports and tests). */
  readonly results: Map<string, PushBlobResult> = new Map();

  /** Reads and writes `repository` (e.g. `library/alpine`) through `client`. */
  constructor(client: RegistryClient, repository: string, options: RegistryRepositoryOptions = {}) {
    this.client = client;
    this.repository = repository;
    this.#options = options;
  }

  /** `host/repository`, for messages. */
  get name(): string {
    return `${this.client.host}/${this.repository}`;
  }

  /** Whether the blob is in this repository. */
  hasBlob(digest: string): Promise<boolean> {
    return this.client.hasBlob(this.repository, digest);
  }

  /**
   * Uploads a blob read once from `body`. With a known digest it is skipped
   * or mounted when possible; with a promised digest (a layer compressed
   * while sent) it goes out in chunks that survive faults, and `remake` lets
   * it start over in a new session when the registry lost the old one.
   */
  async putBlob(
    body: ReadableStream<Uint8Array>,
    expected: BlobId | Promise<BlobId>,
    options: PutBlobOptions = {},
  ): Promise<void> {
    const digest = expected instanceof Promise ? undefined : expected.digest;
    const total = expected instanceof Promise ? undefined : expected.size;
    if (expected instanceof Promise) {
      // A layer encoded while it is sent: let the encoder run up to 8 MiB ahead of the
      // network, so compression and upload overlap instead of taking turns.
      body = body.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>(
          {},
          new ByteLengthQueuingStrategy({ highWaterMark: STREAM_AHEAD }),
          new ByteLengthQueuingStrategy({ highWaterMark: 0 }),
        ),
      );
    }
    const result = await this.client.pushBlob(
      this.repository,
      { body, expected, remake: options.remake },
      {
        mountFrom: this.#options.mountFrom,
        chunked: this.#options.chunked,
        onProgress: this.#progress(digest, total),
        onResume: options.onResume,
      },
    ).catch(rejectedContent);
    const id = await expected;
    this.results.set(id.digest, result);
  }

  /**
   * Uploads a blob that can be read again (copies), so a failed upload
   * restarts from a fresh stream. `mountFrom` adds mount sources.
   */
  async putBlobFrom(
    id: BlobId,
    open: () => Promise<ReadableStream<Uint8Array>>,
    mountFrom: string[] = [],
  ): Promise<PushBlobResult> {
    const result = await this.client.pushBlob(
      this.repository,
      { digest: id.digest, size: id.size, open },
      {
        mountFrom: [...mountFrom, ...(this.#options.mountFrom ?? [])],
        chunked: this.#options.chunked,
        onProgress: this.#progress(id.digest, id.size),
      },
    ).catch(rejectedContent);
    this.results.set(id.digest, result);
    return result;
  }

  /**
   * `source`'s repository when it is another repository of this registry, so blobs can be
   * mounted from it instead of read and uploaded; else `undefined`.
   */
  mountableFrom(source: ContentSource): string | undefined {
    if (!(source instanceof RegistryRepository)) return undefined;
    if (source.client.host !== this.client.host || source.repository === this.repository) {
      return undefined;
    }
    return source.repository;
  }

  /** Puts a manifest or index, by `tag` if given, else by its digest. */
  async putManifest(bytes: Uint8Array, descriptor: Descriptor, tag?: string): Promise<void> {
    await this.client.putManifest(
      this.repository,
      tag ?? descriptor.digest,
      bytes,
      descriptor.mediaType,
    );
  }

  /** Reads a manifest or index by tag or digest. */
  getManifest(reference: string): Promise<FetchedManifest> {
    return this.client.getManifest(this.repository, reference);
  }

  /** Streams a blob or manifest, verified against the descriptor's digest and size. */
  async fetch(descriptor: Descriptor): Promise<ReadableStream<Uint8Array>> {
    if (isManifestMediaType(descriptor.mediaType) || isIndexMediaType(descriptor.mediaType)) {
      const m = await this.client.getManifest(this.repository, descriptor.digest);
      return new Blob([m.bytes]).stream();
    }
    return await this.client.getBlob(this.repository, descriptor);
  }

  /** Lists the repository's tags. */
  listTags(): Promise<string[]> {
    return this.client.listTags(this.repository);
  }

  #progress(digest: string | undefined, total: number | undefined) {
    const cb = this.#options.onProgress;
    if (!cb) return undefined;
    return (sent: number) => cb({ digest, sent, total });
  }
}
