/**
 * The few `@std/assert` functions the JSDoc examples use, for `deno test --doc` here: the
 * examples import `@std/assert` as a user would, and deno.json maps that name to this file
 * (the registry it comes from is not reachable from this project's machines). Same names,
 * arguments and failures as the real ones: they throw an `AssertionError` on a mismatch.
 *
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * assertEquals({ a: [1, new Uint8Array([2])] }, { a: [1, new Uint8Array([2])] });
 * assertThrows(() => assertEquals(1, 2));
 * ```
 * @module
 */
import { inspect, isDeepStrictEqual } from "node:util";

/** What every assertion here throws. */
export class AssertionError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "AssertionError";
  }
}

// deno-lint-ignore no-explicit-any
type ErrorClass = new (...args: any[]) => Error;

const show = (v: unknown) => inspect(v, { depth: 6, breakLength: Infinity });

/** Throws unless `actual` and `expected` are deeply equal (typed arrays by content). */
export function assertEquals<T>(actual: unknown, expected: T, msg?: string): asserts actual is T {
  if (!isDeepStrictEqual(actual, expected)) {
    throw new AssertionError(
      `${msg ? `${msg}: ` : ""}values are not equal:\n  actual:   ${show(actual)}\n  expected: ${
        show(expected)
      }`,
    );
  }
}

/** Throws unless `actual` and `expected` are not deeply equal. */
export function assertNotEquals(actual: unknown, expected: unknown, msg?: string): void {
  if (isDeepStrictEqual(actual, expected)) {
    throw new AssertionError(`${msg ? `${msg}: ` : ""}values are equal: ${show(actual)}`);
  }
}

/** Throws unless `expr` is truthy. */
export function assert(expr: unknown, msg = ""): asserts expr {
  if (!expr) throw new AssertionError(msg || `expected a truthy value, got ${show(expr)}`);
}

/** Throws unless `actual` matches `expected`. */
export function assertMatch(actual: string, expected: RegExp, msg?: string): void {
  if (!expected.test(actual)) {
    throw new AssertionError(
      `${msg ? `${msg}: ` : ""}${JSON.stringify(actual)} does not match ${expected}`,
    );
  }
}

function checkError(
  e: unknown,
  ErrorClass?: ErrorClass,
  includes?: string,
): Error {
  if (!(e instanceof Error)) throw new AssertionError(`expected an Error, got ${show(e)}`);
  const { name, message } = e;
  if (ErrorClass && !(e instanceof ErrorClass)) {
    throw new AssertionError(`expected a ${ErrorClass.name}, got ${name}: ${message}`);
  }
  if (includes !== undefined && !e.message.includes(includes)) {
    throw new AssertionError(
      `expected the message to include ${JSON.stringify(includes)}: ${e.message}`,
    );
  }
  return e;
}

/** Throws unless `fn` throws (an `ErrorClass` whose message includes `includes`); returns the error. */
export function assertThrows(
  fn: () => unknown,
  ErrorClass?: ErrorClass,
  includes?: string,
): Error {
  try {
    fn();
  } catch (e) {
    return checkError(e, ErrorClass, includes);
  }
  throw new AssertionError("expected the function to throw");
}

/** Throws unless `fn` rejects (an `ErrorClass` whose message includes `includes`); returns the error. */
export async function assertRejects(
  fn: () => PromiseLike<unknown>,
  ErrorClass?: ErrorClass,
  includes?: string,
): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    return checkError(e, ErrorClass, includes);
  }
  throw new AssertionError("expected the promise to reject");
}
