/**
 * An OCI image layout on a file system, used as the local image store and as
 * the `type=oci,tar=false` output (SPEC §9). Blobs are content-addressed and
 * written atomically (temp file + rename); `index.json` is replaced whole
 * under a lock, so concurrent exports lose no names and a killed export
 * leaves a valid layout.
 *
 * @example Open a store and list its images
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { OciLayout } from "@ocistream/ocistream/layout";
 * import { createDenoEnvironment, denoFileSystem, nativeCodecs } from "@ocistream/ocistream/deno";
 * // A temporary folder of the environment's own, removed at the end.
 * const temp = await (await createDenoEnvironment({ openStore: false })).makeTempLayout!();
 * const dir = temp.layout.root;
 * const store = await OciLayout.open(denoFileSystem, `${dir}/store`, nativeCodecs);
 * assertEquals(await store.images(), []); // created empty
 * await temp.dispose();
 * ```
 * @module
 */
import type { Codecs } from "../types/codecs.ts";
import type { BlobId, ContentSink, ContentSource, FetchOptions } from "../types/content.ts";
import { type Descriptor, descriptor as canonicalDescriptor } from "../types/descriptor.ts";
import {
  AlreadyExistsError,
  type FileSystem,
  NotFoundError,
  pathExists,
  writeFileAtomic,
} from "../types/file_system.ts";
import type { ImageIndex } from "../types/manifest.ts";
import { OCI_INDEX } from "../types/media_types.ts";
import { DigestStream, measuredDigest } from "../stages/digest_stream.ts";
import { DigestMismatchError, VerifyDigestStream } from "../stages/verify_digest_stream.ts";

/** The annotation holding a name in an OCI layout's `index.json`. */
export const REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name";
/** containerd's name annotation, written beside the OCI one. */
export const CONTAINERD_NAME_ANNOTATION = "io.containerd.image.name";

const LAYOUT_FILE = new TextEncoder().encode('{"imageLayoutVersion":"1.0.0"}');
// The lock guards only a read-modify-write of index.json (milliseconds), so a
// lock this old was left by a killed process.
const LOCK_STALE_MS = 10_000;

/** One named image in a layout. */
export interface LayoutImage {
  /** The name (`org.opencontainers.image.ref.name`), if any. */
  name?: string;
  /** The root descriptor as stored in `index.json`. */
  descriptor: Descriptor;
}

/** Options for {@link OciLayout.open}. */
export interface OciLayoutOptions {
  /** Create the layout when missing (default true). */
  create?: boolean;
}

/** An OCI image layout: content store plus names. */
export class OciLayout implements ContentSource, ContentSink {
  readonly #fs: FileSystem;
  readonly #codecs: Codecs;
  /** The layout's root folder. */
  readonly root: string;

  private constructor(fs: FileSystem, root: string, codecs: Codecs) {
    this.#fs = fs;
    this.root = root.replace(/\/+$/, "") || "/";
    this.#codecs = codecs;
  }

  /** Opens (and by default creates) a layout at `root`. */
  static async open(
    fs: FileSystem,
    root: string,
    codecs: Codecs,
    options: OciLayoutOptions = {},
  ): Promise<OciLayout> {
    const layout = new OciLayout(fs, root, codecs);
    const hasMarker = await pathExists(fs, `${layout.root}/oci-layout`);
    if (!hasMarker) {
      if (options.create === false) {
        throw new TypeError(
          `${root} is not an OCI image layout (no oci-layout file): check the path`,
        );
      }
      await fs.mkdir(`${layout.root}/blobs/sha256`, { recursive: true });
      await writeFileAtomic(fs, `${layout.root}/oci-layout`, LAYOUT_FILE);
    } else {
      await fs.mkdir(`${layout.root}/blobs/sha256`, { recursive: true });
    }
    if (!(await pathExists(fs, `${layout.root}/index.json`))) {
      await writeFileAtomic(fs, `${layout.root}/index.json`, encodeIndex(emptyIndex()));
    }
    return layout;
  }

  /** The path of a blob inside the layout. */
  blobPath(digest: string): string {
    const [algorithm, hex] = splitDigest(digest);
    return `${this.root}/blobs/${algorithm}/${hex}`;
  }

  /** Whether the blob is present. */
  async hasBlob(digest: string): Promise<boolean> {
    return await pathExists(this.#fs, this.blobPath(digest));
  }

  /**
   * Streams a blob, failing at the end if its bytes do not match the descriptor (unless
   * `verify: false`: the file as it is).
   */
  async fetch(descriptor: Descriptor, options?: FetchOptions): Promise<ReadableStream<Uint8Array>> {
    let stream: ReadableStream<Uint8Array>;
    const path = this.blobPath(descriptor.digest);
    try {
      // Only a regular file of the declared size: a blob that is a symlink (to a secret, to
      // /dev/zero) or longer than its descriptor is never read, even with verify: false.
      const info = await this.#fs.lstat(path);
      if (info.type !== "file") {
        throw new TypeError(
          `Cannot read blob ${descriptor.digest} in ${this.root}: it is a ${info.type}, not a ` +
            "regular file; a layout's blobs must be regular files",
        );
      }
      if (typeof descriptor.size === "number" && info.size !== descriptor.size) {
        throw new DigestMismatchError(
          `Cannot read blob ${descriptor.digest} in ${this.root}: it is ${info.size} bytes, ` +
            `but its descriptor says ${descriptor.size}`,
        );
      }
      stream = await this.#fs.openRead(path);
    } catch (e) {
      if (e instanceof NotFoundError) {
        throw new NotFoundError(`blob ${descriptor.digest} in ${this.root}`, { cause: e });
      }
      throw e;
    }
    if (options?.verify === false) return stream;
    return stream.pipeThrough(new VerifyDigestStream(this.#codecs, descriptor));
  }

  /** Reads a small blob (manifest, config) whole, verified. */
  async readBlob(descriptor: Descriptor): Promise<Uint8Array> {
    return new Uint8Array(await new Response(await this.fetch(descriptor)).arrayBuffer());
  }

  /** Writes a blob through a temp file; it becomes visible only if its digest matches. */
  async putBlob(
    body: ReadableStream<Uint8Array>,
    expected: BlobId | Promise<BlobId>,
  ): Promise<void> {
    const known = isBlobId(expected) ? expected : undefined;
    if (known && await this.hasBlob(known.digest)) {
      await body.cancel();
      await this.#touch(known.digest);
      return;
    }
    const tmp = `${this.root}/blobs/sha256/.tmp-${randomSuffix()}`;
    // A body that is a DigestStream's output (a freshly encoded layer) was hashed on its way
    // here: use that digest of these very bytes rather than hashing them a second time.
    const hashed = measuredDigest(body);
    const digester = hashed ? undefined : new DigestStream(this.#codecs);
    try {
      await this.#fs.writeFile(tmp, digester ? body.pipeThrough(digester) : body, { mode: 0o644 });
      const [actual, wanted] = await Promise.all([hashed ?? digester!.result, expected]);
      if (actual.digest !== wanted.digest || actual.size !== wanted.size) {
        throw new DigestMismatchError(
          `Blob content does not match its descriptor: expected ${wanted.digest} (${wanted.size} bytes), got ${actual.digest} (${actual.size} bytes)`,
        );
      }
      await this.#fs.rename(tmp, this.blobPath(actual.digest));
    } catch (e) {
      await this.#fs.remove(tmp).catch(() => {});
      throw e;
    }
  }

  /** Writes a manifest or index as a blob (names are set with {@link setNames}). */
  async putManifest(bytes: Uint8Array, descriptor: Descriptor): Promise<void> {
    await this.putBytes(bytes, descriptor);
  }

  /** Writes small bytes as a blob. */
  async putBytes(bytes: Uint8Array, id: BlobId): Promise<void> {
    if (await this.hasBlob(id.digest)) return await this.#touch(id.digest);
    await this.putBlob(new Blob([bytes as Uint8Array<ArrayBuffer>]).stream(), id);
  }

  /** Reads `index.json`. */
  async readIndex(): Promise<ImageIndex> {
    const bytes = await this.#fs.readFile(`${this.root}/index.json`);
    let index: ImageIndex;
    try {
      index = JSON.parse(new TextDecoder().decode(bytes));
    } catch (e) {
      throw new SyntaxError(`${this.root}/index.json is not valid JSON: ${(e as Error).message}`);
    }
    if (!Array.isArray(index.manifests)) {
      throw new SyntaxError(`${this.root}/index.json has no manifests array`);
    }
    for (const [i, d] of (index.manifests as unknown[]).entries()) {
      const e = d as Partial<Descriptor> | null;
      if (
        typeof e !== "object" || e === null || typeof e.digest !== "string" ||
        typeof e.mediaType !== "string" || typeof e.size !== "number" ||
        (e.annotations !== undefined &&
          (typeof e.annotations !== "object" || e.annotations === null))
      ) {
        throw new SyntaxError(
          `${this.root}/index.json: manifests[${i}] is not a descriptor (mediaType, digest, ` +
            "size); fix or remove that entry",
        );
      }
    }
    return index;
  }

  /** Every entry of `index.json`, with its name when it has one. */
  async images(): Promise<LayoutImage[]> {
    const index = await this.readIndex();
    return index.manifests.map((d) => {
      const name = d.annotations?.[REF_NAME_ANNOTATION];
      return name === undefined ? { descriptor: d } : { name, descriptor: d };
    });
  }

  /** Finds an image by name, by `name@digest`, or by digest. */
  async resolve(ref: string): Promise<Descriptor | undefined> {
    const images = await this.images();
    const byName = images.find((i) => i.name === ref);
    if (byName) return byName.descriptor;
    const digest = ref.includes("@") ? ref.slice(ref.lastIndexOf("@") + 1) : ref;
    return images.find((i) => i.descriptor.digest === digest)?.descriptor;
  }

  /**
   * Points each name at `root` in `index.json` (replacing what the names
   * pointed at), or adds an unnamed entry when `names` is empty.
   * `rootAnnotations` are the root descriptor's own annotations
   * (`annotation-index-descriptor.*`).
   */
  async setNames(root: Descriptor, names: string[]): Promise<void> {
    await this.updateIndex((index) => {
      const keep = index.manifests.filter((d) => {
        const name = d.annotations?.[REF_NAME_ANNOTATION];
        if (name === undefined) return !(names.length === 0 && d.digest === root.digest);
        return !names.includes(name);
      });
      const added = names.length === 0
        ? [canonicalDescriptor(root)]
        : names.map((name) =>
          canonicalDescriptor({
            ...root,
            annotations: {
              ...root.annotations,
              [CONTAINERD_NAME_ANNOTATION]: name,
              [REF_NAME_ANNOTATION]: name,
            },
          })
        );
      return { ...index, manifests: [...keep, ...added] };
    });
  }

  /** Removes names from `index.json`; returns the names that were there. */
  async removeNames(names: string[]): Promise<string[]> {
    const removed: string[] = [];
    await this.updateIndex((index) => ({
      ...index,
      manifests: index.manifests.filter((d) => {
        const name = d.annotations?.[REF_NAME_ANNOTATION];
        if (name !== undefined && names.includes(name)) {
          removed.push(name);
          return false;
        }
        return true;
      }),
    }));
    return removed;
  }

  /** Read-modify-write of `index.json` under the layout's lock. */
  async updateIndex(change: (index: ImageIndex) => ImageIndex): Promise<void> {
    await this.withLock(async () => {
      const next = change(await this.readIndex());
      await writeFileAtomic(this.#fs, `${this.root}/index.json`, encodeIndex(next));
    });
  }

  /** Runs `fn` holding the layout's exclusive lock (a lock file; stale locks are broken). */
  async withLock<T>(fn: () => Promise<T>): Promise<T> {
    const lock = `${this.root}/index.json.lock`;
    const token = new TextEncoder().encode(`${Date.now()}`);
    for (let attempt = 0;; attempt++) {
      try {
        await this.#fs.createExclusive(lock, token);
        break;
      } catch (e) {
        if (!(e instanceof AlreadyExistsError)) throw e;
        const info = await this.#fs.lstat(lock).catch(() => undefined);
        if (info && Date.now() - info.mtime * 1000 > LOCK_STALE_MS) {
          await this.#fs.remove(lock);
          continue;
        }
        await new Promise((r) => setTimeout(r, Math.min(5 + attempt * 5, 100)));
      }
    }
    try {
      return await fn();
    } finally {
      await this.#fs.remove(lock);
    }
  }

  /** Marks a reused blob as fresh, so `prune`'s grace period protects it until it is named. */
  async #touch(digest: string): Promise<void> {
    const now = Date.now() / 1000;
    await this.#fs.utime(this.blobPath(digest), now, now).catch(() => {});
  }
}

function emptyIndex(): ImageIndex {
  return { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] };
}

function encodeIndex(index: ImageIndex): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(index));
}

function splitDigest(digest: string): [string, string] {
  const m = /^(sha256):([a-f0-9]{64})$/.exec(digest);
  if (!m) throw new TypeError(`Invalid digest "${digest}": expected sha256:<64 hex digits>`);
  return [m[1]!, m[2]!];
}

function isBlobId(x: BlobId | Promise<BlobId>): x is BlobId {
  return typeof (x as BlobId).digest === "string";
}

function randomSuffix(): string {
  return crypto.randomUUID().slice(0, 12);
}
