/**
 * Retry policy for registry requests: network errors, 408, 429 (honouring
 * `Retry-After`) and 5xx are retried with exponential backoff and jitter.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { retryDelay } from "@ocistream/ocistream/registry";
 * const ms = retryDelay({ attempts: 4, baseDelayMs: 100, maxDelayMs: 1000 }, 2);
 * assertEquals(ms <= 1000, true);
 * ```
 * @module
 */

/** How often and how patiently to retry. */
export interface RetryOptions {
  /** Total attempts, including the first (default 4; 1 disables retries). */
  attempts: number;
  /** Delay before the first retry, doubled on each further one (default 200 ms). */
  baseDelayMs: number;
  /** Upper bound for one delay, also for `Retry-After` (default 10 000 ms). */
  maxDelayMs: number;
}

/** The default policy. */
export const DEFAULT_RETRY: RetryOptions = { attempts: 4, baseDelayMs: 200, maxDelayMs: 10_000 };

/** Whether an HTTP status is worth retrying. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status !== 501 && status !== 505);
}

/**
 * The delay before retry number `retry` (1 = first retry); `retryAfter` is the
 * response's `Retry-After` header, which wins when present (capped at `maxDelayMs`).
 */
export function retryDelay(
  options: RetryOptions,
  retry: number,
  retryAfter?: string | null,
): number {
  if (retryAfter) {
    const seconds = Number(retryAfter);
    const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(retryAfter) - Date.now();
    if (Number.isFinite(ms)) return Math.min(Math.max(ms, 0), options.maxDelayMs);
  }
  const exp = options.baseDelayMs * 2 ** (retry - 1);
  // Jitter spreads retries of concurrent uploads so they do not hit the registry together.
  return Math.min(exp / 2 + Math.random() * exp / 2, options.maxDelayMs);
}

/** Checks a policy and fills defaults. */
export function retryOptions(partial?: Partial<RetryOptions>): RetryOptions {
  const o = { ...DEFAULT_RETRY, ...partial };
  if (!Number.isInteger(o.attempts) || o.attempts < 1) {
    throw new RangeError(`Invalid retry attempts ${o.attempts}: use an integer of at least 1`);
  }
  if (!(o.baseDelayMs >= 0) || !(o.maxDelayMs >= 0)) {
    throw new RangeError("Invalid retry delays: baseDelayMs and maxDelayMs must be 0 or more");
  }
  return o;
}

/** Waits `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
