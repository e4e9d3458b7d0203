/**
 * Flag parsing shared by the commands, on `node:util` `parseArgs`, turning
 * its errors into usage errors (exit 2).
 *
 * @example
 * ```ts
 * import { parseFlags } from "./args.ts";
 * const { values, positionals } = parseFlags(["--store", "/tmp/s", "x"], { store: { type: "string" } });
 * console.log(values.store, positionals); // /tmp/s [ "x" ]
 * ```
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "./errors.ts";

type Options = NonNullable<ParseArgsConfig["options"]>;

/** Parses `args` strictly against `options` (plus `--help`). */
// The result type is node:util's, inferred from `options`; spelling it out adds nothing.
// deno-lint-ignore explicit-module-boundary-types
export function parseFlags<T extends Options>(args: string[], options: T) {
  try {
    return parseArgs({
      args,
      options: { ...options, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    throw new UsageError(`${(e as Error).message.replace(/\.$/, "")}: see --help`);
  }
}

/** The value of a flag that may be given once, or undefined. */
export function single(value: unknown, flag: string): string | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value)) {
    if (value.length > 1) throw new UsageError(`--${flag} may be given only once`);
    return value[0] as string;
  }
  return value as string;
}

/** Parses an epoch given as decimal seconds. */
export function parseEpoch(text: string, where: string): number {
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(Number(text))) {
    throw new TypeError(
      `Invalid ${where} "${text}": expected whole seconds since 1970, e.g. ${where}=1700000000`,
    );
  }
  return Number(text);
}
