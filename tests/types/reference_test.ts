/**
 * parseReference() on its own: a table of names and errors, then thousands of seeded
 * random names compared with Docker's reference parser (ParseNormalizedNamed), which
 * must accept and reject the same names and split them the same way.
 */
import assert from "node:assert/strict";
import {
  formatReference,
  parseReference,
  type Reference,
  registryHost,
  withDefaultTag,
} from "../../src/types/reference.ts";
import { dockerParse } from "../_harness/reference_oracle.ts";

const HEX = "0123456789abcdef".repeat(4);
const DIGEST = `sha256:${HEX}`;

Deno.test("parseReference() normalises Docker Hub names and splits registry, repository, tag and digest", () => {
  const cases: [string, Omit<Reference, "host">][] = [
    ["alpine", { registry: "docker.io", repository: "library/alpine" }],
    ["alpine:3.19", { registry: "docker.io", repository: "library/alpine", tag: "3.19" }],
    ["user/app:v1", { registry: "docker.io", repository: "user/app", tag: "v1" }],
    ["docker.io/alpine", { registry: "docker.io", repository: "library/alpine" }],
    ["index.docker.io/user/app", { registry: "docker.io", repository: "user/app" }],
    ["registry-1.docker.io/alpine", { registry: "docker.io", repository: "library/alpine" }],
    ["localhost/app", { registry: "localhost", repository: "app" }],
    ["localhost:5000/a/b/c:t", {
      registry: "localhost:5000",
      repository: "a/b/c",
      tag: "t",
    }],
    ["127.0.0.1:5000/app@" + DIGEST, {
      registry: "127.0.0.1:5000",
      repository: "app",
      digest: DIGEST,
    }],
    ["ghcr.io/o/app:1@" + DIGEST, {
      registry: "ghcr.io",
      repository: "o/app",
      tag: "1",
      digest: DIGEST,
    }],
    ["[::1]:5000/app:x", { registry: "[::1]:5000", repository: "app", tag: "x" }],
    ["Host/app", { registry: "Host", repository: "app" }],
    ["a.b/c__d.e-f---g/h", { registry: "a.b", repository: "c__d.e-f---g/h" }],
    ["app:_under", { registry: "docker.io", repository: "library/app", tag: "_under" }],
    [`app:${"t".repeat(128)}`, {
      registry: "docker.io",
      repository: "library/app",
      tag: "t".repeat(128),
    }],
  ];
  for (const [text, expected] of cases) {
    const { host, ...parsed } = parseReference(text);
    assert.deepEqual(parsed, expected, text);
    // `host` is what to connect to: the registry, but Docker Hub's API host for docker.io.
    assert.equal(
      host,
      expected.registry === "docker.io" ? "registry-1.docker.io" : expected.registry,
    );
  }
  assert.equal(registryHost(parseReference("alpine")), "registry-1.docker.io");
  assert.equal(registryHost(parseReference("localhost:5000/a")), "localhost:5000");
  assert.equal(formatReference(parseReference("alpine:3")), "docker.io/library/alpine:3");
  assert.deepEqual(withDefaultTag(parseReference("alpine")).tag, "latest");
  assert.equal(withDefaultTag(parseReference(`alpine@${DIGEST}`)).tag, undefined);
});

Deno.test("parseReference() rejects bad names with one line saying what is wrong", () => {
  const cases: [string, RegExp][] = [
    ["", /it is empty/],
    ["Alpine", /a repository is lowercase letters/],
    ["app:", /a tag is up to 128/],
    ["app:-x", /a tag is up to 128/],
    [`app:${"t".repeat(129)}`, /a tag is up to 128/],
    ["app@sha256:abc", /the digest must be sha256: followed by 64 hex digits/],
    [`app@sha512:${HEX}${HEX}`, /the digest must be sha256/],
    ["a//b", /a repository is lowercase/],
    ["a/b/", /a repository is lowercase/],
    ["_a", /a repository is lowercase/],
    ["a..b", /a repository is lowercase/],
    ["exa_mple.com/app", /is not a valid registry host/],
    ["-host.com/app", /is not a valid registry host/],
    ["host.com:port/app", /is not a valid registry host/],
    [`${"a".repeat(250)}/${"b".repeat(10)}`, /longer than 255/],
    ["app\nname", /a repository is lowercase/],
    [HEX, /64 hex digits alone are an image ID/],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parseReference(text), (e: Error) => {
      assert.ok(e instanceof TypeError, `${JSON.stringify(text)}: ${e}`);
      assert.match(e.message, /^Invalid image name /);
      assert.match(e.message, message, JSON.stringify(text));
      assert.ok(!e.message.includes("\n"), JSON.stringify(e.message));
      return true;
    });
  }
});

/** mulberry32, so every run checks the same names. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TOKENS = [
  "a",
  "b",
  "z9",
  "app",
  "library",
  "0",
  ".",
  "..",
  "_",
  "__",
  "___",
  "-",
  "--",
  "/",
  "/",
  "/",
  ":",
  ":",
  "@",
  "sha256:",
  HEX,
  "abc",
  "localhost",
  "example.com",
  "docker.io",
  "index.docker.io",
  ":5000",
  ":0",
  "A",
  "Host",
  "latest",
  "v1.0",
  "_t",
  "-t",
  "a".repeat(60),
  "b".repeat(130),
  "c".repeat(250),
  " ",
  "é",
  "\n",
  "+",
  "%",
];

function names(seed: number, count: number): string[] {
  const r = prng(seed);
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    let s = "";
    const n = 1 + Math.floor(r() * 9);
    for (let j = 0; j < n; j++) s += TOKENS[Math.floor(r() * TOKENS.length)];
    out.push(s);
  }
  return out;
}

/**
 * Where ocistream differs from Debian's Docker reference parser (2.8) on purpose, following
 * newer versions of it or BuildKit: bracketed IPv6 hosts, an uppercase first component taken
 * as a host (`Host/app`), registry-1.docker.io as Docker Hub, and the 255-character limit
 * on the repository path rather than on the whole name with its registry.
 */
function deliberateDifference(text: string): boolean {
  const first = text.split("/")[0]!;
  return text.includes("[") || text.includes("registry-1.docker.io") ||
    (text.includes("/") && /[A-Z]/.test(first) && !/[.:]/.test(first)) ||
    text.length + "docker.io/library/".length > 255;
}

Deno.test("parseReference() accepts and rejects the names Docker's reference parser does, and splits them the same way (3000 seeded random names)", async () => {
  const all = names(22, 3000).filter((n) => !deliberateDifference(n));
  const docker = await dockerParse(all);
  let accepted = 0;
  for (const [i, text] of all.entries()) {
    const theirs = docker[i]!;
    // Docker accepts a first component with "." that is no valid host as part of a path
    // with no registry at all (`a_b.c/d`), a name nothing can pull; ocistream refuses it.
    if (theirs.ok && !theirs.registry) {
      assert.throws(() => parseReference(text), /is not a valid registry host/, text);
      continue;
    }
    let ours: Reference | undefined;
    let error: unknown;
    try {
      ours = parseReference(text);
    } catch (e) {
      error = e;
    }
    const what = `${JSON.stringify(text)}: ours ${ours ? JSON.stringify(ours) : error}, ` +
      `Docker's ${JSON.stringify(theirs)}`;
    assert.equal(ours !== undefined, theirs.ok, what);
    if (!ours) {
      assert.ok(error instanceof TypeError && !error.message.includes("\n"), what);
      continue;
    }
    accepted++;
    assert.deepEqual(
      ours,
      {
        registry: theirs.registry,
        host: theirs.registry === "docker.io" ? "registry-1.docker.io" : theirs.registry,
        repository: theirs.repository,
        ...(theirs.tag ? { tag: theirs.tag } : {}),
        ...(theirs.digest ? { digest: theirs.digest } : {}),
      },
      what,
    );
    // What we print is read back the same, by us and by Docker.
    assert.deepEqual(parseReference(formatReference(ours)), ours, what);
  }
  // The names exercise both sides.
  assert.ok(accepted > 300 && accepted < all.length - 300, `${accepted} of ${all.length} accepted`);
});
