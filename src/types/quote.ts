/**
 * Quoting user text inside error messages: JSON string syntax, with U+2028 and
 * U+2029 escaped too, so a message about any input stays on one line.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { quote } from "./quote.ts";
 * assertEquals(quote("a\nb"), String.raw`"a\nb"`); // escaped: one line
 * ```
 * @module
 */

/**
 * `text` as a one-line quoted string for messages: JSON escapes, plus DEL, the
 * C1 controls (`\u009b` starts a terminal escape on some terminals) and the
 * line and paragraph separators.
 */
export function quote(text: string): string {
  return JSON.stringify(text).replace(
    /[\u007f-\u009f\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** Control characters that a terminal may act on: C0 (but tab), DEL, C1, line/paragraph separators. */
// deno-lint-ignore no-control-regex
const CONTROLS = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028\u2029]/;

/**
 * Text from outside (a tar entry name, a registry's message) fit to print
 * inside a message: as it is when it is short and has no control
 * characters, else quoted with escapes and cut to `max` characters.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { printable } from "./quote.ts";
 * assertEquals(printable("usr/bin/sh"), "usr/bin/sh");
 * assertEquals(printable("evil\x1b]0;owned\x07"), String.raw`"evil\u001b]0;owned\u0007"`);
 * ```
 */
export function printable(text: string, max = 200): string {
  if (text.length <= max && !CONTROLS.test(text)) return text;
  return quote(text.length > max ? text.slice(0, max) : text) +
    (text.length > max ? `… (${text.length} characters)` : "");
}

/**
 * Escapes every control character a terminal may act on in a line about to be
 * printed (`ESC` becomes `\x1b`, a carriage return `\r`), so text that came
 * from a registry or a layer cannot move the cursor, retitle the window or
 * overwrite what was printed. Newlines are kept only when `keepNewlines`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { escapeControls } from "./quote.ts";
 * assertEquals(escapeControls("ok\x1b[2K\rpushed"), String.raw`ok\x1b[2K\rpushed`);
 * ```
 */
export function escapeControls(text: string, keepNewlines = false): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    if (c === "\n") return keepNewlines ? c : "\\n";
    if (c === "\r") return "\\r";
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16)}`;
  });
}

/**
 * A JSON text fit to print: JSON already escapes C0 controls inside strings;
 * this escapes DEL, the C1 controls and the line/paragraph separators too
 * (as `\u00XX`, still valid JSON).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { safeJson } from "./quote.ts";
 * assertEquals(safeJson(JSON.stringify({ name: "a\u009b2J" })), String.raw`{"name":"a\u009b2J"}`);
 * ```
 */
export function safeJson(json: string): string {
  return json.replace(
    /[\u007f-\u009f\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}
