/**
 * Image archives as a byte stream (SPEC §9): `type=oci` (an OCI image layout
 * as a tar) and `type=docker` (the same plus the `manifest.json` that
 * `docker load` reads), laid out as BuildKit writes them through
 * containerd's archive exporter: entries sorted by name, blobs `0444`,
 * `index.json`/`manifest.json` `0644`, owner 0, time 0.
 *
 * Blob sizes come from descriptors, so each blob streams from its source
 * straight into the tar: nothing is held in memory but manifests.
 *
 * @example
 * ```ts
 * import { assert, assertEquals } from "@std/assert";
 * import { archiveEntries, archiveStream, OciLayout } from "@ocistream/ocistream/layout";
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
 * const tar = archiveStream(layout, root, { format: "oci", names: ["example.com/app:1"] });
 * await denoFileSystem.writeFile(`${dir}/app.tar`, tar);
 * assert((await denoFileSystem.lstat(`${dir}/app.tar`)).size > 0);
 * await temp.dispose();
 * ```
 * @module
 */
import type { ContentSource } from "../types/content.ts";
import {
  type Descriptor,
  descriptor as canonicalDescriptor,
  type Platform,
} from "../types/descriptor.ts";
import type { ImageIndex, ImageManifest } from "../types/manifest.ts";
import { isIndexMediaType, isManifestMediaType, OCI_INDEX } from "../types/media_types.ts";
import { formatPlatform, samePlatform } from "../types/platform.ts";
import { formatReference, parseReference, type Reference } from "../types/reference.ts";
import type { TarEntry } from "../types/tar_entry.ts";
import { TarStream } from "../stages/tar_stream.ts";
import { encodeJson } from "../image/canonical_json.ts";
import { readJson } from "../image/read_json.ts";
import { walkImage } from "../image/walk_image.ts";

/** containerd's full-name annotation. */
const CONTAINERD_NAME = "io.containerd.image.name";
/** The OCI ref-name annotation (containerd writes only the tag part in archives). */
const REF_NAME = "org.opencontainers.image.ref.name";
const LAYOUT_FILE = encodeJson({ imageLayoutVersion: "1.0.0" });

/** Options of {@link archiveStream}. */
export interface ArchiveStreamOptions {
  /** `oci`: an OCI layout tar; `docker`: the same plus `manifest.json` for `docker load`. */
  format: "oci" | "docker";
  /** Image names; each becomes an `index.json` entry (and a `RepoTags` item for docker). */
  names?: string[];
  /**
   * `docker` only: the platform whose manifest `manifest.json` describes when
   * the root is an index (`docker load` takes one image per entry). Default:
   * the index's first manifest that is not an attestation.
   */
  platform?: Platform;
}

/** One line of a `docker load` `manifest.json`. */
export interface DockerManifestEntry {
  /** `blobs/sha256/<hex>` of the config. */
  Config: string;
  /** Familiar names such as `app:1` (`null` when unnamed, as Go writes it). */
  RepoTags: string[] | null;
  /** `blobs/sha256/<hex>` of each layer, base first. */
  Layers: string[];
}

/**
 * Streams the archive of the image `root` (a manifest or an index) whose
 * content `source` provides. Errors (a missing blob, a digest mismatch
 * reported by the source) fail the stream.
 *
 * @example Write a docker archive for one platform of an index
 * ```ts
 * import { assert, assertEquals } from "@std/assert";
 * import { archiveEntries, archiveStream, OciLayout } from "@ocistream/ocistream/layout";
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
 * // For an index root, `platform` picks the manifest that manifest.json describes.
 * const tar = archiveStream(layout, root, { format: "docker", names: ["app:1"] });
 * const bytes = new Uint8Array(await new Response(tar).arrayBuffer());
 * assertEquals(bytes.length % 512, 0);
 * await temp.dispose();
 * ```
 */
export function archiveStream(
  source: ContentSource,
  root: Descriptor,
  options: ArchiveStreamOptions,
): ReadableStream<Uint8Array> {
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!reader) {
        const entries = await archiveEntries(source, root, options);
        let i = 0;
        reader = new ReadableStream<TarEntry>({
          pull(c) {
            if (i < entries.length) c.enqueue(entries[i++]!);
            else c.close();
          },
        }, { highWaterMark: 0 }).pipeThrough(new TarStream()).getReader();
      }
      const { value, done } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    async cancel(reason) {
      await reader?.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/**
 * The archive's tar entries in write order (blob bodies open lazily).
 *
 * @example
 * ```ts
 * import { assert, assertEquals } from "@std/assert";
 * import { archiveEntries, archiveStream, OciLayout } from "@ocistream/ocistream/layout";
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
 * const paths = (await archiveEntries(layout, root, { format: "oci" })).map((e) => e.path);
 * assert(paths.includes("oci-layout") && paths.includes("index.json"));
 * assert(paths.includes(`blobs/sha256/${root.digest.slice(7)}`));
 * await temp.dispose();
 * ```
 */
export async function archiveEntries(
  source: ContentSource,
  root: Descriptor,
  options: ArchiveStreamOptions,
): Promise<TarEntry[]> {
  if (!isIndexMediaType(root.mediaType) && !isManifestMediaType(root.mediaType)) {
    throw new TypeError(
      `Cannot archive ${root.digest}: it is a ${root.mediaType}, not an image manifest or index`,
    );
  }
  const names = (options.names ?? []).map(parseName);
  const nodes = await walkImage(source, root);
  const entries: TarEntry[] = [];
  const file = (path: string, mode: number, bytes: Uint8Array): TarEntry => ({
    path,
    type: "file",
    mode,
    uid: 0,
    gid: 0,
    mtime: 0,
    size: bytes.byteLength,
    open: () => new Blob([bytes as Uint8Array<ArrayBuffer>]).stream(),
  });
  entries.push(file("oci-layout", 0o444, LAYOUT_FILE));
  entries.push(file("index.json", 0o644, encodeJson(archiveIndex(root, names))));
  if (options.format === "docker") {
    const manifest = await dockerManifest(source, root, names, options.platform);
    entries.push(file("manifest.json", 0o644, encodeJson([manifest])));
  }
  entries.push({ path: "blobs", type: "directory", mode: 0o755, uid: 0, gid: 0, mtime: 0 });
  entries.push({ path: "blobs/sha256", type: "directory", mode: 0o755, uid: 0, gid: 0, mtime: 0 });
  for (const { descriptor } of nodes) {
    entries.push({
      path: blobPath(descriptor.digest),
      type: "file",
      mode: 0o444,
      uid: 0,
      gid: 0,
      mtime: 0,
      size: descriptor.size,
      open: () => source.fetch(descriptor),
    });
  }
  const key = (e: TarEntry) => e.type === "directory" ? `${e.path}/` : e.path;
  entries.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  return entries;
}

/**
 * The `index.json` of an archive: the root once per name, annotated as
 * containerd does (`io.containerd.image.name` = the full name,
 * `org.opencontainers.image.ref.name` = its tag), or once unnamed.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseReference } from "@ocistream/ocistream";
 * import { archiveIndex } from "@ocistream/ocistream/layout";
 * const root = { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: "sha256:" + "0".repeat(64), size: 1 };
 * const index = archiveIndex(root, [parseReference("app:1")]);
 * assertEquals(index.manifests[0]!.annotations, { "io.containerd.image.name": "docker.io/library/app:1", "org.opencontainers.image.ref.name": "1" });
 * ```
 */
export function archiveIndex(root: Descriptor, names: Reference[]): ImageIndex {
  const manifests = names.length === 0
    ? [canonicalDescriptor(root)]
    : names.map((ref) =>
      canonicalDescriptor({
        ...root,
        annotations: {
          ...root.annotations,
          [CONTAINERD_NAME]: formatReference(ref),
          [REF_NAME]: ociReferenceName(ref),
        },
      })
    );
  return { schemaVersion: 2, mediaType: OCI_INDEX, manifests };
}

/**
 * The `org.opencontainers.image.ref.name` containerd derives from a full name: `tag[@digest]`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseReference } from "@ocistream/ocistream";
 * import { ociReferenceName } from "@ocistream/ocistream/layout";
 * assertEquals(ociReferenceName(parseReference("example.com/app:1")), "1");
 * ```
 */
export function ociReferenceName(ref: Reference): string {
  return `${ref.tag ?? ""}${ref.digest ? `@${ref.digest}` : ""}`;
}

/**
 * The name `docker load` shows: `app:1` for `docker.io/library/app:1`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseReference } from "@ocistream/ocistream";
 * import { familiarName } from "@ocistream/ocistream/layout";
 * assertEquals(familiarName(parseReference("docker.io/library/app:1")), "app:1");
 * ```
 */
export function familiarName(ref: Reference): string {
  let repo = `${ref.registry}/${ref.repository}`;
  if (ref.registry === "docker.io") {
    repo = ref.repository.startsWith("library/") && ref.repository.split("/").length === 2
      ? ref.repository.slice("library/".length)
      : ref.repository;
  }
  return `${repo}${ref.tag !== undefined ? `:${ref.tag}` : ""}${
    ref.digest ? `@${ref.digest}` : ""
  }`;
}

/** Parses a name, adding `latest` when it has neither tag nor digest (Go's `TagNameOnly`). */
function parseName(name: string): Reference {
  const ref = parseReference(name);
  return ref.tag === undefined && ref.digest === undefined ? { ...ref, tag: "latest" } : ref;
}

async function dockerManifest(
  source: ContentSource,
  root: Descriptor,
  names: Reference[],
  platform: Platform | undefined,
): Promise<DockerManifestEntry> {
  let target = root;
  if (isIndexMediaType(root.mediaType)) {
    const index = await readJson<ImageIndex>(source, root);
    const images = index.manifests.filter((m) =>
      isManifestMediaType(m.mediaType) &&
      m.annotations?.["vnd.docker.reference.type"] !== "attestation-manifest" &&
      m.platform?.os !== "unknown"
    );
    const match = platform
      ? images.find((m) => m.platform !== undefined && samePlatform(m.platform, platform))
      : images[0];
    if (!match) {
      const offered = images.map((m) => m.platform ? formatPlatform(m.platform) : m.digest);
      throw new TypeError(
        `Cannot write a docker archive of ${root.digest}: no ${
          platform ? formatPlatform(platform) : "image"
        } manifest in its index (it offers ${offered.join(", ") || "none"}); pick one it offers`,
      );
    }
    target = match;
  }
  const manifest = await readJson<ImageManifest>(source, target);
  // docker load cannot use digest-only names, so RepoTags lists tagged names only.
  const tags = names.filter((n) => n.tag !== undefined).map((n) =>
    familiarName({ ...n, digest: undefined })
  );
  return {
    Config: blobPath(manifest.config.digest),
    RepoTags: tags.length > 0 ? tags : null,
    Layers: manifest.layers.map((l) => blobPath(l.digest)),
  };
}

function blobPath(digest: string): string {
  const m = /^sha256:([a-f0-9]{64})$/.exec(digest);
  if (!m) throw new TypeError(`Cannot archive blob "${digest}": only sha256 digests are supported`);
  return `blobs/sha256/${m[1]}`;
}
