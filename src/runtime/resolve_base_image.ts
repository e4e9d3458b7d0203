/**
 * Resolves `--from` for one platform: `scratch`, `oci-layout://PATH[:TAG|@DIGEST]`,
 * a name the local store holds (as Docker uses an image it has; `pull` skips the store),
 * or a registry reference (SPEC §4).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { OciLayout } from "@ocistream/ocistream/layout";
 * import { createDenoEnvironment, denoFileSystem, nativeCodecs } from "@ocistream/ocistream/deno";
 * import { resolveBaseImage } from "./resolve_base_image.ts";
 * const dir = await Deno.makeTempDir();
 * // A small image named "1" in an OCI layout at `${dir}/base`.
 * const layout = await OciLayout.open(denoFileSystem, `${dir}/base`, nativeCodecs);
 * const put = async (mediaType: string, value: unknown) => {
 *   const bytes = new TextEncoder().encode(JSON.stringify(value));
 *   const hasher = await nativeCodecs.sha256();
 *   hasher.update(bytes);
 *   const d = { mediaType, digest: `sha256:${hasher.digestHex()}`, size: bytes.length };
 *   await layout.putBytes(bytes, d);
 *   return d;
 * };
 * const manifest = await put("application/vnd.oci.image.manifest.v1+json", {
 *   schemaVersion: 2,
 *   mediaType: "application/vnd.oci.image.manifest.v1+json",
 *   config: await put("application/vnd.oci.image.config.v1+json", {
 *     architecture: "amd64",
 *     os: "linux",
 *     rootfs: { type: "layers", diff_ids: [] },
 *   }),
 *   layers: [],
 * });
 * await layout.setNames(manifest, ["1"]);
 * const env = await createDenoEnvironment({ openStore: false });
 * try {
 *   const platform = { os: "linux", architecture: "amd64" };
 *   const base = await resolveBaseImage(`oci-layout://${dir}/base:1`, platform, env);
 *   assertEquals(base?.config.architecture, "amd64");
 * } finally {
 *   await env.close();
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 * @module
 */
import type { Platform } from "../types/descriptor.ts";
import {
  formatReference,
  parseReference,
  type Reference,
  registryHost,
  withDefaultTag,
} from "../types/reference.ts";
import { type BaseImage, selectPlatformImage } from "../image/base_image.ts";
import { OciLayout } from "../sinks/oci_layout.ts";
import { RegistryRepository } from "../sinks/registry_repository.ts";
import { denoFileSystem } from "./deno_file_system.ts";
import type { DenoEnvironment } from "./deno_environment.ts";
import { defaultStorePath } from "./store_location.ts";

const LAYOUT_PREFIX = "oci-layout://";

/** Resolves a base image reference for `platform`; undefined for `scratch`. */
export async function resolveBaseImage(
  ref: string,
  platform: Platform,
  env: DenoEnvironment,
  options: {
    /** Allow plain HTTP and unverified TLS for the base's registry. */
    insecure?: boolean;
    /** Registry hosts marked `registry.insecure` (by the outputs): the base may use them insecurely. */
    insecureHosts?: string[];
    /** Go to the registry even when the store holds the name (`--pull`). */
    pull?: boolean;
    /**
     * The store to look the name up in first; default `env.store`, else the store at
     * `storePath` (default location) when it exists. Never created.
     */
    storePath?: string;
  } = {},
): Promise<BaseImage | undefined> {
  if (ref === "scratch") return undefined;
  if (ref.startsWith(LAYOUT_PREFIX)) return await resolveLayoutImage(ref, platform, env);
  if (/^(\.{1,2}(\/|$)|\/|~)/.test(ref)) {
    throw new TypeError(
      `--from ${ref} is a path, not an image name: write ${LAYOUT_PREFIX}${ref} for an OCI layout`,
    );
  }
  let parsed: Reference;
  try {
    parsed = parseReference(ref);
  } catch (e) {
    const folder = await Deno.stat(ref).then((i) => i.isDirectory, () => false);
    if (!folder) throw e;
    throw new TypeError(
      `--from ${ref} is a folder, not an image name: write ${LAYOUT_PREFIX}${ref} for an OCI layout`,
    );
  }
  if (!options.pull) {
    const found = await resolveStoreImage(parsed, ref, platform, env, options.storePath);
    if (found) return found;
  }
  const host = registryHost(parsed);
  const insecure = options.insecure ?? options.insecureHosts?.includes(host) ?? false;
  const client = env.registryClient(host, insecure);
  const repository = new RegistryRepository(client, parsed.repository);
  const fetched = await repository.getManifest(parsed.digest ?? parsed.tag ?? "latest");
  const root = {
    mediaType: fetched.mediaType,
    digest: fetched.digest,
    size: fetched.bytes.byteLength,
  };
  const image = await selectPlatformImage(repository, root, platform, formatReference(parsed));
  // Pushes to this registry then mount the base layers instead of moving their bytes.
  return { ...image, origin: { host, repository: parsed.repository } };
}

/** The store's image named `parsed` (short forms compared in full), or undefined. */
async function resolveStoreImage(
  parsed: Reference,
  ref: string,
  platform: Platform,
  env: DenoEnvironment,
  storePath: string | undefined,
): Promise<BaseImage | undefined> {
  const store = env.store ??
    await OciLayout.open(denoFileSystem, storePath ?? defaultStorePath(), env.codecs, {
      create: false,
    }).catch(() => undefined);
  if (!store) return undefined;
  const want = formatReference(withDefaultTag(parsed));
  const images = await store.images();
  const image = images.find((i) => i.name === ref) ?? images.find((i) => {
    if (i.name === undefined) return false;
    try {
      return formatReference(withDefaultTag(parseReference(i.name))) === want;
    } catch {
      return false;
    }
  });
  if (!image) return undefined;
  return await selectPlatformImage(store, image.descriptor, platform, ref);
}

async function resolveLayoutImage(
  ref: string,
  platform: Platform,
  env: DenoEnvironment,
): Promise<BaseImage> {
  const rest = ref.slice(LAYOUT_PREFIX.length);
  // PATH[:TAG|@DIGEST]: the selector is after the last ':' or '@' that follows the last '/'.
  const slash = rest.lastIndexOf("/");
  const at = rest.indexOf("@", slash + 1);
  const colon = rest.indexOf(":", slash + 1);
  let path = rest;
  let selector: string | undefined;
  if (at >= 0) {
    path = rest.slice(0, at);
    selector = rest.slice(at + 1);
  } else if (colon >= 0) {
    path = rest.slice(0, colon);
    selector = rest.slice(colon + 1);
  }
  const layout = await OciLayout.open(denoFileSystem, path, env.codecs, { create: false });
  const images = await layout.images();
  let root;
  if (selector === undefined) {
    if (images.length !== 1) {
      throw new TypeError(
        `OCI layout ${path} holds ${images.length} images: name one with ${LAYOUT_PREFIX}${path}:TAG or @DIGEST`,
      );
    }
    root = images[0]!.descriptor;
  } else {
    root = images.find((i) =>
      i.name === selector || i.descriptor.digest === selector ||
      i.name?.endsWith(`:${selector}`)
    )?.descriptor;
  }
  if (!root) {
    throw new TypeError(
      `OCI layout ${path} has no image "${selector}": run 'ocistream images --store ${path}'`,
    );
  }
  return await selectPlatformImage(layout, root, platform, ref);
}
