/**
 * ocistream: export container images as BuildKit's `image` and `registry`
 * exporters do, from any runtime with web streams and `fetch`.
 *
 * This root module holds the calls most programs need: build an image from
 * files or layers ({@linkcode exportFiles}, {@linkcode exportImage}), copy
 * one ({@linkcode copyImage}), resolve one on a registry
 * ({@linkcode resolveImage}), read one's files ({@linkcode readImage}) and merge
 * per-platform images into an index ({@linkcode createIndex}), with their option and result types and errors.
 * It imports no `Deno` or `node:` API, so it runs in Deno, Node, Bun,
 * browsers and Cloudflare Workers. The rest lives in focused modules:
 *
 * - `@ocistream/ocistream/deno`: Deno's file system, native codecs, the local store
 * - `@ocistream/ocistream/registry`: the distribution client, auth, references
 * - `@ocistream/ocistream/layout`: OCI layouts, archives, the store's content, unpacking
 * - `@ocistream/ocistream/image`: manifests, indexes, configs, media types, platforms
 * - `@ocistream/ocistream/tar`: tar stages and layer sources
 * - `@ocistream/ocistream/stages`: digests, compression, eStargz
 * - `@ocistream/ocistream/attest`: SBOM, provenance and attestation manifests
 * - `@ocistream/ocistream/cli`: the `ocistream` command
 *
 * @example Build an image from files in memory and push it (any runtime)
 * ```ts ignore
 * import { exportFiles } from "@ocistream/ocistream";
 * const result = await exportFiles(
 *   { "index.html": "<h1>hi</h1>" },
 *   { type: "registry", name: "registry.example.com/site:1", compression: "gzip" },
 * );
 * console.log(result.digest);
 * ```
 *
 * @module
 */

export {
  type ExportedManifest,
  type ExportEnvironment,
  exportImage,
  type ExportResult,
  type ImageSpec,
  type LayerInput,
  type PlatformInput,
} from "./src/exporter/export_image.ts";
export { type OutputSpec, type OutputType, parseOutputSpec } from "./src/exporter/output_spec.ts";
export { type OutputOptions, outputSpec } from "./src/exporter/output_options.ts";
export type { ProgressEvent, ProgressListener } from "./src/exporter/progress.ts";
export { exportFiles, type ExportFilesOptions } from "./src/edge/export_files.ts";
export { createEdgeEnvironment, type EdgeEnvironmentOptions } from "./src/edge/edge.ts";
export { memoryEntries, type MemoryFile, type MemoryFiles } from "./src/sources/memory_source.ts";
export type { ConfigOverrides } from "./src/image/config_builder.ts";
export type { Descriptor, Platform } from "./src/types/descriptor.ts";
export { parsePlatform } from "./src/types/platform.ts";
export { parseReference, type Reference } from "./src/types/reference.ts";
export { copyImage, type CopyImageOptions, type CopyImageResult } from "./src/image/copy_image.ts";
export { createIndex, type CreateIndexOptions } from "./src/image/create_index.ts";
export { type ResolvedImage, resolveImage } from "./src/registry/resolve_image.ts";
export {
  type ImageFile,
  type ImageReader,
  readImage,
  type ReadImageOptions,
} from "./src/image/read_image.ts";
export { RegistryError } from "./src/registry/registry_error.ts";
export { DigestMismatchError } from "./src/stages/verify_digest_stream.ts";
