/**
 * Parses `WWW-Authenticate` challenges (RFC 7235) as registries send them.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseAuthChallenge } from "./auth_challenge.ts";
 * const c = parseAuthChallenge('Bearer realm="https://auth.example/token",service="reg",scope="repository:a:pull"');
 * assertEquals([c?.scheme, c?.params.realm, c?.params.service], ["bearer", "https://auth.example/token", "reg"]);
 * ```
 * @module
 */

/** One challenge: the scheme (lowercase) and its parameters. */
export interface AuthChallenge {
  /** `basic` or `bearer` (lowercased). */
  scheme: string;
  /** Parameters such as `realm`, `service`, `scope`, `error`. */
  params: Record<string, string>;
}

/** Parses the first challenge of a `WWW-Authenticate` header; `undefined` when there is none. */
export function parseAuthChallenge(header: string | null | undefined): AuthChallenge | undefined {
  if (!header) return undefined;
  const m = /^\s*([A-Za-z][A-Za-z0-9_-]*)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const scheme = m[1]!.toLowerCase();
  const params: Record<string, string> = {};
  const re = /\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?/gy;
  const rest = m[2] ?? "";
  let p: RegExpExecArray | null;
  while ((p = re.exec(rest)) !== null && p[0] !== "") {
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, "$1") : p[3]!;
  }
  return { scheme, params };
}
