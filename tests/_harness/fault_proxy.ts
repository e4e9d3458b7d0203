/**
 * A fault-injecting HTTP proxy for tests, in front of a real registry on
 * 127.0.0.1. It forwards every request with `fetch` (bodies streamed both
 * ways) and, by deterministic rules, drops connections mid-body, answers
 * 5xx or 429 with `Retry-After`, stalls, delays, cuts answers short,
 * rewrites `Docker-Content-Digest`, answers 401 `invalid_token` once, loses
 * an upload session (404 on it from then on), or refuses `Content-Range` chunks (416).
 * `Location` headers are rewritten so uploads keep going through the proxy.
 *
 * It uses `node:http` rather than `Deno.serve`: dropping a connection in the
 * middle of a request body needs the socket, which `Deno.serve` hides.
 *
 * @example
 * ```ts ignore
 * const proxy = await startFaultProxy(registry.url, [
 *   { match: { method: "PATCH", nth: 1 }, fault: "drop-mid-body" },
 * ]);
 * // push to proxy.host ...
 * await proxy.stop();
 * ```
 * @module
 */
import * as http from "node:http";
import type { Socket } from "node:net";

/** What a rule does to a matching request. */
export type Fault =
  | "drop-mid-body"
  | "stall"
  | "stall-body"
  | "truncate-response"
  | "invalid-token-once"
  | "wrong-digest"
  | "lose-session"
  | "refuse-range"
  | { status: 500 | 502 | 503 }
  | { status: 429; retryAfter: number }
  | { delayMs: number };

/** Which requests a rule applies to; `nth`/`every` count only requests matching method and path. */
export interface FaultMatch {
  /** HTTP method, e.g. `PATCH`. */
  method?: string;
  /** Tested against `pathname + search`. */
  path?: RegExp;
  /** Fire only on the nth matching request (1-based). */
  nth?: number;
  /** Fire on every Nth matching request. */
  every?: number;
}

/** A fault rule. Without `nth`/`every` it fires on every match (`invalid-token-once`: once). */
export interface FaultRule {
  /** Which requests. */
  match: FaultMatch;
  /** What happens to them. */
  fault: Fault;
}

/** One request as the proxy saw it. */
export interface ProxyLogEntry {
  /** 1-based arrival order. */
  seq: number;
  /** HTTP method. */
  method: string;
  /** `pathname + search`. */
  path: string;
  /** The fault applied, if any (its name or status). */
  fault?: string;
  /** The status sent to the client; undefined when the connection was dropped. */
  status?: number;
  /** Request body bytes received from the client. */
  bytesIn: number;
  /** `performance.now()` when the request arrived. */
  at: number;
  /** `performance.now()` when the answer was fully handed to the socket. */
  answeredAt?: number;
}

/** Options of {@linkcode startFaultProxy}. */
export interface FaultProxyOptions {
  /** How long `stall` holds a request before dropping it (default: until `stop()`). */
  stallMs?: number;
  /** Bytes of the request body forwarded before `drop-mid-body` cuts (default: half of Content-Length, else 64 KiB). */
  dropAfterBytes?: number;
}

/** A running proxy. */
export interface FaultProxy {
  /** `127.0.0.1:<port>`, to use as the registry host. */
  host: string;
  /** `http://127.0.0.1:<port>`. */
  url: string;
  /** Every request, in arrival order. */
  log: ProxyLogEntry[];
  /** How often each rule fired, by rule index. */
  fired: number[];
  /** Requests seen in total. */
  readonly requests: number;
  /** Stops listening, drops open connections and aborts upstream requests. */
  stop(): Promise<void>;
}

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "transfer-encoding",
  "host",
  "content-length",
  "expect",
  "upgrade",
  "proxy-connection",
  "te",
  "trailer",
]);

/** Starts a proxy to `upstream` (e.g. `http://127.0.0.1:5000`) applying `rules` in order. */
export async function startFaultProxy(
  upstream: string,
  rules: FaultRule[],
  options: FaultProxyOptions = {},
): Promise<FaultProxy> {
  const target = new URL(upstream);
  const seen = rules.map(() => 0);
  const fired = rules.map(() => 0);
  const log: ProxyLogEntry[] = [];
  const sockets = new Set<Socket>();
  const aborts = new Set<AbortController>();
  const timers = new Set<ReturnType<typeof setTimeout>>();
  let origin = "";
  let stopping = false;
  /** Upload session ids a `lose-session` fault made the registry "forget". */
  const lostSessions = new Set<string>();
  const sessionOf = (path: string) => path.match(/\/blobs\/uploads\/([^/?]+)/)?.[1];

  const wait = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      timers.add(t);
    });

  const pick = (method: string, path: string): number => {
    let chosen = -1;
    rules.forEach((rule, i) => {
      const m = rule.match;
      if (m.method && m.method.toUpperCase() !== method) return;
      if (m.path && !m.path.test(path)) return;
      const n = ++seen[i]!;
      let fires = m.nth !== undefined
        ? n === m.nth
        : m.every !== undefined
        ? n % m.every === 0
        : true;
      if (rule.fault === "invalid-token-once" && fired[i]! > 0) fires = false;
      if (fires && chosen < 0) chosen = i;
    });
    if (chosen >= 0) fired[chosen]!++;
    return chosen;
  };

  const drain = (req: http.IncomingMessage, entry: ProxyLogEntry) =>
    new Promise<void>((resolve) => {
      req.on("data", (c: Uint8Array) => void (entry.bytesIn += c.byteLength));
      req.on("end", () => resolve());
      req.on("error", () => resolve());
      req.on("close", () => resolve());
    });

  const drop = (req: http.IncomingMessage, entry: ProxyLogEntry) => {
    entry.status = undefined;
    req.socket.destroy();
  };

  /** The request body as a web stream, calling `onBytes` per chunk (which may cut it). */
  const bodyOf = (
    req: http.IncomingMessage,
    entry: ProxyLogEntry,
    onBytes?: (total: number) => boolean,
  ): ReadableStream<Uint8Array> =>
    new ReadableStream<Uint8Array>({
      start(controller) {
        let closed = false;
        req.on("data", (c: Uint8Array) => {
          if (closed) return;
          entry.bytesIn += c.byteLength;
          controller.enqueue(new Uint8Array(c));
          if (onBytes && !onBytes(entry.bytesIn)) {
            closed = true;
            controller.error(new Error("dropped by fault proxy"));
          }
        });
        req.on("end", () => {
          if (closed) return;
          closed = true;
          if (onBytes && !onBytes(-1)) controller.error(new Error("dropped by fault proxy"));
          else controller.close();
        });
        req.on("error", (e) => {
          if (!closed) {
            closed = true;
            controller.error(e);
          }
        });
      },
    });

  const forward = async (
    req: http.IncomingMessage,
    entry: ProxyLogEntry,
    body: ReadableStream<Uint8Array> | null,
    abort: AbortController,
  ): Promise<Response> => {
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) {
      if (v === undefined || HOP_BY_HOP.has(k)) continue;
      for (const x of Array.isArray(v) ? v : [v]) headers.append(k, x);
    }
    return await fetch(new URL(entry.path, target), {
      method: entry.method,
      headers,
      body,
      redirect: "manual",
      signal: abort.signal,
      ...(body ? { duplex: "half" } : {}),
    } as RequestInit);
  };

  const responseHeaders = (up: Response, fault: Fault | undefined): Record<string, string[]> => {
    const out: Record<string, string[]> = {};
    up.headers.forEach((v, k) => {
      if (HOP_BY_HOP.has(k) && k !== "content-length") return;
      if (k === "location" && v.startsWith(target.origin)) {
        v = origin + v.slice(target.origin.length);
      }
      if (k === "docker-content-digest" && fault === "wrong-digest") {
        v = `sha256:${"0".repeat(64)}`;
      }
      (out[k] ??= []).push(v);
    });
    return out;
  };

  /** Writes a web body to the client with backpressure; resolves true when all was written. */
  const pipeOut = async (
    res: http.ServerResponse,
    body: ReadableStream<Uint8Array>,
    limit = Infinity,
  ): Promise<boolean> => {
    let sent = 0;
    const reader = body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return true;
        let chunk = value;
        if (sent + chunk.byteLength > limit) chunk = chunk.subarray(0, limit - sent);
        sent += chunk.byteLength;
        if (sent >= limit) {
          // Make sure the head and the partial body reach the client before the cut.
          await new Promise((r) => res.write(chunk, () => r(undefined)));
          await reader.cancel().catch(() => {});
          await wait(50);
          return false;
        }
        if (chunk.byteLength > 0 && !res.write(chunk)) {
          await new Promise((r) => res.once("drain", r));
        }
      }
    } catch {
      return false;
    }
  };

  const challengeFor = async (): Promise<string> => {
    const res = await fetch(new URL("/v2/", target));
    await res.body?.cancel();
    const c = res.headers.get("www-authenticate") ?? 'Bearer realm="none"';
    return `${c},error="invalid_token"`;
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const method = (req.method ?? "GET").toUpperCase();
    const entry: ProxyLogEntry = {
      seq: log.length + 1,
      method,
      path: req.url ?? "/",
      bytesIn: 0,
      at: performance.now(),
    };
    log.push(entry);
    res.on("finish", () => entry.answeredAt = performance.now());
    const session = sessionOf(entry.path);
    if (session && lostSessions.has(session)) {
      await drain(req, entry);
      entry.status = 404;
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ errors: [{ code: "BLOB_UPLOAD_UNKNOWN", message: "lost" }] }));
      return;
    }
    const index = pick(method, entry.path);
    const fault = index >= 0 ? rules[index]!.fault : undefined;
    if (fault !== undefined) {
      entry.fault = typeof fault === "string" ? fault : JSON.stringify(fault);
    }
    const length = Number(req.headers["content-length"] ?? "0");
    const hasBody = method !== "GET" && method !== "HEAD" &&
      (length > 0 || req.headers["transfer-encoding"] !== undefined);
    const abort = new AbortController();
    aborts.add(abort);
    try {
      if (typeof fault === "object" && "status" in fault) {
        await drain(req, entry);
        const headers: Record<string, string> = { "content-type": "application/json" };
        if (fault.status === 429) headers["retry-after"] = String(fault.retryAfter);
        const code = fault.status === 429 ? "TOOMANYREQUESTS" : "UNAVAILABLE";
        entry.status = fault.status;
        res.writeHead(fault.status, headers);
        res.end(JSON.stringify({ errors: [{ code, message: "injected by fault proxy" }] }));
        return;
      }
      if (
        (fault === "lose-session" && session) ||
        (fault === "refuse-range" && req.headers["content-range"] !== undefined)
      ) {
        await drain(req, entry);
        if (fault === "lose-session") lostSessions.add(session!);
        const status = fault === "lose-session" ? 404 : 416;
        entry.status = status;
        res.writeHead(status, { "content-type": "application/json" });
        const code = status === 404 ? "BLOB_UPLOAD_UNKNOWN" : "BLOB_UPLOAD_INVALID";
        res.end(JSON.stringify({ errors: [{ code, message: "injected by fault proxy" }] }));
        return;
      }
      if (fault === "invalid-token-once") {
        await drain(req, entry);
        const challenge = await challengeFor();
        entry.status = 401;
        res.writeHead(401, { "content-type": "application/json", "www-authenticate": challenge });
        res.end(
          JSON.stringify({
            errors: [{ code: "UNAUTHORIZED", message: "invalid token (injected)" }],
          }),
        );
        return;
      }
      if (fault === "stall") {
        await drain(req, entry);
        await (options.stallMs !== undefined ? wait(options.stallMs) : new Promise(() => {}));
        drop(req, entry);
        return;
      }
      if (typeof fault === "object" && "delayMs" in fault) await wait(fault.delayMs);
      let body: ReadableStream<Uint8Array> | null = null;
      if (hasBody) {
        const cut = options.dropAfterBytes ?? (length > 0 ? Math.floor(length / 2) : 65536);
        body = bodyOf(
          req,
          entry,
          fault === "drop-mid-body"
            ? (n) => {
              // n < 0: the body ended before the cut; drop at its end instead.
              if (n >= 0 && n < Math.max(cut, 1)) return true;
              abort.abort();
              drop(req, entry);
              return false;
            }
            : undefined,
        );
      } else if (fault === "drop-mid-body") {
        drop(req, entry);
        return;
      } else {
        req.resume();
      }
      let up: Response;
      try {
        up = await forward(req, entry, body, abort);
      } catch {
        if (!req.socket.destroyed) {
          entry.status = 502;
          res.writeHead(502, { "content-type": "text/plain" });
          res.end("fault proxy: upstream failed");
        }
        return;
      }
      const headers = responseHeaders(up, fault);
      if (fault === "truncate-response") {
        const upBody = up.body;
        const declared = Number(up.headers.get("content-length") ?? "0");
        if (method === "HEAD" || !upBody || declared === 0) {
          // Nothing to cut: the answer is lost entirely, after the registry acted on the request.
          await upBody?.cancel();
          drop(req, entry);
          return;
        }
        entry.status = up.status;
        res.writeHead(up.status, headers);
        await pipeOut(res, upBody, Math.floor(declared / 2));
        drop(req, entry);
        return;
      }
      entry.status = up.status;
      res.writeHead(up.status, up.statusText, headers);
      if (fault === "stall-body" && up.body && method !== "HEAD") {
        const reader = up.body.getReader();
        const first = await reader.read();
        if (!first.done) res.write(first.value.subarray(0, Math.min(512, first.value.byteLength)));
        await reader.cancel().catch(() => {});
        await (options.stallMs !== undefined ? wait(options.stallMs) : new Promise(() => {}));
        drop(req, entry);
        return;
      }
      if (up.body && method !== "HEAD") {
        if (!(await pipeOut(res, up.body))) return drop(req, entry);
      } else {
        await up.body?.cancel();
      }
      res.end();
    } catch {
      if (!req.socket.destroyed) drop(req, entry);
    } finally {
      aborts.delete(abort);
    }
  };

  const server = http.createServer((req, res) => {
    if (stopping) return void req.socket.destroy();
    handle(req, res);
  });
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  // TLS probes (ocistream tries https first on loopback) arrive as garbage: just close them.
  server.on("clientError", (_e: unknown, socket: Socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  origin = `http://127.0.0.1:${port}`;
  return {
    host: `127.0.0.1:${port}`,
    url: origin,
    log,
    fired,
    get requests() {
      return log.length;
    },
    async stop() {
      if (stopping) return;
      stopping = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const a of aborts) a.abort();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The proxy log as `METHOD path -> status` lines, for assertion messages. */
export function formatLog(log: ProxyLogEntry[]): string {
  return log.map((e) =>
    `${e.seq} ${e.method} ${e.path.replace(/\?.*_state=[^&]*/, "?…")} -> ${e.status ?? "dropped"}${
      e.fault ? ` [${e.fault}]` : ""
    }`
  ).join("\n");
}
