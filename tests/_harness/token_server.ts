/**
 * A Docker token server for tests (Deno.serve on 127.0.0.1): checks Basic
 * credentials, grants scopes by a policy, and signs ES256 JWTs carrying the
 * signing certificate in `x5c`, which docker-registry verifies against its
 * `rootcertbundle`.
 * @module
 */
import { makeSigningCert, pemToDer } from "./tls.ts";

/** Options of {@linkcode startTokenServer}. */
export interface TokenServerOptions {
  /** Folder for the signing key and certificate. */
  dir: string;
  /** Accepted users; when set, a token request without valid Basic credentials gets 401. */
  users?: Record<string, string>;
  /** Repositories (exact names) that get no access at all. */
  denied?: string[];
  /** `expires_in` of issued tokens in seconds (default 300). */
  expiresIn?: number;
  /** 1-based numbers of tokens to issue already expired (beyond the registry's 60 s leeway). */
  expiredTokens?: number[];
  /** Refresh tokens accepted by the OAuth2 `POST` (identity-token) grant. */
  refreshTokens?: string[];
  /** Answer with `access_token` instead of `token`. */
  accessTokenField?: boolean;
}

/** A running token server. */
export interface TokenServer {
  /** Token endpoint URL (the realm). */
  realm: string;
  /** Service name (the token audience). */
  service: string;
  /** Issuer name. */
  issuer: string;
  /** Certificate bundle for the registry's `rootcertbundle`. */
  certFile: string;
  /** Tokens issued so far. */
  issued: string[];
  /** Token requests refused (bad credentials). */
  refused: number;
  /** Stops the server. */
  stop(): Promise<void>;
}

const b64url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const b64urlJson = (v: unknown) => b64url(new TextEncoder().encode(JSON.stringify(v)));

/** Starts a token server. */
export async function startTokenServer(options: TokenServerOptions): Promise<TokenServer> {
  const { certFile, keyFile } = await makeSigningCert(options.dir);
  const certDer = pemToDer(await Deno.readTextFile(certFile));
  const key = await crypto.subtle.importKey(
    "pkcs8",
    pemToDer(await Deno.readTextFile(keyFile)),
    { name: "ECDSA", namedCurve: "P-256" },
    false,
    ["sign"],
  );
  const service = "ocistream-test-registry";
  const issuer = "ocistream-test-issuer";
  const state = { issued: [] as string[], refused: 0 };
  const x5c = btoa(String.fromCharCode(...certDer));

  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    let account = "";
    const authz = req.headers.get("authorization");
    let scopes = url.searchParams.getAll("scope");
    if (req.method === "POST") {
      // OAuth2 refresh-token grant (Docker identity tokens); scopes are space-separated.
      const form = new URLSearchParams(await req.text());
      if (
        form.get("grant_type") !== "refresh_token" ||
        !options.refreshTokens?.includes(form.get("refresh_token") ?? "")
      ) {
        state.refused++;
        return Response.json({ details: "invalid refresh token" }, { status: 401 });
      }
      account = "identity";
      scopes = (form.get("scope") ?? "").split(" ").filter((x) => x);
    } else if (authz?.startsWith("Basic ")) {
      const [user, ...pw] = atob(authz.slice(6)).split(":");
      if (options.users && options.users[user!] !== pw.join(":")) {
        state.refused++;
        return Response.json({ details: "incorrect username or password" }, { status: 401 });
      }
      account = user!;
    } else if (options.users) {
      state.refused++;
      return Response.json({ details: "authentication required" }, { status: 401 });
    }
    const access = scopes.flatMap((scope) => {
      const [type, name, actions] = scope.split(":");
      if (type !== "repository" || !name || options.denied?.includes(name)) return [];
      return [{ type, name, actions: actions!.split(",") }];
    });
    const n = state.issued.length + 1;
    const now = Math.floor(Date.now() / 1000);
    const expired = options.expiredTokens?.includes(n) ?? false;
    const expiresIn = options.expiresIn ?? 300;
    const claims = {
      iss: issuer,
      sub: account,
      aud: service,
      exp: expired ? now - 3600 : now + expiresIn,
      nbf: expired ? now - 7200 : now - 10,
      iat: expired ? now - 7200 : now,
      jti: crypto.randomUUID(),
      access,
    };
    const signingInput = `${b64urlJson({ typ: "JWT", alg: "ES256", x5c: [x5c] })}.${
      b64urlJson(claims)
    }`;
    const sig = new Uint8Array(
      await crypto.subtle.sign(
        { name: "ECDSA", hash: "SHA-256" },
        key,
        new TextEncoder().encode(signingInput),
      ),
    );
    const token = `${signingInput}.${b64url(sig)}`;
    state.issued.push(token);
    const body = options.accessTokenField
      ? { access_token: token, expires_in: expiresIn }
      : { token, expires_in: expiresIn, issued_at: new Date().toISOString() };
    return Response.json(body);
  });
  const addr = server.addr as Deno.NetAddr;
  return {
    realm: `http://127.0.0.1:${addr.port}/token`,
    service,
    issuer,
    certFile,
    get issued() {
      return state.issued;
    },
    get refused() {
      return state.refused;
    },
    async stop() {
      await server.shutdown();
    },
  };
}
