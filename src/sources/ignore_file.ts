/**
 * Reads a `.dockerignore` file into patterns, as Docker's `ignorefile.ReadAll` does.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseIgnoreFile } from "@ocistream/ocistream/tar";
 * assertEquals(parseIgnoreFile("# build output\n/dist\n*.log\n!keep.log\n"), ["dist", "*.log", "!keep.log"]);
 * ```
 * @module
 */
import { cleanPath } from "./pattern_matcher.ts";

/**
 * The patterns of an ignore file, in order: a UTF-8 BOM is dropped; lines starting with `#`
 * are comments (only in the first column); each line is trimmed, blank ones skipped, then
 * cleaned as a path with one leading `/` removed (`/dist` is `dist`), a `!` kept in front.
 */
export function parseIgnoreFile(text: string): string[] {
  const patterns: string[] = [];
  const lines = text.replace(/^\uFEFF/, "").split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  for (let line of lines) {
    if (line.endsWith("\r")) line = line.slice(0, -1);
    if (line.startsWith("#")) continue;
    let pattern = line.trim();
    if (pattern === "") continue;
    const invert = pattern.startsWith("!");
    if (invert) pattern = pattern.slice(1).trim();
    if (pattern !== "") {
      pattern = cleanPath(pattern);
      if (pattern.length > 1 && pattern.startsWith("/")) pattern = pattern.slice(1);
    }
    patterns.push(invert ? `!${pattern}` : pattern);
  }
  return patterns;
}
