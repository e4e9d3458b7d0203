/**
 * The error a registry operation throws: what failed, on which registry, the
 * HTTP status and the registry's own error code. Messages never carry secrets.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { RegistryError } from "@ocistream/ocistream";
 * const e = new RegistryError("Cannot push blob sha256:ab to 127.0.0.1:5000/foo", {
 *   registry: "127.0.0.1:5000",
 *   status: 401,
 *   code: "UNAUTHORIZED",
 *   detail: "authentication required",
 * });
 * assertEquals(e.message, "Cannot push blob sha256:ab to 127.0.0.1:5000/foo: registry answered 401 UNAUTHORIZED (authentication required)");
 * ```
 * @module
 */

/** What a {@linkcode RegistryError} knows. */
export interface RegistryErrorOptions {
  /** Registry host, e.g. `127.0.0.1:5000`. */
  registry: string;
  /** HTTP status, when the registry answered. */
  status?: number;
  /** The registry's error code (`UNAUTHORIZED`, `DENIED`, `MANIFEST_BLOB_UNKNOWN`, ...). */
  code?: string;
  /** The registry's message for that code. */
  detail?: string;
  /** The underlying error (network failure, TLS). */
  cause?: unknown;
}

/** A failed registry operation. Callers catch this one to report push and pull failures. */
export class RegistryError extends Error {
  /** Registry host. */
  readonly registry: string;
  /** HTTP status, if the registry answered. */
  readonly status?: number;
  /** The registry's error code. */
  readonly code?: string;

  /** `what` says what failed, e.g. `Cannot push blob sha256:… to host/repo`. */
  constructor(what: string, options: RegistryErrorOptions) {
    let message = what;
    if (options.status !== undefined) {
      message += `: registry answered ${options.status}`;
      if (options.code) message += ` ${options.code}`;
      if (options.detail) message += ` (${options.detail})`;
    } else if (options.cause !== undefined) {
      const cause = options.cause instanceof Error ? options.cause.message : String(options.cause);
      message += `: ${cause}`;
    } else if (options.detail) {
      message += `: ${options.detail}`;
    }
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = "RegistryError";
    this.registry = options.registry;
    if (options.status !== undefined) this.status = options.status;
    if (options.code !== undefined) this.code = options.code;
  }
}
