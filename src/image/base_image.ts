/**
 * Base images: the manifest, config and layers an export builds on, chosen
 * for one platform from whatever source holds them (store, OCI layout,
 * registry).
 *
 * @example Pick the linux/arm64 manifest of a layout's index
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { selectPlatformImage } from "@ocistream/ocistream/image";
 * import { OciLayout } from "@ocistream/ocistream/layout";
 * import { createDenoEnvironment, denoFileSystem, nativeCodecs } from "@ocistream/ocistream/deno";
 * // A temporary folder of the environment's own, removed at the end.
 * const temp = await (await createDenoEnvironment({ openStore: false })).makeTempLayout!();
 * const dir = temp.layout.root;
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
 * const platform = { os: "linux", architecture: "arm64" };
 * const base = await selectPlatformImage(layout, root, platform, `oci-layout://${dir}`);
 * assertEquals(base.config.architecture, "arm64");
 * await temp.dispose();
 * ```
 * @module
 */
import type { ImageConfig } from "../types/config.ts";
import type { ContentSource } from "../types/content.ts";
import type { Descriptor, Platform } from "../types/descriptor.ts";
import type { ImageIndex, ImageManifest } from "../types/manifest.ts";
import { isIndexMediaType, isManifestMediaType } from "../types/media_types.ts";
import { formatPlatform, samePlatform } from "../types/platform.ts";
import { readJson } from "./read_json.ts";

/** A base image resolved for one platform. */
export interface BaseImage {
  /** The reference the user gave, for messages and provenance. */
  name: string;
  /** Where its blobs come from. */
  source: ContentSource;
  /** Descriptor of the chosen platform manifest. */
  descriptor: Descriptor;
  /** The platform manifest. */
  manifest: ImageManifest;
  /** Its config. */
  config: ImageConfig;
  /**
   * Where a registry base lives (`host` as connected to, e.g. `registry-1.docker.io`):
   * pushes to that registry mount its layers instead of moving their bytes.
   */
  origin?: { host: string; repository: string };
}

/**
 * Resolves `root` (a manifest or an index) to the image for `platform`.
 * A single manifest must match the platform too, as BuildKit requires.
 */
export async function selectPlatformImage(
  source: ContentSource,
  root: Descriptor,
  platform: Platform,
  name: string,
): Promise<BaseImage> {
  let descriptor = root;
  if (isIndexMediaType(root.mediaType)) {
    const index = await readJson<ImageIndex>(source, root);
    const match = index.manifests.find((m) =>
      m.platform !== undefined && isManifestMediaType(m.mediaType) &&
      samePlatform(m.platform, platform)
    );
    if (!match) {
      const offered = index.manifests.filter((m) => m.platform && m.platform.os !== "unknown")
        .map((m) => formatPlatform(m.platform!));
      throw new TypeError(
        `Base image ${name} has no ${formatPlatform(platform)} manifest (it offers ${
          offered.join(", ") || "none"
        }): build for a platform it offers`,
      );
    }
    descriptor = match;
  } else if (!isManifestMediaType(root.mediaType)) {
    throw new TypeError(
      `Base image ${name} is a ${root.mediaType}, not an image manifest or index`,
    );
  }
  const manifest = await readJson<ImageManifest>(source, descriptor);
  const config = await readJson<ImageConfig>(source, manifest.config);
  if (!isIndexMediaType(root.mediaType)) {
    const own: Platform = { os: config.os, architecture: config.architecture };
    if (config.variant) own.variant = config.variant;
    if (!samePlatform(own, platform)) {
      throw new TypeError(
        `Base image ${name} is ${formatPlatform(own)}, not ${formatPlatform(platform)}: build for ${
          formatPlatform(own)
        } or use a multi-platform base`,
      );
    }
  }
  if (config.rootfs?.diff_ids?.length !== manifest.layers.length) {
    throw new TypeError(
      `Base image ${name} is inconsistent: ${manifest.layers.length} layers but ${
        config.rootfs?.diff_ids?.length ?? 0
      } diff_ids in its config`,
    );
  }
  return { name, source, descriptor, manifest, config };
}
