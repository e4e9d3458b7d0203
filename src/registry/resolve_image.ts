/**
 * Resolves a tag or digest on a registry repository to the image for one
 * platform: an index is followed to the matching manifest (SPEC §4), then
 * the manifest and config are read (both small, verified by digest).
 *
 * @example
 * ```ts ignore
 * import { resolveImage } from "./resolve_image.ts";
 * import { RegistryClient } from "./registry_client.ts";
 * import { RegistryRepository } from "../sinks/registry_repository.ts";
 * const repo = new RegistryRepository(new RegistryClient("127.0.0.1:5000"), "library/alpine");
 * const img = await resolveImage(repo, "3", { os: "linux", architecture: "amd64" });
 * console.log(img.manifest.layers.length);
 * ```
 * @module
 */
import type { ContentSource } from "../types/content.ts";
import type { Descriptor, Platform } from "../types/descriptor.ts";
import type { ImageConfig } from "../types/config.ts";
import type { ImageIndex, ImageManifest } from "../types/manifest.ts";
import { isIndexMediaType } from "../types/media_types.ts";
import { formatPlatform, samePlatform } from "../types/platform.ts";
import type { FetchedManifest } from "./registry_client.ts";

/** What {@linkcode resolveImage} reads from: a repository that can look up tags. */
export interface ManifestSource extends ContentSource {
  /** Reads a manifest or index by tag or digest. */
  getManifest(reference: string): Promise<FetchedManifest>;
  /** `host/repository`, for messages. */
  readonly name?: string;
}

/** One platform's image on a registry. */
export interface ResolvedImage {
  /** The index the reference named, if it named one. */
  index?: Descriptor;
  /** The platform's manifest descriptor (with `platform` when it came from an index). */
  manifestDescriptor: Descriptor;
  /** The manifest's exact bytes. */
  manifestBytes: Uint8Array;
  /** The parsed manifest. */
  manifest: ImageManifest;
  /** The parsed config. */
  config: ImageConfig;
}

const decode = (b: Uint8Array) => JSON.parse(new TextDecoder().decode(b));

/** Resolves `reference` (tag or digest) in `repository` for `platform`. */
export async function resolveImage(
  repository: ManifestSource,
  reference: string,
  platform: Platform,
): Promise<ResolvedImage> {
  const where = `${repository.name ?? "the repository"}:${reference}`;
  let fetched = await repository.getManifest(reference);
  let index: Descriptor | undefined;
  let manifestDescriptor = fetched.descriptor;
  for (let depth = 0; isIndexMediaType(fetched.mediaType); depth++) {
    if (depth > 4) throw new TypeError(`Cannot resolve ${where}: indexes nest too deeply`);
    index ??= fetched.descriptor;
    const doc = decode(fetched.bytes) as ImageIndex;
    const match = (doc.manifests ?? []).find((m) =>
      m.platform && samePlatform(m.platform, platform)
    );
    if (!match) {
      const have = (doc.manifests ?? []).flatMap((m) =>
        m.platform ? [formatPlatform(m.platform)] : []
      );
      throw new TypeError(
        `Cannot resolve ${where}: no manifest for ${formatPlatform(platform)} (it has ${
          have.join(", ") || "none"
        }); pick one of those platforms`,
      );
    }
    fetched = await repository.getManifest(match.digest);
    if (fetched.digest !== match.digest) {
      throw new TypeError(
        `Cannot resolve ${where}: manifest digest ${fetched.digest} is not ${match.digest}`,
      );
    }
    manifestDescriptor = { ...match, mediaType: fetched.mediaType };
  }
  const manifest = decode(fetched.bytes) as ImageManifest;
  if (!manifest.config || !Array.isArray(manifest.layers)) {
    throw new TypeError(`Cannot resolve ${where}: ${fetched.mediaType} is not an image manifest`);
  }
  const configStream = await repository.fetch(manifest.config);
  const config = decode(
    new Uint8Array(await new Response(configStream).arrayBuffer()),
  ) as ImageConfig;
  const out: ResolvedImage = { manifestDescriptor, manifestBytes: fetched.bytes, manifest, config };
  if (index) out.index = index;
  return out;
}
