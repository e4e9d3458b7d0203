/**
 * Unpacks one platform's rootfs from an OCI layout onto the local disk
 * (`unpack=true` and `ocistream unpack`, SPEC §9), via `unpackLayers`.
 *
 * The layers are applied in a private (0700) temporary sibling folder that is
 * renamed into place at the end, so a killed or failed unpack never leaves a
 * half-filled rootfs at the final path, and other local users cannot reach
 * the image's setuid programs or device nodes meanwhile. A target keeps its
 * own mode (0700 when it is created), whatever the image's root entry says;
 * staging folders a killed unpack left (`TARGET.tmp-*`) are removed on start.
 *
 * @example
 * ```ts
 * import { assert, assertEquals } from "@std/assert";
 * import { denoFileSystem, nativeCodecs, unpackImage } from "@ocistream/ocistream/deno";
 * import { OciLayout } from "@ocistream/ocistream/layout";
 * const dir = await Deno.makeTempDir();
 * const layout = await OciLayout.open(denoFileSystem, `${dir}/store`, nativeCodecs);
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
 *   architecture: "amd64",
 *   os: "linux",
 *   rootfs: { type: "layers", diff_ids: [] },
 * });
 * const root = await put("application/vnd.oci.image.manifest.v1+json", {
 *   schemaVersion: 2,
 *   mediaType: "application/vnd.oci.image.manifest.v1+json",
 *   config,
 *   layers: [],
 * });
 * const platform = { os: "linux", architecture: "amd64" };
 * const rootfs = await unpackImage(layout, root, platform, { codecs: nativeCodecs });
 * assertEquals(rootfs, `${dir}/store/unpacked/${root.digest.slice(7)}/rootfs`);
 * assert((await Deno.stat(rootfs)).isDirectory);
 * await Deno.remove(dir, { recursive: true });
 * ```
 * @module
 */
import type { Codecs, StreamCompression } from "../types/codecs.ts";
import type { Descriptor, Platform } from "../types/descriptor.ts";
import { selectPlatformImage } from "../image/base_image.ts";
import type { OciLayout } from "../sinks/oci_layout.ts";
import { unpackLayers, type UnpackReport } from "../sinks/unpack_layers.ts";
import { denoFileSystem } from "./deno_file_system.ts";
import { workerDecompress } from "./worker_decompress.ts";

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
  /**
   * Decompress (and hash) each layer on a worker thread (`workerDecompress`), overlapping with
   * the file writes on this thread (default true; false: `codecs.decompress` on this thread).
   * Measured on the 12,264-file node_modules image on 2 shared cores (issue 23): this thread's
   * CPU drops from about 1.0 s to 0.75 s and the wall time with it, for about 0.1 s more CPU in
   * all and 35 MiB more peak memory (the worker's own heap); both stay flat with the layer size.
   */
  decompressWorker?: boolean;
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
 * ```ts
 * import { assert } from "@std/assert";
 * import { denoFileSystem, nativeCodecs, unpackImage } from "@ocistream/ocistream/deno";
 * import { OciLayout } from "@ocistream/ocistream/layout";
 * const dir = await Deno.makeTempDir();
 * const layout = await OciLayout.open(denoFileSystem, `${dir}/store`, nativeCodecs);
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
 *   architecture: "amd64",
 *   os: "linux",
 *   rootfs: { type: "layers", diff_ids: [] },
 * });
 * const root = await put("application/vnd.oci.image.manifest.v1+json", {
 *   schemaVersion: 2,
 *   mediaType: "application/vnd.oci.image.manifest.v1+json",
 *   config,
 *   layers: [],
 * });
 * const platform = { os: "linux", architecture: "amd64" };
 * await unpackImage(layout, root, platform, { codecs: nativeCodecs, target: `${dir}/rootfs` });
 * assert((await Deno.stat(`${dir}/rootfs`)).isDirectory);
 * await Deno.remove(dir, { recursive: true });
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
  let targetMode = 0o700;
  if (options.target === undefined) {
    const bundle = `${layout.root}/unpacked/${hex}`;
    final = bundle;
    rootfs = `${bundle}/rootfs`;
    if (await isDir(rootfs)) return rootfs;
    await Deno.mkdir(`${layout.root}/unpacked`, { recursive: true });
    staging = `${layout.root}/unpacked/.tmp-${crypto.randomUUID().slice(0, 12)}`;
    // The bundle is private, as umoci makes it: the image's setuid programs and device
    // nodes are not reachable by other local users through it.
    await Deno.mkdir(staging, { mode: 0o700 });
    await chmod(staging, 0o700);
    await Deno.mkdir(`${staging}/rootfs`, { mode: 0o755 });
  } else {
    final = options.target.replace(/\/+$/, "") || "/";
    rootfs = final;
    if (await isDir(final)) {
      if ((await Array.fromAsync(Deno.readDir(final))).length > 0) {
        throw new TypeError(`Cannot unpack into ${final}: it is not empty; give a new folder`);
      }
      // An existing target keeps its own mode (a private 0700 folder stays private).
      targetMode = (await Deno.stat(final)).mode! & 0o7777;
    } else if (await exists(final)) {
      throw new TypeError(`Cannot unpack into ${final}: it exists and is not a folder`);
    }
    const parent = final.includes("/") ? final.slice(0, final.lastIndexOf("/")) || "/" : ".";
    await Deno.mkdir(parent, { recursive: true });
    await removeStaleStaging(parent, final.slice(final.lastIndexOf("/") + 1));
    // The rootfs is built inside a private (0700) staging folder and moved out at the end.
    staging = `${final}.tmp-${crypto.randomUUID().slice(0, 12)}`;
    await Deno.mkdir(staging, { mode: 0o700 });
    await chmod(staging, 0o700);
    await Deno.mkdir(`${staging}/rootfs`, { mode: 0o700 });
  }
  try {
    const into = `${staging}/rootfs`;
    const codecs = options.codecs;
    const report = await unpackLayers(layout, image.manifest, image.config, into, {
      fs: denoFileSystem,
      codecs: options.decompressWorker === false || typeof Worker === "undefined" ? codecs : {
        sha256: () => codecs.sha256(),
        compress: (algorithm: StreamCompression, level: number) =>
          codecs.compress(algorithm, level),
        decompress: workerDecompress,
      },
      onNote: options.onNote,
    });
    options.onReport?.(report);
    if (options.target !== undefined) {
      // The image's root entry does not set the target's mode: the target keeps its own
      // (or 0700 when it is new, as umoci makes its bundles).
      await chmod(into, targetMode);
      await Deno.remove(final).catch(() => {});
      await Deno.rename(into, final);
      await Deno.remove(staging, { recursive: true }).catch(() => {});
      return rootfs;
    }
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

/** `chmod`, where the platform has modes (not on Windows). */
async function chmod(path: string, mode: number): Promise<void> {
  if (Deno.build.os !== "windows") await Deno.chmod(path, mode);
}

/**
 * Removes staging folders (`NAME.tmp-*`) that a killed unpack into `parent/NAME` left behind.
 * An unpack into the same target running right now would fail anyway: the target must be empty.
 */
async function removeStaleStaging(parent: string, name: string): Promise<void> {
  const prefix = `${name}.tmp-`;
  for await (const e of Deno.readDir(parent)) {
    if (
      e.isDirectory && e.name.startsWith(prefix) &&
      /^[0-9a-f-]{12}$/.test(e.name.slice(prefix.length))
    ) {
      await Deno.remove(`${parent}/${e.name}`, { recursive: true }).catch(() => {});
    }
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
