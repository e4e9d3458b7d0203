/**
 * The upload of a blob whose digest is known only once it has been read (a
 * layer compressed while it is sent), made to survive faults without holding
 * the blob: it goes out in chunks (`PATCH` with `Content-Range`) and only the
 * chunk not yet acknowledged is kept. After a failure the registry is asked
 * how much it has (`GET` on the upload URL → `Range`) and the upload goes on
 * from there. When the registry lost the session, or does not take chunks,
 * the blob is made again from its source and sent in a fresh session (in one
 * streamed `PATCH` if chunks were refused); the first pass is read to its end
 * so that its digest is known, and the re-made blob must have that digest
 * before anything is committed.
 *
 * Internal to `RegistryClient`; see `StreamedBlob.remake`.
 *
 * @module
 */
import type { BlobId, RemadeBlob, UploadResumption } from "../types/content.ts";
import { RegistryError } from "./registry_error.ts";
import { isRetryableStatus, retryDelay, type RetryOptions, sleep } from "./retry_options.ts";

/** What the upload needs from the client: one request at a time, never retried by itself. */
export interface UploadIo {
  /** An error saying what failed (`Cannot push blob DIGEST to host/repo`) and `detail`. */
  error(detail: string, digest?: string): RegistryError;
  /** The retry policy (attempts are shared by every failure of this blob). */
  retry: RetryOptions;
  /** Chunk size; the registry's `OCI-Chunk-Min-Length` raises it. */
  chunkSize: number;
  /** Opens an upload session: its URL and the registry's minimum chunk size. */
  start(): Promise<{ location: string; minChunk: number }>;
  /** Sends one request (a 401 gets one fresh token); throws `RegistryError` on network errors. */
  send(
    method: string,
    url: string,
    headers: Record<string, string>,
    body: Uint8Array | ReadableStream<Uint8Array> | null,
  ): Promise<Response>;
  /** The registry's error for a failed answer (reads a bounded body). */
  fail(res: Response): Promise<RegistryError>;
  /** `PUT ?digest=`: makes the uploaded bytes the blob `id`. */
  commit(location: string, id: BlobId): Promise<void>;
}

type Outcome =
  | { sent: true; location: string }
  | {
    sent: false;
    error: RegistryError;
    /** Worth a new session with the blob made again. */
    retry: boolean;
    /** The registry does not take chunks: send the re-made blob in one streamed PATCH. */
    refusesChunks?: boolean;
    retryAfter?: string | null;
  };

/** Statuses by which a registry says it does not take `Content-Range` chunks. */
const CHUNKS_REFUSED = new Set([400, 405, 416, 501]);

/**
 * Uploads `body` (resolving to `expected`) through `io`, surviving faults as the module doc
 * says; `remake` makes the blob again from its source (without it, a lost session is final).
 */
export async function uploadStreamed(
  io: UploadIo,
  first: RemadeBlob,
  remake: (() => Promise<RemadeBlob>) | undefined,
  onResume?: (event: UploadResumption) => void,
): Promise<BlobId> {
  const budget = { failures: 0 };
  let run = first;
  let reader = new ChunkReader(run.body);
  let whole = false;
  for (let remade = false;; remade = true) {
    const outcome = whole
      ? await sendWhole(io, reader)
      : await sendChunks(io, reader, budget, onResume);
    if (outcome.sent) {
      const id = await run.expected;
      if (remade) {
        const was = await first.expected;
        if (was.digest !== id.digest || was.size !== id.size) {
          await io.send("DELETE", outcome.location, {}, null).then(
            (r) => r.body?.cancel(),
            () => {},
          );
          throw io.error(
            `the layer's source changed while it was being sent: made again it is ` +
              `${id.digest} (${id.size} bytes), not ${was.digest} (${was.size} bytes); ` +
              `nothing was committed: run the export again`,
            was.digest,
          );
        }
      }
      await io.commit(outcome.location, id);
      return id;
    }
    budget.failures++;
    if (!outcome.retry || !remake || budget.failures >= io.retry.attempts) {
      // Cancel with the error, so a producer waiting on this stream (the layer encoder)
      // rejects with the registry's message instead of a bare "cancelled".
      await reader.cancel(outcome.error);
      if (outcome.retry && !remake) {
        outcome.error.message += "; this blob cannot be made again from its source";
      }
      throw outcome.error;
    }
    onResume?.({ reason: reasonOf(outcome.error), offset: 0, remade: true });
    // The first pass is read to its end: its digest is the one the re-made blob must have,
    // and everything else made from the same walk (file lists, cache keys) stays whole.
    if (remade) await reader.cancel();
    else await reader.drain();
    await sleep(retryDelay(io.retry, budget.failures, outcome.retryAfter));
    if (outcome.refusesChunks) whole = true;
    run = await remake();
    reader = new ChunkReader(run.body);
  }
}

/** Sends the blob in chunks, going on after failures while the registry keeps the session. */
async function sendChunks(
  io: UploadIo,
  reader: ChunkReader,
  budget: { failures: number },
  onResume: ((event: UploadResumption) => void) | undefined,
): Promise<Outcome> {
  let session: { location: string; minChunk: number };
  try {
    session = await io.start();
  } catch (error) {
    if (error instanceof RegistryError) return { sent: false, error, retry: isRetryable(error) };
    throw error;
  }
  let location = session.location;
  const size = Math.max(io.chunkSize, session.minChunk);
  let offset = 0;
  for (;;) {
    const chunk = await reader.read(size);
    if (chunk.byteLength === 0) return { sent: true, location };
    const end = offset + chunk.byteLength;
    // `from`: the first byte of this chunk the registry does not have yet.
    for (let from = offset; from < end;) {
      let res: Response | undefined;
      let error: RegistryError;
      try {
        res = await io.send("PATCH", location, {
          "Content-Type": "application/octet-stream",
          "Content-Range": `${from}-${end - 1}`,
        }, chunk.subarray(from - offset));
      } catch (e) {
        if (!(e instanceof RegistryError)) throw e;
        error = e;
      }
      if (res) {
        const next = res.headers.get("location");
        if (res.status === 202 && next) {
          await res.body?.cancel();
          location = new URL(next, location).href;
          const acknowledged = rangeEnd(res.headers.get("range"));
          if (acknowledged !== undefined && acknowledged !== end) {
            return {
              sent: false,
              retry: true,
              refusesChunks: true,
              error: io.error(
                `the registry acknowledged ${acknowledged} bytes after a chunk that ended at ${end}`,
              ),
            };
          }
          from = end;
          continue;
        }
        error = await io.fail(res);
        if (CHUNKS_REFUSED.has(res.status)) {
          return { sent: false, error, retry: true, refusesChunks: true };
        }
        if (res.status === 404) return { sent: false, error, retry: true };
        if (!isRetryableStatus(res.status)) return { sent: false, error, retry: false };
      }
      // A network error or a retryable status: ask the registry what it kept, go on from there.
      if (++budget.failures >= io.retry.attempts) {
        return { sent: false, error: error!, retry: false };
      }
      await sleep(retryDelay(io.retry, budget.failures, res?.headers.get("retry-after")));
      const status = await uploadStatus(io, location);
      if (status.lost) return { sent: false, error: status.lost, retry: true };
      if (status.have < offset || status.have > end) {
        // The registry kept less than we still hold, or more than we sent: start over.
        return {
          sent: false,
          retry: true,
          error: io.error(
            `after a failure the registry reported ${status.have} bytes, ` +
              `outside the chunk ${offset}-${end - 1} still held`,
          ),
        };
      }
      location = status.location;
      from = status.have;
      onResume?.({ reason: reasonOf(error!), offset: from, remade: false });
    }
    offset = end;
  }
}

/** Sends the rest of the blob in one streamed `PATCH` (registries that refuse chunks). */
async function sendWhole(
  io: UploadIo,
  reader: ChunkReader,
): Promise<Outcome> {
  try {
    const { location } = await io.start();
    const res = await io.send("PATCH", location, {
      "Content-Type": "application/octet-stream",
    }, reader.rest());
    const next = res.headers.get("location");
    if (res.status === 202 && next) {
      await res.body?.cancel();
      return { sent: true, location: new URL(next, location).href };
    }
    const error = await io.fail(res);
    return {
      sent: false,
      error,
      retry: isRetryableStatus(res.status) || res.status === 404 || res.status === 401,
      retryAfter: res.headers.get("retry-after"),
    };
  } catch (error) {
    if (error instanceof RegistryError) return { sent: false, error, retry: isRetryable(error) };
    throw error;
  }
}

/** `GET` on the upload URL: how many bytes the registry has, or that it lost the session. */
async function uploadStatus(
  io: UploadIo,
  location: string,
): Promise<{ have: number; location: string; lost?: undefined } | { lost: RegistryError }> {
  let res: Response;
  try {
    res = await io.send("GET", location, {}, null);
  } catch (e) {
    if (e instanceof RegistryError) return { lost: e };
    throw e;
  }
  if (res.status !== 204 && res.status !== 200) return { lost: await io.fail(res) };
  await res.body?.cancel();
  const next = res.headers.get("location");
  return {
    have: rangeEnd(res.headers.get("range")) ?? 0,
    location: next ? new URL(next, location).href : location,
  };
}

/**
 * The byte count a `Range: 0-N` header acknowledges. An empty upload says `0-0` (distribution)
 * or `0--1`: both read as 0 bytes. A registry that truly had 1 byte then gets it again, and
 * the range it answers shows the overlap, which starts the blob over.
 */
function rangeEnd(range: string | null): number | undefined {
  const m = range?.match(/^(?:bytes=)?0-(-?\d+)$/);
  if (!m) return undefined;
  const last = Number(m[1]);
  return last <= 0 ? 0 : last + 1;
}

function isRetryable(error: RegistryError): boolean {
  return error.status === undefined || isRetryableStatus(error.status) || error.status === 404;
}

function reasonOf(error: RegistryError): string {
  if (error.status !== undefined) return `${error.status}${error.code ? ` ${error.code}` : ""}`;
  return error.cause instanceof Error ? error.cause.message : error.message;
}

/** Reads a byte stream in chunks of a chosen size. */
class ChunkReader {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #pending: Uint8Array | undefined;

  constructor(body: ReadableStream<Uint8Array>) {
    this.#reader = body.getReader();
  }

  /** Up to `size` bytes in a buffer of their own (shorter only at the end, empty after it). */
  async read(size: number): Promise<Uint8Array> {
    let buffer: Uint8Array | undefined;
    let filled = 0;
    while (filled < size) {
      let next = this.#pending;
      this.#pending = undefined;
      if (!next) {
        const r = await this.#reader.read();
        if (r.done) break;
        next = r.value;
      }
      // A chunk that is exactly one read goes out as it is, uncopied.
      if (filled === 0 && next.byteLength === size) return next;
      buffer ??= new Uint8Array(size);
      const take = Math.min(next.byteLength, size - filled);
      buffer.set(next.subarray(0, take), filled);
      filled += take;
      if (take < next.byteLength) this.#pending = next.subarray(take);
    }
    return buffer ? buffer.subarray(0, filled) : new Uint8Array(0);
  }

  /** What is left, as one stream. */
  rest(): ReadableStream<Uint8Array> {
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        let next = this.#pending;
        this.#pending = undefined;
        if (!next) {
          const r = await this.#reader.read();
          if (r.done) return controller.close();
          next = r.value;
        }
        controller.enqueue(next);
      },
      cancel: (reason) => this.cancel(reason),
    });
  }

  /** Reads to the end, discarding the bytes. */
  async drain(): Promise<void> {
    this.#pending = undefined;
    for (;;) if ((await this.#reader.read()).done) return;
  }

  /** Stops the source with `reason`. */
  async cancel(reason?: unknown): Promise<void> {
    this.#pending = undefined;
    await this.#reader.cancel(reason).catch(() => {});
  }
}
