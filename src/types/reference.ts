/**
 * Image references: `[registry/]repository[:tag][@digest]`, with Docker Hub
 * normalisation (SPEC §8).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseReference } from "@ocistream/ocistream";
 * const ref = parseReference("alpine:3");
 * assertEquals(ref, {
 *   registry: "docker.io",
 *   host: "registry-1.docker.io",
 *   repository: "library/alpine",
 *   tag: "3",
 * });
 * ```
 * @module
 */
import { quote } from "./quote.ts";

/** A parsed image reference. */
export interface Reference {
  /**
   * The registry as image names write it (and as credentials and stores key it): a host and
   * port, `docker.io` for Docker Hub. Connect to {@linkcode Reference.host}, not to this.
   */
  registry: string;
  /** The host (and port) to connect to: `registry`, but `registry-1.docker.io` for Docker Hub. */
  host: string;
  /** Repository path, `library/` added for Docker Hub official images. */
  repository: string;
  /** Tag, if any. */
  tag?: string;
  /** Digest, if any. */
  digest?: string;
}

const COMPONENT = "[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*";
const REPOSITORY_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG_RE = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;
const HOST_RE =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$/;

/** Docker Hub's canonical registry name. */
export const DOCKER_HUB = "docker.io";

/** Whether `tag` is a valid tag. */
export function isValidTag(tag: string): boolean {
  return TAG_RE.test(tag);
}

/** Whether `digest` is a valid sha256 digest. */
export function isValidDigest(digest: string): boolean {
  return DIGEST_RE.test(digest);
}

/** Parses a reference; throws a `TypeError` that says what is wrong. */
export function parseReference(text: string): Reference {
  const fail = (why: string): never => {
    // JSON quoting keeps hostile names (line breaks, control characters) on one line.
    throw new TypeError(`Invalid image name ${quote(text)}: ${why}`);
  };
  if (text === "") fail("it is empty");
  // As Docker's parser: a bare 64-digit hex string is an image ID, never a name.
  if (/^[a-f0-9]{64}$/.test(text)) {
    fail("64 hex digits alone are an image ID, not a name: give a repository name");
  }
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest)) fail("the digest must be sha256: followed by 64 hex digits");
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf("/");
  const colon = rest.lastIndexOf(":");
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) {
      fail("a tag is up to 128 letters, digits, '_', '.' or '-' and cannot start with '.' or '-'");
    }
  }
  let registry = DOCKER_HUB;
  let repository = rest;
  const slash = rest.indexOf("/");
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (
      first.includes(".") || first.includes(":") || first === "localhost" || /[A-Z]/.test(first)
    ) {
      registry = first;
      repository = rest.slice(slash + 1);
      if (!HOST_RE.test(registry)) fail(`${quote(registry)} is not a valid registry host`);
    }
  }
  if (registry === "index.docker.io" || registry === "registry-1.docker.io") registry = DOCKER_HUB;
  if (!REPOSITORY_RE.test(repository)) {
    fail(
      "a repository is lowercase letters and digits, separated by '.', '_', '__', '-' or '/' (no uppercase, no leading or trailing separator)",
    );
  }
  if (registry === DOCKER_HUB && !repository.includes("/")) repository = `library/${repository}`;
  if (repository.length > 255) fail("the repository is longer than 255 characters");
  const ref: Reference = { registry, host: hostOf(registry), repository };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/**
 * The host to connect to for a reference: `ref.host`. For a reference put together by hand
 * with only `registry`, its host (`registry-1.docker.io` for Docker Hub).
 */
export function registryHost(ref: Pick<Reference, "registry"> & { host?: string }): string {
  return ref.host ?? hostOf(ref.registry);
}

function hostOf(registry: string): string {
  return registry === DOCKER_HUB ? "registry-1.docker.io" : registry;
}

/** The full name without tag or digest, e.g. `docker.io/library/alpine`. */
export function repositoryName(ref: Reference): string {
  return `${ref.registry}/${ref.repository}`;
}

/** Formats the reference in full form, e.g. `docker.io/library/alpine:3`. */
export function formatReference(ref: Reference): string {
  let s = repositoryName(ref);
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

/** The same reference with `latest` as tag when it has neither tag nor digest. */
export function withDefaultTag(ref: Reference): Reference {
  return ref.tag === undefined && ref.digest === undefined ? { ...ref, tag: "latest" } : ref;
}
