/**
 * Preconditions some tests need, stated instead of skipped: these tests run as root (CI
 * and the development machines do) and fail with this message otherwise, rather than
 * passing without checking anything.
 * @module
 */

/** Throws unless this process runs as root, naming what needs it. */
export function assertRoot(what: string): void {
  if (Deno.uid() !== 0) {
    throw new Error(
      `This test needs root (${what}); it runs as uid ${Deno.uid()}: run the tests as root, as CI does`,
    );
  }
}
