/**
 * Image manifests and indexes (OCI image-spec; Docker schema2 uses the same shape).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import type { ImageManifest } from "@ocistream/ocistream/image";
 * const m: ImageManifest = {
 *   schemaVersion: 2,
 *   mediaType: "application/vnd.oci.image.manifest.v1+json",
 *   config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: "sha256:00", size: 2 },
 *   layers: [],
 * };
 * assertEquals(m.layers.length, 0);
 * ```
 * @module
 */
import type { Descriptor } from "./descriptor.ts";

/** An image manifest. */
export interface ImageManifest {
  /** Always 2. */
  schemaVersion: 2;
  /** The manifest's media type. */
  mediaType: string;
  /** Artifact type (OCI artifacts). */
  artifactType?: string;
  /** The config blob. */
  config: Descriptor;
  /** Layers, base first. */
  layers: Descriptor[];
  /** The manifest this one refers to (OCI artifacts). */
  subject?: Descriptor;
  /** Manifest annotations (OCI only). */
  annotations?: Record<string, string>;
}

/** An image index or Docker manifest list. */
export interface ImageIndex {
  /** Always 2. */
  schemaVersion: 2;
  /** The index's media type. */
  mediaType: string;
  /** Child manifests. */
  manifests: Descriptor[];
  /** Index annotations (OCI only). */
  annotations?: Record<string, string>;
}
