/**
 * Looks inside an image without unpacking it: its manifest, config and layers,
 * the files its layers leave behind (whiteouts applied, as a container would
 * see them), one file's bytes, and the whole filesystem as one tar (what
 * `crane export` writes). Layers are streamed from the source and read from
 * the top one down: the first time a path is seen wins, and whiteouts hide
 * what lower layers hold. Only paths are kept in memory, never file contents.
 *
 * @example Look into an image on a registry
 * ```ts ignore
 * import { readImage } from "./read_image.ts";
 * const image = await readImage("127.0.0.1:5000/app:1", { platform: { os: "linux", architecture: "arm64" } });
 * for await (const f of image.files()) console.log(f.type, f.path, f.size);
 * const motd = await new Response(await image.readFile("etc/motd")).text();
 * ```
 * @module
 */
import type { Codecs } from "../types/codecs.ts";
import type { ContentSource } from "../types/content.ts";
import type { Descriptor, Platform } from "../types/descriptor.ts";
import type { ImageConfig } from "../types/config.ts";
import type { ImageIndex, ImageManifest } from "../types/manifest.ts";
import type { TarEntry, TarEntryType } from "../types/tar_entry.ts";
import { isIndexMediaType, isManifestMediaType, layerCompression } from "../types/media_types.ts";
import { formatPlatform, samePlatform } from "../types/platform.ts";
import { parseReference, registryHost, withDefaultTag } from "../types/reference.ts";
import { type TarEntryWithBody, UntarStream } from "../stages/untar_stream.ts";
import { TarStream } from "../stages/tar_stream.ts";
import { readJson } from "./read_json.ts";
import { RegistryClient, type RegistryClientOptions } from "../registry/registry_client.ts";
import { RegistryRepository } from "../sinks/registry_repository.ts";

const WHITEOUT = ".wh.";
const OPAQUE = ".wh..wh..opq";

/** One file of an image, as `ls` shows it. */
export interface ImageFile {
  /** Path below the root, without a leading `/`. */
  path: string;
  /** Entry type. */
  type: TarEntryType;
  /** Permission bits (with setuid, setgid, sticky). */
  mode: number;
  /** Owner. */
  uid: number;
  /** Group. */
  gid: number;
  /** Size in bytes (for a hardlink, its target's). */
  size: number;
  /** Modification time, seconds. */
  mtime: number;
  /** Symlink target, or the path a hardlink shares its data with. */
  linkName?: string;
  /** The layer it comes from (0 is the bottom one). */
  layer: number;
}

/** An image opened by {@linkcode readImage}. */
export interface ImageReader {
  /** The manifest's descriptor (with its platform when it came from an index). */
  descriptor: Descriptor;
  /** The manifest. */
  manifest: ImageManifest;
  /** The config. */
  config: ImageConfig;
  /** The layer descriptors, bottom first. */
  layers: Descriptor[];
  /**
   * The files the image holds, whiteouts applied, top layer's first (not sorted); with
   * `layer` the entries of that one layer (0 is the bottom one) as they are, whiteouts too.
   */
  files(options?: { layer?: number }): AsyncGenerator<ImageFile>;
  /** Streams the regular file at `path` (symlinks and hardlinks followed). */
  readFile(path: string): Promise<ReadableStream<Uint8Array>>;
  /** The whole filesystem as one tar stream (the `crane export` form). */
  exportTar(): ReadableStream<Uint8Array>;
}

/** Options of {@linkcode readImage}. */
export interface ReadImageOptions {
  /** Which platform of an index (default: the index's only image, else `fallbackPlatform`). */
  platform?: Platform;
  /** The platform to take from an index of several images when `platform` is not given. */
  fallbackPlatform?: Platform;
  /** Decompression for layers (default: the portable web codecs). */
  codecs?: Pick<Codecs, "decompress">;
  /** For a reference: the client of its registry (default: a new one made with `client`). */
  registry?: RegistryClient;
  /** For a reference: options of the client made for its registry. */
  client?: RegistryClientOptions;
}

/** Where an image is: a registry reference, or a source and a root descriptor in it. */
export type ImageInput = string | { source: ContentSource; root: Descriptor; name?: string };

/**
 * Opens an image for reading: `input` is a reference (`host/repo:tag`, `host/repo@digest`) read
 * from its registry, or any {@linkcode ContentSource} (store, layout, archive) and a root.
 */
export async function readImage(
  input: ImageInput,
  options: ReadImageOptions = {},
): Promise<ImageReader> {
  let source: ContentSource;
  let root: Descriptor;
  let name: string;
  if (typeof input === "string") {
    const ref = withDefaultTag(parseReference(input));
    const client = options.registry ?? new RegistryClient(registryHost(ref), options.client);
    const repository = new RegistryRepository(client, ref.repository);
    root = (await repository.getManifest(ref.digest ?? ref.tag!)).descriptor;
    source = repository;
    name = input;
  } else {
    source = input.source;
    root = input.root;
    name = input.name ?? root.digest;
  }
  const descriptor = await pickManifest(
    source,
    root,
    options.platform,
    options.fallbackPlatform,
    name,
  );
  const manifest = await readJson<ImageManifest>(source, descriptor);
  if (!manifest.config || !Array.isArray(manifest.layers)) {
    throw new TypeError(`${name}: ${descriptor.mediaType} ${descriptor.digest} is not an image`);
  }
  const config = await readJson<ImageConfig>(source, manifest.config);
  const codecs = options.codecs ?? (await import("../stages/web_codecs.ts")).webCodecs;
  const layers = manifest.layers;

  const layerEntries = async function* (i: number): AsyncGenerator<TarEntryWithBody> {
    const layer = layers[i]!;
    let tar = await source.fetch(layer);
    const compression = layerCompression(layer.mediaType);
    if (compression !== "uncompressed") tar = tar.pipeThrough(codecs.decompress(compression));
    yield* tar.pipeThrough(new UntarStream());
  };

  /** Flattened entries, top layer first; the body is valid until the next one is asked for. */
  const flattened = async function* (): AsyncGenerator<{ entry: TarEntryWithBody; layer: number }> {
    const seen = new Set<string>();
    const notDirectory = new Set<string>();
    const removed = new Set<string>();
    const opaque = new Set<string>();
    const hidden = (path: string) => {
      if (seen.has(path) || removed.has(path)) return true;
      for (let i = path.indexOf("/"); i >= 0; i = path.indexOf("/", i + 1)) {
        const parent = path.slice(0, i);
        if (removed.has(parent) || notDirectory.has(parent) || opaque.has(parent)) return true;
      }
      return false;
    };
    for (let i = layers.length - 1; i >= 0; i--) {
      // A layer's whiteouts hide what the layers below it hold, not its own entries.
      const removes: string[] = [];
      const opaques: string[] = [];
      for await (const entry of layerEntries(i)) {
        const path = entry.path;
        const slash = path.lastIndexOf("/");
        const base = path.slice(slash + 1);
        let emit = false;
        if (path === "." || path === "") {
          // the root itself
        } else if (base === OPAQUE) {
          opaques.push(slash < 0 ? "" : path.slice(0, slash));
        } else if (base.startsWith(WHITEOUT)) {
          removes.push(path.slice(0, slash + 1) + base.slice(WHITEOUT.length));
        } else if (!hidden(path)) {
          seen.add(path);
          if (entry.type !== "directory") notDirectory.add(path);
          emit = true;
        }
        if (emit) yield { entry, layer: i };
        await entry.body.cancel().catch(() => {});
      }
      for (const r of removes) removed.add(r);
      for (const o of opaques) {
        if (o === "") {
          // An opaque root hides every lower layer.
          return;
        }
        opaque.add(o);
      }
    }
  };

  /**
   * The flattened entries with each hardlink after the file it shares data with: reading top
   * down, a link in an upper layer can come before its target in a lower one (an unpacked tree
   * or an extracted tar needs the target first). `size` is a hardlink's target's size.
   */
  const linked = async function* (): AsyncGenerator<
    { entry: TarEntryWithBody; layer: number; size: number }
  > {
    const files = new Map<string, number>();
    const later: { entry: TarEntryWithBody; layer: number }[] = [];
    for await (const item of flattened()) {
      const { entry } = item;
      if (entry.type === "file") files.set(entry.path, entry.size ?? 0);
      if (entry.type === "hardlink") {
        const size = files.get(normalize(entry.linkName ?? ""));
        if (size === undefined) {
          later.push(item);
          continue;
        }
        yield { ...item, size };
        continue;
      }
      yield { ...item, size: entry.type === "file" ? entry.size ?? 0 : 0 };
    }
    // A link whose target no layer leaves behind (removed above it) cannot be made: left out.
    for (const item of later) {
      const size = files.get(normalize(item.entry.linkName ?? ""));
      if (size !== undefined) yield { ...item, size };
    }
  };

  const toFile = (entry: TarEntry, layer: number, size: number): ImageFile => {
    const f: ImageFile = {
      path: entry.path,
      type: entry.type,
      mode: entry.mode & 0o7777,
      uid: entry.uid,
      gid: entry.gid,
      size,
      mtime: entry.mtime,
      layer,
    };
    if (entry.linkName !== undefined) f.linkName = entry.linkName;
    return f;
  };

  const reader: ImageReader = {
    descriptor,
    manifest,
    config,
    layers,
    async *files(opts = {}) {
      if (opts.layer !== undefined) {
        const n = opts.layer;
        if (!Number.isInteger(n) || n < 0 || n >= layers.length) {
          throw new RangeError(
            `${name} has ${layers.length} layers: pick a layer from 0 to ${layers.length - 1}`,
          );
        }
        for await (const entry of layerEntries(n)) {
          await entry.body.cancel().catch(() => {});
          if (entry.path === "." || entry.path === "") continue;
          yield toFile(entry, n, entry.size ?? 0);
        }
        return;
      }
      // Hardlinks show their target's size, as an unpacked tree does.
      for await (const { entry, layer, size } of linked()) yield toFile(entry, layer, size);
    },
    async readFile(path) {
      return await openFile(path, 0);
    },
    exportTar() {
      const entries = linked();
      return new ReadableStream<TarEntry>({
        async pull(controller) {
          const next = await entries.next();
          if (next.done) return controller.close();
          const { entry } = next.value;
          const { body, ...meta } = entry;
          controller.enqueue(entry.type === "file" ? { ...meta, open: () => body } : meta);
        },
        async cancel() {
          await entries.return(undefined);
        },
      }, { highWaterMark: 0 }).pipeThrough(new TarStream());
    },
  };

  const openFile = async (path: string, depth: number): Promise<ReadableStream<Uint8Array>> => {
    const want = normalize(path);
    if (depth > 40) throw new TypeError(`Cannot read ${path} from ${name}: too many links`);
    // Links to follow are resolved within the image; an absolute target is relative to its root.
    const gen = flattened();
    for (;;) {
      const next = await gen.next();
      if (next.done) throw new TypeError(`${name} has no file ${path}`);
      const { entry } = next.value;
      if (entry.path === want) {
        if (entry.type === "file") return streamThenClose(entry.body, gen);
        await gen.return(undefined);
        if (entry.type === "symlink" || entry.type === "hardlink") {
          const target = entry.linkName ?? "";
          const resolved = entry.type === "hardlink" || target.startsWith("/")
            ? target
            : `${want.slice(0, want.lastIndexOf("/") + 1)}${target}`;
          return await openFile(resolved, depth + 1);
        }
        throw new TypeError(`Cannot read ${path} from ${name}: it is a ${entry.type}`);
      }
      if (want.startsWith(`${entry.path}/`) && entry.type === "symlink") {
        await gen.return(undefined);
        const target = entry.linkName ?? "";
        const dir = entry.path.slice(0, entry.path.lastIndexOf("/") + 1);
        const base = target.startsWith("/") ? target : `${dir}${target}`;
        return await openFile(`${base}/${want.slice(entry.path.length + 1)}`, depth + 1);
      }
    }
  };
  return reader;
}

/** `a/./b/../c` → `a/c`, without a leading `/`. */
function normalize(path: string): string {
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return out.join("/");
}

/** The body, then the generator closed (which cancels the layer it was reading). */
function streamThenClose(
  body: ReadableStream<Uint8Array>,
  gen: AsyncGenerator<unknown>,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { value, done } = await reader.read();
      if (done) {
        controller.close();
        reader.releaseLock();
        await gen.return(undefined);
        return;
      }
      controller.enqueue(value);
    },
    async cancel(reason) {
      await reader.cancel(reason);
      await gen.return(undefined);
    },
  });
}

/** The manifest for `platform` under `root` (an index or a manifest). */
async function pickManifest(
  source: ContentSource,
  root: Descriptor,
  platform: Platform | undefined,
  fallback: Platform | undefined,
  name: string,
): Promise<Descriptor> {
  let d = root;
  for (let depth = 0; isIndexMediaType(d.mediaType); depth++) {
    if (depth > 4) throw new TypeError(`${name}: indexes nest too deeply`);
    const index = await readJson<ImageIndex>(source, d);
    const images = (index.manifests ?? []).filter((m) =>
      m.platform?.os !== "unknown" &&
      (isManifestMediaType(m.mediaType) || isIndexMediaType(m.mediaType))
    );
    const offered = images.filter((m) => m.platform).map((m) => formatPlatform(m.platform!));
    const want = platform ?? (images.length === 1 ? undefined : fallback);
    const match = want
      ? images.find((m) => m.platform && samePlatform(m.platform, want))
      : images.length === 1
      ? images[0]
      : undefined;
    if (!match) {
      throw new TypeError(
        want
          ? `${name} has no ${formatPlatform(want)} image (it has ${
            offered.join(", ") || "none"
          }): pick one of those platforms`
          : `${name} holds several platforms (${offered.join(", ")}): pick one with a platform`,
      );
    }
    d = match;
  }
  if (!isManifestMediaType(d.mediaType)) {
    throw new TypeError(`${name} is a ${d.mediaType}, not an image manifest or index`);
  }
  return d;
}
