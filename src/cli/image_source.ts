/**
 * Finds the image a command names: a store name (`example.com/app:1`,
 * `name@digest`, or a digest) or an OCI layout (`oci-layout://PATH[:TAG|@DIGEST]`).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { OciLayout } from "@ocistream/ocistream/layout";
 * import { denoFileSystem, nativeCodecs } from "@ocistream/ocistream/deno";
 * import { openImageSource } from "./image_source.ts";
 * const dir = await Deno.makeTempDir();
 * // A store holding a small image named example.com/app:1.
 * const store = await OciLayout.open(denoFileSystem, `${dir}/store`, nativeCodecs);
 * const put = async (mediaType: string, value: unknown) => {
 *   const bytes = new TextEncoder().encode(JSON.stringify(value));
 *   const hasher = await nativeCodecs.sha256();
 *   hasher.update(bytes);
 *   const d = { mediaType, digest: `sha256:${hasher.digestHex()}`, size: bytes.length };
 *   await store.putBytes(bytes, d);
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
 * await store.setNames(manifest, ["example.com/app:1"]);
 * const { root } = await openImageSource("example.com/app:1", {
 *   storePath: `${dir}/store`,
 *   codecs: nativeCodecs,
 * });
 * assertEquals(root.digest, manifest.digest);
 * await Deno.remove(dir, { recursive: true });
 * ```
 * @module
 */
import type { Codecs } from "../types/codecs.ts";
import type { Descriptor } from "../types/descriptor.ts";
import { formatReference, parseReference } from "../types/reference.ts";
import { OciLayout } from "../sinks/oci_layout.ts";
import { denoFileSystem } from "../runtime/deno_file_system.ts";
import { defaultStorePath } from "../runtime/store_location.ts";

/** An image found in a store or layout. */
export interface ImageSource {
  /** The layout holding it. */
  layout: OciLayout;
  /** Its root descriptor. */
  root: Descriptor;
}

/** Opens the store (never creating it) or the named layout and finds `ref` in it. */
export async function openImageSource(
  ref: string,
  options: { storePath?: string; codecs: Codecs },
): Promise<ImageSource> {
  let path = options.storePath ?? defaultStorePath();
  let name = ref;
  if (ref.startsWith("oci-layout://")) {
    const rest = ref.slice("oci-layout://".length);
    const slash = rest.lastIndexOf("/");
    const sep = rest.slice(slash + 1).search(/[:@]/);
    path = sep < 0 ? rest : rest.slice(0, slash + 1 + sep);
    name = sep < 0 ? "" : rest.slice(slash + 2 + sep);
  }
  const layout = await OciLayout.open(denoFileSystem, path, options.codecs, { create: false })
    .catch((e) => {
      throw new TypeError(`Cannot open the store at ${path}: ${(e as Error).message}`);
    });
  const images = await layout.images();
  let root: Descriptor | undefined;
  if (name === "") {
    if (images.length !== 1) {
      throw new TypeError(`${path} holds ${images.length} images: name one with ${ref}:TAG`);
    }
    root = images[0]!.descriptor;
  } else {
    root = await layout.resolve(name);
    if (!root && !name.startsWith("sha256:")) {
      // Accept short forms such as `alpine` for `docker.io/library/alpine:latest`.
      try {
        const parsed = parseReference(name);
        const full = formatReference(
          parsed.tag === undefined && parsed.digest === undefined
            ? { ...parsed, tag: "latest" }
            : parsed,
        );
        root = await layout.resolve(full);
      } catch {
        // not a reference: fall through to the error below
      }
    }
  }
  if (!root) {
    throw new TypeError(
      `No image "${name}" in ${path}: run 'ocistream images --store ${path}' to list them`,
    );
  }
  return { layout, root };
}
