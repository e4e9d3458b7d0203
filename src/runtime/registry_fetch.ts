/**
 * `fetch` functions for registries with special TLS needs, for Deno:
 * a custom CA (`Deno.createHttpClient({ caCerts })`) and an insecure mode
 * that skips certificate verification. Web `fetch` has no per-request way
 * to skip verification, so the insecure fetch goes through `node:https`
 * with `rejectUnauthorized: false`, streaming request and response bodies.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { createRegistryFetch } from "@ocistream/ocistream/deno";
 * const f = createRegistryFetch({ insecure: true });
 * assertEquals(typeof f.fetch, "function");
 * f.close();
 * ```
 * @module
 */
import type { ClientRequest, IncomingMessage } from "node:http";

/** Options of {@linkcode registryFetch}. */
export interface RegistryFetchOptions {
  /** A PEM file with CA certificates to trust (besides the system roots). */
  caFile?: string;
  /** PEM CA certificates to trust. */
  caCerts?: string[];
  /** Skip TLS certificate verification (`registry.insecure=true`). */
  insecure?: boolean;
}

/** A fetch for one registry configuration, and how to release it. */
export interface RegistryFetch {
  /** The fetch to pass to `RegistryClient`. */
  fetch: typeof fetch;
  /** Releases the HTTP client (TLS connections). */
  close(): void;
}

/** Builds a fetch for a registry with the given TLS settings (plain `fetch` when none). */
export function createRegistryFetch(options: RegistryFetchOptions = {}): RegistryFetch {
  if (options.insecure) return { fetch: insecureFetch, close() {} };
  const caCerts = [...(options.caCerts ?? [])];
  if (options.caFile) {
    try {
      caCerts.push(Deno.readTextFileSync(options.caFile));
    } catch (e) {
      throw new TypeError(
        `Cannot read CA file ${options.caFile}: ${
          (e as Error).message
        }; pass a PEM certificate file`,
      );
    }
  }
  if (caCerts.length === 0) return { fetch, close() {} };
  const client = Deno.createHttpClient({ caCerts });
  return {
    fetch: (input, init) =>
      fetch(input, { ...init, client } as RequestInit & { client: Deno.HttpClient }),
    close: () => client.close(),
  };
}

/**
 * Like {@linkcode createRegistryFetch}, returning only the fetch (its HTTP
 * client lives as long as the process).
 */
export function registryFetch(options: RegistryFetchOptions = {}): Promise<typeof fetch> {
  try {
    return Promise.resolve(createRegistryFetch(options).fetch);
  } catch (e) {
    return Promise.reject(e);
  }
}

const MAX_REDIRECTS = 10;

/**
 * A fetch that does not verify TLS certificates (HTTPS via `node:https`;
 * HTTP through the global fetch). Supports streamed request bodies and
 * follows redirects for GET and HEAD, dropping `Authorization` across origins.
 */
export function insecureFetch(
  input: RequestInfo | URL,
  init?: RequestInit,
): Promise<Response> {
  const url = new URL(input instanceof Request ? input.url : String(input));
  if (url.protocol !== "https:") return fetch(input, init);
  const method = (init?.method ?? (input instanceof Request ? input.method : "GET")).toUpperCase();
  const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : {}));
  const body = init?.body ?? null;
  return request(url, method, headers, body, init?.signal ?? undefined, init?.redirect, 0);
}

async function request(
  url: URL,
  method: string,
  headers: Headers,
  body: BodyInit | null,
  signal: AbortSignal | undefined,
  redirect: RequestRedirect | undefined,
  hops: number,
): Promise<Response> {
  // Imported on first use: Node's HTTPS costs start-up time only insecure TLS should pay.
  const [https, { Buffer }] = await Promise.all([import("node:https"), import("node:buffer")]);
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const outgoing: Record<string, string> = {};
    headers.forEach((v, k) => outgoing[k] = v);
    const req = https.request(url, {
      method,
      headers: outgoing,
      rejectUnauthorized: false,
      signal,
    }, resolve);
    req.on("error", reject);
    writeBody(req, body, Buffer).catch((e) => req.destroy(e));
  });
  const status = res.statusCode ?? 0;
  const location = res.headers.location;
  if (
    status >= 300 && status < 400 && location && redirect !== "manual" &&
    (method === "GET" || method === "HEAD")
  ) {
    res.resume();
    if (redirect === "error" || hops >= MAX_REDIRECTS) {
      throw new TypeError(`Too many redirects or redirect not allowed for ${url.origin}`);
    }
    const next = new URL(location, url);
    const h = new Headers(headers);
    if (next.origin !== url.origin) h.delete("authorization");
    if (next.protocol !== "https:") return fetch(next, { method, headers: h, redirect, signal });
    return request(next, method, h, null, signal, redirect, hops + 1);
  }
  const responseHeaders = new Headers();
  for (const [k, v] of Object.entries(res.headers)) {
    if (Array.isArray(v)) { for (const x of v) responseHeaders.append(k, x); }
    else if (v !== undefined) responseHeaders.set(k, String(v));
  }
  const nullBody = method === "HEAD" || status === 204 || status === 304;
  if (nullBody) res.resume();
  return new Response(nullBody ? null : toWebStream(res), {
    status,
    statusText: res.statusMessage ?? "",
    headers: responseHeaders,
  });
}

async function writeBody(
  req: ClientRequest,
  body: BodyInit | null,
  Buffer: typeof import("node:buffer").Buffer,
): Promise<void> {
  if (body === null) return void req.end();
  if (typeof body === "string") return void req.end(body);
  if (body instanceof URLSearchParams) return void req.end(body.toString());
  if (body instanceof Uint8Array) {
    return void req.end(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  }
  if (body instanceof ArrayBuffer) return void req.end(Buffer.from(body));
  if (body instanceof Blob) return void req.end(Buffer.from(await body.arrayBuffer()));
  if (body instanceof ReadableStream) {
    // Stream with backpressure: wait for "drain" when the socket buffer is full.
    for await (const chunk of body as ReadableStream<Uint8Array>) {
      if (!req.write(chunk)) await new Promise((r) => req.once("drain", r));
    }
    return void req.end();
  }
  throw new TypeError("insecureFetch: unsupported body type; use a string, bytes, Blob or stream");
}

function toWebStream(res: IncomingMessage): ReadableStream<Uint8Array> {
  let closed = false;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      res.on("data", (chunk: Uint8Array) => {
        if (closed) return;
        controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        if ((controller.desiredSize ?? 0) <= 0) res.pause();
      });
      res.on("end", () => {
        if (!closed) {
          closed = true;
          controller.close();
        }
      });
      res.on("error", (e) => {
        if (!closed) {
          closed = true;
          controller.error(e);
        }
      });
    },
    pull() {
      res.resume();
    },
    cancel() {
      closed = true;
      res.destroy();
    },
  }, { highWaterMark: 4 });
}
