/**
 * A counting reverse proxy in front of a plain-HTTP test registry, so CLI
 * tests (which run ocistream in a subprocess) can see every request and the
 * bytes each one carried: uploads (`PATCH`, `PUT ?digest=`), mounts, blob
 * reads. `Location` headers are rewritten to point back at the proxy.
 * @module
 */

/** One proxied request. */
export interface ProxiedRequest {
  /** HTTP method. */
  method: string;
  /** Path with query. */
  path: string;
  /** Request body bytes the proxy forwarded. */
  sent: number;
  /** Response status. */
  status: number;
  /** Response body bytes (0 for HEAD). */
  received: number;
}

/** A running proxy. */
export interface RegistryProxy {
  /** `127.0.0.1:<port>` of the proxy. */
  host: string;
  /** Every request so far, in the order responses started (byte counts grow while bodies flow). */
  requests: ProxiedRequest[];
  /** Forgets the recorded requests. */
  reset(): void;
  /** Stops the proxy. */
  stop(): Promise<void>;
}

/** The digest in `?digest=` of a request, or the blob digest in its path. */
export function requestDigest(r: ProxiedRequest): string | undefined {
  const q = /[?&]digest=([^&]+)/.exec(r.path);
  if (q) return decodeURIComponent(q[1]!);
  return /\/blobs\/(sha256:[0-9a-f]{64})/.exec(r.path)?.[1];
}

/** Blob uploads that completed (`PUT ...?digest=` answered 201): their digests. */
export function uploadedDigests(requests: ProxiedRequest[]): string[] {
  return requests
    .filter((r) => r.method === "PUT" && r.path.includes("/blobs/uploads/") && r.status === 201)
    .map((r) => requestDigest(r)!);
}

/** Options of {@linkcode startRegistryProxy}. */
export interface RegistryProxyOptions {
  /**
   * Repositories that refuse cross-repository mounts as some registries do: a mount request
   * into one of them is forwarded without `mount` and `from`, so the registry answers 202
   * with a fresh upload session instead of 201.
   */
  refuseMountsInto?: string[];
}

/** Starts a proxy on a free port that forwards to `upstream` (`http://127.0.0.1:PORT`). */
export function startRegistryProxy(
  upstream: string,
  options: RegistryProxyOptions = {},
): RegistryProxy {
  const requests: ProxiedRequest[] = [];
  const upstreamUrl = new URL(upstream);
  let host = "";
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    const record: ProxiedRequest = {
      method: req.method,
      path: url.pathname + url.search,
      sent: 0,
      status: 0,
      received: 0,
    };
    const headers = new Headers(req.headers);
    headers.delete("host");
    let body: ReadableStream<Uint8Array> | null = null;
    if (req.body) {
      body = req.body.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, c) {
            record.sent += chunk.byteLength;
            c.enqueue(chunk);
          },
        }),
      );
    }
    let forward = record.path;
    const into = /^\/v2\/(.+)\/blobs\/uploads\/$/.exec(url.pathname)?.[1];
    if (
      req.method === "POST" && into && options.refuseMountsInto?.includes(into) &&
      url.searchParams.has("mount")
    ) {
      forward = url.pathname;
    }
    let res: Response;
    try {
      res = await fetch(new URL(forward, upstreamUrl), {
        method: req.method,
        headers,
        body,
        redirect: "manual",
        ...(body ? { duplex: "half" } : {}),
      } as RequestInit);
    } catch (e) {
      record.status = 502;
      requests.push(record);
      return new Response(String(e), { status: 502 });
    }
    record.status = res.status;
    requests.push(record);
    const out = new Headers(res.headers);
    const loc = out.get("location");
    if (loc) {
      const abs = new URL(loc, upstreamUrl);
      if (abs.host === upstreamUrl.host) {
        out.set("location", `http://${host}${abs.pathname}${abs.search}`);
      }
    }
    if (!res.body || req.method === "HEAD") {
      await res.body?.cancel();
      return new Response(null, { status: res.status, statusText: res.statusText, headers: out });
    }
    const counted = res.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, c) {
          record.received += chunk.byteLength;
          c.enqueue(chunk);
        },
      }),
    );
    return new Response(counted, { status: res.status, statusText: res.statusText, headers: out });
  });
  host = `127.0.0.1:${(server.addr as Deno.NetAddr).port}`;
  return {
    host,
    requests,
    reset() {
      requests.length = 0;
    },
    async stop() {
      await server.shutdown();
    },
  };
}
