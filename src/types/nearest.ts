/**
 * "Did you mean" hints: the known word closest to a misspelt one.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { nearest } from "./nearest.ts";
 * assertEquals(nearest("compresion", ["compression", "store"]), "compression");
 * assertEquals(nearest("xyz", ["compression", "store"]), undefined);
 * ```
 * @module
 */

/** The word of `known` fewest edits (Levenshtein, at most 2) from `word`, if any; ties: the first. */
export function nearest(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const k of known) {
    const distance = editDistance(k, word);
    if (distance < bestDistance) [best, bestDistance] = [k, distance];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j]! + 1,
        current[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length]!;
}
