/**
 * A distribution-spec client for one registry host over web-standard
 * `fetch` (SPEC §8): blob existence checks, cross-repository mounts,
 * single-pass streamed uploads and chunked uploads, manifests, pulls with
 * digest verification, auth (Basic and Bearer tokens), retries and bounded
 * concurrency. No runtime APIs: pass your own `fetch` for custom TLS.
 *
 * @example
 * ```ts ignore
 * import { RegistryClient } from "./registry_client.ts";
 * const client = new RegistryClient("127.0.0.1:5000");
 * const bytes = new TextEncoder().encode("{}");
 * const digest = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
 * await client.pushBlob("demo", {
 *   digest,
 *   size: 2,
 *   open: () => Promise.resolve(new Blob([bytes]).stream()),
 * });
 * ```
 * @module
 */
import type { BlobId, RemadeBlob, UploadResumption } from "../types/content.ts";
import type { Descriptor } from "../types/descriptor.ts";
import { DOCKER_INDEX, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST } from "../types/media_types.ts";
import { isValidDigest } from "../types/reference.ts";
import { parseAuthChallenge } from "./auth_challenge.ts";
import { Authenticator, isLoopbackHost, parseErrorBody } from "./authenticator.ts";
import { readCapped, readErrorText } from "./read_capped.ts";

export { isLoopbackHost };
import { type Credentials, type CredentialStore, staticCredentials } from "./credentials.ts";
import { RegistryError } from "./registry_error.ts";
import {
  isRetryableStatus,
  retryDelay,
  type RetryOptions,
  retryOptions,
  sleep,
} from "./retry_options.ts";
import { Semaphore, type Slot } from "./_semaphore.ts";
import {
  type RegistryTimeouts,
  registryTimeouts,
  type RequestWait,
  type TimedFetch,
  timedFetch,
} from "./timeouts.ts";
import type { Codecs } from "../types/codecs.ts";
import { VerifyDigestStream } from "../stages/verify_digest_stream.ts";
import { sha256Digest } from "../image/manifest_builder.ts";
import { uploadStreamed } from "./_streamed_upload.ts";

/** Options of a {@linkcode RegistryClient}. */
export interface RegistryClientOptions {
  /** Allow plain HTTP and (with a suitable `fetch`) unverified TLS for this registry. */
  insecure?: boolean;
  /** Force a scheme instead of probing (`https` first, `http` as fallback for insecure hosts; loopback hosts try `http` first). */
  scheme?: "https" | "http";
  /** Credentials: a store to ask, or fixed credentials for this host. */
  credentials?: CredentialStore | Credentials;
  /** Retry policy for network errors, 408, 429 and 5xx. */
  retries?: Partial<RetryOptions>;
  /** Connect, idle, response and whole-request timeouts (see `timeouts.ts` for the defaults). */
  timeouts?: Partial<RegistryTimeouts>;
  /** Blob and manifest operations running at once against this registry (default 4). */
  concurrency?: number;
  /** Chunk size for chunked uploads in bytes (default 4 MiB). */
  chunkSize?: number;
  /** Always upload in chunks (`PATCH` with `Content-Range`) instead of one streamed `PATCH`. */
  chunked?: boolean;
  /** The fetch to use (custom CA, insecure TLS, tests). Default: `globalThis.fetch`. */
  fetch?: typeof fetch;
  /** User-Agent header (default `ocistream`). */
  userAgent?: string;
  /** Clock in milliseconds for token expiry (tests). */
  now?: () => number;
  /** SHA-256 for verifying what is read (default: portable wasm or pure JS; pass a native one for speed). */
  sha256?: Codecs["sha256"];
}

/** A blob whose digest is known and whose bytes can be read again (so uploads can restart). */
export interface ReopenableBlob {
  /** `sha256:<hex>`. */
  digest: string;
  /** Size in bytes, if known. */
  size?: number;
  /** Opens a fresh stream of the blob's bytes; called again to restart a failed upload. */
  open: () => Promise<ReadableStream<Uint8Array>>;
}

/**
 * A blob read once from `body`. When `expected` is a promise (a layer being
 * compressed while it is sent) nothing can be checked or skipped up front: it
 * is sent in chunks, and only the chunk not yet acknowledged is kept, so that
 * the upload can go on after a failure; `remake` lets it start over in a new
 * session when the registry lost the old one.
 */
export interface StreamedBlob {
  /** The bytes. */
  body: ReadableStream<Uint8Array>;
  /** Digest and size, known now or once `body` has been read to its end. */
  expected: BlobId | Promise<BlobId>;
  /**
   * Makes the same bytes again from their source (the layer encoded again). The re-made blob
   * must have the first one's digest before it is committed; a changed source is an error.
   */
  remake?: () => Promise<RemadeBlob>;
}

/** Options for one blob push. */
export interface PushBlobOptions {
  /** Repositories on the same registry to mount the blob from, tried in order. */
  mountFrom?: string[];
  /** Called with the bytes handed to the network so far. */
  onProgress?: (sent: number) => void;
  /** Upload in chunks for this blob. */
  chunked?: boolean;
  /** Called when a streamed upload goes on after a failure. */
  onResume?: (event: UploadResumption) => void;
}

/** What a blob push did. */
export type PushBlobResult = "exists" | "mounted" | "uploaded";

/** A manifest read from a registry. */
export interface FetchedManifest {
  /** The exact bytes. */
  bytes: Uint8Array<ArrayBuffer>;
  /** Media type from `Content-Type` or the document. */
  mediaType: string;
  /** `sha256:` of the bytes. */
  digest: string;
  /** A descriptor for it: media type, digest and size. */
  descriptor: Descriptor;
}

/** The manifest media types a pull accepts. */
export const MANIFEST_ACCEPT = [OCI_INDEX, OCI_MANIFEST, DOCKER_INDEX, DOCKER_MANIFEST];

const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_TAGS_BYTES = 16 * 1024 * 1024;
const DEFAULT_CHUNK = 4 * 1024 * 1024;

type Body = { replay: () => BodyInit | null } | { stream: ReadableStream<Uint8Array> };

/** A client for one registry host. Share one per host so concurrency and tokens are shared. */
export class RegistryClient {
  /** The registry host, e.g. `127.0.0.1:5000` or `registry-1.docker.io`. */
  readonly host: string;
  #fetch: TimedFetch;
  #options: RegistryClientOptions;
  #retry: RetryOptions;
  #limit: Semaphore;
  #auth: Authenticator;
  #base: Promise<string> | undefined;
  #codecs: Pick<Codecs, "sha256">;
  #chunkSize: number;

  /** A client for the registry at `host` (`host[:port]`, e.g. `127.0.0.1:5000` or `ghcr.io`). */
  constructor(host: string, options: RegistryClientOptions = {}) {
    if (!host || /[/\s@]/.test(host)) {
      throw new TypeError(`Invalid registry host "${host}": use host[:port], e.g. 127.0.0.1:5000`);
    }
    this.host = host;
    this.#options = options;
    // Every request (token requests too) goes through the timeouts: fetch has none of its own.
    this.#fetch = timedFetch(
      options.fetch ?? globalThis.fetch.bind(globalThis),
      registryTimeouts(options.timeouts),
    );
    this.#retry = retryOptions(options.retries);
    this.#limit = new Semaphore(options.concurrency ?? 4);
    this.#chunkSize = options.chunkSize ?? DEFAULT_CHUNK;
    if (!Number.isInteger(this.#chunkSize) || this.#chunkSize < 1) {
      throw new RangeError(`Invalid chunkSize ${options.chunkSize}: use a positive integer`);
    }
    // Portable default: wasm where it may be compiled, pure JS where not (workerd);
    // loaded on first use so runtimes that pass a native hasher never load it.
    this.#codecs = {
      sha256: options.sha256 ??
        (async () => (await import("../edge/edge_codecs.ts")).edgeCodecs.sha256()),
    };
    const c = options.credentials;
    const store = c === undefined ? undefined : "get" in c ? c : staticCredentials({ [host]: c });
    this.#auth = new Authenticator({
      registry: host,
      fetch: this.#fetch as typeof fetch,
      credentials: store,
      userAgent: options.userAgent ?? "ocistream",
      now: options.now,
      insecure: options.insecure ?? false,
    });
  }

  /** How many tokens were fetched from the token server so far. */
  get tokensFetched(): number {
    return this.#auth.tokensFetched;
  }

  /** Checks that the registry answers `/v2/` and learns its scheme and auth challenge. */
  async ping(): Promise<void> {
    await this.#baseUrl();
  }

  /** Whether `repository` has the blob `digest`. */
  hasBlob(repository: string, digest: string): Promise<boolean> {
    return this.#limit.run(() => this.#hasBlob(repository, digest));
  }

  /**
   * Pushes a blob: `HEAD` (skip if present), cross-repository mount, then a
   * single streamed `PATCH` (or chunks) and `PUT ?digest=`. A
   * {@linkcode ReopenableBlob} upload restarts on retryable failures.
   */
  pushBlob(
    repository: string,
    blob: ReopenableBlob | StreamedBlob,
    options: PushBlobOptions = {},
  ): Promise<PushBlobResult> {
    return this.#limit.run(async (slot) => {
      if ("open" in blob) return await this.#pushReopenable(repository, blob, options, slot);
      const expected = blob.expected;
      if (!(expected instanceof Promise) && blob.remake) {
        // Known digest and a way to read it again: restartable like a copy.
        let first: ReadableStream<Uint8Array> | undefined = blob.body;
        const remake = blob.remake;
        const result = await this.#pushReopenable(
          repository,
          {
            ...expected,
            open: async () => {
              const body = first ?? (await remake()).body;
              first = undefined;
              return body;
            },
          },
          options,
          slot,
        );
        await first?.cancel();
        return result;
      }
      if (!(expected instanceof Promise)) {
        // Known digest, one-shot body: skip or mount without reading it.
        const early = await this.#skipOrMount(repository, expected.digest, options);
        if (early === "exists" || early === "mounted") {
          await blob.body.cancel().catch(() => {});
          return early;
        }
        await this.#uploadOrThrow(repository, blob.body, expected, early, options);
        return "uploaded";
      }
      await this.#pushStreamed(repository, { ...blob, expected }, options, slot);
      return "uploaded";
    });
  }

  /**
   * Puts a manifest or index under `reference` (a tag or its digest) with its
   * media type, and checks the `Docker-Content-Digest` the registry reports.
   * Returns the digest.
   */
  putManifest(
    repository: string,
    reference: string,
    bytes: Uint8Array,
    mediaType: string,
  ): Promise<string> {
    return this.#limit.run(async () => {
      const digest = await sha256Digest(bytes, this.#codecs);
      const what = `Cannot push manifest ${digest}${
        reference === digest ? "" : ` as tag ${reference}`
      } to ${this.host}/${repository}`;
      const base = await this.#baseUrl(what);
      const url = `${base}/v2/${repository}/manifests/${reference}`;
      const res = await this.#send("PUT", url, {
        what,
        scopes: [pushScope(repository)],
        headers: { "Content-Type": mediaType },
        body: { replay: () => bytes.slice() },
      });
      if (res.status !== 201 && res.status !== 200) throw await this.#fail(what, res);
      await res.body?.cancel();
      const reported = res.headers.get("docker-content-digest");
      if (reported && reported !== digest) {
        throw new RegistryError(what, {
          registry: this.host,
          detail: `the registry stored it as ${reported}, expected ${digest}`,
        });
      }
      return digest;
    });
  }

  /** Reads a manifest or index by tag or digest (digest references are verified). */
  getManifest(
    repository: string,
    reference: string,
    accept: string[] = MANIFEST_ACCEPT,
  ): Promise<FetchedManifest> {
    return this.#limit.run(async () => {
      const what = `Cannot read manifest ${reference} from ${this.host}/${repository}`;
      const base = await this.#baseUrl(what);
      let res: Response;
      let bytes: Uint8Array<ArrayBuffer>;
      for (let attempt = 1;; attempt++) {
        res = await this.#send("GET", `${base}/v2/${repository}/manifests/${reference}`, {
          what,
          scopes: [pullScope(repository)],
          headers: { Accept: accept.join(", ") },
          wait: "document",
        });
        if (res.status !== 200) throw await this.#fail(what, res);
        const length = Number(res.headers.get("content-length") ?? "0");
        if (length > MAX_MANIFEST_BYTES) {
          await res.body?.cancel();
          throw new RegistryError(what, { registry: this.host, detail: `it is ${length} bytes` });
        }
        try {
          bytes = await readCapped(res.body, MAX_MANIFEST_BYTES);
          break;
        } catch (cause) {
          if (cause instanceof RangeError) {
            throw new RegistryError(what, { registry: this.host, detail: `it ${cause.message}` });
          }
          // The answer broke off mid-body (dropped connection, idle timeout): ask again.
          if (attempt >= this.#retry.attempts) {
            throw new RegistryError(what, { registry: this.host, cause: sanitize(cause) });
          }
          await sleep(retryDelay(this.#retry, attempt));
        }
      }
      if (bytes.byteLength > MAX_MANIFEST_BYTES) {
        throw new RegistryError(what, { registry: this.host, detail: "it is larger than 4 MiB" });
      }
      const digest = await sha256Digest(bytes, this.#codecs);
      if (isValidDigest(reference) && reference !== digest) {
        throw new RegistryError(what, {
          registry: this.host,
          detail: `its content digest is ${digest}`,
        });
      }
      let mediaType = (res.headers.get("content-type") ?? "").split(";")[0]!.trim();
      if (!MANIFEST_ACCEPT.includes(mediaType)) {
        try {
          const doc = JSON.parse(new TextDecoder().decode(bytes));
          if (typeof doc.mediaType === "string") mediaType = doc.mediaType;
          else if (Array.isArray(doc.manifests)) mediaType = OCI_INDEX;
          else mediaType = OCI_MANIFEST;
        } catch {
          throw new RegistryError(what, { registry: this.host, detail: "it is not JSON" });
        }
      }
      return {
        bytes,
        mediaType,
        digest,
        descriptor: { mediaType, digest, size: bytes.byteLength },
      };
    });
  }

  /** Streams a blob (following redirects), verifying digest and size while it is read. */
  getBlob(repository: string, descriptor: Descriptor): Promise<ReadableStream<Uint8Array>> {
    // The slot covers opening the request only: holding it while the caller reads could deadlock.
    return this.#limit.run(async () => {
      const what = `Cannot read blob ${descriptor.digest} from ${this.host}/${repository}`;
      const base = await this.#baseUrl(what);
      const res = await this.#send("GET", `${base}/v2/${repository}/blobs/${descriptor.digest}`, {
        what,
        scopes: [pullScope(repository)],
      });
      if (res.status !== 200 || !res.body) throw await this.#fail(what, res);
      return res.body.pipeThrough(new VerifyDigestStream(this.#codecs, descriptor, what));
    });
  }

  /** Lists the tags of a repository (empty when the repository has none). */
  listTags(repository: string): Promise<string[]> {
    return this.#limit.run(async () => {
      const what = `Cannot list tags of ${this.host}/${repository}`;
      const base = await this.#baseUrl(what);
      const res = await this.#send("GET", `${base}/v2/${repository}/tags/list`, {
        what,
        scopes: [pullScope(repository)],
        wait: "document",
      });
      if (res.status === 404) {
        await res.body?.cancel();
        return [];
      }
      if (res.status !== 200) throw await this.#fail(what, res);
      let j: { tags?: unknown };
      try {
        j = JSON.parse(new TextDecoder().decode(await readCapped(res.body, MAX_TAGS_BYTES)));
      } catch (cause) {
        throw new RegistryError(what, {
          registry: this.host,
          detail: cause instanceof RangeError ? `the tag list ${cause.message}` : "it is not JSON",
        });
      }
      return Array.isArray(j?.tags) ? j.tags.filter((t): t is string => typeof t === "string") : [];
    });
  }

  // ---- blob pushing -------------------------------------------------------

  async #pushReopenable(
    repository: string,
    blob: ReopenableBlob,
    options: PushBlobOptions,
    slot: Slot,
  ): Promise<PushBlobResult> {
    const early = await this.#skipOrMount(repository, blob.digest, options);
    if (early === "exists" || early === "mounted") return early;
    let session = early;
    let chunked = options.chunked;
    for (let attempt = 1;; attempt++) {
      // Opening may need a slot of this client (a copy between two repositories of this
      // registry reads through it): wait for it without holding ours, or pushes holding every
      // slot would wait forever for reads that need one.
      const body = await slot.outside(() => blob.open());
      const expected = { digest: blob.digest, size: blob.size ?? -1 };
      const failure = await this.#upload(repository, body, expected, session, {
        ...options,
        chunked,
      });
      if (!failure) return "uploaded";
      await body.cancel().catch(() => {});
      session = undefined;
      if (!failure.retry || attempt >= this.#retry.attempts) throw failure.error;
      if (failure.chunked) chunked = true;
      await sleep(retryDelay(this.#retry, attempt, failure.retryAfter));
    }
  }

  async #uploadOrThrow(
    repository: string,
    body: ReadableStream<Uint8Array>,
    expected: BlobId | Promise<BlobId>,
    session: string | undefined,
    options: PushBlobOptions,
  ): Promise<void> {
    const failure = await this.#upload(repository, body, expected, session, options);
    if (failure) {
      // Cancel with the error, so a producer waiting on this stream (the layer encoder)
      // rejects with the registry's message instead of a bare "cancelled".
      await body.cancel(failure.error).catch(() => {});
      if (!failure.retry) throw failure.error;
      // A one-shot stream is spent and cannot be re-sent: say what to do instead.
      failure.error.message += "; this blob was read once and cannot be sent again: give a " +
        "way to read it again (StreamedBlob.remake) or push it from a store";
      throw failure.error;
    }
  }

  /** A blob learned while it is sent: chunks that survive faults (see `_streamed_upload.ts`). */
  async #pushStreamed(
    repository: string,
    blob: StreamedBlob & { expected: Promise<BlobId> },
    options: PushBlobOptions,
    slot: Slot,
  ): Promise<void> {
    // Re-making may read a base layer through this client: not while holding our slot.
    const remake = blob.remake;
    let name = "(streamed layer)";
    const what = () => `Cannot push blob ${name} to ${this.host}/${repository}`;
    const scopes = [pushScope(repository)];
    const counted = countBytes(blob.body, options.onProgress);
    await uploadStreamed(
      {
        error: (detail, digest) => {
          if (digest) name = digest;
          return new RegistryError(what(), { registry: this.host, detail });
        },
        retry: this.#retry,
        chunkSize: this.#chunkSize,
        start: () => this.#startUpload(repository, what(), scopes),
        send: (method, url, headers, body) =>
          this.#send(method, url, {
            what: what(),
            scopes,
            headers,
            once: true,
            body: body instanceof ReadableStream
              ? { stream: body }
              : { replay: () => body as Uint8Array<ArrayBuffer> | null },
          }),
        fail: (res) => this.#fail(what(), res),
        commit: async (location, id) => {
          name = id.digest;
          const failure = await this.#commit(repository, location, id, what(), scopes);
          if (failure) throw failure.error;
        },
      },
      { body: counted, expected: blob.expected },
      remake && (() => slot.outside(remake)),
      options.onResume,
    );
  }

  /** Opens an upload session (`POST`): its URL and the registry's minimum chunk size. */
  async #startUpload(
    repository: string,
    what: string,
    scopes: string[],
  ): Promise<{ location: string; minChunk: number }> {
    const base = await this.#baseUrl(what);
    const url = `${base}/v2/${repository}/blobs/uploads/`;
    const res = await this.#send("POST", url, { what, scopes, body: { replay: () => null } });
    const loc = res.headers.get("location");
    if (res.status !== 202 || !loc) throw await this.#fail(what, res);
    await res.body?.cancel();
    const minChunk = Number(res.headers.get("oci-chunk-min-length") ?? "0");
    return { location: new URL(loc, url).href, minChunk: minChunk > 0 ? minChunk : 0 };
  }

  /** `PUT ?digest=` of an upload session; undefined when the blob is there, else the failure. */
  async #commit(
    repository: string,
    location: string,
    id: BlobId,
    what: string,
    scopes: string[],
  ): Promise<UploadFailure | undefined> {
    const res = await this.#send("PUT", appendQuery(location, "digest", id.digest), {
      what,
      scopes,
      headers: { "Content-Type": "application/octet-stream" },
      body: { replay: () => null },
    });
    if (res.status !== 201) {
      const error = await this.#fail(what, res);
      // The answer to an earlier try of this PUT may have been lost after the registry had
      // committed the blob (the retry then finds no upload session): the blob is there.
      if (res.status === 404 && await this.#hasBlob(repository, id.digest).catch(() => false)) {
        return undefined;
      }
      return failure(error, res, false);
    }
    await res.body?.cancel();
    const reported = res.headers.get("docker-content-digest");
    if (reported && reported !== id.digest) {
      return {
        error: new RegistryError(what, {
          registry: this.host,
          detail: `the registry stored it as ${reported}`,
        }),
        retry: false,
      };
    }
    return undefined;
  }

  async #hasBlob(repository: string, digest: string, pushing = false): Promise<boolean> {
    const what = pushing
      ? `Cannot push blob ${digest} to ${this.host}/${repository}`
      : `Cannot check blob ${digest} in ${this.host}/${repository}`;
    const base = await this.#baseUrl(what);
    const res = await this.#send("HEAD", `${base}/v2/${repository}/blobs/${digest}`, {
      what,
      scopes: [pushScope(repository)],
    });
    await res.body?.cancel();
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw await this.#fail(what, res);
  }

  /** HEAD, then mounts; returns "exists", "mounted", an upload session URL from a 202 mount, or undefined. */
  async #skipOrMount(
    repository: string,
    digest: string,
    options: PushBlobOptions,
  ): Promise<"exists" | "mounted" | string | undefined> {
    if (await this.#hasBlob(repository, digest, true)) return "exists";
    for (const from of options.mountFrom ?? []) {
      if (from === repository) continue;
      const what = `Cannot mount blob ${digest} from ${from} to ${this.host}/${repository}`;
      const base = await this.#baseUrl(what);
      const url = `${base}/v2/${repository}/blobs/uploads/?mount=${
        encodeURIComponent(digest)
      }&from=${encodeURIComponent(from)}`;
      const res = await this.#send("POST", url, {
        what,
        scopes: [pushScope(repository), pullScope(from)],
        body: { replay: () => null },
      });
      await res.body?.cancel();
      if (res.status === 201) return "mounted";
      if (res.status === 202) {
        // The registry did not mount but opened an upload session: use it.
        const loc = res.headers.get("location");
        if (loc) return new URL(loc, url).href;
      }
      // 401, 404 and anything else: fall back to uploading.
    }
    return undefined;
  }

  /** One upload attempt; returns undefined on success or what went wrong. */
  async #upload(
    repository: string,
    body: ReadableStream<Uint8Array>,
    expected: BlobId | Promise<BlobId>,
    session: string | undefined,
    options: PushBlobOptions,
  ): Promise<UploadFailure | undefined> {
    let name = expected instanceof Promise ? "(streamed layer)" : expected.digest;
    const what = () => `Cannot push blob ${name} to ${this.host}/${repository}`;
    const scopes = [pushScope(repository)];
    // Only the streamed PATCH is worth restarting: other requests were retried by #send already.
    let streaming = false;
    try {
      let location = session;
      let minChunk = 0;
      // A refused POST throws a RegistryError, reported below as a failure not worth restarting.
      if (!location) ({ location, minChunk } = await this.#startUpload(repository, what(), scopes));
      const counted = countBytes(body, options.onProgress);
      if (options.chunked || this.#options.chunked || minChunk > 0) {
        const r = await this.#uploadChunks(
          location,
          counted,
          Math.max(this.#chunkSize, minChunk),
          what,
          scopes,
        );
        if (typeof r !== "string") return r;
        location = r;
      } else {
        streaming = true;
        const res = await this.#send("PATCH", location, {
          what: what(),
          scopes,
          headers: { "Content-Type": "application/octet-stream" },
          body: { stream: counted },
        });
        streaming = false;
        if (res.status === 416) {
          const f = failure(await this.#fail(what(), res), res, true);
          return { ...f, retry: true, chunked: true };
        }
        const loc = res.headers.get("location");
        if (res.status !== 202 || !loc) return failure(await this.#fail(what(), res), res, true);
        await res.body?.cancel();
        location = new URL(loc, location).href;
      }
      const id = await expected;
      name = id.digest;
      return await this.#commit(repository, location, id, what(), scopes);
    } catch (e) {
      if (e instanceof RegistryError) return { error: e, retry: streaming };
      throw e;
    }
  }

  async #uploadChunks(
    location: string,
    body: ReadableStream<Uint8Array>,
    chunkSize: number,
    what: () => string,
    scopes: string[],
  ): Promise<string | UploadFailure> {
    const reader = body.getReader();
    const buffer = new Uint8Array(chunkSize);
    let offset = 0;
    let pending: Uint8Array | undefined;
    for (;;) {
      let filled = 0;
      let done = false;
      while (filled < chunkSize) {
        let chunk = pending;
        pending = undefined;
        if (!chunk) {
          const r = await reader.read();
          if (r.done) {
            done = true;
            break;
          }
          chunk = r.value;
        }
        const take = Math.min(chunk.byteLength, chunkSize - filled);
        buffer.set(chunk.subarray(0, take), filled);
        filled += take;
        if (take < chunk.byteLength) pending = chunk.subarray(take);
      }
      if (filled > 0) {
        const part = buffer.subarray(0, filled);
        const res = await this.#send("PATCH", location, {
          what: what(),
          scopes,
          headers: {
            "Content-Type": "application/octet-stream",
            "Content-Range": `${offset}-${offset + filled - 1}`,
            "Content-Length": String(filled),
          },
          body: { replay: () => part.slice() },
        });
        const loc = res.headers.get("location");
        if (res.status !== 202 || !loc) {
          reader.releaseLock();
          return failure(await this.#fail(what(), res), res, false);
        }
        await res.body?.cancel();
        location = new URL(loc, location).href;
        offset += filled;
      }
      if (done) return location;
    }
  }

  // ---- transport ----------------------------------------------------------

  #baseUrl(what?: string): Promise<string> {
    if (!this.#base) {
      this.#base = this.#probe(what).catch((e) => {
        this.#base = undefined;
        throw e;
      });
    }
    return this.#base;
  }

  async #probe(what?: string): Promise<string> {
    // Loopback asks plain HTTP first: setting up TLS for a first https request costs
    // ~40 ms, and a TLS registry answers plain HTTP with 400, which moves on to https.
    const schemes: string[] = this.#options.scheme
      ? [this.#options.scheme]
      : isLoopbackHost(this.host)
      ? ["http", "https"]
      : this.#options.insecure
      ? ["https", "http"]
      : ["https"];
    let firstError: unknown;
    for (let attempt = 1;; attempt++) {
      for (const scheme of schemes) {
        const url = `${scheme}://${this.host}/v2/`;
        let res: Response;
        try {
          res = await this.#fetch(url, {
            method: "GET",
            headers: { "User-Agent": this.#options.userAgent ?? "ocistream" },
          });
        } catch (e) {
          firstError ??= e;
          continue;
        }
        await res.body?.cancel();
        // A TLS registry answers 400 to plain HTTP: try https next, or report its failure.
        if (
          scheme === "http" && res.status === 400 &&
          (firstError !== undefined || scheme !== schemes[schemes.length - 1])
        ) continue;
        if (res.status === 401) {
          this.#auth.setChallenge(parseAuthChallenge(res.headers.get("www-authenticate")));
        }
        if (isRetryableStatus(res.status) && attempt < this.#retry.attempts) break;
        return `${scheme}://${this.host}`;
      }
      if (attempt >= this.#retry.attempts) {
        throw new RegistryError(what ?? `Cannot reach registry ${this.host}`, {
          registry: this.host,
          cause: sanitize(firstError),
        });
      }
      await sleep(retryDelay(this.#retry, attempt));
    }
  }

  async #send(
    method: string,
    url: string,
    init: {
      what: string;
      scopes: string[];
      headers?: Record<string, string>;
      body?: Body;
      /** Never retried here (the caller resumes); a 401 still gets one fresh token. */
      once?: boolean;
      wait?: RequestWait;
    },
  ): Promise<Response> {
    const oneShot = init.body !== undefined && "stream" in init.body;
    const retries = !oneShot && !init.once;
    // Credentials are bound to the registry's own origin (scheme, host and port), as containerd
    // drops its authorizer when an upload Location names another host or scheme: a Location or
    // mount session elsewhere gets no Authorization header, and its 401 challenges are ignored.
    const own = new URL(url).origin === new URL(await this.#baseUrl(init.what)).origin;
    let reauthenticated = false;
    for (let attempt = 1;; attempt++) {
      const headers = new Headers(init.headers);
      headers.set("User-Agent", this.#options.userAgent ?? "ocistream");
      const authorization = own ? await this.#auth.authorization(init.scopes) : undefined;
      if (authorization) headers.set("Authorization", authorization);
      let body: BodyInit | null | undefined;
      if (init.body) body = "stream" in init.body ? init.body.stream : init.body.replay();
      let res: Response;
      try {
        res = await this.#fetch(url, {
          method,
          headers,
          body,
          // A PUT makes the registry work (verify a whole blob, check a manifest's blobs).
          wait: init.wait ?? (method === "PUT" ? "work" : "quick"),
          ...(oneShot ? { duplex: "half" } : {}),
        } as RequestInit);
      } catch (cause) {
        if (!retries || attempt >= this.#retry.attempts) {
          throw new RegistryError(init.what, { registry: this.host, cause: sanitize(cause) });
        }
        await sleep(retryDelay(this.#retry, attempt));
        continue;
      }
      if (res.status === 401 && own) {
        // A new challenge or an expired token: fetch a fresh token and try once more.
        this.#auth.setChallenge(parseAuthChallenge(res.headers.get("www-authenticate")));
        this.#auth.invalidate(init.scopes);
        if (!oneShot && !reauthenticated) {
          reauthenticated = true;
          await res.body?.cancel();
          attempt--;
          continue;
        }
      }
      if (retries && isRetryableStatus(res.status) && attempt < this.#retry.attempts) {
        await res.body?.cancel();
        await sleep(retryDelay(this.#retry, attempt, res.headers.get("retry-after")));
        continue;
      }
      return res;
    }
  }

  async #fail(what: string, res: Response): Promise<RegistryError> {
    const text = await readErrorText(res);
    let { code, detail } = parseErrorBody(text);
    if (!code && !text) {
      // HEAD answers carry no body: name the code the registry would have sent.
      const implied = IMPLIED_CODES[res.status];
      if (implied) [code, detail] = implied;
    }
    return new RegistryError(what, {
      registry: this.host,
      status: res.status,
      code,
      detail: detail ?? (code ? undefined : res.statusText || undefined),
    });
  }
}

const IMPLIED_CODES: Record<number, [string, string]> = {
  401: ["UNAUTHORIZED", "authentication required"],
  403: ["DENIED", "requested access to the resource is denied"],
  429: ["TOOMANYREQUESTS", "too many requests"],
};

interface UploadFailure {
  error: RegistryError;
  retry: boolean;
  chunked?: boolean;
  retryAfter?: string | null;
}

function failure(error: RegistryError, res: Response, oneShot: boolean): UploadFailure {
  // 401 on a streamed PATCH usually means the token expired: a restart gets a fresh one.
  const retry = oneShot && (isRetryableStatus(res.status) || res.status === 401);
  return { error, retry, retryAfter: res.headers.get("retry-after") };
}

function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}

function pushScope(repository: string): string {
  return `repository:${repository}:pull,push`;
}

/** Appends a query parameter keeping the existing query bytes as the registry sent them. */
function appendQuery(url: string, key: string, value: string): string {
  const u = new URL(url);
  const extra = `${key}=${encodeURIComponent(value)}`;
  return u.search ? `${url.split("#")[0]}&${extra}` : `${url.split("#")[0]}?${extra}`;
}

function countBytes(
  body: ReadableStream<Uint8Array>,
  onProgress: ((sent: number) => void) | undefined,
): ReadableStream<Uint8Array> {
  if (!onProgress) return body;
  let sent = 0;
  return body.pipeThrough(
    new TransformStream({
      transform(chunk, controller) {
        sent += chunk.byteLength;
        onProgress(sent);
        controller.enqueue(chunk);
      },
    }),
  );
}

/** Network errors can quote URLs whose queries carry upload state or signatures: drop queries. */
function sanitize(cause: unknown): Error {
  let text = cause instanceof Error ? cause.message : String(cause);
  // Deno's fetch says only "fetch failed"; the reason (reset, refused) is in its cause.
  const inner = cause instanceof Error ? cause.cause : undefined;
  if (inner instanceof Error && !text.includes(inner.message)) text += ` (${inner.message})`;
  return new Error(text.replace(/(https?:\/\/[^\s?#)]+)\?[^\s)]*/g, "$1?…"));
}
