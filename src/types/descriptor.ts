/**
 * Content descriptors and platforms (OCI image-spec `descriptor.md`).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import type { Descriptor } from "@ocistream/ocistream";
 * const d: Descriptor = { mediaType: "application/vnd.oci.empty.v1+json", digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", size: 2 };
 * assertEquals(d.size, new TextEncoder().encode("{}").length);
 * ```
 * @module
 */

/** A platform: `linux/amd64`, `linux/arm/v7`, ... */
export interface Platform {
  /** CPU architecture, GOARCH style. */
  architecture: string;
  /** Operating system, GOOS style. */
  os: string;
  /** CPU variant such as `v7`. */
  variant?: string;
  /** OS version (Windows). */
  "os.version"?: string;
  /** OS features (Windows). */
  "os.features"?: string[];
}

/** Points at content by digest. */
export interface Descriptor {
  /** Media type of the referenced content. */
  mediaType: string;
  /** `sha256:<hex>` of the content. */
  digest: string;
  /** Size in bytes. */
  size: number;
  /** Artifact type, for artifact manifests. */
  artifactType?: string;
  /** Annotations on the descriptor. */
  annotations?: Record<string, string>;
  /** Platform, in an index. */
  platform?: Platform;
  /** Alternative download locations. */
  urls?: string[];
  /** The content itself, base64 (image-spec v1.1), e.g. `e30=` in the empty descriptor. */
  data?: string;
}

/** Builds a descriptor with keys in the canonical order used in every document we write. */
export function descriptor(d: Descriptor): Descriptor {
  // Go's field order (image-spec v1.1 v1.Descriptor: mediaType, digest, size, urls,
  // annotations, data, platform, artifactType), so our bytes match BuildKit's.
  const out: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (d.urls !== undefined) out.urls = d.urls;
  if (d.annotations !== undefined && Object.keys(d.annotations).length > 0) {
    out.annotations = sortedRecord(d.annotations);
  }
  if (d.data !== undefined && d.data !== "") out.data = d.data;
  if (d.platform !== undefined) out.platform = platformObject(d.platform);
  if (d.artifactType !== undefined) out.artifactType = d.artifactType;
  return out;
}

/** A platform object with keys in canonical order and empty fields dropped. */
export function platformObject(p: Platform): Platform {
  const out: Platform = { architecture: p.architecture, os: p.os };
  if (p["os.version"]) out["os.version"] = p["os.version"];
  if (p["os.features"]?.length) out["os.features"] = p["os.features"];
  if (p.variant) out.variant = p.variant;
  return out;
}

/** A copy of a string record with its keys sorted, for stable JSON. */
export function sortedRecord(r: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(r).sort()) out[k] = r[k]!;
  return out;
}
