/**
 * A small hostile registry for tests: `Deno.serve` on 127.0.0.1 (random
 * port) with a handler the test writes, logging every request with its
 * `Authorization` header, so a test can assert which credentials reached
 * which host. {@linkcode routedFetch} lets a test give such servers
 * non-loopback names (`https://registry.test`, `http://evil.test:8080`): the
 * client under test sees those names and schemes while the bytes go to
 * loopback servers, so rules about other hosts and plain HTTP can be tested
 * without a network or certificates.
 *
 * @example
 * ```ts ignore
 * const evil = await startHostileServer((req) => new Response("no", { status: 404 }));
 * // ... point a client at evil.host ...
 * console.log(evil.log.map((e) => e.authorization));
 * await evil.stop();
 * ```
 * @module
 */

/** One request as the server saw it. */
export interface HostileLogEntry {
  /** HTTP method. */
  method: string;
  /** `pathname + search`. */
  path: string;
  /** The `Authorization` header, if any. */
  authorization: string | null;
}

/** A running hostile server. */
export interface HostileServer {
  /** `127.0.0.1:<port>`. */
  host: string;
  /** `http://127.0.0.1:<port>`. */
  url: string;
  /** Requests so far. */
  log: HostileLogEntry[];
  /** Bytes of answer bodies handed out by {@linkcode endlessBody} streams of this server. */
  sent: { bytes: number };
  /** Stops the server (open answers are cut). */
  stop(): Promise<void>;
}

/** A handler: the request, and the server (for its host and counters). */
export type HostileHandler = (req: Request, server: HostileServer) => Response | Promise<Response>;

/** Starts a hostile server on 127.0.0.1 with a random port. */
export function startHostileServer(handler: HostileHandler): Promise<HostileServer> {
  const ac = new AbortController();
  const log: HostileLogEntry[] = [];
  const self = {} as HostileServer;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
    (req) => {
      const u = new URL(req.url);
      log.push({
        method: req.method,
        path: u.pathname + u.search,
        authorization: req.headers.get("authorization"),
      });
      return handler(req, self);
    },
  );
  const port = (server.addr as Deno.NetAddr).port;
  Object.assign(self, {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    log,
    sent: { bytes: 0 },
    async stop() {
      ac.abort();
      await server.finished.catch(() => {});
    },
  });
  return Promise.resolve(self);
}

/**
 * A huge answer body (`chunk` repeated up to `limit` bytes, default 256 MiB:
 * endless as far as a bounded client can tell, but a client that reads it all
 * ends, so a test fails rather than hangs), counting what was actually pulled
 * into `sent.bytes`, so a test can show a client stopped reading early.
 */
export function endlessBody(
  sent: { bytes: number },
  chunk: Uint8Array = new Uint8Array(64 * 1024).fill(0x41),
  limit = 256 * 1024 * 1024,
): ReadableStream<Uint8Array> {
  return new ReadableStream({
    pull(controller) {
      if (sent.bytes >= limit) return controller.close();
      sent.bytes += chunk.byteLength;
      controller.enqueue(chunk);
    },
  }, { highWaterMark: 0 });
}

/** A body that sends `text` one byte every `everyMs`, then ends. */
export function trickleBody(text: string, everyMs: number): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  let i = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  return new ReadableStream({
    async pull(controller) {
      await new Promise((r) => timer = setTimeout(r, everyMs));
      if (i >= bytes.length) return controller.close();
      controller.enqueue(bytes.subarray(i, i + 1));
      i++;
    },
    cancel() {
      clearTimeout(timer);
    },
  }, { highWaterMark: 0 });
}

/** One request as a {@linkcode routedFetch} saw it, under its logical (routed) URL. */
export interface RoutedLogEntry {
  /** HTTP method. */
  method: string;
  /** The URL the client asked for (e.g. `https://registry.test/v2/`). */
  url: string;
  /** The `Authorization` header sent, if any. */
  authorization: string | null;
}

/**
 * A fetch that sends requests for logical origins (`https://registry.test`,
 * `http://evil.test:8080`) to loopback servers, and logs them under their
 * logical URLs. Unrouted origins fail like an unreachable host. `Location`
 * headers naming a loopback target are not rewritten: tests give their
 * servers' answers logical URLs.
 */
export function routedFetch(
  routes: Record<string, string>,
  log: RoutedLogEntry[] = [],
): typeof fetch & { log: RoutedLogEntry[] } {
  const f = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const target = routes[url.origin];
    const headers = new Headers(init?.headers);
    log.push({
      method: (init?.method ?? "GET").toUpperCase(),
      url: url.href,
      authorization: headers.get("authorization"),
    });
    if (!target) throw new TypeError(`fetch failed: no route to ${url.origin}`);
    return await fetch(`${target}${url.pathname}${url.search}`, {
      ...init,
      headers,
      redirect: "manual",
    });
  }) as typeof fetch & { log: RoutedLogEntry[] };
  f.log = log;
  return f;
}
