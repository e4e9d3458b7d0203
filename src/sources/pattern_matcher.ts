/**
 * Docker's path patterns (`.dockerignore`, `COPY --exclude`): the semantics of
 * moby/patternmatcher, implemented here for any runtime.
 *
 * - `*` is any run of characters but `/`, `?` one character but `/`, `[...]` a class
 *   (`[^...]` negated), `\` escapes the next character.
 * - `**` is any number of folders (even none): `**\/*.log`, `dir/**`, `**` alone.
 * - A pattern also matches everything under a folder it matches: `docs` excludes `docs/a.md`.
 * - `!pattern` re-includes what earlier patterns excluded; the last matching pattern wins.
 * - Patterns are cleaned as Go's `path.Clean` does (`./a/` is `a`, `a/../b` is `b`).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { PatternMatcher } from "@ocistream/ocistream/tar";
 * const m = new PatternMatcher(["*.log", "docs", "!docs/README.md"]);
 * assertEquals(m.matches("app.log"), true);
 * assertEquals(m.matches("docs/guide.md"), true);
 * assertEquals(m.matches("docs/README.md"), false);
 * ```
 * @module
 */

/** How a pattern is compared, as moby/patternmatcher decides it. */
export type PatternMatchType = "exact" | "prefix" | "suffix" | "regexp";

/** One cleaned pattern. */
export interface Pattern {
  /** The cleaned pattern, without its `!`. */
  readonly pattern: string;
  /** Whether it is an exception (`!pattern`): a match re-includes. */
  readonly exclusion: boolean;
  /** How it is compared. */
  readonly matchType: PatternMatchType;
}

/**
 * What matching a folder found, per pattern: pass it when matching the folder's children so
 * each pattern is not tried again against every ancestor.
 */
export type MatchInfo = readonly boolean[];

interface CompiledPattern extends Pattern {
  readonly regexp?: RegExp;
}

/**
 * Cleans a `/`-separated path as Go's `path.Clean`: no empty or `.` parts, `..` resolved
 * where it can be, `"."` for nothing.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { cleanPath } from "@ocistream/ocistream/tar";
 * assertEquals(cleanPath("./a//b/../c/"), "a/c");
 * assertEquals(cleanPath("/../x"), "/x");
 * assertEquals(cleanPath(""), ".");
 * ```
 */
export function cleanPath(path: string): string {
  if (path === "") return ".";
  const rooted = path.startsWith("/");
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
      else if (!rooted) out.push("..");
    } else out.push(part);
  }
  const joined = out.join("/");
  return rooted ? `/${joined}` : joined === "" ? "." : joined;
}

/**
 * A list of Docker path patterns, matched as moby/patternmatcher's `MatchesUsingParentResults`
 * (and `MatchesOrParentMatches` when no parent result is given).
 *
 * @example Walk a tree, passing each folder's result to its children
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { PatternMatcher } from "@ocistream/ocistream/tar";
 * const m = new PatternMatcher(["node_modules", "!node_modules/keep"]);
 * const dir = m.match("node_modules");
 * // Excluded, but walked anyway: an exception may bring a file inside back.
 * assertEquals([dir.matched, m.hasExclusions], [true, true]);
 * assertEquals(m.match("node_modules/keep", dir.info).matched, false);
 * assertEquals(m.match("node_modules/other", dir.info).matched, true);
 * ```
 */
export class PatternMatcher {
  readonly #patterns: CompiledPattern[] = [];
  /** Whether any pattern is an exception (`!`): excluded folders must still be walked. */
  readonly hasExclusions: boolean = false;

  /**
   * Cleans and compiles `patterns`. Empty ones are skipped; a malformed one (`!` alone, `[`
   * unclosed, a trailing `\`) throws a `SyntaxError` naming it.
   */
  constructor(patterns: readonly string[]) {
    for (const raw of patterns) {
      let text = raw.trim();
      if (text === "") continue;
      text = cleanPath(text);
      let exclusion = false;
      if (text.startsWith("!")) {
        if (text.length === 1) {
          throw new SyntaxError(
            `Invalid exclude pattern "!": an exception needs a pattern after !`,
          );
        }
        exclusion = true;
        text = text.slice(1);
        this.hasExclusions = true;
      }
      if (!isValidGlob(text)) {
        throw new SyntaxError(
          `Invalid exclude pattern "${raw.trim()}": close each [ with ] and end with no lone \\`,
        );
      }
      this.#patterns.push(compile(text, exclusion, raw.trim()));
    }
  }

  /** The cleaned patterns, in order. */
  get patterns(): Pattern[] {
    return this.#patterns.map(({ pattern, exclusion, matchType }) => ({
      pattern,
      exclusion,
      matchType,
    }));
  }

  /**
   * Whether `path` (relative, `/`-separated) is excluded, and what to pass for its children.
   * Without `parent`, the path's ancestors are tried too, so the answer stands alone.
   */
  match(path: string, parent?: MatchInfo): { matched: boolean; info: MatchInfo } {
    if (parent !== undefined && parent.length !== 0 && parent.length !== this.#patterns.length) {
      throw new RangeError(
        `Parent match info has ${parent.length} values for ${this.#patterns.length} patterns`,
      );
    }
    const known = parent !== undefined && parent.length !== 0;
    let matched = false;
    const info: boolean[] = new Array(this.#patterns.length).fill(false);
    this.#patterns.forEach((pattern, i) => {
      let hit = known ? parent![i]! : false;
      if (!hit) {
        // An inclusion cannot change an excluded path, nor an exception an included one.
        if (pattern.exclusion !== matched) return;
        hit = matchOne(pattern, path);
        if (!hit && !known) {
          const slash = path.lastIndexOf("/");
          if (slash > 0) {
            const dirs = path.slice(0, slash).split("/");
            for (let n = 1; n <= dirs.length && !hit; n++) {
              hit = matchOne(pattern, dirs.slice(0, n).join("/"));
            }
          }
        }
      }
      info[i] = hit;
      if (hit) matched = !pattern.exclusion;
    });
    return { matched, info };
  }

  /** Whether `path` is excluded, its ancestors tried too (`MatchesOrParentMatches`). */
  matches(path: string): boolean {
    return this.match(path).matched;
  }
}

function matchOne(p: CompiledPattern, path: string): boolean {
  switch (p.matchType) {
    case "exact":
      return path === p.pattern;
    case "prefix":
      return path.startsWith(p.pattern.slice(0, -2));
    case "suffix": {
      const suffix = p.pattern.slice(2);
      if (path.endsWith(suffix)) return true;
      // `**/foo` matches `foo` itself.
      return suffix.startsWith("/") && path === suffix.slice(1);
    }
    case "regexp":
      return p.regexp!.test(path);
  }
}

// Characters with a meaning in a regular expression but none in a glob: matched literally.
const LITERAL_SPECIALS = new Set([...".+()|{}$"]);
// Characters that may be escaped with `\` in a Unicode-mode regular expression.
const SYNTAX_CHARS = new Set([..."^$\\.*+?()[]{}|/-"]);

/** Compiles one cleaned pattern as moby/patternmatcher does, to a JavaScript RegExp. */
function compile(pattern: string, exclusion: boolean, raw: string): CompiledPattern {
  const chars = [...pattern];
  let re = "^";
  let type: PatternMatchType = "exact";
  let inClass = false;
  for (let at = 0, i = 0; at < chars.length; i++) {
    const ch = chars[at++]!;
    if (ch === "*" && !inClass) {
      if (chars[at] === "*") {
        at++;
        if (chars[at] === "/") at++; // `**/` is `**`
        if (at >= chars.length) {
          // A trailing `**` matches everything under what comes before it.
          if (type === "exact") type = "prefix";
          else {
            re += "[^\\n]*";
            type = "regexp";
          }
        } else {
          re += "(?:[^\\n]*/)?";
          type = "regexp";
        }
        if (i === 0) type = "suffix";
      } else {
        re += "[^/]*";
        type = "regexp";
      }
    } else if (ch === "?" && !inClass) {
      re += "[^/]";
      type = "regexp";
    } else if (LITERAL_SPECIALS.has(ch)) {
      re += `\\${ch}`;
    } else if (ch === "\\") {
      if (at < chars.length) {
        const next = chars[at++]!;
        re += SYNTAX_CHARS.has(next) ? `\\${next}` : next;
        type = "regexp";
      } else re += "\\\\";
    } else if (ch === "[" && !inClass) {
      inClass = true;
      re += "[";
      if (chars[at] === "^") {
        re += "^";
        at++;
      }
      type = "regexp";
    } else if (ch === "]") {
      re += inClass ? "]" : "\\]";
      inClass = false;
      type = "regexp";
    } else if (ch === "[" || ch === "*" || ch === "?") {
      re += `\\${ch}`; // inside a class
    } else if (ch === "^") {
      re += "\\^";
    } else {
      re += ch;
    }
  }
  if (type !== "regexp") return { pattern, exclusion, matchType: type };
  try {
    return { pattern, exclusion, matchType: type, regexp: new RegExp(`${re}$`, "u") };
  } catch (e) {
    throw new SyntaxError(
      `Invalid exclude pattern "${raw}": ${(e as Error).message}; check its [ranges]`,
      { cause: e },
    );
  }
}

/** Whether `pattern` is well formed for Go's `filepath.Match` (its syntax check). */
function isValidGlob(pattern: string): boolean {
  const c = [...pattern];
  let i = 0;
  // One class character, maybe escaped: the index after it, or -1 when malformed.
  const classChar = (at: number): number => {
    if (at >= c.length || c[at] === "-" || c[at] === "]") return -1;
    if (c[at] === "\\") at++;
    if (at >= c.length) return -1;
    at++;
    return at >= c.length ? -1 : at;
  };
  while (i < c.length) {
    const ch = c[i]!;
    if (ch === "\\") {
      if (i + 1 >= c.length) return false;
      i += 2;
    } else if (ch === "[") {
      i++;
      if (c[i] === "^") i++;
      for (let ranges = 0;; ranges++) {
        if (i < c.length && c[i] === "]" && ranges > 0) {
          i++;
          break;
        }
        i = classChar(i);
        if (i < 0) return false;
        if (c[i] === "-") {
          i = classChar(i + 1);
          if (i < 0) return false;
        }
      }
    } else i++;
  }
  return true;
}
