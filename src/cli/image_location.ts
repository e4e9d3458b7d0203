/**
 * Where an image is, as the registry tools (`copy`, `tag`, `index create`, `inspect`, `ls`,
 * `export`, `digest`) name it:
 *
 * - `docker://REF` or a plain `REF`: a registry. As a source, a plain name is the store's
 *   image when `--store DIR` is given, or when the default store holds it;
 * - `store:NAME`: the local store (`--store DIR` or the default);
 * - `oci-layout://PATH[:TAG|@DIGEST]`: an OCI image layout folder;
 * - `oci-archive:PATH[:NAME]`, `docker-archive:PATH[:NAME]`: archive files (sources only).
 *
 * @example
 * ```ts ignore
 * import { openSourceImage } from "./image_location.ts";
 * import { createDenoEnvironment } from "@ocistream/ocistream/deno";
 * // Needs a registry serving app:1 at 127.0.0.1:5000.
 * const env = await createDenoEnvironment({ openStore: false });
 * const src = await openSourceImage("127.0.0.1:5000/app:1", { env, insecure: true });
 * console.log(src.root.digest);
 * await env.close();
 * ```
 * @module
 */
import type { ContentSink, ContentSource } from "../types/content.ts";
import type { Descriptor, Platform } from "../types/descriptor.ts";
import {
  isValidDigest,
  parseReference,
  type Reference,
  registryHost,
  withDefaultTag,
} from "../types/reference.ts";
import { formatReference } from "../types/reference.ts";
import { selectPlatformImage } from "../image/base_image.ts";
import { readJson } from "../image/read_json.ts";
import type { ImageIndex } from "../types/manifest.ts";
import { isIndexMediaType } from "../types/media_types.ts";
import { formatPlatform, samePlatform } from "../types/platform.ts";
import type { DenoEnvironment } from "../runtime/deno_environment.ts";
import { RegistryRepository } from "../sinks/registry_repository.ts";
import { OciLayout } from "../sinks/oci_layout.ts";
import { denoFileSystem } from "../runtime/deno_file_system.ts";
import { defaultStorePath } from "../runtime/store_location.ts";
import { openImageSource } from "./image_source.ts";
import { pathExists } from "../types/file_system.ts";
import { UsageError } from "./errors.ts";

/** A parsed image location. */
export type ImageLocation =
  | { kind: "registry"; ref: Reference; text: string }
  | { kind: "store"; name: string; text: string }
  | { kind: "layout"; path: string; name?: string; text: string }
  | { kind: "archive"; format: "oci" | "docker"; path: string; name?: string; text: string }
  | { kind: "name"; name: string; text: string };

/** Parses a location; a plain name stays undecided (`kind: "name"`) until the store is asked. */
export function parseLocation(text: string): ImageLocation {
  if (text.startsWith("docker://")) {
    return { kind: "registry", ref: parseReference(text.slice(9)), text };
  }
  if (text.startsWith("store:")) return { kind: "store", name: text.slice(6), text };
  if (text.startsWith("oci-layout://")) {
    const rest = text.slice("oci-layout://".length);
    const slash = rest.lastIndexOf("/");
    const sep = rest.slice(slash + 1).search(/[:@]/);
    if (sep < 0) return { kind: "layout", path: rest, text };
    const at = slash + 1 + sep;
    return { kind: "layout", path: rest.slice(0, at), name: rest.slice(at + 1), text };
  }
  for (const format of ["oci", "docker"] as const) {
    const prefix = `${format}-archive:`;
    if (text.startsWith(prefix)) {
      const rest = text.slice(prefix.length);
      const colon = rest.indexOf(":");
      const path = colon < 0 ? rest : rest.slice(0, colon);
      if (path === "") {
        throw new UsageError(`${text}: name the archive file, e.g. ${prefix}app.tar`);
      }
      return colon < 0
        ? { kind: "archive", format, path, text }
        : { kind: "archive", format, path, name: rest.slice(colon + 1), text };
    }
  }
  // A bare digest names a store image; anything else must be a valid name.
  if (isValidDigest(text)) return { kind: "store", name: text, text };
  parseReference(text);
  return { kind: "name", name: text, text };
}

/** An image opened for reading. */
export interface SourceImage {
  /** Reads its content. */
  source: ContentSource;
  /** Its root (index or manifest). */
  root: Descriptor;
  /** The registry repository it is in, for registry sources. */
  repository?: RegistryRepository;
  /** The reference, for registry sources. */
  ref?: Reference;
  /** How to name it in messages. */
  text: string;
}

/** What opening needs. */
export interface LocationContext {
  /** The environment (codecs, registry clients). */
  env: DenoEnvironment;
  /** `--store DIR`. */
  storePath?: string;
  /** `--insecure`. */
  insecure?: boolean;
}

/** Opens `text` as a source image. */
export async function openSourceImage(text: string, ctx: LocationContext): Promise<SourceImage> {
  let loc = parseLocation(text);
  if (loc.kind === "name") {
    loc = ctx.storePath !== undefined || (await storeHas(loc.name, ctx))
      ? { kind: "store", name: loc.name, text }
      : { kind: "registry", ref: parseReference(loc.name), text };
  }
  switch (loc.kind) {
    case "registry": {
      const ref = withDefaultTag(loc.ref);
      const repository = openRepository(ctx.env, ref, ctx.insecure ?? false);
      const m = await repository.getManifest(ref.digest ?? ref.tag!);
      return { source: repository, root: m.descriptor, repository, ref, text };
    }
    case "store": {
      const { layout, root } = await openImageSource(loc.name, {
        storePath: ctx.storePath,
        codecs: ctx.env.codecs,
      });
      return { source: layout, root, text };
    }
    case "layout": {
      const { layout, root } = await openImageSource(text, {
        storePath: ctx.storePath,
        codecs: ctx.env.codecs,
      });
      return { source: layout, root, text };
    }
    case "archive": {
      const { openArchiveImage } = await import("../runtime/archive_source.ts");
      const { source, root } = await openArchiveImage(
        loc.path,
        loc.format,
        loc.name,
        ctx.env.codecs,
      );
      return { source, root, text };
    }
  }
}

/** The registry repository `ref` names, over the environment's shared client for its host. */
export function openRepository(
  env: DenoEnvironment,
  ref: Reference,
  insecure: boolean,
): RegistryRepository {
  const repository = env.openRepository?.(ref, { insecure });
  return repository instanceof RegistryRepository
    ? repository
    : new RegistryRepository(env.registryClient(registryHost(ref), insecure), ref.repository);
}

/** Whether the store exists and holds `name`. */
async function storeHas(name: string, ctx: LocationContext): Promise<boolean> {
  const path = ctx.storePath ?? defaultStorePath();
  if (!(await pathExists(denoFileSystem, `${path}/oci-layout`))) return false;
  try {
    await openImageSource(name, { storePath: path, codecs: ctx.env.codecs });
    return true;
  } catch {
    return false;
  }
}

/** The manifest of one platform of `image` (the root itself when it is a manifest of it). */
export async function selectPlatform(image: SourceImage, platform: Platform): Promise<Descriptor> {
  if (!isIndexMediaType(image.root.mediaType)) {
    // A lone manifest must be of that platform (its config says).
    const chosen = await selectPlatformImage(image.source, image.root, platform, image.text)
      .catch((e: Error) => {
        throw new TypeError(e.message.replace(/^Base image /, "Image "));
      });
    return chosen.descriptor;
  }
  const index = await readJson<ImageIndex>(image.source, image.root);
  const images = (index.manifests ?? []).filter((m) => m.platform && m.platform.os !== "unknown");
  const match = images.find((m) => samePlatform(m.platform!, platform));
  if (!match) {
    throw new TypeError(
      `${image.text} has no ${formatPlatform(platform)} image (it has ${
        images.map((m) => formatPlatform(m.platform!)).join(", ") || "none"
      }): pick one of those with --platform`,
    );
  }
  return match;
}

/** An image destination opened for writing. */
export interface TargetImage {
  /** Where content goes. */
  sink: ContentSink;
  /** The registry repository, for registry targets. */
  repository?: RegistryRepository;
  /** The reference, for registry targets. */
  ref?: Reference;
  /** Tags to put the root under (registries). */
  tags: string[];
  /** Names the root after the copy (store and layouts). */
  finish(root: Descriptor): Promise<void>;
  /** How to name it in messages. */
  text: string;
}

/** Opens `text` as a copy's destination (a plain name is a registry reference). */
export async function openTargetImage(
  text: string,
  ctx: LocationContext,
  options: { pushByDigest?: boolean } = {},
): Promise<TargetImage> {
  const loc = parseLocation(text);
  switch (loc.kind) {
    case "name":
    case "registry": {
      const ref = loc.kind === "name" ? parseReference(loc.name) : loc.ref;
      if (options.pushByDigest && ref.tag !== undefined) {
        throw new TypeError(
          `--push-by-digest creates no tag, but ${text} has one: drop ":${ref.tag}"`,
        );
      }
      if (ref.digest !== undefined) {
        throw new TypeError(
          `${text} names a digest: a copy's destination is a repository with an optional tag`,
        );
      }
      const repository = openRepository(ctx.env, ref, ctx.insecure ?? false);
      const tags = options.pushByDigest ? [] : [ref.tag ?? "latest"];
      return { sink: repository, repository, ref, tags, finish: () => Promise.resolve(), text };
    }
    case "store":
    case "layout": {
      const path = loc.kind === "store" ? ctx.storePath ?? defaultStorePath() : loc.path;
      let name: string | undefined = loc.name;
      if (loc.kind === "store") name = formatReference(withDefaultTag(parseReference(loc.name)));
      if (name?.startsWith("sha256:")) {
        throw new TypeError(`${text} names a digest: name the copy with a tag instead`);
      }
      const layout = await OciLayout.open(denoFileSystem, path, ctx.env.codecs);
      return {
        sink: layout,
        tags: [],
        finish: (root) => layout.setNames(root, name ? [name] : []),
        text,
      };
    }
    case "archive":
      throw new UsageError(
        `${text}: archives are sources only; write one with 'ocistream build --output type=oci,dest=FILE'`,
      );
  }
}
