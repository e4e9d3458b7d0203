/**
 * `ocistream unpack REF DIR`: unpacks an image's rootfs (one platform) into
 * a new folder, as `umoci unpack` does (SPEC §9).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { unpackCommand } from "./unpack_command.ts";
 * import { OciLayout } from "@ocistream/ocistream/layout";
 * import { denoFileSystem, nativeCodecs } from "@ocistream/ocistream/deno";
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
 * const args = ["example.com/app:1", `${dir}/rootfs`, "--platform", "linux/amd64"];
 * assertEquals(await unpackCommand([...args, "--store", `${dir}/store`]), 0);
 * assertEquals((await Deno.stat(`${dir}/rootfs`)).isDirectory, true);
 * await Deno.remove(dir, { recursive: true });
 * ```
 * @module
 */
import { parseFlags, single } from "./args.ts";
import { UsageError } from "./errors.ts";
import { openImageSource } from "./image_source.ts";
import { nativeCodecs } from "../runtime/native_codecs.ts";
import { hostPlatform } from "../runtime/deno_environment.ts";
import { unpackImage } from "../runtime/unpack_image.ts";
import { readJson } from "../image/read_json.ts";
import type { Platform } from "../types/descriptor.ts";
import type { ImageConfig } from "../types/config.ts";
import type { ImageManifest } from "../types/manifest.ts";
import { isIndexMediaType } from "../types/media_types.ts";
import { parsePlatform } from "../types/platform.ts";
import { escapeControls } from "../types/quote.ts";

const HELP = `Usage: ocistream unpack REF DIR [--platform P] [--store DIR]

Applies the image's layers in order (whiteouts, hardlinks, symlinks, modes,
times; owners and device files when run as root) into DIR, which must be
missing or empty. Nothing is ever written outside DIR.

DIR keeps its own mode: an existing DIR keeps the mode it has, a new DIR is
created 0700 (as umoci makes its bundles), whatever the image's root entry
says, so setuid programs and device nodes from the image are not reachable by
other local users unless you open DIR up yourself. The layers are applied in
a private DIR.tmp-* folder moved into place at the end; one that a killed
unpack left behind is removed by the next unpack into DIR.

REF is a store name (example.com/app:1), name@sha256:..., a digest, or
oci-layout://PATH[:TAG].

Options:
  --platform P   the platform to unpack from a multi-platform image (default: linux/<host arch>)
  --store DIR    the store (default $OCISTREAM_STORE or the user data folder)`;

/** Runs `ocistream unpack`. */
export async function unpackCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, {
    platform: { type: "string" },
    store: { type: "string" },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 2) {
    throw new UsageError("unpack needs REF and DIR: ocistream unpack REF DIR (see --help)");
  }
  const [ref, dir] = positionals as [string, string];
  const platformText = single(values.platform, "platform");
  const codecs = nativeCodecs;
  const { layout, root } = await openImageSource(ref, { storePath: values.store, codecs });
  let platform: Platform;
  if (platformText !== undefined) {
    platform = parsePlatform(platformText);
  } else if (isIndexMediaType(root.mediaType)) {
    platform = hostPlatform();
  } else {
    // A single-platform image: unpack it whatever its platform.
    const manifest = await readJson<ImageManifest>(layout, root);
    const config = await readJson<ImageConfig>(layout, manifest.config);
    platform = { os: config.os, architecture: config.architecture };
    if (config.variant) platform.variant = config.variant;
  }
  const rootfs = await unpackImage(layout, root, platform, {
    codecs,
    target: dir,
    onNote: (n) => console.error(escapeControls(`note: ${n}`)),
    onReport: (r) => console.error(`unpacked ${r.layers} layer(s), ${r.entries} entries`),
  });
  console.error(escapeControls(`rootfs in ${rootfs}`));
  return 0;
}
