/**
 * Unpacks one platform's rootfs from an OCI layout onto the local disk
 * (`unpack=true` and `ocistream unpack`, SPEC §9), via `unpackLayers`.
 *
 * The layers are applied in a temporary sibling folder that is renamed into
 * place at the end, so a killed or failed unpack never leaves a half-filled
 * rootfs at the final path.
 *
 * @example
 * ```ts ignore
 * import { unpackImage } from "./unpack_image.ts";
 * const dir = await unpackImage(store, root, { os: "linux", architecture: "amd64" }, { codecs });
 * console.log(dir); // <store>/unpacked/<manifest hex>/rootfs
 * ```
 * @module
 */
import type { Codecs } from "../types/codecs.ts";
import type { Descriptor, Platform } from "../types/descriptor.ts";
import { selectPlatformImage } from "../image/base_image.ts";
import type { OciLayout } from "../sinks/oci_layout.ts";
import { unpackLayers, type UnpackReport } from "../sinks/unpack_layers.ts";
import { denoFileSystem } from "./deno_file_system.ts";

/** Options of {@link unpackImage}. */
export interface UnpackImageOptions {
  /** Decompression and hashing. */
  codecs: Codecs;
  /** The folder to create; default `<store root>/unpacked/<manifest digest hex>/rootfs`. */
  target?: string;
  /** Receives notes (what could not be applied, e.g. owners when not root). */
  onNote?: (message: string) => void;
  /** Receives the report when done. */
  onReport?: (report: UnpackReport) => void;
}

/**
 * Unpacks the `platform` image of `root` (a manifest or index in `layout`)
 * and returns the rootfs folder.
 *
 * Without `target`, the rootfs goes to
 * `<layout root>/unpacked/<manifest digest hex>/rootfs` (the bundle layout
 * `umoci unpack` uses); an existing one is reused, since the same digest
 * always gives the same tree, and `ocistream prune` removes those whose
 * image is gone. With `target`, the folder must be missing or empty.
 *
 * @example
 * ```ts ignore
 * import { unpackImage } from "./unpack_image.ts";
 * await unpackImage(layout, root, { os: "linux", architecture: "arm64", variant: "v8" }, { codecs, target: "./rootfs" });
 * ```
 */
export async function unpackImage(
  layout: OciLayout,
  root: Descriptor,
  platform: Platform,
  options: UnpackImageOptions,
): Promise<string> {
  const image = await selectPlatformImage(layout, root, platform, root.digest);
  const hex = image.descriptor.digest.replace(/^sha256:/, "");
  let final: string;
  let staging: string;
  let rootfs: string;
  if (options.target === undefined) {
    const bundle = `${layout.root}/unpacked/${hex}`;
    final = bundle;
    rootfs = `${bundle}/rootfs`;
    if (await isDir(rootfs)) return rootfs;
    await Deno.mkdir(`${layout.root}/unpacked`, { recursive: true });
    staging = `${layout.root}/unpacked/.tmp-${crypto.randomUUID().slice(0, 12)}`;
    await Deno.mkdir(`${staging}/rootfs`, { recursive: true, mode: 0o755 });
  } else {
    final = options.target.replace(/\/+$/, "") || "/";
    rootfs = final;
    if (await isDir(final)) {
      if ((await Array.fromAsync(Deno.readDir(final))).length > 0) {
        throw new TypeError(`Cannot unpack into ${final}: it is not empty; give a new folder`);
      }
    } else if (await exists(final)) {
      throw new TypeError(`Cannot unpack into ${final}: it exists and is not a folder`);
    }
    const parent = final.includes("/") ? final.slice(0, final.lastIndexOf("/")) || "/" : ".";
    await Deno.mkdir(parent, { recursive: true });
    staging = `${final}.tmp-${crypto.randomUUID().slice(0, 12)}`;
    await Deno.mkdir(staging, { mode: 0o755 });
  }
  try {
    const into = options.target === undefined ? `${staging}/rootfs` : staging;
    const report = await unpackLayers(layout, image.manifest, image.config, into, {
      fs: denoFileSystem,
      codecs: options.codecs,
      onNote: options.onNote,
    });
    options.onReport?.(report);
    if (options.target !== undefined) await Deno.remove(final).catch(() => {});
    try {
      await Deno.rename(staging, final);
    } catch (e) {
      // Another unpack of the same digest won the race: its result is identical.
      if (options.target === undefined && await isDir(rootfs)) {
        await Deno.remove(staging, { recursive: true }).catch(() => {});
        return rootfs;
      }
      throw e;
    }
    return rootfs;
  } catch (e) {
    await Deno.remove(staging, { recursive: true }).catch(() => {});
    throw e;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await Deno.lstat(path)).isDirectory;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}
