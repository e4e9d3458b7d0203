// The cases of moby/patternmatcher's own tests (patternmatcher_test.go, ignorefile_test.go),
// as tables: our matcher must answer what Docker's does.
import assert from "node:assert/strict";
import { cleanPath, PatternMatcher } from "../../src/sources/pattern_matcher.ts";
import { parseIgnoreFile } from "../../src/sources/ignore_file.ts";

// [pattern, path, matches] — TestMatches.
const SINGLE: [string, string, boolean][] = [
  ["**", "file", true],
  ["**", "file/", true],
  ["**/", "file", true],
  ["**/", "file/", true],
  ["**", "/", true],
  ["**/", "/", true],
  ["**", "dir/file", true],
  ["**/", "dir/file", true],
  ["**", "dir/file/", true],
  ["**/", "dir/file/", true],
  ["**/**", "dir/file", true],
  ["**/**", "dir/file/", true],
  ["dir/**", "dir/file", true],
  ["dir/**", "dir/file/", true],
  ["dir/**", "dir/dir2/file", true],
  ["dir/**", "dir/dir2/file/", true],
  ["**/dir", "dir", true],
  ["**/dir", "dir/file", true],
  ["**/dir2/*", "dir/dir2/file", true],
  ["**/dir2/*", "dir/dir2/file/", true],
  ["**/dir2/**", "dir/dir2/dir3/file", true],
  ["**/dir2/**", "dir/dir2/dir3/file/", true],
  ["**file", "file", true],
  ["**file", "dir/file", true],
  ["**/file", "dir/file", true],
  ["**file", "dir/dir/file", true],
  ["**/file", "dir/dir/file", true],
  ["**/file*", "dir/dir/file", true],
  ["**/file*", "dir/dir/file.txt", true],
  ["**/file*txt", "dir/dir/file.txt", true],
  ["**/file*.txt", "dir/dir/file.txt", true],
  ["**/file*.txt*", "dir/dir/file.txt", true],
  ["**/**/*.txt", "dir/dir/file.txt", true],
  ["**/**/*.txt2", "dir/dir/file.txt", false],
  ["**/*.txt", "file.txt", true],
  ["**/**/*.txt", "file.txt", true],
  ["a**/*.txt", "a/file.txt", true],
  ["a**/*.txt", "a/dir/file.txt", true],
  ["a**/*.txt", "a/dir/dir/file.txt", true],
  ["a/*.txt", "a/dir/file.txt", false],
  ["a/*.txt", "a/file.txt", true],
  ["a/*.txt**", "a/file.txt", true],
  ["a[b-d]e", "ae", false],
  ["a[b-d]e", "ace", true],
  ["a[b-d]e", "aae", false],
  ["a[^b-d]e", "aze", true],
  [".*", ".foo", true],
  [".*", "foo", false],
  ["abc.def", "abcdef", false],
  ["abc.def", "abc.def", true],
  ["abc.def", "abcZdef", false],
  ["abc?def", "abcZdef", true],
  ["abc?def", "abcdef", false],
  ["a\\\\", "a\\", true],
  ["**/foo/bar", "foo/bar", true],
  ["**/foo/bar", "dir/foo/bar", true],
  ["**/foo/bar", "dir/dir2/foo/bar", true],
  ["abc/**", "abc", false],
  ["abc/**", "abc/def", true],
  ["abc/**", "abc/def/ghi", true],
  ["**/.foo", ".foo", true],
  ["**/.foo", "bar.foo", false],
  ["a(b)c/def", "a(b)c/def", true],
  ["a(b)c/def", "a(b)c/xyz", false],
  ["a.|)$(}+{bc", "a.|)$(}+{bc", true],
  [
    "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
    "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
    true,
  ],
  ["dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", true],
  ["a\\*b", "a*b", true],
];

// [patterns, path, matches] — TestMatches' multi-pattern cases and the folder exceptions.
const MULTI: [string[], string, boolean][] = [
  [["**", "!util/docker/web"], "util/docker/web/foo", false],
  [["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", true],
  [
    ["**", "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"],
    "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
    false,
  ],
  [["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", false],
  [["*"], "fileutils.go", true],
  [["*.go"], "fileutils.go", true],
  [["!fileutils.go", "*.go"], "fileutils.go", true],
  [["docs", "!docs/README.md"], "docs/README.md", false],
  [["docs/", "!docs/README.md"], "docs/README.md", false],
  [["docs/*", "!docs/README.md"], "docs/README.md", false],
  [["*.go", "!fileutils.go"], "fileutils.go", false],
  [[], "/any/path/there", false],
];

// [pattern, path, matches, malformed] — TestMatch (Go's filepath.Match cases).
const GLOB: [string, string, boolean, boolean?][] = [
  ["abc", "abc", true],
  ["*", "abc", true],
  ["*c", "abc", true],
  ["a*", "a", true],
  ["a*", "abc", true],
  ["a*", "ab/c", true],
  ["a*/b", "abc/b", true],
  ["a*/b", "a/c/b", false],
  ["a*b*c*d*e*/f", "axbxcxdxe/f", true],
  ["a*b*c*d*e*/f", "axbxcxdxexxx/f", true],
  ["a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false],
  ["a*b*c*d*e*/f", "axbxcxdxexxx/fff", false],
  ["a*b?c*x", "abxbbxdbxebxczzx", true],
  ["a*b?c*x", "abxbbxdbxebxczzy", false],
  ["ab[c]", "abc", true],
  ["ab[b-d]", "abc", true],
  ["ab[e-g]", "abc", false],
  ["ab[^c]", "abc", false],
  ["ab[^b-d]", "abc", false],
  ["ab[^e-g]", "abc", true],
  ["a\\*b", "a*b", true],
  ["a\\*b", "ab", false],
  ["a?b", "a☺b", true],
  ["a[^a]b", "a☺b", true],
  ["a???b", "a☺b", false],
  ["a[^a][^a][^a]b", "a☺b", false],
  ["[a-ζ]*", "α", true],
  ["*[a-ζ]", "A", false],
  ["a?b", "a/b", false],
  ["a*b", "a/b", false],
  ["[\\]a]", "]", true],
  ["[\\-]", "-", true],
  ["[x\\-]", "x", true],
  ["[x\\-]", "-", true],
  ["[x\\-]", "z", false],
  ["[\\-x]", "x", true],
  ["[\\-x]", "-", true],
  ["[\\-x]", "a", false],
  ["[]a]", "]", false, true],
  ["[-]", "-", false, true],
  ["[x-]", "x", false, true],
  ["[x-]", "-", false, true],
  ["[x-]", "z", false, true],
  ["[-x]", "x", false, true],
  ["[-x]", "-", false, true],
  ["[-x]", "a", false, true],
  ["\\", "a", false, true],
  ["[a-b-c]", "a", false, true],
  ["[", "a", false, true],
  ["[^", "a", false, true],
  ["[^bc", "a", false, true],
  ["a[", "a", false, true],
  ["a[", "ab", false, true],
  ["*x", "xxx", true],
];

// [pattern, type] — TestCompile's match types.
const TYPES: [string, string][] = [
  ["*", "regexp"],
  ["file*", "regexp"],
  ["*file", "regexp"],
  ["a*/b", "regexp"],
  ["**", "suffix"],
  ["**/**", "regexp"],
  ["dir/**", "prefix"],
  ["**/dir", "suffix"],
  ["**/dir2/*", "regexp"],
  ["**/dir2/**", "regexp"],
  ["**file", "suffix"],
  ["**/file*txt", "regexp"],
  ["**/**/*.txt", "regexp"],
  ["a[b-d]e", "regexp"],
  [".*", "regexp"],
  ["abc.def", "exact"],
  ["abc?def", "regexp"],
  ["**/foo/bar", "suffix"],
  ["a(b)c/def", "exact"],
  ["a.|)$(}+{bc", "exact"],
  ["dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", "exact"],
];

/** Matches `path` as a walk does: each ancestor folder first, its result passed down. */
function walkMatch(m: PatternMatcher, path: string): boolean {
  // The parent as Go's filepath.Dir gives it: `dir/file/` has parent `dir/file`.
  const parent = cleanPath(path.slice(0, path.lastIndexOf("/") + 1));
  let info: readonly boolean[] = [];
  if (parent !== "." && parent !== "/") {
    const parts = parent.split("/");
    for (let n = 1; n <= parts.length; n++) info = m.match(parts.slice(0, n).join("/"), info).info;
  }
  return m.match(path, info).matched;
}

Deno.test("PatternMatcher matches Docker's single-pattern cases, alone and through a walk", () => {
  for (const [pattern, path, want] of SINGLE) {
    const m = new PatternMatcher([pattern]);
    assert.equal(m.matches(path), want, `${pattern} vs ${path} (no parent info)`);
    assert.equal(walkMatch(m, path), want, `${pattern} vs ${path} (walked)`);
  }
});

Deno.test("PatternMatcher matches Docker's multi-pattern and folder-exception cases", () => {
  for (const [patterns, path, want] of MULTI) {
    const m = new PatternMatcher(patterns);
    assert.equal(m.matches(path), want, `${JSON.stringify(patterns)} vs ${path}`);
    assert.equal(walkMatch(m, path), want, `${JSON.stringify(patterns)} vs ${path} (walked)`);
  }
});

Deno.test("PatternMatcher follows Go's filepath.Match cases and rejects malformed patterns", () => {
  for (const [pattern, path, want, malformed] of GLOB) {
    if (malformed) {
      assert.throws(() => new PatternMatcher([pattern]), SyntaxError, pattern);
      continue;
    }
    assert.equal(new PatternMatcher([pattern]).matches(path), want, `${pattern} vs ${path}`);
  }
});

Deno.test("PatternMatcher classifies patterns as Docker's compile does", () => {
  for (const [pattern, type] of TYPES) {
    assert.equal(new PatternMatcher([pattern]).patterns[0]!.matchType, type, pattern);
  }
});

Deno.test("PatternMatcher cleans patterns, drops empty ones, flags exceptions", () => {
  assert.equal(new PatternMatcher(["docs", "config", ""]).patterns.length, 2);
  for (const patterns of [["docs", "!docs/README.md"], ["docs", "  !docs/README.md"]]) {
    assert.equal(new PatternMatcher(patterns).hasExclusions, true);
  }
  assert.equal(new PatternMatcher(["docs", "!docs/README.md  "]).hasExclusions, true);
  assert.equal(new PatternMatcher(["docs"]).hasExclusions, false);
  assert.throws(() => new PatternMatcher(["!"]), SyntaxError);
  // The malformed range that panicked moby/moby#52203 is refused up front.
  assert.throws(() => new PatternMatcher(["[Local-Only]/"]), SyntaxError);
  assert.deepEqual(new PatternMatcher(["./a/b/../c/", "!/x/"]).patterns.map((p) => p.pattern), [
    "a/c",
    "/x",
  ]);
});

Deno.test("parseIgnoreFile reads a .dockerignore as Docker's ReadAll does", () => {
  const content = "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n" +
    "! /inverted/abs/path\n!\n! ";
  assert.deepEqual(parseIgnoreFile(content), [
    "test1",
    "test2",
    "a/file/here",
    "lastfile",
    "!inverted/abs/path",
    "!",
    "!",
  ]);
  assert.deepEqual(parseIgnoreFile(""), []);
  assert.deepEqual(parseIgnoreFile("\uFEFF# c\r\n./dist/\r\n  # not a comment\r\n"), [
    "dist",
    "# not a comment",
  ]);
});
