/**
 * Image archives on disk as a {@linkcode ContentSource}: `oci-archive:` (an OCI
 * layout in a tar) and `docker-archive:` (what `docker save` or skopeo writes:
 * an OCI layout plus `manifest.json`, or the older form with only
 * `manifest.json`, `<id>.json` configs and `<id>/layer.tar` layers, for which a
 * Docker manifest is made as skopeo does). The tar is scanned once for its
 * members' offsets (headers only: contents are skipped by seeking); each blob
 * is then streamed from its offset, never held whole.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseOutputSpec } from "@ocistream/ocistream";
 * import { OciLayout } from "@ocistream/ocistream/layout";
 * import { denoFileSystem, nativeCodecs, openArchiveImage, writeArchive } from "@ocistream/ocistream/deno";
 * const dir = await Deno.makeTempDir();
 * // An OCI archive of a small image (a config, no layers).
 * const layout = await OciLayout.open(denoFileSystem, `${dir}/store`, nativeCodecs);
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
 * const output = parseOutputSpec(`type=oci,dest=${dir}/app.tar`);
 * await writeArchive(output, layout, manifest, ["app:1"], { codecs: nativeCodecs });
 *
 * const { source, root } = await openArchiveImage(`${dir}/app.tar`, "oci", "app:1", nativeCodecs);
 * assertEquals(root.digest, manifest.digest);
 * const bytes = await new Response(await source.fetch(root)).arrayBuffer();
 * assertEquals(bytes.byteLength, manifest.size);
 * await Deno.remove(dir, { recursive: true });
 * ```
 * @module
 */
import type { Codecs } from "../types/codecs.ts";
import type { ContentSource } from "../types/content.ts";
import type { Descriptor } from "../types/descriptor.ts";
import type { ImageIndex } from "../types/manifest.ts";
import {
  DOCKER_CONFIG,
  DOCKER_LAYER,
  DOCKER_LAYER_GZIP,
  DOCKER_LAYER_ZSTD,
  DOCKER_MANIFEST,
} from "../types/media_types.ts";
import { formatReference, parseReference } from "../types/reference.ts";
import { VerifyDigestStream } from "../stages/verify_digest_stream.ts";
import { encodeJson } from "../image/canonical_json.ts";

/** Where a member's bytes are in the archive. */
interface Member {
  offset: number;
  size: number;
}

/** Documents read whole from an archive are at most this big. */
const MAX_DOCUMENT = 4 * 1024 * 1024;
const CHUNK = 256 * 1024;
const REF_NAME = "org.opencontainers.image.ref.name";
const CONTAINERD_NAME = "io.containerd.image.name";

/** A tar file whose members can be read by name, and its blobs by descriptor. */
export class TarFileSource implements ContentSource {
  /** The archive's path. */
  readonly path: string;
  readonly #members: Map<string, Member>;
  readonly #codecs: Pick<Codecs, "sha256">;
  /** Blobs not under `blobs/`: digest → member name (old docker archives). */
  readonly #byDigest = new Map<string, string>();
  /** Documents made in memory (the manifest of an old docker archive). */
  readonly #documents = new Map<string, Uint8Array>();

  private constructor(path: string, members: Map<string, Member>, codecs: Pick<Codecs, "sha256">) {
    this.path = path;
    this.#members = members;
    this.#codecs = codecs;
  }

  /** Scans the archive at `path` for its members. */
  static async open(path: string, codecs: Pick<Codecs, "sha256">): Promise<TarFileSource> {
    return new TarFileSource(path, await scanTar(path), codecs);
  }

  /** Whether the archive has a member named `name` (`./` prefixes ignored). */
  has(name: string): boolean {
    return this.#members.has(name);
  }

  /** Reads a small member whole (at most 4 MiB). */
  async readMember(name: string): Promise<Uint8Array> {
    const m = this.#member(name);
    if (m.size > MAX_DOCUMENT) {
      throw new RangeError(`${this.path}: ${name} is ${m.size} bytes, more than a document may be`);
    }
    return new Uint8Array(await new Response(this.#stream(m)).arrayBuffer());
  }

  /** Streams a member. */
  openMember(name: string): ReadableStream<Uint8Array> {
    return this.#stream(this.#member(name));
  }

  /** The size of a member. */
  memberSize(name: string): number {
    return this.#member(name).size;
  }

  /** Serves `digest` from member `name` (blobs outside `blobs/`). */
  alias(digest: string, name: string): void {
    this.#byDigest.set(digest, name);
  }

  /** Serves `bytes` (a document made in memory) under its digest. */
  addDocument(digest: string, bytes: Uint8Array): void {
    this.#documents.set(digest, bytes);
  }

  /** Streams a blob, verified against the descriptor. */
  fetch(descriptor: Descriptor): Promise<ReadableStream<Uint8Array>> {
    const what = `Cannot read ${descriptor.digest} from ${this.path}`;
    const doc = this.#documents.get(descriptor.digest);
    let body: ReadableStream<Uint8Array>;
    if (doc) {
      body = new Blob([doc as Uint8Array<ArrayBuffer>]).stream();
    } else {
      const [algorithm, hex] = descriptor.digest.split(":");
      const name = this.#byDigest.get(descriptor.digest) ?? `blobs/${algorithm}/${hex}`;
      if (!this.#members.has(name)) {
        return Promise.reject(
          new TypeError(`${what}: the archive has no such blob (it is incomplete)`),
        );
      }
      body = this.openMember(name);
    }
    return Promise.resolve(
      body.pipeThrough(new VerifyDigestStream(this.#codecs, descriptor, what)),
    );
  }

  #member(name: string): Member {
    const m = this.#members.get(name);
    if (!m) throw new TypeError(`${this.path} has no ${name}: is it an image archive?`);
    return m;
  }

  #stream(m: Member): ReadableStream<Uint8Array> {
    let file: Deno.FsFile | undefined;
    let left = m.size;
    const path = this.path;
    return new ReadableStream<Uint8Array>({
      type: "bytes",
      async start() {
        file = await Deno.open(path, { read: true });
        await file.seek(m.offset, Deno.SeekMode.Start);
      },
      async pull(controller) {
        if (left === 0) {
          file?.close();
          file = undefined;
          controller.close();
          return;
        }
        const buffer = new Uint8Array(Math.min(CHUNK, left));
        const n = await file!.read(buffer);
        if (n === null) {
          file?.close();
          file = undefined;
          controller.error(new TypeError(`${path} ends early: the archive is truncated`));
          return;
        }
        left -= n;
        controller.enqueue(buffer.subarray(0, n));
      },
      cancel() {
        file?.close();
        file = undefined;
      },
    });
  }
}

/** Reads the tar headers of `path` (seeking over contents): member name → offset and size. */
async function scanTar(path: string): Promise<Map<string, Member>> {
  const members = new Map<string, Member>();
  using file = await Deno.open(path, { read: true });
  const size = (await file.stat()).size;
  const header = new Uint8Array(512);
  let offset = 0;
  let longName: string | undefined;
  let longLink: string | undefined;
  let paxPath: string | undefined;
  let paxLink: string | undefined;
  // docker save writes one copy of a layer shared by several images and links the others to it.
  const links: { name: string; target: string }[] = [];
  const readExact = async (into: Uint8Array) => {
    let got = 0;
    while (got < into.length) {
      const n = await file.read(into.subarray(got));
      if (n === null) throw new TypeError(`${path} ends inside a tar header: it is truncated`);
      got += n;
    }
  };
  while (offset + 512 <= size) {
    await file.seek(offset, Deno.SeekMode.Start);
    await readExact(header);
    if (header.every((b) => b === 0)) break;
    if (!validChecksum(header)) {
      throw new TypeError(`${path} is not a tar archive (bad header at byte ${offset})`);
    }
    const entrySize = parseOctal(header.subarray(124, 136));
    const type = String.fromCharCode(header[156]!);
    const dataOffset = offset + 512;
    if (dataOffset + entrySize > size) {
      throw new TypeError(`${path} ends inside a member: the archive is truncated`);
    }
    if (type === "L" || type === "K" || type === "x") {
      if (entrySize > 1024 * 1024) throw new TypeError(`${path}: a tar name record is too long`);
      const body = new Uint8Array(entrySize);
      await readExact(body);
      const text = new TextDecoder().decode(body);
      if (type === "L") longName = text.replace(/\0.*$/s, "");
      else if (type === "K") longLink = text.replace(/\0.*$/s, "");
      else {
        paxPath = paxRecord(text, "path") ?? paxPath;
        paxLink = paxRecord(text, "linkpath") ?? paxLink;
      }
    } else {
      let name = longName ?? paxPath ?? headerName(header);
      const link = longLink ?? paxLink ?? field(header, 157, 257);
      longName =
        longLink =
        paxPath =
        paxLink =
          undefined;
      name = name.replace(/^(\.\/)+/, "");
      if (type === "0" || type === "\0" || type === "7") {
        members.set(name, { offset: dataOffset, size: entrySize });
      } else if (type === "1") {
        links.push({ name, target: link.replace(/^(\.\/)+/, "") });
      } else if (type === "2") {
        const dir = name.includes("/") ? name.slice(0, name.lastIndexOf("/") + 1) : "";
        links.push({ name, target: link.startsWith("/") ? link.slice(1) : dir + link });
      }
    }
    offset = dataOffset + Math.ceil(entrySize / 512) * 512;
  }
  // Links resolve to the member they name (links to links too, a bounded number of times).
  for (let round = 0; round < 8; round++) {
    for (const { name, target } of links) {
      const m = members.get(normalizePath(target));
      if (m && !members.has(name)) members.set(name, m);
    }
  }
  return members;
}

function normalizePath(path: string): string {
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return out.join("/");
}

function field(h: Uint8Array, from: number, to: number): string {
  return new TextDecoder().decode(h.subarray(from, to)).replace(/\0.*$/s, "");
}

function headerName(h: Uint8Array): string {
  const text = (a: number, b: number) =>
    new TextDecoder().decode(h.subarray(a, b)).replace(/\0.*$/s, "");
  const name = text(0, 100);
  const magic = text(257, 263);
  const prefix = magic.startsWith("ustar") ? text(345, 500) : "";
  return prefix ? `${prefix}/${name}` : name;
}

function parseOctal(field: Uint8Array): number {
  if (field[0]! & 0x80) {
    // base-256 (GNU) for sizes of 8 GiB and more
    let n = 0;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i]!;
    return n;
  }
  const text = new TextDecoder().decode(field).replace(/[\0 ]+.*$/s, "").trim();
  return text === "" ? 0 : parseInt(text, 8);
}

function validChecksum(h: Uint8Array): boolean {
  const stored = parseOctal(h.subarray(148, 156));
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
  return sum === stored;
}

function paxRecord(text: string, key: string): string | undefined {
  for (const line of text.split("\n")) {
    const m = /^\d+ ([^=]+)=(.*)$/s.exec(line);
    if (m && m[1] === key) return m[2];
  }
  return undefined;
}

/** An image found in an archive. */
export interface ArchiveImage {
  /** Reads its content. */
  source: TarFileSource;
  /** Its root: an index or manifest descriptor. */
  root: Descriptor;
}

/**
 * Opens the image `name` (or the only image) of an `oci` or `docker` archive at `path`.
 * `name` may be a full reference, a short one (`app:1`), or a tag (`1`, OCI archives).
 */
export async function openArchiveImage(
  path: string,
  format: "oci" | "docker",
  name: string | undefined,
  codecs: Pick<Codecs, "sha256">,
): Promise<ArchiveImage> {
  let source: TarFileSource;
  try {
    source = await TarFileSource.open(path, codecs);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new TypeError(`Cannot open ${format}-archive ${path}: no such file`);
    }
    throw e;
  }
  const json = async <T>(member: string): Promise<T> => {
    try {
      return JSON.parse(new TextDecoder().decode(await source.readMember(member))) as T;
    } catch (e) {
      if (e instanceof SyntaxError) throw new TypeError(`${path}: ${member} is not JSON`);
      throw e;
    }
  };
  if (source.has("index.json")) {
    const index = await json<ImageIndex>("index.json");
    const entries = Array.isArray(index.manifests) ? index.manifests : [];
    const pick = pickEntry(entries, name);
    if (pick) return { source, root: pick };
    if (format === "oci" || !source.has("manifest.json")) {
      throw new TypeError(noImage(path, name, entries.map(entryName)));
    }
  }
  if (format === "oci") throw new TypeError(`${path} is not an OCI archive (no index.json)`);
  // The older docker save form: manifest.json only.
  const list = await json<{ Config: string; RepoTags?: string[] | null; Layers: string[] }[]>(
    "manifest.json",
  );
  if (!Array.isArray(list) || list.length === 0) {
    throw new TypeError(`${path}: manifest.json lists no image`);
  }
  let entry = list[0]!;
  if (name !== undefined) {
    const want = fullName(name);
    const found = list.find((e) => (e.RepoTags ?? []).some((t) => fullName(t) === want));
    if (!found) {
      throw new TypeError(noImage(path, name, list.flatMap((e) => e.RepoTags ?? [])));
    }
    entry = found;
  } else if (list.length > 1) {
    throw new TypeError(noImage(path, name, list.flatMap((e) => e.RepoTags ?? [])));
  }
  const configBytes = await source.readMember(entry.Config);
  const config: Descriptor = {
    mediaType: DOCKER_CONFIG,
    digest: await digestOf(codecs, new Blob([configBytes as Uint8Array<ArrayBuffer>]).stream()),
    size: configBytes.byteLength,
  };
  source.alias(config.digest, entry.Config);
  const layers: Descriptor[] = [];
  for (const member of entry.Layers) {
    const digest = /^blobs\/sha256\/([0-9a-f]{64})$/.exec(member)?.[1];
    const layer: Descriptor = {
      mediaType: await layerType(source.openMember(member)),
      digest: digest ? `sha256:${digest}` : await digestOf(codecs, source.openMember(member)),
      size: source.memberSize(member),
    };
    source.alias(layer.digest, member);
    layers.push(layer);
  }
  const manifest = encodeJson({ schemaVersion: 2, mediaType: DOCKER_MANIFEST, config, layers });
  const root: Descriptor = {
    mediaType: DOCKER_MANIFEST,
    digest: await digestOf(codecs, new Blob([manifest as Uint8Array<ArrayBuffer>]).stream()),
    size: manifest.byteLength,
  };
  source.addDocument(root.digest, manifest);
  return { source, root };
}

function entryName(d: Descriptor): string {
  return d.annotations?.[CONTAINERD_NAME] ?? d.annotations?.[REF_NAME] ?? d.digest;
}

function fullName(text: string): string {
  try {
    const ref = parseReference(text);
    return formatReference(
      ref.tag === undefined && ref.digest === undefined ? { ...ref, tag: "latest" } : ref,
    );
  } catch {
    return text;
  }
}

function pickEntry(entries: Descriptor[], name: string | undefined): Descriptor | undefined {
  if (name === undefined) {
    const digests = new Set(entries.map((e) => e.digest));
    return digests.size === 1 ? entries[0] : undefined;
  }
  if (name.startsWith("sha256:")) return entries.find((e) => e.digest === name);
  const want = fullName(name);
  return entries.find((e) =>
    e.annotations?.[REF_NAME] === name ||
    (e.annotations?.[CONTAINERD_NAME] !== undefined &&
      fullName(e.annotations[CONTAINERD_NAME]) === want)
  );
}

function noImage(path: string, name: string | undefined, names: string[]): string {
  const have = names.length ? names.join(", ") : "no named image";
  return name === undefined
    ? `${path} holds several images (${have}): name one, e.g. ${path}:NAME`
    : `${path} has no image ${JSON.stringify(name)} (it has ${have})`;
}

async function digestOf(
  codecs: Pick<Codecs, "sha256">,
  body: ReadableStream<Uint8Array>,
): Promise<string> {
  const hasher = await codecs.sha256();
  for await (const chunk of body) hasher.update(chunk);
  return `sha256:${hasher.digestHex()}`;
}

/** The Docker layer media type for a layer's first bytes (gzip, zstd or plain tar). */
async function layerType(body: ReadableStream<Uint8Array>): Promise<string> {
  const reader = body.getReader();
  const { value } = await reader.read();
  await reader.cancel();
  if (value && value[0] === 0x1f && value[1] === 0x8b) return DOCKER_LAYER_GZIP;
  if (value && value[0] === 0x28 && value[1] === 0xb5 && value[2] === 0x2f && value[3] === 0xfd) {
    return DOCKER_LAYER_ZSTD;
  }
  return DOCKER_LAYER;
}
