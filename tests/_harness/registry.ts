/**
 * Starts Debian's `docker-registry` (distribution 2.8) on 127.0.0.1 with a
 * free port, one config per test case: plain HTTP, TLS, htpasswd or token
 * auth. `stop()` kills it and removes its folder.
 * @module
 */
import bcrypt from "bcryptjs";
import { makeTls, type TestTls } from "./tls.ts";
import type { TokenServer } from "./token_server.ts";

/** Options of {@linkcode startRegistry}. */
export interface StartRegistryOptions {
  /** `htpasswd` (Basic) or `token` (needs `tokenServer`). */
  auth?: "htpasswd" | "token";
  /** Users for htpasswd (default `{ tester: "s3cret-pass" }`). */
  users?: Record<string, string>;
  /** The token server the registry trusts, for `auth: "token"`. */
  tokenServer?: TokenServer;
  /** Serve HTTPS with a certificate from a test CA. */
  tls?: boolean;
}

/** A running registry. */
export interface TestRegistry {
  /** `127.0.0.1:<port>`. */
  host: string;
  /** `http(s)://127.0.0.1:<port>`. */
  url: string;
  /** Its temp folder (config, storage, certificates). */
  dir: string;
  /** CA certificate file and PEM when `tls` is on. */
  tls?: TestTls;
  /** Users accepted with htpasswd. */
  users: Record<string, string>;
  /** The registry's process ID. */
  pid: number;
  /** Registry log lines (stderr), for failure messages. */
  log: string[];
  /** Kills the registry and removes its folder. */
  stop(): Promise<void>;
}

/** A TCP port that is free right now. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Starts a registry and waits until `/v2/` answers. */
export async function startRegistry(options: StartRegistryOptions = {}): Promise<TestRegistry> {
  const dir = await Deno.makeTempDir({ prefix: "ocistream-registry-" });
  const users = options.users ?? { tester: "s3cret-pass" };
  const port = freePort();
  const host = `127.0.0.1:${port}`;
  const lines = [
    "version: 0.1",
    "log:",
    "  level: error",
    "  accesslog:",
    "    disabled: true",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${dir}/data`,
    "  delete:",
    "    enabled: true",
    "http:",
    `  addr: ${host}`,
    "  secret: ocistream-test-secret",
  ];
  let tls: TestTls | undefined;
  if (options.tls) {
    tls = await makeTls(dir);
    lines.push("  tls:", `    certificate: ${tls.certFile}`, `    key: ${tls.keyFile}`);
  }
  if (options.auth === "htpasswd") {
    const htpasswd = Object.entries(users)
      .map(([u, p]) => `${u}:${bcrypt.hashSync(p, 5)}`)
      .join("\n");
    await Deno.writeTextFile(`${dir}/htpasswd`, htpasswd + "\n");
    lines.push("auth:", "  htpasswd:", "    realm: ocistream-test", `    path: ${dir}/htpasswd`);
  } else if (options.auth === "token") {
    const t = options.tokenServer;
    if (!t) throw new TypeError("startRegistry: auth token needs a tokenServer");
    lines.push(
      "auth:",
      "  token:",
      `    realm: ${t.realm}`,
      `    service: ${t.service}`,
      `    issuer: ${t.issuer}`,
      `    rootcertbundle: ${t.certFile}`,
    );
  }
  await Deno.writeTextFile(`${dir}/config.yml`, lines.join("\n") + "\n");
  const child = new Deno.Command("docker-registry", {
    args: ["serve", `${dir}/config.yml`],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const log: string[] = [];
  const drained = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({
      write(text) {
        if (log.length < 200) log.push(text);
      },
    }),
  ).catch(() => {});
  const url = `${options.tls ? "https" : "http"}://${host}`;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    try {
      child.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    await child.status;
    await drained;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  const client = tls ? Deno.createHttpClient({ caCerts: [tls.caPem] }) : undefined;
  try {
    for (let i = 0;; i++) {
      try {
        const res = await fetch(`${url}/v2/`, client ? { client } : {});
        await res.body?.cancel();
        break;
      } catch (e) {
        if (i > 200) throw new Error(`docker-registry did not start: ${e}\n${log.join("")}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  } catch (e) {
    client?.close();
    await stop();
    throw e;
  }
  client?.close();
  return { host, url, dir, tls, users, pid: child.pid, log, stop };
}
