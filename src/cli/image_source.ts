/**
 * Finds the image a command names: a store name (`example.com/app:1`,
 * `name@digest`, or a digest) or an OCI layout (`oci-layout://PATH[:TAG|@DIGEST]`).
 *
 * @example
 * ```ts ignore
 * import { openImageSource } from "./image_source.ts";
 * const { source, root } = await openImageSource("example.com/app:1", { storePath: "/tmp/store", codecs });
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
