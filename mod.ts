/**
 * ocistream: export container images as BuildKit's `image` and `registry`
 * exporters do, from any runtime with web streams and `fetch`.
 *
 * This entry point is the portable core: it imports no `Deno` or `node:` API,
 * so it runs in Deno, Node, Bun, browsers and Cloudflare Workers. Deno's file
 * system, native codecs and the local store live in `@ocistream/ocistream/deno`.
 *
 * @example Build an image from files in memory and push it (any runtime)
 * ```ts ignore
 * import { exportFiles } from "@ocistream/ocistream";
 * const result = await exportFiles(
 *   { "index.html": "<h1>hi</h1>" },
 *   "type=registry,name=registry.example.com/site:1,compression=gzip",
 * );
 * console.log(result.digest);
 * ```
 *
 * @module
 */

// Data types, media types, references and platforms.
export * from "./src/types/media_types.ts";
export * from "./src/types/descriptor.ts";
export * from "./src/types/platform.ts";
export * from "./src/types/manifest.ts";
export * from "./src/types/config.ts";
export * from "./src/types/tar_entry.ts";
export * from "./src/types/file_system.ts";
export * from "./src/types/codecs.ts";
export * from "./src/types/content.ts";
export * from "./src/types/reference.ts";

// Stream stages.
export * from "./src/stages/tar_header.ts";
export * from "./src/stages/tar_stream.ts";
export * from "./src/stages/untar_stream.ts";
export * from "./src/stages/digest_stream.ts";
export * from "./src/stages/verify_digest_stream.ts";
export * from "./src/stages/count_stream.ts";
export * from "./src/stages/clamp_timestamps_stream.ts";
export * from "./src/stages/file_inventory_stream.ts";
export * from "./src/stages/estargz_stream.ts";
export * from "./src/stages/layer_encoder.ts";
export * from "./src/stages/web_codecs.ts";

// Sources of layers.
export * from "./src/sources/directory_source.ts";
export * from "./src/sources/memory_source.ts";
export * from "./src/sources/pattern_matcher.ts";
export * from "./src/sources/ignore_file.ts";

// The image model: documents, base images, copying, attestations.
export * from "./src/image/canonical_json.ts";
export * from "./src/image/read_json.ts";
export * from "./src/image/config_builder.ts";
export * from "./src/image/manifest_builder.ts";
export * from "./src/image/base_image.ts";
export * from "./src/image/copy_image.ts";
export * from "./src/image/create_index.ts";
export * from "./src/image/read_image.ts";
export * from "./src/image/walk_image.ts";
export * from "./src/image/layer_files.ts";
export * from "./src/image/attestations.ts";
export * from "./src/image/sbom.ts";
export * from "./src/image/provenance.ts";
export * from "./src/image/store_maintenance.ts";

// Sinks: layouts, archives, unpack, registries, memory.
export * from "./src/sinks/oci_layout.ts";
export * from "./src/sinks/memory_content.ts";
export * from "./src/sinks/archive_stream.ts";
export * from "./src/sinks/unpack_layers.ts";
export * from "./src/sinks/registry_repository.ts";
export * from "./src/sinks/registry_repositories.ts";

// The distribution client.
export * from "./src/registry/registry_client.ts";
export * from "./src/registry/registry_error.ts";
export * from "./src/registry/credentials.ts";
export * from "./src/registry/resolve_image.ts";
export * from "./src/registry/redact.ts";
export * from "./src/registry/retry_options.ts";
export * from "./src/registry/timeouts.ts";

// The exporter: output specs, annotations, the orchestrator.
export * from "./src/exporter/output_spec.ts";
export * from "./src/exporter/annotations.ts";
export * from "./src/exporter/progress.ts";
export * from "./src/exporter/attest.ts";
export * from "./src/exporter/export_image.ts";
export * from "./src/exporter/layer_cache.ts";
export * from "./src/exporter/layer_spec.ts";

// Edge runtimes: an environment with web codecs and registry access only.
export * from "./src/edge/edge.ts";
export * from "./src/edge/edge_codecs.ts";
export * from "./src/edge/export_files.ts";
