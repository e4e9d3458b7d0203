/**
 * Tar as web streams, as BuildKit's differ writes it: tar headers (PAX
 * where needed), `TarStream` (entries → tar bytes), `UntarStream` (tar
 * bytes → entries, bounded and validated), timestamp clamping, file
 * inventories, and the layer sources that produce entries from a folder
 * (through a `FileSystem`, honouring `.dockerignore` patterns) or from files in memory.
 *
 * @example Tar two files held in memory
 * ```ts
 * import { memoryEntries, TarStream } from "@ocistream/ocistream/tar";
 * const tar = memoryEntries({ "a.txt": "a\n", "dir/b.txt": "b\n" }).pipeThrough(new TarStream());
 * const bytes = new Uint8Array(await new Response(tar).arrayBuffer());
 * if (bytes.byteLength % 512 !== 0) throw new Error("a tar is made of 512-byte blocks");
 * ```
 *
 * @module
 */
export * from "./src/stages/tar_header.ts";
export * from "./src/stages/tar_stream.ts";
export * from "./src/stages/untar_stream.ts";
export * from "./src/stages/clamp_timestamps_stream.ts";
export * from "./src/stages/file_inventory_stream.ts";
export * from "./src/sources/directory_source.ts";
export * from "./src/sources/memory_source.ts";
export * from "./src/sources/pattern_matcher.ts";
export * from "./src/sources/ignore_file.ts";
export * from "./src/types/tar_entry.ts";
export * from "./src/types/file_system.ts";
