/**
 * Enumerates every descriptor reachable from a root (index → manifests →
 * config and layers), as containerd's `images.Walk` with `ChildrenHandler`
 * does. Archives, `prune` and `verify` build on it.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { walkImage } from "@ocistream/ocistream/layout";
 * const source = { fetch: () => Promise.resolve(new Blob(["{}"]).stream()) };
 * const nodes = await walkImage(source, {
 *   mediaType: "application/vnd.oci.empty.v1+json",
 *   digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
 *   size: 2,
 * });
 * assertEquals([nodes.length, nodes[0]!.kind], [1, "blob"]);
 * ```
 * @module
 */
import type { ContentSource } from "../types/content.ts";
import type { Descriptor } from "../types/descriptor.ts";
import type { ImageIndex, ImageManifest } from "../types/manifest.ts";
import {
  DOCKER_CONFIG,
  isIndexMediaType,
  isManifestMediaType,
  OCI_CONFIG,
} from "../types/media_types.ts";
import { readJson } from "./read_json.ts";

/** What a reachable descriptor is. */
export type ImageNodeKind = "index" | "manifest" | "config" | "layer" | "blob";

/** One reachable descriptor. */
export interface ImageNode {
  /** The descriptor as its parent lists it. */
  descriptor: Descriptor;
  /** What it is. */
  kind: ImageNodeKind;
  /** The digest of the document that refers to it (absent for the root). */
  parent?: string;
}

/** Options of {@link walkImage}. */
export interface WalkImageOptions {
  /**
   * Decides whether to descend into an index child (e.g. only one platform);
   * skipped children and everything below them are left out.
   */
  filter?: (child: Descriptor, index: Descriptor) => boolean;
  /**
   * Called when a manifest or index cannot be read or parsed; the walk then
   * goes on without its children. Without it, the error is thrown.
   */
  onError?: (error: Error, node: ImageNode) => void;
}

/**
 * Returns every descriptor reachable from `root`, each digest once, parents
 * before children. Manifests and indexes are read (and verified) through
 * `source`; configs and layers are listed, not read. A manifest's `subject`
 * is not followed: it points back at another image.
 *
 * @example Count the layers of an image in a layout
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { OciLayout, walkImage } from "@ocistream/ocistream/layout";
 * import { denoFileSystem, nativeCodecs, createDenoEnvironment } from "@ocistream/ocistream/deno";
 * // A temporary folder of the environment's own, removed at the end.
 * const temp = await (await createDenoEnvironment({ openStore: false })).makeTempLayout!();
 * const dir = `${temp.layout.root}/work`;
 * await denoFileSystem.mkdir(dir);
 * const layout = await OciLayout.open(denoFileSystem, dir, nativeCodecs);
 * // A small image: a config, no layers, a manifest.
 * const put = async (mediaType: string, value: unknown) => {
 *   const bytes = new TextEncoder().encode(JSON.stringify(value));
 *   const hasher = await nativeCodecs.sha256();
 *   hasher.update(bytes);
 *   const d = { mediaType, digest: `sha256:${hasher.digestHex()}`, size: bytes.length };
 *   await layout.putBytes(bytes, d);
 *   return d;
 * };
 * const config = await put("application/vnd.oci.image.config.v1+json", {
 *   architecture: "arm64",
 *   os: "linux",
 *   rootfs: { type: "layers", diff_ids: [] },
 * });
 * const root = await put("application/vnd.oci.image.manifest.v1+json", {
 *   schemaVersion: 2,
 *   mediaType: "application/vnd.oci.image.manifest.v1+json",
 *   config,
 *   layers: [],
 * });
 * const layers = (await walkImage(layout, root)).filter((n) => n.kind === "layer");
 * assertEquals(layers.length, 0);
 * await temp.dispose();
 * ```
 */
export async function walkImage(
  source: ContentSource,
  root: Descriptor,
  options: WalkImageOptions = {},
): Promise<ImageNode[]> {
  const out: ImageNode[] = [];
  const seen = new Set<string>();
  const visit = async (node: ImageNode): Promise<void> => {
    if (seen.has(node.descriptor.digest)) return;
    seen.add(node.descriptor.digest);
    out.push(node);
    const { descriptor } = node;
    if (node.kind !== "index" && node.kind !== "manifest") return;
    let children: ImageNode[];
    try {
      children = node.kind === "index"
        ? await indexChildren(source, descriptor, options)
        : await manifestChildren(source, descriptor);
    } catch (e) {
      const error = e instanceof Error ? e : new Error(String(e));
      if (!options.onError) throw error;
      options.onError(error, node);
      return;
    }
    for (const child of children) await visit(child);
  };
  await visit({ descriptor: root, kind: kindOf(root) });
  return out;
}

/**
 * The kind of a descriptor judged by its media type alone.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { kindOf } from "@ocistream/ocistream/layout";
 * assertEquals(kindOf({ mediaType: "application/vnd.oci.image.index.v1+json", digest: "sha256:00", size: 1 }), "index");
 * ```
 */
export function kindOf(descriptor: Descriptor): ImageNodeKind {
  if (isIndexMediaType(descriptor.mediaType)) return "index";
  if (isManifestMediaType(descriptor.mediaType)) return "manifest";
  if (descriptor.mediaType === OCI_CONFIG || descriptor.mediaType === DOCKER_CONFIG) {
    return "config";
  }
  return "blob";
}

async function indexChildren(
  source: ContentSource,
  descriptor: Descriptor,
  options: WalkImageOptions,
): Promise<ImageNode[]> {
  const index = await readJson<ImageIndex>(source, descriptor);
  if (!Array.isArray(index.manifests)) {
    throw new SyntaxError(`Index ${descriptor.digest} has no manifests array`);
  }
  return index.manifests
    .filter((m) => options.filter?.(m, descriptor) ?? true)
    .map((m) => ({ descriptor: m, kind: kindOf(m), parent: descriptor.digest }));
}

async function manifestChildren(
  source: ContentSource,
  descriptor: Descriptor,
): Promise<ImageNode[]> {
  const manifest = await readJson<ImageManifest>(source, descriptor);
  if (typeof manifest.config?.digest !== "string" || !Array.isArray(manifest.layers)) {
    throw new SyntaxError(`Manifest ${descriptor.digest} has no config or no layers array`);
  }
  const parent = descriptor.digest;
  return [
    { descriptor: manifest.config, kind: "config" as const, parent },
    ...manifest.layers.map((l) => ({ descriptor: l, kind: "layer" as const, parent })),
  ];
}
