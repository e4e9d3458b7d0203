/**
 * CLI error kinds: a usage error exits 2, anything else the user can fix exits 1.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { UsageError } from "./errors.ts";
 * assertEquals(new UsageError("unknown flag --x").exitCode, 2);
 * ```
 * @module
 */

/** Wrong flags or arguments: exit code 2. */
export class UsageError extends Error {
  /** Exit code for usage errors. */
  readonly exitCode = 2;
  /** Creates the error with a one-line message. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}
