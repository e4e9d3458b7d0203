/**
 * Keeps secrets out of messages: credentials and tokens seen by the
 * registry client are registered here, and {@linkcode redactSecrets}
 * masks them (and anything shaped like an `Authorization` value or a JWT)
 * in any text before it is printed or logged.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { redactSecrets, registerSecret } from "@ocistream/ocistream/registry";
 * registerSecret("hunter22");
 * assertEquals(redactSecrets("login with hunter22 failed; Authorization: Bearer abc.def"), "login with *** failed; Authorization: Bearer ***");
 * ```
 * @module
 */

const secrets = new Set<string>();

/** Every form a secret may take in text that echoes it: as is, URL-encoded, JSON-escaped, base64. */
function forms(secret: string): string[] {
  const out = [secret, encodeURIComponent(secret), JSON.stringify(secret).slice(1, -1)];
  for (const b64 of base64Forms(secret)) out.push(b64);
  return out;
}

/** Standard and URL-safe base64 of `text` (UTF-8), with and without padding. */
function base64Forms(text: string): string[] {
  let bin = "";
  for (const b of new TextEncoder().encode(text)) bin += String.fromCharCode(b);
  const std = btoa(bin);
  const url = std.replace(/\+/g, "-").replace(/\//g, "_");
  return [std, std.replace(/=+$/, ""), url, url.replace(/=+$/, "")];
}

/** Remembers a secret (password, token) so {@linkcode redactSecrets} masks it. Short strings are ignored. */
export function registerSecret(secret: string | undefined): void {
  // Very short values would mask ordinary words; they are not worth protecting this way.
  if (!secret || secret.length < 4) return;
  for (const f of forms(secret)) if (f.length >= 4) secrets.add(f);
}

/**
 * Remembers a user name and password: the password in all its forms, and
 * `user:password` as it travels in a Basic header (base64, with or without
 * padding), so a registry that echoes the bare base64 gets masked too.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { redactSecrets, registerCredentials } from "@ocistream/ocistream/registry";
 * registerCredentials("alice", "s3cret-pw");
 * assertEquals(redactSecrets(`echo: ${btoa("alice:s3cret-pw")}`), "echo: ***");
 * ```
 */
export function registerCredentials(username: string, password: string): void {
  registerSecret(password);
  if (password.length === 0) return;
  for (const f of forms(`${username}:${password}`)) secrets.add(f);
}

/** Masks registered secrets, `Basic`/`Bearer` credentials and JWT-shaped strings in `text`. */
export function redactSecrets(text: string): string {
  let out = text;
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) out = out.split(s).join("***");
  return out
    // Not the word after it in "Basic realm=..." or "Bearer realm": that names a parameter.
    .replace(/\b(Basic|Bearer)([\s:="'\\]+)(?!realm\b)[A-Za-z0-9._~+/=-]+/gi, "$1$2***")
    .replace(/\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g, "***");
}
