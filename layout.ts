/**
 * Where images are kept and how they move: the OCI image layout (the local
 * store is one), memory content, `oci-archive` and `docker-archive` tar
 * streams, copying between any content source and sink, walking an image's
 * graph, unpacking layers into a root filesystem, the layer cache, and
 * store maintenance (prune, verify). Portable: file access goes through a
 * `FileSystem` the runtime provides.
 *
 * @example Copy an image held in memory into another sink
 * ```ts
 * import { MemoryContent, copyImage } from "@ocistream/ocistream/layout";
 * import { buildManifest, encodeConfig, buildConfig } from "@ocistream/ocistream/image";
 * import { webCodecs } from "@ocistream/ocistream/stages";
 * const codecs = webCodecs;
 * const source = new MemoryContent(codecs);
 * const config = await encodeConfig(
 *   buildConfig({ platform: { os: "linux", architecture: "amd64" }, layers: [], epoch: 0 }),
 *   true,
 *   codecs,
 * );
 * await source.put(config.bytes, config.descriptor);
 * const manifest = await buildManifest({ oci: true, config: config.descriptor, layers: [], codecs });
 * await source.put(manifest.bytes, manifest.descriptor);
 * const target = new MemoryContent(codecs);
 * await copyImage(source, manifest.descriptor, target);
 * if (!(await target.hasBlob(config.descriptor.digest))) throw new Error("config not copied");
 * ```
 *
 * @module
 */
export * from "./src/sinks/oci_layout.ts";
export * from "./src/sinks/memory_content.ts";
export * from "./src/sinks/archive_stream.ts";
export * from "./src/sinks/unpack_layers.ts";
export * from "./src/sinks/put_bytes.ts";
export * from "./src/image/copy_image.ts";
export * from "./src/image/walk_image.ts";
export * from "./src/image/read_image.ts";
export * from "./src/image/store_maintenance.ts";
export * from "./src/exporter/layer_cache.ts";
export * from "./src/types/content.ts";
export * from "./src/types/file_system.ts";
