/**
 * Turns a stream of tar entries into a layer blob in one pass:
 * entries → tar → (diffID hash) → compressor → (blob hash) → out.
 * Each byte is read once, compressed once and hashed twice (DESIGN.md).
 *
 * @example Encode two files as a gzip layer
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { encodeLayer, webCodecs } from "@ocistream/ocistream/stages";
 * const entries = ReadableStream.from([
 *   { path: "hello.txt", type: "file" as const, mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 5,
 *     open: () => new Blob(["hello"]).stream() },
 * ]);
 * const layer = encodeLayer(entries, { compression: "gzip", codecs: webCodecs });
 * await layer.blob.pipeTo(new WritableStream());
 * const result = await layer.result;
 * assertEquals([result.diffId.startsWith("sha256:"), result.digest !== result.diffId], [true, true]);
 * ```
 * @module
 */
import type { Codecs } from "../types/codecs.ts";
import type { Compression } from "../types/media_types.ts";
import type { TarEntry } from "../types/tar_entry.ts";
import { declareDigest, DigestStream } from "./digest_stream.ts";
import { EstargzStream } from "./estargz_stream.ts";
import { tarStream } from "./tar_stream.ts";
import { keepRawTarHeader, type TarEntryWithBody, UntarStream } from "./untar_stream.ts";

/** Default compression levels (SPEC §1). */
export const DEFAULT_LEVELS: Record<Compression, number> = {
  uncompressed: 0,
  gzip: 6,
  estargz: 6,
  zstd: 3,
};

/** Options for {@link encodeLayer}. */
export interface EncodeLayerOptions {
  /** Compression of the blob. */
  compression: Compression;
  /** Compression level; the algorithm's default when absent. */
  level?: number;
  /** Hashing and compression primitives. */
  codecs: Codecs;
  /** Files eStargz should put first (prefetch). */
  prioritizedFiles?: string[];
  /** eStargz chunk size (default 4 MiB). */
  chunkSize?: number;
}

/** What is known about a layer once its blob stream has ended. */
export interface EncodedLayer {
  /** sha256 of the uncompressed tar. */
  diffId: string;
  /** sha256 of the blob. */
  digest: string;
  /** Blob size. */
  size: number;
  /** Size of the uncompressed tar. */
  uncompressedSize: number;
  /** Layer annotations the compression requires (eStargz TOC digest, ...). */
  annotations: Record<string, string>;
  /**
   * For {@link recompressLayer}: sha256 of the source layer's tar. It equals `diffId`
   * except for a conversion to eStargz, whose tar gains landmark and TOC entries.
   */
  sourceDiffId?: string;
}

/** The blob stream and the promise of its digests. */
export interface LayerEncoding {
  /** The layer blob; read it to the end to settle `result`. */
  blob: ReadableStream<Uint8Array>;
  /** Settles when `blob` has been read to its end. */
  result: Promise<EncodedLayer>;
}

/** Encodes tar entries as a layer blob with the given compression. */
export function encodeLayer(
  entries: ReadableStream<TarEntry>,
  options: EncodeLayerOptions,
): LayerEncoding {
  const level = options.level ?? DEFAULT_LEVELS[options.compression];
  const { codecs } = options;
  if (options.compression === "estargz") {
    const estargz = new EstargzStream(codecs, {
      level,
      prioritizedFiles: options.prioritizedFiles,
      chunkSize: options.chunkSize,
    });
    const blob = entries.pipeThrough(estargz);
    // The writer hashes the blob as it emits it: a sink can use that digest, not hash again.
    declareDigest(blob, estargz.result.then((r) => ({ digest: r.digest, size: r.size })));
    const result = estargz.result.then((r): EncodedLayer => ({
      diffId: r.diffId,
      digest: r.digest,
      size: r.size,
      uncompressedSize: r.uncompressedSize,
      annotations: {
        "containerd.io/snapshot/stargz/toc.digest": r.tocDigest,
        "io.containers.estargz.uncompressed-size": String(r.uncompressedSize),
      },
    }));
    return { blob, result };
  }
  const tarDigest = new DigestStream(codecs);
  const tar = tarStream(entries).pipeThrough(tarDigest);
  return compressTar(tar, tarDigest, options.compression, level, codecs);
}

/**
 * Re-compresses an existing layer blob in one pass (force-compression):
 * decompress → (source diffID hash) → compress → (blob hash). A conversion to eStargz
 * reads the tar into entries and writes them through {@link EstargzStream}, so its
 * `diffId` is that of the new tar (landmark and TOC added, as BuildKit's converter does);
 * `sourceDiffId` is always the source tar's.
 *
 * @example Re-compress an uncompressed layer as zstd
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { encodeLayer, recompressLayer, webCodecs } from "@ocistream/ocistream/stages";
 * const entries = ReadableStream.from([
 *   { path: "a", type: "file" as const, mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 1,
 *     open: () => new Blob(["a"]).stream() },
 * ]);
 * const tar = encodeLayer(entries, { compression: "uncompressed", codecs: webCodecs });
 * const gz = recompressLayer(tar.blob, "uncompressed", { compression: "gzip", codecs: webCodecs });
 * await gz.blob.pipeTo(new WritableStream());
 * const [before, after] = await Promise.all([tar.result, gz.result]);
 * assertEquals(before.diffId === after.diffId, true);
 * ```
 */
export function recompressLayer(
  blob: ReadableStream<Uint8Array>,
  from: Exclude<Compression, "estargz">,
  options: EncodeLayerOptions,
): LayerEncoding {
  const { codecs } = options;
  const level = options.level ?? DEFAULT_LEVELS[options.compression];
  const tarDigest = new DigestStream(codecs);
  const tar = (from === "uncompressed" ? blob : blob.pipeThrough(codecs.decompress(from)))
    .pipeThrough(tarDigest);
  if (options.compression === "estargz") {
    // The headers travel as read: BuildKit's conversion is lossless (AppendTarLossLess).
    const entries = tar.pipeThrough(new UntarStream({ keepRawHeaders: true }))
      .pipeThrough(entryBodies());
    const encoding = encodeLayer(entries, {
      ...options,
      level,
    });
    const result = Promise.all([tarDigest.result, encoding.result]).then((
      [t, e],
    ): EncodedLayer => ({ ...e, sourceDiffId: t.digest }));
    return { blob: encoding.blob, result };
  }
  const encoding = compressTar(tar, tarDigest, options.compression, level, codecs);
  const result = encoding.result.then((r): EncodedLayer => ({ ...r, sourceDiffId: r.diffId }));
  return { blob: encoding.blob, result };
}

/**
 * Tar bytes (already flowing through `tarDigest`) → the blob: compressed and
 * hashed on the way, or the tar itself when uncompressed (digest = diffID).
 */
function compressTar(
  tar: ReadableStream<Uint8Array>,
  tarDigest: DigestStream,
  compression: Exclude<Compression, "estargz">,
  level: number,
  codecs: Codecs,
): LayerEncoding {
  if (compression === "uncompressed") {
    const result = tarDigest.result.then((t): EncodedLayer => ({
      diffId: t.digest,
      digest: t.digest,
      size: t.size,
      uncompressedSize: t.size,
      annotations: {},
    }));
    return { blob: tar, result };
  }
  const blobDigest = new DigestStream(codecs);
  const blob = tar.pipeThrough(codecs.compress(compression, level)).pipeThrough(blobDigest);
  const result = Promise.all([tarDigest.result, blobDigest.result]).then((
    [t, b],
  ): EncodedLayer => ({
    diffId: t.digest,
    digest: b.digest,
    size: b.size,
    uncompressedSize: t.size,
    annotations: {},
  }));
  return { blob, result };
}

/**
 * Parsed entries → writer entries: a file's body becomes its `open()`; bodies the writer
 * never opens (non-files, empty files) are discarded at once, since the reader produces
 * the next entry only after the previous body is done.
 */
function entryBodies(): TransformStream<TarEntryWithBody, TarEntry> {
  return new TransformStream({
    async transform(read, controller) {
      const { body, ...entry } = read;
      if (entry.type !== "file" || !entry.size) {
        await body.cancel();
        keepRawTarHeader(read, entry);
        controller.enqueue(entry);
        return;
      }
      let opened = false;
      const out: TarEntry = {
        ...entry,
        open: () => {
          if (opened) {
            throw new TypeError(
              `Cannot read the body of ${entry.path} twice while converting a layer`,
            );
          }
          opened = true;
          return body;
        },
      };
      keepRawTarHeader(read, out);
      controller.enqueue(out);
    },
  });
}
