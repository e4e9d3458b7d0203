/**
 * Turns a registry's auth challenge and the user's credentials into
 * `Authorization` headers: Basic, or Bearer tokens from the token realm
 * (Docker's token flow), cached per scope and renewed on expiry or on demand.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Authenticator } from "./authenticator.ts";
 * const auth = new Authenticator({ registry: "127.0.0.1:5000", fetch });
 * assertEquals(await auth.authorization(["repository:foo:pull"]), undefined); // (no challenge yet)
 * ```
 * @module
 */
import type { AuthChallenge } from "./auth_challenge.ts";
import type { Credentials, CredentialStore } from "./credentials.ts";
import { RegistryError } from "./registry_error.ts";
import { registerCredentials, registerSecret } from "./redact.ts";
import { readCapped, readErrorText } from "./read_capped.ts";
import { quote } from "../types/quote.ts";

/** What an {@linkcode Authenticator} needs. */
export interface AuthenticatorOptions {
  /** Registry host, for credential look-ups and messages. */
  registry: string;
  /** The fetch function to reach the token realm. */
  fetch: typeof fetch;
  /** Where credentials come from. */
  credentials?: CredentialStore;
  /** User-Agent header. */
  userAgent?: string;
  /** Clock in milliseconds (tests move it to force renewals). */
  now?: () => number;
  /** The user marked this registry insecure: a plain-HTTP token realm on its own host name is allowed. */
  insecure?: boolean;
}

interface CachedToken {
  atoms: Set<string>;
  header: string;
  expiresAt: number;
}

/** Computes `Authorization` headers for one registry. */
export class Authenticator {
  #options: AuthenticatorOptions;
  #challenge: AuthChallenge | undefined;
  #credentials: Promise<Credentials | undefined> | undefined;
  #tokens: CachedToken[] = [];
  #pending = new Map<string, Promise<CachedToken>>();
  /** How many tokens were fetched from the realm (for tests and diagnostics). */
  tokensFetched = 0;

  constructor(options: AuthenticatorOptions) {
    this.#options = options;
  }

  /** The challenge in force (from the `/v2/` ping or the last 401). */
  get challenge(): AuthChallenge | undefined {
    return this.#challenge;
  }

  /** Records a challenge from a 401 answer. */
  setChallenge(challenge: AuthChallenge | undefined): void {
    if (challenge && (challenge.scheme === "basic" || challenge.scheme === "bearer")) {
      this.#challenge = challenge;
    }
  }

  /** Drops cached tokens that cover `scopes`, so the next request fetches a fresh one. */
  invalidate(scopes: string[]): void {
    const want = scopeAtoms(scopes);
    this.#tokens = this.#tokens.filter((t) => ![...want].every((a) => t.atoms.has(a)));
  }

  #now(): number {
    return this.#options.now ? this.#options.now() : Date.now();
  }

  #getCredentials(): Promise<Credentials | undefined> {
    this.#credentials ??= (this.#options.credentials?.get(this.#options.registry) ??
      Promise.resolve(undefined)).then((c) => {
        if (c && "username" in c) registerCredentials(c.username, c.password);
        else if (c) { for (const v of Object.values(c)) registerSecret(v); }
        return c;
      });
    return this.#credentials;
  }

  /** The `Authorization` header value for a request needing `scopes`, or `undefined`. */
  async authorization(scopes: string[]): Promise<string | undefined> {
    const challenge = this.#challenge;
    if (!challenge) return undefined;
    const creds = await this.#getCredentials();
    if (challenge.scheme === "basic") {
      if (creds && "username" in creds) return `Basic ${basic(creds.username, creds.password)}`;
      if (creds && "registryToken" in creds) return `Bearer ${creds.registryToken}`;
      return undefined;
    }
    if (creds && "registryToken" in creds) return `Bearer ${creds.registryToken}`;
    const now = this.#now();
    const want = scopeAtoms(scopes);
    const hit = this.#tokens.find((t) =>
      t.expiresAt > now && [...want].every((a) => t.atoms.has(a))
    );
    if (hit) return hit.header;
    const key = [...scopes].sort().join(" ");
    let pending = this.#pending.get(key);
    if (!pending) {
      pending = this.#fetchToken(challenge, scopes, creds).finally(() => this.#pending.delete(key));
      this.#pending.set(key, pending);
    }
    return (await pending).header;
  }

  async #fetchToken(
    challenge: AuthChallenge,
    scopes: string[],
    creds: Credentials | undefined,
  ): Promise<CachedToken> {
    const { registry } = this.#options;
    const realm = challenge.params.realm;
    if (!realm) {
      throw new RegistryError(`Cannot authenticate to ${registry}`, {
        registry,
        detail: "its token challenge has no realm",
      });
    }
    const url = checkRealm(realm, registry, this.#options.insecure ?? false);
    const service = challenge.params.service;
    const headers = new Headers();
    if (this.#options.userAgent) headers.set("User-Agent", this.#options.userAgent);
    let init: RequestInit;
    if (creds && "identityToken" in creds) {
      // OAuth2 refresh-token grant, as Docker does for identity tokens.
      const form = new URLSearchParams({
        grant_type: "refresh_token",
        refresh_token: creds.identityToken,
        client_id: "ocistream",
      });
      if (service) form.set("service", service);
      form.set("scope", scopes.join(" "));
      headers.set("Content-Type", "application/x-www-form-urlencoded");
      init = { method: "POST", headers, body: form.toString() };
    } else {
      if (service) url.searchParams.set("service", service);
      for (const s of scopes) url.searchParams.append("scope", s);
      if (creds && "username" in creds) {
        url.searchParams.set("account", creds.username);
        headers.set("Authorization", `Basic ${basic(creds.username, creds.password)}`);
      }
      init = { method: "GET", headers };
    }
    const what = `Cannot get a token for ${registry} from ${url.host}`;
    let res: Response;
    try {
      // A token answer is a small document: bounded in time as a whole, not only between bytes.
      res = await this.#options.fetch(url, { ...init, wait: "document" } as RequestInit);
    } catch (cause) {
      throw new RegistryError(what, { registry, cause });
    }
    if (!res.ok) {
      const text = await readErrorText(res);
      const { code, detail } = parseErrorBody(text);
      throw new RegistryError(what, { registry, status: res.status, code, detail });
    }
    let body: { token?: string; access_token?: string; expires_in?: number; issued_at?: string };
    let bytes: Uint8Array;
    try {
      bytes = await readCapped(res.body, MAX_TOKEN_ANSWER);
    } catch (cause) {
      if (cause instanceof RangeError) {
        throw new RegistryError(what, { registry, detail: `its answer ${cause.message}` });
      }
      throw new RegistryError(what, { registry, cause });
    }
    try {
      body = JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      throw new RegistryError(what, { registry, detail: "the token server answered no JSON" });
    }
    if (typeof body !== "object" || body === null) {
      throw new RegistryError(what, {
        registry,
        detail: "the token server answered no JSON object",
      });
    }
    const token = body.token || body.access_token;
    if (typeof token !== "string" || !token) {
      throw new RegistryError(what, { registry, detail: "the answer has no token" });
    }
    this.tokensFetched++;
    registerSecret(token);
    const lifetime =
      (typeof body.expires_in === "number" && body.expires_in > 0 ? body.expires_in : 60) * 1000;
    // Renew a little early so a token does not expire between check and use.
    const margin = Math.min(5_000, lifetime / 4);
    const cached = {
      atoms: scopeAtoms(scopes),
      header: `Bearer ${token}`,
      expiresAt: this.#now() + lifetime - margin,
    };
    this.#tokens.push(cached);
    return cached;
  }
}

/** The largest token answer read (Docker Hub's are a few KiB). */
const MAX_TOKEN_ANSWER = 1024 * 1024;

/**
 * Checks a Bearer challenge's realm before anything is sent to it: an `https:` URL, or `http:`
 * only on a loopback address or on the registry's own host name when the user marked the
 * registry insecure. Any other scheme (`file:`, `data:`, ...) would let a registry read local
 * files or probe internal services through us, and a cleartext realm would carry credentials
 * in the clear.
 */
export function checkRealm(realm: string, registry: string, insecure: boolean): URL {
  const fail = (detail: string) =>
    new RegistryError(`Cannot authenticate to ${registry}`, { registry, detail });
  let url: URL;
  try {
    url = new URL(realm);
  } catch {
    throw fail(`its token realm ${quote(clip(realm))} is not a URL`);
  }
  if (url.protocol === "https:") return url;
  if (url.protocol === "http:") {
    const sameHost = url.hostname === hostnameOf(registry);
    if (isLoopbackHost(url.host) || (insecure && sameHost)) return url;
    throw fail(
      `its token realm ${quote(clip(realm))} is plain http on ${
        sameHost ? "this" : "another"
      } host; ocistream sends credentials over http only to loopback addresses${
        sameHost ? " and registries marked insecure (registry.insecure=true, --insecure)" : ""
      }`,
    );
  }
  throw fail(
    `its token realm ${quote(clip(realm))} is not an https URL; a token realm must be https ` +
      "(or http on a loopback address)",
  );
}

function clip(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

function hostnameOf(host: string): string {
  return host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.split(":")[0]!;
}

/** Whether a host (`name[:port]`) is a loopback name, where plain HTTP is allowed as Docker does. */
export function isLoopbackHost(host: string): boolean {
  const name = hostnameOf(host);
  return name === "localhost" || /^127\.\d+\.\d+\.\d+$/.test(name) || name === "[::1]";
}

/** `repository:a:pull,push` → {`repository:a:pull`, `repository:a:push`}, so a push token serves pulls. */
function scopeAtoms(scopes: string[]): Set<string> {
  const out = new Set<string>();
  for (const s of scopes) {
    const i = s.lastIndexOf(":");
    if (i < 0) {
      out.add(s);
      continue;
    }
    for (const action of s.slice(i + 1).split(",")) out.add(`${s.slice(0, i)}:${action}`);
  }
  return out;
}

function basic(username: string, password: string): string {
  const bytes = new TextEncoder().encode(`${username}:${password}`);
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

/** Parses a distribution error body `{errors: [{code, message}]}` into code and message. */
export function parseErrorBody(text: string): { code?: string; detail?: string } {
  try {
    const j = JSON.parse(text);
    const e = Array.isArray(j?.errors) ? j.errors[0] : undefined;
    if (e && typeof e.code === "string") {
      return { code: e.code, detail: typeof e.message === "string" ? e.message : undefined };
    }
    if (typeof j?.details === "string") return { detail: j.details };
  } catch {
    // Not JSON: keep a short plain-text hint only.
  }
  const t = text.trim();
  return t && t.length <= 200 && !/[<{]/.test(t) ? { detail: t } : {};
}
