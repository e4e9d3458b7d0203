/**
 * The image model: media types, descriptors, platforms, manifests, indexes
 * and configs; building them byte for byte as BuildKit does (canonical
 * JSON, history, annotations), reading them back bounded, base images,
 * merging per-platform images into one index, and output specs.
 *
 * @example Build a config and its manifest
 * ```ts
 * import { buildConfig, buildManifest, encodeConfig } from "@ocistream/ocistream/image";
 * import { webCodecs } from "@ocistream/ocistream/stages";
 * const codecs = webCodecs;
 * const config = await encodeConfig(
 *   buildConfig({ platform: { os: "linux", architecture: "arm64" }, layers: [], epoch: 0 }),
 *   true,
 *   codecs,
 * );
 * const manifest = await buildManifest({ oci: true, config: config.descriptor, layers: [], codecs });
 * if (manifest.descriptor.size !== manifest.bytes.byteLength) throw new Error("size mismatch");
 * ```
 *
 * @module
 */
export * from "./src/types/media_types.ts";
export * from "./src/types/descriptor.ts";
export * from "./src/types/platform.ts";
export * from "./src/types/manifest.ts";
export * from "./src/types/config.ts";
export * from "./src/image/canonical_json.ts";
export * from "./src/image/read_json.ts";
export * from "./src/image/config_builder.ts";
export * from "./src/image/manifest_builder.ts";
export * from "./src/image/base_image.ts";
export * from "./src/image/create_index.ts";
export * from "./src/image/layer_files.ts";
export * from "./src/exporter/output_spec.ts";
export * from "./src/exporter/output_options.ts";
export * from "./src/exporter/check_image_spec.ts";
export * from "./src/exporter/layer_spec.ts";
export * from "./src/exporter/annotations.ts";
export * from "./src/exporter/progress.ts";
