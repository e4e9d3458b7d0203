/**
 * Lists the regular files an image's layers leave behind (whiteouts applied),
 * with sizes and sha256, by streaming each layer once. Used for the SBOM of
 * base layers, whose files were not seen while building.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { listLayerFiles } from "@ocistream/ocistream/image";
 * import { OciLayout } from "@ocistream/ocistream/layout";
 * import { TarStream } from "@ocistream/ocistream/tar";
 * import { denoFileSystem, nativeCodecs, createDenoEnvironment } from "@ocistream/ocistream/deno";
 * // A temporary folder of the environment's own, removed at the end.
 * const temp = await (await createDenoEnvironment({ openStore: false })).makeTempLayout!();
 * const dir = `${temp.layout.root}/work`;
 * await denoFileSystem.mkdir(dir);
 * const source = await OciLayout.open(denoFileSystem, dir, nativeCodecs);
 * // A one-file uncompressed layer in the layout.
 * const tar = ReadableStream.from([
 *   { path: "hi.txt", type: "file" as const, mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 3,
 *     open: () => ReadableStream.from([new TextEncoder().encode("hi\n")]) },
 * ]).pipeThrough(new TarStream());
 * const bytes = new Uint8Array(await new Response(tar).arrayBuffer());
 * const hasher = await nativeCodecs.sha256();
 * hasher.update(bytes);
 * const layer = {
 *   mediaType: "application/vnd.oci.image.layer.v1.tar",
 *   digest: `sha256:${hasher.digestHex()}`,
 *   size: bytes.length,
 * };
 * await source.putBytes(bytes, layer);
 * const files = new Map();
 * await listLayerFiles(source, layer, nativeCodecs, files);
 * assertEquals([...files.keys()], ["hi.txt"]);
 * await temp.dispose();
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
const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/** The most files an SBOM lists across all base layers. */
export const MAX_SBOM_FILES = 1_000_000;

/** The most path characters an SBOM keeps across all base layers (paths are capped by the tar reader too). */
export const MAX_SBOM_PATH_CHARS = 256 * 1024 * 1024;

/**
 * Applies one layer's files and whiteouts to `files` (path → file, with the
 * layer digest). Whiteouts hide what lower layers left (OCI image spec),
 * applied in one pass over the files after the layer is read, so N files and
 * N whiteouts cost O(N · depth), not O(N²). When `diffId` is given, the
 * uncompressed bytes must hash to it (a base whose config lies is refused).
 */
export async function listLayerFiles(
  source: ContentSource,
  layer: Descriptor,
  codecs: Codecs,
  files: Map<string, InventoryFile & { layerDigest?: string }>,
  diffId?: string,
): Promise<void> {
  const compression = layerCompression(layer.mediaType);
  let tar = await source.fetch(layer);
  if (compression !== "uncompressed") tar = tar.pipeThrough(codecs.decompress(compression));
  const diff = await codecs.sha256();
  tar = tar.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        diff.update(chunk);
        controller.enqueue(chunk);
      },
    }),
  );
  const gone = new Set<string>();
  const opaque = new Set<string>();
  const added = new Map<string, InventoryFile & { layerDigest?: string }>();
  let pathChars = 0;
  for (const f of files.keys()) pathChars += f.length;
  for await (const entry of tar.pipeThrough(new UntarStream())) {
    const slash = entry.path.lastIndexOf("/");
    const dir = slash < 0 ? "" : entry.path.slice(0, slash);
    const base = entry.path.slice(slash + 1);
    if (base === OPAQUE) {
      opaque.add(dir);
    } else if (base.startsWith(WHITEOUT)) {
      gone.add((dir === "" ? "" : `${dir}/`) + base.slice(WHITEOUT.length));
    } else if (entry.type === "file" || entry.type === "hardlink") {
      let file: InventoryFile | undefined;
      if (entry.type === "file" && entry.size === 0) {
        await entry.body.cancel();
        file = { path: entry.path, size: 0, sha256: EMPTY_SHA256 };
      } else if (entry.type === "file") {
        const hasher = await codecs.sha256();
        let size = 0;
        for await (const chunk of entry.body) {
          hasher.update(chunk);
          size += chunk.byteLength;
        }
        file = { path: entry.path, size, sha256: hasher.digestHex() };
      } else {
        await entry.body.cancel();
        const target = entry.linkName &&
          (added.get(entry.linkName) ??
            (visible(entry.linkName) ? files.get(entry.linkName) : undefined));
        if (target) file = { ...target, path: entry.path };
      }
      if (file) {
        if (!added.has(entry.path)) pathChars += entry.path.length;
        added.set(entry.path, { ...file, path: entry.path, layerDigest: layer.digest });
        if (files.size + added.size > MAX_SBOM_FILES || pathChars > MAX_SBOM_PATH_CHARS) {
          throw new RangeError(
            `Cannot list the files of base layer ${layer.digest} for the SBOM: the base has ` +
              `more than ${MAX_SBOM_FILES} files or ${MAX_SBOM_PATH_CHARS} path characters`,
          );
        }
      }
      continue;
    }
    await entry.body.cancel();
  }
  const actual = `sha256:${diff.digestHex()}`;
  if (diffId !== undefined && actual !== diffId) {
    throw new Error(
      `Base layer ${layer.digest} decompresses to ${actual}, but the image config says ${diffId}: ` +
        "the base image is corrupt or was tampered with",
    );
  }
  // Whiteouts of this layer hide what the lower layers left: one pass, checking each ancestor.
  function visible(path: string): boolean {
    if (gone.size === 0 && opaque.size === 0) return true;
    if (gone.has(path)) return false;
    for (let i = path.lastIndexOf("/"); i > 0; i = path.lastIndexOf("/", i - 1)) {
      const parent = path.slice(0, i);
      if (gone.has(parent) || opaque.has(parent)) return false;
    }
    return !opaque.has("");
  }
  if (gone.size > 0 || opaque.size > 0) {
    for (const p of [...files.keys()]) if (!visible(p)) files.delete(p);
  }
  for (const [p, f] of added) files.set(p, f);
}
