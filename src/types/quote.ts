/**
 * Quoting user text inside error messages: JSON string syntax, with U+2028 and
 * U+2029 escaped too, so a message about any input stays on one line.
 *
 * @example
 * ```ts
 * import { quote } from "./quote.ts";
 * console.log(quote("a\nb")); // "a\nb" (escaped, one line)
 * ```
 * @module
 */

/** `text` as a one-line quoted string for messages. */
export function quote(text: string): string {
  return JSON.stringify(text).replace(
    /[\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16)}`,
  );
}
