/**
 * Copies an image or index graph from a {@linkcode ContentSource} to a
 * {@linkcode ContentSink} in the registry push order of SPEC §8: every blob
 * (skipped when present, bounded concurrency), then child manifests by
 * digest, then the root by tag (or by digest). Blob bytes stream from the
 * source; only manifests are held in memory. Between two repositories of one
 * registry each blob is mounted (no byte read or sent); a repository that
 * refuses the mount gets it uploaded. One shared client serves both sides: a
 * push waits for its source's read without holding a client slot.
 *
 * @example
 * ```ts ignore
 * import { copyImage } from "./copy_image.ts";
 * import { RegistryClient } from "../registry/registry_client.ts";
 * import { RegistryRepository } from "../sinks/registry_repository.ts";
 * declare const layout: import("../types/content.ts").ContentSource;
 * declare const root: import("../types/descriptor.ts").Descriptor;
 * const sink = new RegistryRepository(new RegistryClient("127.0.0.1:5000"), "demo/app");
 * await copyImage(layout, root, sink, { tags: ["v1"] });
 * ```
 * @module
 */
import type { BlobId, ContentSink, ContentSource } from "../types/content.ts";
import type { Descriptor } from "../types/descriptor.ts";
import { isIndexMediaType } from "../types/media_types.ts";
import { isValidTag } from "../types/reference.ts";
import { readDocumentBytes } from "./read_json.ts";
import { DigestMismatchError } from "../stages/verify_digest_stream.ts";

/** A sink that can re-read a blob to restart a failed upload, and mount it (registries). */
export interface ReopenableSink extends ContentSink {
  /** Writes a blob from a source that can be opened again; returns what it took. */
  putBlobFrom(
    id: BlobId,
    open: () => Promise<ReadableStream<Uint8Array>>,
    mountFrom?: string[],
  ): Promise<"exists" | "mounted" | "uploaded">;
  /**
   * The repository of this sink's registry that `source` is, when blobs can be mounted from it
   * (a repository of the same registry), else `undefined`.
   */
  mountableFrom?(source: ContentSource): string | undefined;
}

/** One step of a copy, for progress reports. */
export type CopyEvent =
  | { type: "blob"; digest: string; size: number; result: "exists" | "mounted" | "uploaded" }
  | { type: "manifest"; digest: string; mediaType: string; tag?: string };

/** Options of {@linkcode copyImage}. */
export interface CopyImageOptions {
  /** Tags for the root (each one a `PUT` by tag). Not allowed with `pushByDigest`. */
  tags?: string[];
  /** Put the root by digest only and create no tag. */
  pushByDigest?: boolean;
  /** Blobs copied at once (default 4). */
  concurrency?: number;
  /** Called after each blob and manifest. */
  onProgress?: (event: CopyEvent) => void;
  /** Repositories on the target registry to mount blobs from. */
  mountFrom?: string[];
  /**
   * Mount blobs from the source when it is another repository of the target's registry
   * (default `true`); `false` reads and uploads every missing blob.
   */
  mount?: boolean;
}

/** What a copy did. */
export interface CopyImageResult {
  /** The root descriptor that was copied. */
  root: Descriptor;
  /** Every blob with what it took. */
  blobs: { digest: string; result: "exists" | "mounted" | "uploaded" }[];
  /** Manifests and indexes put, children first, root last. */
  manifests: string[];
}

interface Node {
  descriptor: Descriptor;
  bytes: Uint8Array;
}

/** Copies the graph under `root` from `source` to `sink`. */
export async function copyImage(
  source: ContentSource,
  root: Descriptor,
  sink: ContentSink,
  options: CopyImageOptions = {},
): Promise<CopyImageResult> {
  const tags = options.tags ?? [];
  if (options.pushByDigest && tags.length > 0) {
    throw new TypeError(
      `Cannot push by digest with tags (${tags.join(", ")}): drop the tags or push-by-digest`,
    );
  }
  for (const t of tags) {
    if (!isValidTag(t)) {
      throw new TypeError(
        `Invalid tag "${t}": up to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'`,
      );
    }
  }
  const concurrency = options.concurrency ?? 4;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError(`Invalid concurrency ${concurrency}: use an integer of at least 1`);
  }

  // Walk the graph: manifests children-first, blobs deduplicated.
  const manifests: Node[] = [];
  const blobs = new Map<string, Descriptor>();
  const seen = new Set<string>();
  const walk = async (d: Descriptor): Promise<void> => {
    if (seen.has(d.digest)) return;
    seen.add(d.digest);
    const bytes = await readDocumentBytes(source, d);
    let doc: {
      manifests?: Descriptor[];
      config?: Descriptor;
      layers?: Descriptor[];
      blobs?: Descriptor[];
    };
    try {
      doc = JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      throw new SyntaxError(`Cannot copy ${d.mediaType} ${d.digest}: it is not JSON`);
    }
    if (isIndexMediaType(d.mediaType) || Array.isArray(doc.manifests)) {
      for (const child of doc.manifests ?? []) await walk(child);
    } else {
      for (const b of [doc.config, ...(doc.layers ?? []), ...(doc.blobs ?? [])]) {
        if (!b || isForeign(b)) continue;
        if (!blobs.has(b.digest)) blobs.set(b.digest, b);
      }
    }
    manifests.push({ descriptor: d, bytes });
  };
  await walk(root);

  // A copy within one registry mounts each blob from the source repository (SPEC §8):
  // the registry links it, no byte is read or sent. Repositories that refuse fall back to upload.
  const mountFrom = [...(options.mountFrom ?? [])];
  const own = options.mount !== false && isReopenable(sink)
    ? sink.mountableFrom?.(source)
    : undefined;
  if (own !== undefined && !mountFrom.includes(own)) mountFrom.unshift(own);

  // Blobs first, a bounded number at a time.
  const results: CopyImageResult["blobs"] = [];
  const queue = [...blobs.values()];
  const worker = async () => {
    for (let b = queue.shift(); b; b = queue.shift()) {
      const d = b;
      const id = { digest: d.digest, size: d.size };
      // The sink checks the bytes against `id` (every ContentSink must), so the source need
      // not hash them as well; when the sink refuses the bytes it read, the source is
      // checked, to blame it when it is bad.
      let read = false;
      const open = () => {
        read = true;
        return source.fetch(d, { verify: false });
      };
      let result: "exists" | "mounted" | "uploaded";
      try {
        if (isReopenable(sink)) {
          result = await sink.putBlobFrom(id, open, mountFrom);
        } else if (await sink.hasBlob(d.digest)) {
          result = "exists";
        } else {
          await sink.putBlob(await open(), id);
          result = "uploaded";
        }
      } catch (e) {
        if (!read || !(e instanceof DigestMismatchError)) throw e;
        const check = await source.fetch(d).then((body) => body.pipeTo(new WritableStream()))
          .then(() => undefined, (problem) => problem);
        if (check instanceof DigestMismatchError) {
          throw new DigestMismatchError(
            `Cannot copy blob ${d.digest}: the source's copy is damaged (${check.message})`,
          );
        }
        throw e;
      }
      results.push({ digest: d.digest, result });
      options.onProgress?.({ type: "blob", digest: d.digest, size: d.size, result });
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, worker));

  // Then child manifests by digest (children before the indexes that list them), then the root.
  const put: string[] = [];
  for (const m of manifests) {
    if (m.descriptor.digest === root.digest) continue;
    await sink.putManifest(m.bytes, m.descriptor);
    put.push(m.descriptor.digest);
    options.onProgress?.({
      type: "manifest",
      digest: m.descriptor.digest,
      mediaType: m.descriptor.mediaType,
    });
  }
  const rootBytes = manifests[manifests.length - 1]!.bytes;
  const rootTags: (string | undefined)[] = options.pushByDigest || tags.length === 0
    ? [undefined]
    : tags;
  for (const tag of rootTags) {
    await sink.putManifest(rootBytes, root, tag);
    options.onProgress?.({
      type: "manifest",
      digest: root.digest,
      mediaType: root.mediaType,
      ...(tag !== undefined ? { tag } : {}),
    });
  }
  put.push(root.digest);
  return { root, blobs: results, manifests: put };
}

function isReopenable(sink: ContentSink): sink is ReopenableSink {
  return typeof (sink as Partial<ReopenableSink>).putBlobFrom === "function";
}

/** Foreign (non-distributable) layers are fetched from their URLs, never pushed. */
function isForeign(d: Descriptor): boolean {
  return (d.urls?.length ?? 0) > 0 &&
    (d.mediaType.includes("foreign") || d.mediaType.includes("nondistributable"));
}
