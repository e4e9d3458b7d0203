/**
 * Keeps secrets out of messages: credentials and tokens seen by the
 * registry client are registered here, and {@linkcode redactSecrets}
 * masks them (and anything shaped like an `Authorization` value or a JWT)
 * in any text before it is printed or logged.
 *
 * @example
 * ```ts
 * import { redactSecrets, registerSecret } from "./redact.ts";
 * registerSecret("hunter22");
 * console.log(redactSecrets("login with hunter22 failed; Authorization: Bearer abc.def"));
 * // login with *** failed; Authorization: Bearer ***
 * ```
 * @module
 */

const secrets = new Set<string>();

/** Remembers a secret (password, token) so {@linkcode redactSecrets} masks it. Short strings are ignored. */
export function registerSecret(secret: string | undefined): void {
  // Very short values would mask ordinary words; they are not worth protecting this way.
  if (secret && secret.length >= 4) secrets.add(secret);
}

/** Masks registered secrets, `Basic`/`Bearer` credentials and JWT-shaped strings in `text`. */
export function redactSecrets(text: string): string {
  let out = text;
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) out = out.split(s).join("***");
  return out
    .replace(/\b(Basic|Bearer)\s+[A-Za-z0-9._~+/=-]+/g, "$1 ***")
    .replace(/\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g, "***");
}
