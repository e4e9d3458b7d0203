/**
 * Media types for OCI and Docker schema2 images (SPEC §3).
 *
 * @example Pick the layer media type for a compression
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { layerMediaType } from "@ocistream/ocistream/image";
 * assertEquals(layerMediaType("zstd", true), "application/vnd.oci.image.layer.v1.tar+zstd");
 * ```
 * @module
 */

/** The compressions a new layer can have. */
export type Compression = "uncompressed" | "gzip" | "estargz" | "zstd";

/** OCI image manifest. */
export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
/** OCI image index. */
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
/** OCI image config. */
export const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
/** OCI uncompressed layer. */
export const OCI_LAYER = "application/vnd.oci.image.layer.v1.tar";
/** OCI gzip layer (also eStargz). */
export const OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip";
/** OCI zstd layer. */
export const OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd";
/** The OCI empty descriptor's media type (`{}`). */
export const OCI_EMPTY = "application/vnd.oci.empty.v1+json";

/** Docker schema2 manifest. */
export const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
/** Docker manifest list. */
export const DOCKER_INDEX = "application/vnd.docker.distribution.manifest.list.v2+json";
/** Docker image config. */
export const DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json";
/** Docker uncompressed layer. */
export const DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar";
/** Docker gzip layer. */
export const DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/** Docker zstd layer (not accepted by many clients). */
export const DOCKER_LAYER_ZSTD = "application/vnd.docker.image.rootfs.diff.tar.zstd";

/** In-toto attestation layer. */
export const IN_TOTO = "application/vnd.in-toto+json";
/** Artifact type of an attestation manifest in the OCI artifact form. */
export const ATTESTATION_ARTIFACT = "application/vnd.docker.attestation.manifest.v1+json";

/** Media type of an image manifest in the chosen family. */
export function manifestMediaType(oci: boolean): string {
  return oci ? OCI_MANIFEST : DOCKER_MANIFEST;
}

/** Media type of an index in the chosen family. */
export function indexMediaType(oci: boolean): string {
  return oci ? OCI_INDEX : DOCKER_INDEX;
}

/** Media type of an image config in the chosen family. */
export function configMediaType(oci: boolean): string {
  return oci ? OCI_CONFIG : DOCKER_CONFIG;
}

/** Media type of a layer with the given compression in the chosen family. */
export function layerMediaType(compression: Compression, oci: boolean): string {
  switch (compression) {
    case "uncompressed":
      return oci ? OCI_LAYER : DOCKER_LAYER;
    case "gzip":
    case "estargz":
      return oci ? OCI_LAYER_GZIP : DOCKER_LAYER_GZIP;
    case "zstd":
      return oci ? OCI_LAYER_ZSTD : DOCKER_LAYER_ZSTD;
  }
}

/** The compression a layer media type names (`estargz` is reported as `gzip`). */
export function layerCompression(mediaType: string): Exclude<Compression, "estargz"> {
  if (mediaType.endsWith("+gzip") || mediaType.endsWith(".tar.gzip")) return "gzip";
  if (mediaType.endsWith("+zstd") || mediaType.endsWith(".tar.zstd")) return "zstd";
  if (mediaType.endsWith(".tar") || mediaType.endsWith("nondistributable.v1.tar")) {
    return "uncompressed";
  }
  throw new TypeError(`Cannot tell the compression of layer media type ${mediaType}`);
}

/** Whether a media type is an image index (OCI or Docker). */
export function isIndexMediaType(mediaType: string): boolean {
  return mediaType === OCI_INDEX || mediaType === DOCKER_INDEX;
}

/** Whether a media type is an image manifest (OCI or Docker). */
export function isManifestMediaType(mediaType: string): boolean {
  return mediaType === OCI_MANIFEST || mediaType === DOCKER_MANIFEST;
}
