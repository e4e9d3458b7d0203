/**
 * Flag parsing shared by the commands: GNU-style long flags (`--name value`, `--name=value`),
 * one-letter aliases (`-o value`), `--` to end the flags; anything wrong is a usage error
 * (exit 2). Written here rather than on `node:util` `parseArgs`: loading Node compatibility costs
 * more start-up time than a small command (a push, a cached re-export) spends on its work.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseFlags } from "./args.ts";
 * const { values, positionals } = parseFlags(["--store", "/tmp/s", "x"], { store: { type: "string" } });
 * assertEquals(values.store, "/tmp/s");
 * assertEquals(positionals, ["x"]);
 * ```
 * @module
 */
import { UsageError } from "./errors.ts";
import { nearest } from "../types/nearest.ts";

/** How one flag is given. */
export interface FlagSpec {
  /** `string` takes a value; `boolean` takes none. */
  type: "string" | "boolean";
  /** A one-letter alias, used as `-x`. */
  short?: string;
  /** May be given more than once: the values are collected in order. */
  multiple?: boolean;
}

/** The parsed value of one flag. */
export type FlagValue<F extends FlagSpec> = F["type"] extends "boolean"
  ? F["multiple"] extends true ? boolean[] : boolean
  : F["multiple"] extends true ? string[]
  : string;

/** Parsed flags (absent ones are `undefined`) and the positional arguments. */
export interface ParsedFlags<T extends Record<string, FlagSpec>> {
  /** Each flag given, by name; `help` is always known. */
  values: { [K in keyof T]?: FlagValue<T[K]> } & { help?: boolean };
  /** The arguments that are not flags, in order. */
  positionals: string[];
}

/**
 * Parses `args` strictly against `options` (plus `--help`/`-h`): an unknown flag, a missing
 * value, or a value given to a boolean flag is a {@link UsageError}.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseFlags } from "./args.ts";
 * const spec = { output: { type: "string", short: "o", multiple: true }, quiet: { type: "boolean" } } as const;
 * assertEquals(parseFlags(["-o", "a", "--output=b", "--quiet", "--", "-x"], spec), { values: { output: [ "a", "b" ], quiet: true }, positionals: [ "-x" ] });
 * ```
 */
export function parseFlags<const T extends Record<string, FlagSpec>>(
  args: string[],
  options: T,
): ParsedFlags<T> {
  const specs: Record<string, FlagSpec> = { ...options, help: { type: "boolean", short: "h" } };
  const byShort = new Map<string, string>();
  for (const [name, spec] of Object.entries(specs)) if (spec.short) byShort.set(spec.short, name);
  const values: Record<string, string | boolean | (string | boolean)[]> = {};
  const positionals: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positionals.push(arg);
      continue;
    }
    const long = arg.startsWith("--");
    const eq = long ? arg.indexOf("=") : -1;
    const given = eq === -1 ? arg : arg.slice(0, eq);
    const name = long ? given.slice(2) : byShort.get(given.slice(1));
    const spec = name === undefined ? undefined : specs[name];
    if (name === undefined || spec === undefined || (!long && given.length !== 2)) {
      const near = long ? nearest(given.slice(2), Object.keys(specs)) : undefined;
      throw new UsageError(
        `unknown option ${given}${near ? ` (did you mean --${near}?)` : ""}: see --help`,
      );
    }
    let value: string | boolean = true;
    if (spec.type === "string") {
      if (eq !== -1) value = arg.slice(eq + 1);
      else if (i + 1 < args.length) value = args[++i]!;
      else throw new UsageError(`option ${given} needs a value: see --help`);
    } else if (eq !== -1) {
      throw new UsageError(`option ${given} takes no value: see --help`);
    }
    if (spec.multiple) ((values[name] ??= []) as (string | boolean)[]).push(value);
    else values[name] = value;
  }
  return { values: values as ParsedFlags<T>["values"], positionals };
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
