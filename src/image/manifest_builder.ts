/**
 * Builds image manifests and indexes as BuildKit writes them (SPEC §3, §4), in
 * the field order of image-spec v1.1's Go structs:
 * `schemaVersion, mediaType, artifactType, config, layers, subject, annotations`
 * for manifests and `schemaVersion, mediaType, manifests, annotations` for
 * indexes, indented with two spaces, descriptors in canonical key order and
 * annotations sorted, so the same input always gives the same bytes.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildManifest } from "@ocistream/ocistream/image";
 * import { createSHA256 } from "hash-wasm";
 * const codecs = {
 *   sha256: async () => {
 *     const h = await createSHA256();
 *     return { update: (d: Uint8Array) => void h.update(d), digestHex: () => h.digest("hex") };
 *   },
 * };
 * const config = { mediaType: "application/vnd.oci.image.config.v1+json", digest: "sha256:" + "0".repeat(64), size: 2 };
 * const { descriptor } = await buildManifest({ oci: true, config, layers: [], codecs });
 * assertEquals(descriptor.mediaType, "application/vnd.oci.image.manifest.v1+json");
 * ```
 * @module
 */
import type { Codecs } from "../types/codecs.ts";
import {
  type Descriptor,
  descriptor as canonicalDescriptor,
  type Platform,
  sortedRecord,
} from "../types/descriptor.ts";
import type { ImageIndex, ImageManifest } from "../types/manifest.ts";
import { indexMediaType, manifestMediaType } from "../types/media_types.ts";
import { encodeJson } from "./canonical_json.ts";

/** The hashing part of {@link Codecs} the builders need. */
export type Sha256Codecs = Pick<Codecs, "sha256">;

/** Options for {@link buildManifest}. */
export interface BuildManifestOptions {
  /** OCI (true) or Docker schema2 (false) media types. */
  oci: boolean;
  /** The config blob. */
  config: Descriptor;
  /** Layers, base first. */
  layers: Descriptor[];
  /** Manifest annotations (Docker manifests carry them too, as BuildKit writes them). */
  annotations?: Record<string, string>;
  /** Artifact type (OCI only). */
  artifactType?: string;
  /** The manifest this one refers to (OCI only). */
  subject?: Descriptor;
  /** Annotations for the returned descriptor (OCI only). */
  descriptorAnnotations?: Record<string, string>;
  /** Platform for the returned descriptor (its entry in an index). */
  platform?: Platform;
  /** Hashing. */
  codecs: Sha256Codecs;
}

/** Options for {@link buildIndex}. */
export interface BuildIndexOptions {
  /** OCI (true) or Docker manifest list (false). */
  oci: boolean;
  /** Child manifest descriptors, in order. */
  manifests: Descriptor[];
  /** Index annotations (OCI only). */
  annotations?: Record<string, string>;
  /** Annotations for the returned (root) descriptor (OCI only). */
  descriptorAnnotations?: Record<string, string>;
  /** Hashing. */
  codecs: Sha256Codecs;
}

/** A built document: the object, its exact bytes, and its descriptor. */
export interface BuiltDocument<T> {
  /** The document as written. */
  manifest: T;
  /** Its bytes (what gets stored and hashed). */
  bytes: Uint8Array;
  /** Its descriptor. */
  descriptor: Descriptor;
}

// Layer annotations that are bookkeeping of stores, never exported (as BuildKit does).
const INTERNAL_ANNOTATIONS = new Set(["containerd.io/uncompressed", "buildkit/createdat"]);

function exportedAnnotations(a: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(a ?? {})) {
    if (INTERNAL_ANNOTATIONS.has(k) || k.startsWith("containerd.io/distribution.source.")) continue;
    out[k] = v;
  }
  return out;
}

function nonEmpty(a: Record<string, string> | undefined): a is Record<string, string> {
  return a !== undefined && Object.keys(a).length > 0;
}

function dockerRefuses(what: string): never {
  throw new TypeError(
    `Docker media types cannot carry ${what}: use oci-mediatypes=true (or drop the ${what})`,
  );
}

/**
 * SHA-256 digest of bytes as `sha256:<hex>`. Uses Web Crypto where the runtime has it (native
 * everywhere, nothing to load for a few JSON documents), else `codecs`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { sha256Digest } from "@ocistream/ocistream/image";
 * import { webCodecs } from "@ocistream/ocistream/stages";
 * assertEquals(await sha256Digest(new Uint8Array(0), webCodecs), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
 * ```
 */
export async function sha256Digest(bytes: Uint8Array, codecs: Sha256Codecs): Promise<string> {
  const web = webSha256Digest(bytes);
  if (web) return await web;
  const hasher = await codecs.sha256();
  hasher.update(bytes);
  return `sha256:${hasher.digestHex()}`;
}

/**
 * SHA-256 digest of bytes through Web Crypto, or `undefined` in a runtime without it.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { webSha256Digest } from "@ocistream/ocistream/image";
 * assertEquals((await webSha256Digest(new Uint8Array(0)))?.slice(0, 15), "sha256:e3b0c442");
 * ```
 */
export function webSha256Digest(bytes: Uint8Array): Promise<string> | undefined {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) return undefined;
  return subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>).then((digest) => {
    let hex = "";
    for (const byte of new Uint8Array(digest)) hex += byte.toString(16).padStart(2, "0");
    return `sha256:${hex}`;
  });
}

/**
 * Builds an image manifest. Docker media types with descriptor annotations,
 * `artifactType` or `subject` are a `TypeError` (manifest annotations are kept); layer
 * annotations are dropped for Docker and internal ones always (as BuildKit does).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildManifest } from "@ocistream/ocistream/image";
 * import { createSHA256 } from "hash-wasm";
 * const codecs = {
 *   sha256: async () => {
 *     const h = await createSHA256();
 *     return { update: (d: Uint8Array) => void h.update(d), digestHex: () => h.digest("hex") };
 *   },
 * };
 * const config = { mediaType: "application/vnd.docker.container.image.v1+json", digest: "sha256:" + "0".repeat(64), size: 2 };
 * const built = await buildManifest({ oci: false, config, layers: [], codecs });
 * assertEquals(built.manifest.mediaType, "application/vnd.docker.distribution.manifest.v2+json");
 * ```
 */
export async function buildManifest(
  options: BuildManifestOptions,
): Promise<BuiltDocument<ImageManifest>> {
  const { oci } = options;
  if (!oci) {
    if (nonEmpty(options.descriptorAnnotations)) dockerRefuses("descriptor annotations");
    if (options.artifactType !== undefined) dockerRefuses("an artifactType");
    if (options.subject !== undefined) dockerRefuses("a subject");
  }
  const mediaType = manifestMediaType(oci);
  const manifest = { schemaVersion: 2, mediaType } as ImageManifest;
  if (options.artifactType !== undefined) manifest.artifactType = options.artifactType;
  const c = options.config;
  manifest.config = canonicalDescriptor({
    mediaType: c.mediaType,
    digest: c.digest,
    size: c.size,
    annotations: oci ? c.annotations : undefined,
    data: c.data,
  });
  manifest.layers = options.layers.map((l) =>
    canonicalDescriptor({
      mediaType: l.mediaType,
      digest: l.digest,
      size: l.size,
      urls: l.urls,
      annotations: oci ? exportedAnnotations(l.annotations) : undefined,
    })
  );
  if (options.subject !== undefined) {
    const s = options.subject;
    manifest.subject = canonicalDescriptor({
      mediaType: s.mediaType,
      digest: s.digest,
      size: s.size,
    });
  }
  if (nonEmpty(options.annotations)) manifest.annotations = sortedRecord(options.annotations);
  const bytes = encodeJson(manifest, { indent: true });
  const descriptor = canonicalDescriptor({
    mediaType,
    digest: await sha256Digest(bytes, options.codecs),
    size: bytes.byteLength,
    artifactType: options.artifactType,
    annotations: options.descriptorAnnotations,
    platform: options.platform,
  });
  return { manifest, bytes, descriptor };
}

/**
 * Builds an image index (OCI) or manifest list (Docker). Docker media types
 * with index annotations or annotated child descriptors are a `TypeError`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildIndex } from "@ocistream/ocistream/image";
 * import { createSHA256 } from "hash-wasm";
 * const codecs = {
 *   sha256: async () => {
 *     const h = await createSHA256();
 *     return { update: (d: Uint8Array) => void h.update(d), digestHex: () => h.digest("hex") };
 *   },
 * };
 * const child = {
 *   mediaType: "application/vnd.oci.image.manifest.v1+json",
 *   digest: "sha256:" + "1".repeat(64),
 *   size: 400,
 *   platform: { os: "linux", architecture: "amd64" },
 * };
 * const built = await buildIndex({ oci: true, manifests: [child], annotations: { k: "v" }, codecs });
 * assertEquals([built.manifest.manifests.length, built.descriptor.mediaType], [1, "application/vnd.oci.image.index.v1+json"]);
 * ```
 */
export async function buildIndex(options: BuildIndexOptions): Promise<BuiltDocument<ImageIndex>> {
  const { oci } = options;
  if (!oci) {
    if (nonEmpty(options.annotations)) dockerRefuses("index annotations");
    if (nonEmpty(options.descriptorAnnotations)) dockerRefuses("descriptor annotations");
    const annotated = options.manifests.find((m) => nonEmpty(m.annotations));
    if (annotated) dockerRefuses(`annotations on the manifest descriptor ${annotated.digest}`);
  }
  const mediaType = indexMediaType(oci);
  const index: ImageIndex = {
    schemaVersion: 2,
    mediaType,
    manifests: options.manifests.map((m) => canonicalDescriptor(m)),
  } as ImageIndex;
  if (nonEmpty(options.annotations)) index.annotations = sortedRecord(options.annotations);
  const bytes = encodeJson(index, { indent: true });
  const descriptor = canonicalDescriptor({
    mediaType,
    digest: await sha256Digest(bytes, options.codecs),
    size: bytes.byteLength,
    annotations: options.descriptorAnnotations,
  });
  return { manifest: index, bytes, descriptor };
}
