/**
 * Writes `type=oci` and `type=docker` outputs (SPEC §9) to disk or stdout:
 * a tar streamed from the content source (see `archiveStream`), written to a
 * temp file beside `dest` and renamed into place, so a killed export never
 * leaves half an archive at `dest`; or, for `type=oci,tar=false`, an OCI
 * layout folder.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { parseOutputSpec } from "@ocistream/ocistream";
 * import { denoFileSystem, nativeCodecs, writeArchive } from "@ocistream/ocistream/deno";
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
 * const output = parseOutputSpec(`type=oci,dest=${dir}/app.tar`);
 * await writeArchive(output, layout, root, ["app:1"], { codecs: nativeCodecs });
 * assert((await Deno.stat(`${dir}/app.tar`)).isFile);
 * await Deno.remove(dir, { recursive: true });
 * ```
 * @module
 */
import type { Codecs } from "../types/codecs.ts";
import type { ContentSource } from "../types/content.ts";
import { type Descriptor, descriptor as canonicalDescriptor } from "../types/descriptor.ts";
import type { OutputSpec } from "../exporter/output_spec.ts";
import { archiveIndex, archiveStream } from "../sinks/archive_stream.ts";
import { OciLayout } from "../sinks/oci_layout.ts";
import { walkImage } from "../image/walk_image.ts";
import { parseReference } from "../types/reference.ts";
import { denoFileSystem } from "./deno_file_system.ts";

/**
 * Writes the archive `output` asks for. `names` become `index.json` entries
 * (and `RepoTags` for docker). `dest` `-` means stdout.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { parseOutputSpec } from "@ocistream/ocistream";
 * import { denoFileSystem, nativeCodecs, writeArchive } from "@ocistream/ocistream/deno";
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
 * // tar=false: an OCI layout folder instead of a tar.
 * const output = parseOutputSpec(`type=oci,dest=${dir}/out,tar=false`);
 * await writeArchive(output, layout, root, [], { codecs: nativeCodecs });
 * assert((await Deno.stat(`${dir}/out/index.json`)).isFile);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeArchive(
  output: OutputSpec,
  source: ContentSource,
  root: Descriptor,
  names: string[],
  options: { codecs: Codecs },
): Promise<void> {
  if (output.type !== "oci" && output.type !== "docker") {
    throw new TypeError(`writeArchive handles type=oci and type=docker, not type=${output.type}`);
  }
  const dest = output.dest;
  if (dest === undefined || dest === "") {
    throw new TypeError(
      `type=${output.type} needs a destination: add dest=PATH (or dest=- for stdout)`,
    );
  }
  if (!output.tar) {
    if (output.type !== "oci") {
      throw new TypeError("tar=false is only supported for type=oci: use type=oci,tar=false");
    }
    if (dest === "-") throw new TypeError("tar=false writes a folder: give dest=FOLDER, not -");
    await writeLayoutFolder(dest, source, root, names, options.codecs);
    return;
  }
  const tar = archiveStream(source, root, { format: output.type, names });
  if (dest === "-") {
    await tar.pipeTo(Deno.stdout.writable, { preventClose: true });
    return;
  }
  const tmp = `${dest}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  try {
    const file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o644 });
    await tar.pipeTo(file.writable);
    await Deno.rename(tmp, dest);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw new Error(`Cannot write ${output.type} archive ${dest}: ${(e as Error).message}`, {
      cause: e,
    });
  }
}

/**
 * `type=oci,tar=false`: copies every blob into the layout at `dest` (created
 * when missing) and points the names at the root in its `index.json`,
 * annotated as in an archive.
 */
async function writeLayoutFolder(
  dest: string,
  source: ContentSource,
  root: Descriptor,
  names: string[],
  codecs: Codecs,
): Promise<void> {
  const layout = await OciLayout.open(denoFileSystem, dest, codecs);
  const nodes = await walkImage(source, root);
  // Children before parents, so a reader never finds a manifest whose blobs are missing.
  for (const { descriptor } of nodes.reverse()) {
    if (await layout.hasBlob(descriptor.digest)) continue;
    await layout.putBlob(await source.fetch(descriptor), {
      digest: descriptor.digest,
      size: descriptor.size,
    });
  }
  const refs = names.map((n) => {
    const ref = parseReference(n);
    return ref.tag === undefined && ref.digest === undefined ? { ...ref, tag: "latest" } : ref;
  });
  const added = archiveIndex(root, refs).manifests;
  const addedNames = new Set(added.map((d) => d.annotations?.["io.containerd.image.name"]));
  await layout.updateIndex((index) => ({
    ...index,
    manifests: [
      ...index.manifests.filter((d) => {
        const name = d.annotations?.["io.containerd.image.name"];
        if (name !== undefined) return !addedNames.has(name);
        return !(refs.length === 0 && d.digest === root.digest);
      }),
      ...added.map(canonicalDescriptor),
    ],
  }));
}
