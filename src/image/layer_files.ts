/**
 * Lists the regular files an image's layers leave behind (whiteouts applied),
 * with sizes and sha256, by streaming each layer once. Used for the SBOM of
 * base layers, whose files were not seen while building.
 *
 * @example
 * ```ts ignore
 * import { listLayerFiles } from "./layer_files.ts";
 * const files = new Map();
 * await listLayerFiles(source, base.manifest.layers[0], codecs, files);
 * ```
 * @module
 */
import type { Codecs } from "../types/codecs.ts";
import type { ContentSource } from "../types/content.ts";
import type { Descriptor } from "../types/descriptor.ts";
import { layerCompression } from "../types/media_types.ts";
import { UntarStream } from "../stages/untar_stream.ts";
import type { InventoryFile } from "../stages/file_inventory_stream.ts";

const WHITEOUT = ".wh.";
const OPAQUE = ".wh..wh..opq";

/** Applies one layer's files and whiteouts to `files` (path → file, with the layer digest). */
export async function listLayerFiles(
  source: ContentSource,
  layer: Descriptor,
  codecs: Codecs,
  files: Map<string, InventoryFile & { layerDigest?: string }>,
): Promise<void> {
  const compression = layerCompression(layer.mediaType);
  let tar = await source.fetch(layer);
  if (compression !== "uncompressed") tar = tar.pipeThrough(codecs.decompress(compression));
  for await (const entry of tar.pipeThrough(new UntarStream())) {
    const slash = entry.path.lastIndexOf("/");
    const dir = slash < 0 ? "" : entry.path.slice(0, slash + 1);
    const base = entry.path.slice(slash + 1);
    if (base === OPAQUE) {
      for (const p of files.keys()) if (p.startsWith(dir)) files.delete(p);
    } else if (base.startsWith(WHITEOUT)) {
      const gone = dir + base.slice(WHITEOUT.length);
      for (const p of files.keys()) if (p === gone || p.startsWith(`${gone}/`)) files.delete(p);
    } else if (entry.type === "file") {
      const hasher = await codecs.sha256();
      let size = 0;
      for await (const chunk of entry.body) {
        hasher.update(chunk);
        size += chunk.byteLength;
      }
      files.set(entry.path, {
        path: entry.path,
        size,
        sha256: hasher.digestHex(),
        layerDigest: layer.digest,
      });
      continue;
    } else if (entry.type === "hardlink" && entry.linkName && files.has(entry.linkName)) {
      files.set(entry.path, {
        ...files.get(entry.linkName)!,
        path: entry.path,
        layerDigest: layer.digest,
      });
    }
    await entry.body.cancel();
  }
}
