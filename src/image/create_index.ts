/**
 * Merges manifests and indexes into one index, as `docker buildx imagetools
 * create` does: indexes are flattened (their attestation manifests come along
 * and keep pointing at their image through `vnd.docker.reference.digest`), a
 * manifest without a platform gets the one its config names, duplicates are
 * merged, `index:` and `manifest-descriptor[PLATFORM]:` annotations are placed.
 * The list type follows the sources: Docker manifests make a Docker manifest
 * list, OCI manifests an OCI index; mixing them is an error unless
 * `ociMediaTypes` asks for an OCI index. The bytes are indented as buildx
 * writes them. Only small documents are read; no blob is touched.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { createIndex } from "@ocistream/ocistream";
 * import { OciLayout } from "@ocistream/ocistream/layout";
 * import { denoFileSystem, nativeCodecs, createDenoEnvironment } from "@ocistream/ocistream/deno";
 * // A temporary folder of the environment's own, removed at the end.
 * const temp = await (await createDenoEnvironment({ openStore: false })).makeTempLayout!();
 * const dir = `${temp.layout.root}/work`;
 * await denoFileSystem.mkdir(dir);
 * const layout = await OciLayout.open(denoFileSystem, dir, nativeCodecs);
 * const put = async (mediaType: string, value: unknown) => {
 *   const bytes = new TextEncoder().encode(JSON.stringify(value));
 *   const hasher = await nativeCodecs.sha256();
 *   hasher.update(bytes);
 *   const d = { mediaType, digest: `sha256:${hasher.digestHex()}`, size: bytes.length };
 *   await layout.putBytes(bytes, d);
 *   return d;
 * };
 * // Two one-platform images (a config, no layers), as `ocistream build` would leave them.
 * const image = async (architecture: string) =>
 *   await put("application/vnd.oci.image.manifest.v1+json", {
 *     schemaVersion: 2,
 *     mediaType: "application/vnd.oci.image.manifest.v1+json",
 *     config: await put("application/vnd.oci.image.config.v1+json", {
 *       architecture,
 *       os: "linux",
 *       rootfs: { type: "layers", diff_ids: [] },
 *     }),
 *     layers: [],
 *   });
 * const amd64Manifest = await image("amd64");
 * const arm64Manifest = await image("arm64");
 * const index = await createIndex([
 *   { source: layout, descriptor: amd64Manifest, name: "app:amd64" },
 *   { source: layout, descriptor: arm64Manifest, name: "app:arm64" },
 * ]);
 * await layout.putManifest(index.bytes, index.descriptor);
 * await layout.setNames(index.descriptor, ["app:1"]);
 * assertEquals(index.entries.map((e) => e.descriptor.platform?.architecture), ["amd64", "arm64"]);
 * await temp.dispose();
 * ```
 * @module
 */
import type { ContentSource } from "../types/content.ts";
import { type Descriptor, descriptor as canonical, type Platform } from "../types/descriptor.ts";
import type { ImageConfig } from "../types/config.ts";
import type { ImageIndex, ImageManifest } from "../types/manifest.ts";
import {
  DOCKER_INDEX,
  DOCKER_MANIFEST,
  isIndexMediaType,
  isManifestMediaType,
  OCI_INDEX,
} from "../types/media_types.ts";
import { formatPlatform, parsePlatform, samePlatform } from "../types/platform.ts";
import type { AnnotationSpec } from "../exporter/annotations.ts";
import { encodeJson } from "./canonical_json.ts";
import { readDocumentBytes, readJson } from "./read_json.ts";
import { type Sha256Codecs, sha256Digest } from "./manifest_builder.ts";
import { REFERENCE_DIGEST_ANNOTATION, REFERENCE_TYPE_ANNOTATION } from "./attestations.ts";

/** One source of {@linkcode createIndex}: a manifest or an index and where it is. */
export interface IndexSource {
  /** Reads it and (for a manifest without platform) its config. */
  source: ContentSource;
  /** Its descriptor (media type, digest, size; a platform is kept when given). */
  descriptor: Descriptor;
  /** How to name it in messages, e.g. `host/repo@sha256:…`. */
  name: string;
}

/** Options of {@linkcode createIndex}. */
export interface CreateIndexOptions {
  /** `index` and `manifest-descriptor` annotations (buildx's `--annotation`). */
  annotations?: AnnotationSpec[];
  /** Make an OCI index whatever the sources are (allows mixing Docker and OCI manifests). */
  ociMediaTypes?: boolean;
  /**
   * Keep only these platforms' manifests (and the attestation manifests of those); entries
   * without a platform stay. Default: all.
   */
  platforms?: Platform[];
  /** SHA-256 for the index digest (default Web Crypto or the portable one). */
  codecs?: Sha256Codecs;
}

/** A created index and where each of its entries comes from. */
export interface CreatedIndex {
  /** The index bytes (indented as buildx writes them). */
  bytes: Uint8Array;
  /** Its descriptor. */
  descriptor: Descriptor;
  /** Its entries, each with the source it comes from (what must be copied before pushing it). */
  entries: { descriptor: Descriptor; from: IndexSource }[];
}

/** Merges `sources` into one index (see the module documentation). */
export async function createIndex(
  sources: IndexSource[],
  options: CreateIndexOptions = {},
): Promise<CreatedIndex> {
  if (sources.length === 0) throw new TypeError("Cannot create an index of nothing: name sources");
  const entries: { descriptor: Descriptor; from: IndexSource }[] = [];
  const at = new Map<string, number>();
  const add = (d: Descriptor, from: IndexSource) => {
    const i = at.get(d.digest);
    if (i === undefined) {
      at.set(d.digest, entries.length);
      entries.push({ descriptor: { ...d }, from });
      return;
    }
    // As buildx merges: a later mention adds its platform and annotations and is the source.
    const old = entries[i]!.descriptor;
    if (d.platform) old.platform = d.platform;
    if (d.annotations) old.annotations = { ...old.annotations, ...d.annotations };
    entries[i]!.from = from;
  };
  for (const src of sources) {
    const d = src.descriptor;
    if (isIndexMediaType(d.mediaType)) {
      const index = await readJson<ImageIndex>(src.source, d);
      if (!Array.isArray(index.manifests)) {
        throw new TypeError(`${src.name} is an index without a manifests list`);
      }
      for (const child of index.manifests) {
        if (isIndexMediaType(child.mediaType)) {
          // Nested indexes are flattened too.
          const nested = await createIndex([{ ...src, descriptor: child }], {
            ...options,
            annotations: [],
          });
          for (const e of nested.entries) add(e.descriptor, e.from);
        } else add(child, src);
      }
    } else if (isManifestMediaType(d.mediaType)) {
      let platform = d.platform;
      if (!platform?.os || !platform.architecture) {
        const manifest = await readJson<ImageManifest>(src.source, d);
        if (!manifest.config) throw new TypeError(`${src.name} is not an image manifest`);
        const config = await readJson<ImageConfig>(src.source, manifest.config);
        if (!config.os || !config.architecture) {
          throw new TypeError(
            `${src.name}: its config names no os and architecture, so it has no platform in an index`,
          );
        }
        platform = parsePlatform(
          formatPlatform({
            os: config.os,
            architecture: config.architecture,
            variant: config.variant,
          }),
        );
      }
      add({ ...d, platform }, src);
    } else {
      throw new TypeError(
        `${src.name} is a ${d.mediaType}, not an image manifest or index: only those go in an index`,
      );
    }
  }

  // --platform: the matching images, their attestations, and entries without a platform.
  let filtered = false;
  if (options.platforms?.length) {
    const wanted = options.platforms;
    const matches = (d: Descriptor) =>
      !d.platform || wanted.some((p) => samePlatform(p, d.platform!));
    const kept = new Set(
      entries.filter((e) => !isAttestationEntry(e.descriptor) && matches(e.descriptor))
        .map((e) => e.descriptor.digest),
    );
    const before = entries.length;
    const keep = entries.filter((e) =>
      isAttestationEntry(e.descriptor)
        ? kept.has(e.descriptor.annotations![REFERENCE_DIGEST_ANNOTATION]!)
        : kept.has(e.descriptor.digest)
    );
    if (!keep.some((e) => !isAttestationEntry(e.descriptor))) {
      throw new TypeError(
        `None of the sources' manifests is for ${wanted.map(formatPlatform).join(", ")}`,
      );
    }
    entries.splice(0, entries.length, ...keep);
    filtered = entries.length !== before;
  }

  // A single index with nothing to change is kept byte for byte (buildx does the same).
  const annotations = options.annotations ?? [];
  const only = sources[0]!;
  if (
    !filtered && sources.length === 1 && annotations.length === 0 &&
    isIndexMediaType(only.descriptor.mediaType) &&
    !options.ociMediaTypes
  ) {
    const bytes = await readDocumentBytes(only.source, only.descriptor);
    return { bytes, descriptor: canonical({ ...only.descriptor, platform: undefined }), entries };
  }

  const mediaType = listType(entries, options.ociMediaTypes ?? false);
  const indexAnnotations: Record<string, string> = {};
  for (const a of annotations) {
    if (mediaType !== OCI_INDEX) {
      throw new TypeError(
        `Annotation ${
          JSON.stringify(a.source)
        } needs an OCI index, but the sources make a Docker manifest list: pass --oci-mediatypes`,
      );
    }
    if (a.type === "index") indexAnnotations[a.key] = a.value;
    else if (a.type === "manifest-descriptor") {
      for (const e of entries) {
        if (
          !a.platform || (e.descriptor.platform && samePlatform(a.platform, e.descriptor.platform))
        ) {
          e.descriptor.annotations = { ...e.descriptor.annotations, [a.key]: a.value };
        }
      }
    } else {
      throw new TypeError(
        `Annotation ${
          JSON.stringify(a.source)
        }: ${a.type} annotations cannot be set when merging existing images; use index: or manifest-descriptor[PLATFORM]:`,
      );
    }
  }
  const doc: ImageIndex = {
    schemaVersion: 2,
    mediaType,
    manifests: entries.map((e) => canonical(e.descriptor)),
  };
  if (Object.keys(indexAnnotations).length > 0) {
    doc.annotations = Object.fromEntries(
      Object.entries(indexAnnotations).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0),
    );
  }
  const bytes = encodeJson(doc, { indent: true });
  const digest = await sha256Digest(bytes, options.codecs ?? { sha256: defaultSha256 });
  return { bytes, descriptor: { mediaType, digest, size: bytes.byteLength }, entries };
}

/** Whether a descriptor is an attestation manifest of an image in the same index. */
export function isAttestationEntry(d: Descriptor): boolean {
  return d.annotations?.[REFERENCE_TYPE_ANNOTATION] === "attestation-manifest" &&
    d.annotations?.[REFERENCE_DIGEST_ANNOTATION] !== undefined;
}

function listType(entries: { descriptor: Descriptor; from: IndexSource }[], oci: boolean): string {
  if (oci) return OCI_INDEX;
  const images = entries.filter((e) => !isAttestationEntry(e.descriptor));
  const docker = images.filter((e) => e.descriptor.mediaType === DOCKER_MANIFEST);
  if (docker.length === 0) return OCI_INDEX;
  if (docker.length === images.length) {
    // Attestation manifests are OCI manifests: only an OCI index may list them.
    return images.length === entries.length ? DOCKER_INDEX : OCI_INDEX;
  }
  const oneOf = (list: typeof entries) => list[0]!.from.name;
  const ociOne = images.find((e) => e.descriptor.mediaType !== DOCKER_MANIFEST)!;
  throw new TypeError(
    `Cannot merge Docker and OCI manifests into one list (${
      oneOf(docker)
    } is Docker, ${ociOne.from.name} is OCI): pass --oci-mediatypes for an OCI index`,
  );
}

function defaultSha256() {
  return import("../edge/edge_codecs.ts").then((m) => m.edgeCodecs.sha256());
}
