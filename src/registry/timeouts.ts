/**
 * Timeouts for registry requests over `fetch`, which has none of its own:
 *
 * - `connectMs`: until a request's body starts flowing, or until a quick
 *   request (ping, `HEAD`, `GET`, `POST` of an upload session, token) has its
 *   answer's headers. A registry that cannot be reached fails here.
 * - `idleMs`: no byte moved while sending a body or reading an answer body.
 *   Counted only while the network is the one waited for (a slow compressor
 *   upstream or a slow reader downstream does not count).
 * - `responseMs`: waiting for the answer's headers after a body was sent, or
 *   for a request that makes the registry work (the final `PUT ?digest=`
 *   while the registry verifies a big blob, a manifest `PUT`). Longer by
 *   default, so such a request is not cut off early.
 * - `requestMs`: the whole request, body and answer included; 0 (default)
 *   means no limit, since big layers over slow links take what they take.
 * - `documentMs`: the whole of a request whose answer is a small document
 *   (a manifest, a token, a tag list), so a registry that trickles one byte
 *   at a time within the idle timeout cannot hold a pull forever.
 *
 * A timed-out request fails like a network error (and is retried like one).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { registryTimeouts, timedFetch } from "@ocistream/ocistream/registry";
 * const timeouts = registryTimeouts({ connectMs: 5_000 });
 * const f = timedFetch(fetch, timeouts);
 * assertEquals([typeof f, timeouts.responseMs], ["function", 600000]);
 * ```
 * @module
 */

/** The timeouts, in milliseconds. */
export interface RegistryTimeouts {
  /** Reaching the registry and quick answers (default 30 s). */
  connectMs: number;
  /** No byte moving in either direction (default 60 s). */
  idleMs: number;
  /** Answer headers after a body, or for a request that makes the registry work (default 10 min). */
  responseMs: number;
  /** The whole request; 0 = no limit (default). */
  requestMs: number;
  /** The whole of a request for a small document: manifest, token, tag list (default 2 min). */
  documentMs: number;
}

/** The defaults. */
export const DEFAULT_TIMEOUTS: RegistryTimeouts = {
  connectMs: 30_000,
  idleMs: 60_000,
  responseMs: 600_000,
  requestMs: 0,
  documentMs: 120_000,
};

/**
 * How long a request may wait for its answer's headers once sent: quickly, or while the
 * registry works; `document` is quick and also bounds the whole answer by `documentMs`.
 */
export type RequestWait = "quick" | "work" | "document";

/** Checks timeouts and fills defaults. */
export function registryTimeouts(partial?: Partial<RegistryTimeouts>): RegistryTimeouts {
  const t = { ...DEFAULT_TIMEOUTS, ...partial };
  for (const [k, v] of Object.entries(t)) {
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
      throw new RangeError(`Invalid timeout ${k}=${v}: use milliseconds, 0 or more`);
    }
  }
  for (const k of ["connectMs", "idleMs", "responseMs", "documentMs"] as const) {
    if (t[k] === 0) {
      throw new RangeError(`Invalid timeout ${k}=0: only requestMs may be 0 (no limit)`);
    }
  }
  return t;
}

/**
 * Parses `connect=30,idle=60,response=600,request=0` (seconds, any subset),
 * the form of `$OCISTREAM_REGISTRY_TIMEOUTS`, into timeouts; errors name `where` the text
 * came from, when given.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseTimeouts } from "@ocistream/ocistream/registry";
 * assertEquals(parseTimeouts("idle=5,response=120"), { idleMs: 5000, responseMs: 120000 });
 * ```
 */
export function parseTimeouts(text: string, where?: string): Partial<RegistryTimeouts> {
  const at = where ? ` in ${where}` : "";
  const out: Partial<RegistryTimeouts> = {};
  const keys: Record<string, keyof RegistryTimeouts> = {
    connect: "connectMs",
    idle: "idleMs",
    response: "responseMs",
    request: "requestMs",
    document: "documentMs",
  };
  for (const field of text.split(",").map((f) => f.trim()).filter((f) => f !== "")) {
    const eq = field.indexOf("=");
    const key = keys[eq < 0 ? field : field.slice(0, eq)];
    const seconds = eq < 0 ? NaN : Number(field.slice(eq + 1));
    if (!key) {
      throw new TypeError(
        `Unknown registry timeout "${field}"${at}: use connect=, idle=, response=, request= or document= (seconds)`,
      );
    }
    if (!Number.isFinite(seconds) || seconds < 0) {
      throw new RangeError(`Invalid registry timeout "${field}"${at}: give seconds, 0 or more`);
    }
    if (seconds === 0 && key !== "requestMs") {
      throw new RangeError(
        `Invalid registry timeout "${field}"${at}: only request= may be 0 (no limit)`,
      );
    }
    out[key] = seconds * 1000;
  }
  return out;
}

/** The error a timed-out request fails with (its `name` is `TimeoutError`). */
export class RegistryTimeoutError extends Error {
  /** Which timeout fired. */
  readonly timeout: "connect" | "idle" | "response" | "request" | "document";
  /** Creates the error. */
  constructor(timeout: RegistryTimeoutError["timeout"], ms: number) {
    const what = {
      connect: "no connection or answer",
      idle: "no data moved",
      response: "no answer",
      request: "the request did not finish",
      document: "the answer did not arrive whole",
    }[timeout];
    super(`${what} within ${formatMs(ms)} (${timeout} timeout)`);
    this.name = "TimeoutError";
    this.timeout = timeout;
  }
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

/** A fetch whose init may say how long the answer may take. */
export type TimedFetch = (
  input: string | URL,
  init?: RequestInit & { wait?: RequestWait },
) => Promise<Response>;

/**
 * Wraps `fetch` with the timeouts. Streamed request bodies and answer bodies
 * are watched for idleness; timers stop when the answer body ends or is
 * cancelled, and never run while nobody reads the answer.
 */
export function timedFetch(inner: typeof fetch, timeouts: RegistryTimeouts): TimedFetch {
  return async (input, init = {}) => {
    const { wait = "quick", ...rest } = init;
    const abort = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let whole: ReturnType<typeof setTimeout> | undefined;
    const arm = (kind: RegistryTimeoutError["timeout"], ms: number) => {
      disarm();
      timer = setTimeout(() => abort.abort(new RegistryTimeoutError(kind, ms)), ms);
    };
    const disarm = () => {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    };
    const finish = () => {
      disarm();
      if (whole !== undefined) clearTimeout(whole);
      whole = undefined;
    };
    const document = wait === "document" &&
      (timeouts.requestMs === 0 || timeouts.documentMs < timeouts.requestMs);
    const wholeMs = document ? timeouts.documentMs : timeouts.requestMs;
    if (wholeMs > 0) {
      whole = setTimeout(
        () => abort.abort(new RegistryTimeoutError(document ? "document" : "request", wholeMs)),
        wholeMs,
      );
    }
    const outer = rest.signal;
    if (outer) {
      if (outer.aborted) abort.abort(outer.reason);
      else outer.addEventListener("abort", () => abort.abort(outer.reason), { once: true });
    }

    let body = rest.body;
    let answered = false;
    if (body instanceof ReadableStream) {
      // Connect until the first pull; idle between pulls; response once the body has ended.
      arm("connect", timeouts.connectMs);
      const source = (body as ReadableStream<Uint8Array>).getReader();
      body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          disarm(); // Waiting on our source, not on the network.
          let r: ReadableStreamReadResult<Uint8Array>;
          try {
            r = await source.read();
          } catch (e) {
            controller.error(e);
            return;
          }
          if (abort.signal.aborted) return;
          // An early answer (401 before the body ended) owns the timer from then on.
          if (answered) {
            if (r.done) controller.close();
            else controller.enqueue(r.value);
            return;
          }
          if (r.done) {
            controller.close();
            arm("response", timeouts.responseMs);
          } else {
            controller.enqueue(r.value);
            arm("idle", timeouts.idleMs);
          }
        },
        async cancel(reason) {
          disarm();
          await source.cancel(reason).catch(() => {});
        },
      }, { highWaterMark: 0 });
    } else {
      const ms = wait === "work" || body ? timeouts.responseMs : timeouts.connectMs;
      // A small body (chunk, manifest) goes out at once: wait for the answer as after a body.
      arm(wait === "work" || body ? "response" : "connect", ms);
    }

    let res: Response;
    try {
      res = await inner(input, { ...rest, body, signal: abort.signal });
    } catch (e) {
      finish();
      // Report which timeout fired rather than a generic abort.
      if (abort.signal.aborted && abort.signal.reason instanceof RegistryTimeoutError) {
        throw abort.signal.reason;
      }
      throw e;
    }
    answered = true;
    disarm();
    if (!res.body || [101, 204, 205, 304].includes(res.status)) {
      await res.body?.cancel().catch(() => {});
      finish();
      return res;
    }
    const reader = res.body.getReader();
    // A timeout fails the read at once: aborting the fetch alone has been seen to leave a read
    // of a stalled answer body pending for good. One abort listener per read, removed when the
    // read settles: racing every read against one promise that never settles would keep each
    // chunk reachable from that promise's reactions, i.e. the whole body in memory.
    const readOrAbort = () =>
      new Promise<ReadableStreamReadResult<Uint8Array>>((resolve, reject) => {
        if (abort.signal.aborted) return reject(abort.signal.reason);
        const onAbort = () => reject(abort.signal.reason);
        abort.signal.addEventListener("abort", onAbort, { once: true });
        reader.read().then(resolve, reject).finally(() =>
          abort.signal.removeEventListener("abort", onAbort)
        );
      });
    const watched = new ReadableStream<Uint8Array>({
      async pull(controller) {
        arm("idle", timeouts.idleMs);
        try {
          const r = await readOrAbort();
          disarm();
          if (r.done) {
            finish();
            controller.close();
          } else controller.enqueue(r.value);
        } catch (e) {
          finish();
          const reason = abort.signal.reason;
          controller.error(reason instanceof RegistryTimeoutError ? reason : e);
          reader.cancel(reason ?? e).catch(() => {});
        }
      },
      async cancel(reason) {
        finish();
        await reader.cancel(reason).catch(() => {});
      },
    }, { highWaterMark: 0 });
    return new Response(watched, {
      status: res.status,
      statusText: res.statusText,
      headers: res.headers,
    });
  };
}
