/**
 * How a wrong value is named in an error: short, one line, never the whole
 * value (it may be large or come from outside). Private helper.
 *
 * @example
 * ```ts
 * import { describeValue } from "./_describe.ts";
 * if (describeValue("node server.js") !== '"node server.js"') throw new Error("strings are quoted");
 * if (describeValue([1]) !== "a list") throw new Error("lists are named");
 * ```
 * @module
 */

/** `"text"` (at most 80 characters), `null`, `missing`, `a list`, `a function`, `number 3`, .... */
export function describeValue(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.slice(0, 80));
  if (value === null) return "null";
  if (value === undefined) return "missing";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "function") return "a function";
  return typeof value === "object" ? "an object" : `${typeof value} ${String(value)}`;
}
