/**
 * The layer cache in the store: re-exporting a folder whose files did not change, with the same
 * encoding options, reuses the layer blob already in the store instead of reading and
 * compressing every file again (issue 7).
 *
 * The key is a sha256 over the walk's metadata (path, type, mode, owner, size, mtime, link
 * target, device numbers, xattrs and the `lstat` inode, device and link count of every entry)
 * plus the encoding options. Only entries that `directoryEntries` produced carry that `lstat`
 * proof ({@link entryFileInfo}); any other layer (files in memory, rewritten entries) is never
 * cached. A file modified in place with its size, mtime and inode kept is not detected (as with
 * make or rsync); files modified in the last {@link RACY_SECONDS} seconds make the layer
 * uncacheable, so a write landing in the same mtime tick as the walk cannot be missed.
 *
 * Entries live in `<store>/cache/layers/<key>.json`, written atomically after the blob is stored.
 * On a hit the blob's size is checked, and its digest unless the blob is provably the file the
 * cache last saw verified (see {@link LayerCacheSettings.verify}); a corrupt or stale entry is
 * deleted (with a corrupt blob) and the layer rebuilt, never exported.
 *
 * @example Key a folder, look it up, record it
 * ```ts
 * import { assert, assertEquals } from "@std/assert";
 * import { LayerCache, OciLayout } from "@ocistream/ocistream/layout";
 * import { denoFileSystem, directoryEntries, nativeCodecs, createDenoEnvironment } from "@ocistream/ocistream/deno";
 * // A temporary folder of the environment's own, removed at the end.
 * const temp = await (await createDenoEnvironment({ openStore: false })).makeTempLayout!();
 * const dir = `${temp.layout.root}/work`;
 * await denoFileSystem.mkdir(dir);
 * const store = await OciLayout.open(denoFileSystem, `${dir}/store`, nativeCodecs);
 * const cache = new LayerCache(denoFileSystem, store, nativeCodecs);
 * // A folder written long enough ago (files changed in the last seconds are not cached).
 * await denoFileSystem.mkdir(`${dir}/app`);
 * await denoFileSystem.writeFile(`${dir}/app/a.txt`, new TextEncoder().encode("a"));
 * await denoFileSystem.utime(`${dir}/app/a.txt`, 1e9, 1e9);
 * await denoFileSystem.utime(`${dir}/app`, 1e9, 1e9);
 * const options = { compression: "gzip" as const };
 * const key = await cache.key(directoryEntries(denoFileSystem, `${dir}/app`), options);
 * assert(key !== undefined);
 * assertEquals(await cache.get(key), undefined); // nothing cached the first time
 * await temp.dispose();
 * ```
 * @module
 */
import type { Codecs } from "../types/codecs.ts";
import type { BlobId } from "../types/content.ts";
import type { Descriptor } from "../types/descriptor.ts";
import {
  type FileSystem,
  NotFoundError,
  pathExists,
  writeFileAtomic,
} from "../types/file_system.ts";
import type { Compression } from "../types/media_types.ts";
import type { TarEntry } from "../types/tar_entry.ts";
import { entryBatches, entryFileInfo } from "../sources/directory_source.ts";
import { observeBatches } from "../stages/entry_batches.ts";
import { DEFAULT_LEVELS } from "../stages/layer_encoder.ts";
import { sha256Digest } from "../image/manifest_builder.ts";
import type { InventoryFile } from "../stages/file_inventory_stream.ts";

/** Bump when the tar or encoders change the bytes a given tree produces, or the key is derived anew. */
const CACHE_FORMAT = "ocistream-layer-cache-2";

/** Files modified this recently (seconds) make a walk uncacheable: their mtime tick may not be over. */
export const RACY_SECONDS = 2;

/** What, besides the files, decides a layer's bytes. */
export interface LayerCacheOptions {
  /** Layer compression. */
  compression: Compression;
  /** Compression level; `undefined` is the compression's default. */
  level?: number;
  /** The epoch timestamps are clamped to (`rewrite-timestamp=true`), else `undefined`. */
  clampEpoch?: number;
  /** Whether the file inventory (for an SBOM) must be kept with the entry. */
  files?: boolean;
  /** eStargz prioritized files (they reorder the layer). */
  prioritizedFiles?: string[];
  /**
   * Where the entries come from (a folder's absolute path). With it, a store that never cached
   * a layer of this source answers a miss at once, without the metadata walk (a first export
   * walks the folder once). Not part of the key.
   */
  source?: string;
}

/** What {@link LayerCache.lookup} found. */
export interface LayerLookup {
  /** The stored layer to reuse. */
  hit?: CachedLayer;
  /** On a cacheable miss: put `recorder.stream` first on the walk, then call {@link LayerCache.save}. */
  recorder?: LayerKeyRecorder;
}

/** A layer as the cache remembers it. */
export interface CachedLayer {
  /** Digest of the uncompressed tar. */
  diffId: string;
  /** Digest of the blob. */
  digest: string;
  /** Size of the blob. */
  size: number;
  /** Size of the uncompressed tar. */
  uncompressedSize: number;
  /** Layer descriptor annotations from the encoder (eStargz TOC digest...). */
  annotations?: Record<string, string>;
  /** The files and their sha256, when {@link LayerCacheOptions.files} asked for them. */
  files?: InventoryFile[];
  /** Hardlinks `[path, target]`, with {@link files}. */
  hardlinks?: [string, string][];
  /** The blob file as last verified (`lstat` device, inode, mtime); see `verify: "stamp"`. */
  blobStamp?: BlobStamp;
}

/** Which file a blob was when the cache last knew its bytes were right. */
export interface BlobStamp {
  /** Device of the blob file. */
  dev: number;
  /** Inode of the blob file. */
  ino: number;
  /** Modification time (seconds). */
  mtime: number;
}

/** The part of the store the cache needs (an `OciLayout`). */
export interface LayerCacheStore {
  /** The store's folder. */
  readonly root: string;
  /** The path of a blob. */
  blobPath(digest: string): string;
  /** Streams a blob, erroring at the end when its digest does not match. */
  fetch(descriptor: Descriptor): Promise<ReadableStream<Uint8Array>>;
  /** Stores a blob; with a known id that is present, it only refreshes it. */
  putBlob(body: ReadableStream<Uint8Array>, expected: BlobId): Promise<void>;
}

/** Options of {@link LayerCache}. */
export interface LayerCacheSettings {
  /**
   * How a hit's blob is checked.
   *
   * - `"stamp"` (default): its size, and its digest only when the blob file is not the one the
   *   cache last saw verified (same device, inode and mtime as recorded when the blob was
   *   written, or digest-checked, and touched). Blobs are content-addressed and only ever
   *   appear by an atomic rename after their digest was checked, so a file still carrying that
   *   stamp holds those bytes unless someone rewrote it and reset its mtime on purpose;
   *   `ocistream verify` checks every digest. Hashing a 100 MiB blob on each hit would cost more
   *   than the rest of the re-export (issue 7).
   * - `"size"`: its size only.
   * - `"digest"`: its size and its digest, streamed, on every hit.
   */
  verify?: "stamp" | "size" | "digest";
  /** The clock in milliseconds, for the racy-mtime rule (default `Date.now`). */
  now?: () => number;
  /** Told why an entry was dropped (corrupt entry, missing or damaged blob). */
  onDiscard?: (key: string, reason: string) => void;
}

/** A pass-through stage that keys the entries flowing through it; see {@link LayerCache.recorder}. */
export interface LayerKeyRecorder {
  /** The pass-through stage; put it first, on the source's own entries. */
  stream: TransformStream<TarEntry, TarEntry>;
  /**
   * The source's own entries, keyed on their way: batch by batch for a folder walk (no stage
   * per entry), else through {@link stream}. Use either this or `stream`, once.
   */
  record(entries: ReadableStream<TarEntry>): ReadableStream<TarEntry>;
  /** The key once the entries ended; `undefined` when they are not cacheable. */
  key: Promise<string | undefined>;
  /** {@link LayerCacheOptions.source}, remembered by {@link LayerCache.save}. */
  source?: string;
}

/** The layer cache of one store; see the module documentation. */
export class LayerCache {
  readonly #fs: FileSystem;
  readonly #store: LayerCacheStore;
  readonly #codecs: Codecs;
  readonly #settings: LayerCacheSettings;
  /** The folder holding the entries. */
  readonly folder: string;
  /** The folder of source hints (see {@link LayerCacheOptions.source}). */
  readonly #sources: string;

  /**
   * A cache over `store`, writing its entries with `fs`.
   *
   * @example
   * ```ts
   * import { assert, assertEquals } from "@std/assert";
   * import { LayerCache, OciLayout } from "@ocistream/ocistream/layout";
   * import { denoFileSystem, directoryEntries, nativeCodecs, createDenoEnvironment } from "@ocistream/ocistream/deno";
   * // A temporary folder of the environment's own, removed at the end.
   * const temp = await (await createDenoEnvironment({ openStore: false })).makeTempLayout!();
   * const dir = `${temp.layout.root}/work`;
   * await denoFileSystem.mkdir(dir);
   * const store = await OciLayout.open(denoFileSystem, `${dir}/store`, nativeCodecs);
   * const cache = new LayerCache(denoFileSystem, store, nativeCodecs);
   * assertEquals(cache.folder, `${dir}/store/cache/layers`);
   * await temp.dispose();
   * ```
   */
  constructor(
    fs: FileSystem,
    store: LayerCacheStore,
    codecs: Codecs,
    settings: LayerCacheSettings = {},
  ) {
    this.#fs = fs;
    this.#store = store;
    this.#codecs = codecs;
    this.#settings = settings;
    this.folder = `${store.root.replace(/\/+$/, "")}/cache/layers`;
    this.#sources = `${store.root.replace(/\/+$/, "")}/cache/sources`;
  }

  /**
   * Keys a layer by walking its entries' metadata only (no file is opened). `undefined` when the
   * layer cannot be cached: an entry did not come from a folder walk, or a file is too fresh.
   *
   * @example
   * ```ts
   * import { assert, assertEquals } from "@std/assert";
   * import { LayerCache, OciLayout } from "@ocistream/ocistream/layout";
   * import { denoFileSystem, directoryEntries, nativeCodecs, createDenoEnvironment } from "@ocistream/ocistream/deno";
   * // A temporary folder of the environment's own, removed at the end.
   * const temp = await (await createDenoEnvironment({ openStore: false })).makeTempLayout!();
   * const dir = `${temp.layout.root}/work`;
   * await denoFileSystem.mkdir(dir);
   * const store = await OciLayout.open(denoFileSystem, `${dir}/store`, nativeCodecs);
   * const cache = new LayerCache(denoFileSystem, store, nativeCodecs);
   * // A folder written long enough ago (files changed in the last seconds are not cached).
   * await denoFileSystem.mkdir(`${dir}/app`);
   * await denoFileSystem.writeFile(`${dir}/app/a.txt`, new TextEncoder().encode("a"));
   * await denoFileSystem.utime(`${dir}/app/a.txt`, 1e9, 1e9);
   * await denoFileSystem.utime(`${dir}/app`, 1e9, 1e9);
   * const key = await cache.key(directoryEntries(denoFileSystem, `${dir}/app`), {
   *   compression: "zstd",
   * });
   * assert(key !== undefined && /^[a-f0-9]{64}$/.test(key));
   * await temp.dispose();
   * ```
   */
  async key(
    entries: ReadableStream<TarEntry>,
    options: LayerCacheOptions,
  ): Promise<string | undefined> {
    const keyer = this.#keyer(options);
    const nextBatch = entryBatches(entries);
    if (nextBatch) {
      for (let batch; (batch = await nextBatch()) !== undefined;) {
        for (const entry of batch) if (!keyer.add(entry)) return undefined;
      }
      return keyer.finish();
    }
    const reader = entries.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return keyer.finish();
        if (!keyer.add(value)) {
          await reader.cancel();
          return undefined;
        }
      }
    } finally {
      reader.releaseLock();
    }
  }

  /**
   * The orchestrator's entry point: keys the layer with a metadata-only walk of `entries()` and
   * returns the stored layer on a hit, or a recorder for the build on a cacheable miss. Never
   * throws: the cache is an optimisation, so a failure is told to `onDiscard` and is a miss.
   *
   * @example
   * ```ts
   * import { assert, assertEquals } from "@std/assert";
   * import { LayerCache, OciLayout } from "@ocistream/ocistream/layout";
   * import { denoFileSystem, directoryEntries, nativeCodecs, createDenoEnvironment } from "@ocistream/ocistream/deno";
   * // A temporary folder of the environment's own, removed at the end.
   * const temp = await (await createDenoEnvironment({ openStore: false })).makeTempLayout!();
   * const dir = `${temp.layout.root}/work`;
   * await denoFileSystem.mkdir(dir);
   * const store = await OciLayout.open(denoFileSystem, `${dir}/store`, nativeCodecs);
   * const cache = new LayerCache(denoFileSystem, store, nativeCodecs);
   * // A folder written long enough ago (files changed in the last seconds are not cached).
   * await denoFileSystem.mkdir(`${dir}/app`);
   * await denoFileSystem.writeFile(`${dir}/app/a.txt`, new TextEncoder().encode("a"));
   * await denoFileSystem.utime(`${dir}/app/a.txt`, 1e9, 1e9);
   * await denoFileSystem.utime(`${dir}/app`, 1e9, 1e9);
   * const entries = () => directoryEntries(denoFileSystem, `${dir}/app`);
   * const found = await cache.lookup(entries, { compression: "gzip" });
   * assertEquals(found.hit, undefined); // a miss: nothing was saved yet
   * assert(found.recorder !== undefined);
   * await temp.dispose();
   * ```
   */
  async lookup(
    entries: () => ReadableStream<TarEntry>,
    options: LayerCacheOptions,
  ): Promise<LayerLookup> {
    try {
      // Nothing was ever cached from this source: a miss, and no walk spent proving it.
      if (options.source !== undefined && !(await this.#knowsSource(options.source))) {
        return { recorder: await this.recorder(options) };
      }
      const key = await this.key(entries(), options);
      if (key === undefined) return {};
      const hit = await this.get(key);
      return hit ? { hit } : { recorder: await this.recorder(options) };
    } catch (e) {
      this.#settings.onDiscard?.("", `the layer cache failed (${(e as Error).message})`);
      return {};
    }
  }

  /**
   * Records a layer built on a miss under the key its own walk computed; never throws (a failure
   * is told to `onDiscard`). Call it once the blob is in the store.
   *
   * @example
   * ```ts
   * import { assert, assertEquals } from "@std/assert";
   * import { LayerCache, OciLayout } from "@ocistream/ocistream/layout";
   * import { denoFileSystem, directoryEntries, nativeCodecs, createDenoEnvironment } from "@ocistream/ocistream/deno";
   * // A temporary folder of the environment's own, removed at the end.
   * const temp = await (await createDenoEnvironment({ openStore: false })).makeTempLayout!();
   * const dir = `${temp.layout.root}/work`;
   * await denoFileSystem.mkdir(dir);
   * const store = await OciLayout.open(denoFileSystem, `${dir}/store`, nativeCodecs);
   * const cache = new LayerCache(denoFileSystem, store, nativeCodecs);
   * // A folder written long enough ago (files changed in the last seconds are not cached).
   * await denoFileSystem.mkdir(`${dir}/app`);
   * await denoFileSystem.writeFile(`${dir}/app/a.txt`, new TextEncoder().encode("a"));
   * await denoFileSystem.utime(`${dir}/app/a.txt`, 1e9, 1e9);
   * await denoFileSystem.utime(`${dir}/app`, 1e9, 1e9);
   * // A stored blob for the entry to point at.
   * const blob = new TextEncoder().encode("layer bytes");
   * const hasher = await nativeCodecs.sha256();
   * hasher.update(blob);
   * const digest = `sha256:${hasher.digestHex()}`;
   * await store.putBytes(blob, { digest, size: blob.length });
   * const layer = { diffId: digest, digest, size: blob.length, uncompressedSize: blob.length };
   * const found = await cache.lookup(() => directoryEntries(denoFileSystem, `${dir}/app`), {
   *   compression: "gzip",
   * });
   * const recorder = found.recorder!;
   * await Array.fromAsync(recorder.record(directoryEntries(denoFileSystem, `${dir}/app`)));
   * await cache.save(recorder, layer);
   * assertEquals((await cache.get((await recorder.key)!))?.digest, digest);
   * await temp.dispose();
   * ```
   */
  async save(recorder: LayerKeyRecorder, layer: CachedLayer): Promise<void> {
    try {
      const key = await recorder.key;
      // The blob was just stored, its digest checked on the way in: stamp it as verified.
      if (key === undefined) return;
      await this.put(key, { ...layer, blobStamp: await this.#stamp(layer) });
      if (recorder.source !== undefined) {
        const hint = await this.#sourcePath(recorder.source);
        if (!(await pathExists(this.#fs, hint))) {
          await this.#fs.mkdir(this.#sources, { recursive: true });
          await writeFileAtomic(this.#fs, hint, new TextEncoder().encode(recorder.source));
        }
      }
    } catch (e) {
      this.#settings.onDiscard?.(
        "",
        `the layer cache entry was not written (${(e as Error).message})`,
      );
    }
  }

  /**
   * A pass-through stage that computes the same key as {@link key} from the walk that builds the
   * layer, so the entry written after a miss describes the files as they were read.
   *
   * @example
   * ```ts
   * import { assert, assertEquals } from "@std/assert";
   * import { LayerCache, OciLayout } from "@ocistream/ocistream/layout";
   * import { denoFileSystem, directoryEntries, nativeCodecs, createDenoEnvironment } from "@ocistream/ocistream/deno";
   * // A temporary folder of the environment's own, removed at the end.
   * const temp = await (await createDenoEnvironment({ openStore: false })).makeTempLayout!();
   * const dir = `${temp.layout.root}/work`;
   * await denoFileSystem.mkdir(dir);
   * const store = await OciLayout.open(denoFileSystem, `${dir}/store`, nativeCodecs);
   * const cache = new LayerCache(denoFileSystem, store, nativeCodecs);
   * // A folder written long enough ago (files changed in the last seconds are not cached).
   * await denoFileSystem.mkdir(`${dir}/app`);
   * await denoFileSystem.writeFile(`${dir}/app/a.txt`, new TextEncoder().encode("a"));
   * await denoFileSystem.utime(`${dir}/app/a.txt`, 1e9, 1e9);
   * await denoFileSystem.utime(`${dir}/app`, 1e9, 1e9);
   * const recorder = await cache.recorder({ compression: "gzip" });
   * // The entries pass through unchanged (here straight to nothing; normally to the encoder).
   * await Array.fromAsync(directoryEntries(denoFileSystem, `${dir}/app`).pipeThrough(recorder.stream));
   * assert((await recorder.key) !== undefined);
   * await temp.dispose();
   * ```
   */
  recorder(options: LayerCacheOptions): Promise<LayerKeyRecorder> {
    const keyer = this.#keyer(options);
    let resolve!: (key: string | undefined | Promise<string>) => void;
    const key = new Promise<string | undefined>((r) => resolve = r);
    let cacheable = true;
    const stream = new TransformStream<TarEntry, TarEntry>({
      transform(entry, controller) {
        if (cacheable) cacheable = keyer.add(entry);
        controller.enqueue(entry);
      },
      flush() {
        resolve(cacheable ? keyer.finish() : undefined);
      },
    });
    const observe = (batch: TarEntry[] | undefined) => {
      if (batch === undefined) resolve(cacheable ? keyer.finish() : undefined);
      else if (cacheable) { for (const entry of batch) if (!(cacheable = keyer.add(entry))) break; }
    };
    return Promise.resolve({
      stream,
      record: (entries: ReadableStream<TarEntry>) =>
        observeBatches(entries, observe) ?? entries.pipeThrough(stream),
      key,
      ...(options.source !== undefined ? { source: options.source } : {}),
    });
  }

  /**
   * The cached layer for `key`, checked against the store; `undefined` on a miss. A corrupt
   * entry, or one whose blob is missing or damaged, is deleted (the damaged blob too).
   *
   * @example
   * ```ts
   * import { assert, assertEquals } from "@std/assert";
   * import { LayerCache, OciLayout } from "@ocistream/ocistream/layout";
   * import { denoFileSystem, directoryEntries, nativeCodecs, createDenoEnvironment } from "@ocistream/ocistream/deno";
   * // A temporary folder of the environment's own, removed at the end.
   * const temp = await (await createDenoEnvironment({ openStore: false })).makeTempLayout!();
   * const dir = `${temp.layout.root}/work`;
   * await denoFileSystem.mkdir(dir);
   * const store = await OciLayout.open(denoFileSystem, `${dir}/store`, nativeCodecs);
   * const cache = new LayerCache(denoFileSystem, store, nativeCodecs);
   * // A stored blob for the entry to point at.
   * const blob = new TextEncoder().encode("layer bytes");
   * const hasher = await nativeCodecs.sha256();
   * hasher.update(blob);
   * const digest = `sha256:${hasher.digestHex()}`;
   * await store.putBytes(blob, { digest, size: blob.length });
   * const key = "0".repeat(64);
   * const layer = { diffId: digest, digest, size: blob.length, uncompressedSize: blob.length };
   * await cache.put(key, layer);
   * const hit = await cache.get(key);
   * assertEquals(hit?.digest, digest);
   * await temp.dispose();
   * ```
   */
  async get(key: string): Promise<CachedLayer | undefined> {
    checkKey(key);
    const path = this.#entryPath(key);
    let text: string;
    try {
      text = new TextDecoder().decode(await this.#fs.readFile(path));
    } catch (e) {
      if (e instanceof NotFoundError) return undefined;
      throw e;
    }
    const layer = await this.#parse(key, text);
    if (!layer) return await this.#discard(key, "the cache entry is corrupt");
    const blob = this.#store.blobPath(layer.digest);
    const info = await this.#fs.lstat(blob).catch((e) => {
      if (e instanceof NotFoundError) return undefined;
      throw e;
    });
    if (!info) {
      return await this.#discard(key, `its blob ${layer.digest} is no longer in the store`);
    }
    if (info.type !== "file" || info.size !== layer.size) {
      await this.#fs.remove(blob).catch(() => {});
      return await this.#discard(
        key,
        `its blob ${layer.digest} has ${info.size} bytes, not ${layer.size}: removed it`,
      );
    }
    const id = { digest: layer.digest, size: layer.size };
    const verify = this.#settings.verify ?? "stamp";
    const { blobStamp, ...found } = layer;
    const unchanged = blobStamp !== undefined && blobStamp.dev === info.dev &&
      blobStamp.ino === info.ino && blobStamp.mtime === info.mtime;
    if (verify === "digest" || (verify === "stamp" && !unchanged)) {
      try {
        const body = await this.#store.fetch({ mediaType: "application/octet-stream", ...id });
        await body.pipeTo(new WritableStream());
      } catch (e) {
        await this.#fs.remove(blob).catch(() => {});
        return await this.#discard(
          key,
          `its blob ${layer.digest} is damaged (${(e as Error).message}): removed it`,
        );
      }
    }
    // Stored or refreshed minutes ago, with its stamp on record: prune's grace period (an
    // hour by default) still covers it, so the hit writes nothing.
    if (unchanged && Date.now() / 1000 - info.mtime < RECENT_SECONDS) return found;
    // Refreshes the blob's time, so `prune`'s grace period keeps it until it is named.
    try {
      await this.#store.putBlob(new ReadableStream({ start: (c) => c.close() }), id);
    } catch {
      return await this.#discard(key, `its blob ${layer.digest} vanished`);
    }
    // The refresh changed the mtime: record the new stamp of the blob just proved right.
    if (verify === "stamp") {
      try {
        await this.put(key, { ...found, blobStamp: await this.#stamp(found) });
      } catch {
        // Only the next hit's shortcut is lost: it will check the digest.
      }
    }
    return found;
  }

  /**
   * Records the layer built for `key`; call it only once the blob is in the store.
   *
   * @example
   * ```ts
   * import { assert, assertEquals } from "@std/assert";
   * import { LayerCache, OciLayout } from "@ocistream/ocistream/layout";
   * import { denoFileSystem, directoryEntries, nativeCodecs, createDenoEnvironment } from "@ocistream/ocistream/deno";
   * // A temporary folder of the environment's own, removed at the end.
   * const temp = await (await createDenoEnvironment({ openStore: false })).makeTempLayout!();
   * const dir = `${temp.layout.root}/work`;
   * await denoFileSystem.mkdir(dir);
   * const store = await OciLayout.open(denoFileSystem, `${dir}/store`, nativeCodecs);
   * const cache = new LayerCache(denoFileSystem, store, nativeCodecs);
   * // A stored blob for the entry to point at.
   * const blob = new TextEncoder().encode("layer bytes");
   * const hasher = await nativeCodecs.sha256();
   * hasher.update(blob);
   * const digest = `sha256:${hasher.digestHex()}`;
   * await store.putBytes(blob, { digest, size: blob.length });
   * const key = "0".repeat(64);
   * const layer = { diffId: digest, digest, size: blob.length, uncompressedSize: blob.length };
   * await cache.put(key, layer);
   * assertEquals((await cache.get(key))?.size, blob.length);
   * await temp.dispose();
   * ```
   */
  async put(key: string, layer: CachedLayer): Promise<void> {
    checkKey(key);
    const body = { format: CACHE_FORMAT, key, layer: pick(layer) };
    const check = await this.#sha256(JSON.stringify(body));
    const bytes = new TextEncoder().encode(JSON.stringify({ ...body, check }));
    await this.#fs.mkdir(this.folder, { recursive: true });
    await writeFileAtomic(this.#fs, this.#entryPath(key), bytes);
  }

  /**
   * Deletes the entry for `key`, if any.
   *
   * @example
   * ```ts
   * import { assert, assertEquals } from "@std/assert";
   * import { LayerCache, OciLayout } from "@ocistream/ocistream/layout";
   * import { denoFileSystem, directoryEntries, nativeCodecs, createDenoEnvironment } from "@ocistream/ocistream/deno";
   * // A temporary folder of the environment's own, removed at the end.
   * const temp = await (await createDenoEnvironment({ openStore: false })).makeTempLayout!();
   * const dir = `${temp.layout.root}/work`;
   * await denoFileSystem.mkdir(dir);
   * const store = await OciLayout.open(denoFileSystem, `${dir}/store`, nativeCodecs);
   * const cache = new LayerCache(denoFileSystem, store, nativeCodecs);
   * // A stored blob for the entry to point at.
   * const blob = new TextEncoder().encode("layer bytes");
   * const hasher = await nativeCodecs.sha256();
   * hasher.update(blob);
   * const digest = `sha256:${hasher.digestHex()}`;
   * await store.putBytes(blob, { digest, size: blob.length });
   * const key = "0".repeat(64);
   * const layer = { diffId: digest, digest, size: blob.length, uncompressedSize: blob.length };
   * await cache.put(key, layer);
   * await cache.delete(key);
   * assertEquals(await cache.get(key), undefined);
   * await temp.dispose();
   * ```
   */
  async delete(key: string): Promise<void> {
    checkKey(key);
    await this.#fs.remove(this.#entryPath(key));
  }

  /** The blob file's stamp now, or `undefined` when it cannot be read. */
  async #stamp(layer: CachedLayer): Promise<BlobStamp | undefined> {
    try {
      const info = await this.#fs.lstat(this.#store.blobPath(layer.digest));
      return info.type === "file" && info.size === layer.size
        ? { dev: info.dev, ino: info.ino, mtime: info.mtime }
        : undefined;
    } catch {
      return undefined;
    }
  }

  /** Whether a layer of `source` was ever cached (its hint file exists). */
  async #knowsSource(source: string): Promise<boolean> {
    return await pathExists(this.#fs, await this.#sourcePath(source));
  }

  /** The hint file of a source: `<store>/cache/sources/<sha256 of the source>`. */
  async #sourcePath(source: string): Promise<string> {
    return `${this.#sources}/${await this.#sha256(source)}`;
  }

  #entryPath(key: string): string {
    return `${this.folder}/${key}.json`;
  }

  async #discard(key: string, reason: string): Promise<undefined> {
    await this.delete(key).catch(() => {});
    this.#settings.onDiscard?.(key, reason);
    return undefined;
  }

  async #parse(key: string, text: string): Promise<CachedLayer | undefined> {
    let doc: { format?: unknown; key?: unknown; layer?: CachedLayer; check?: unknown };
    try {
      doc = JSON.parse(text);
    } catch {
      return undefined;
    }
    if (typeof doc !== "object" || doc === null) return undefined;
    const { check, ...body } = doc;
    if (body.format !== CACHE_FORMAT || body.key !== key || !validLayer(body.layer)) {
      return undefined;
    }
    if (check !== await this.#sha256(JSON.stringify(body))) return undefined;
    return body.layer;
  }

  async #sha256(text: string): Promise<string> {
    return await this.#hexDigest(new TextEncoder().encode(text));
  }

  /** Whole-buffer digests (Web Crypto where there is one: no hasher to load on a hit). */
  #hexDigest = async (bytes: Uint8Array): Promise<string> =>
    (await sha256Digest(bytes, this.#codecs)).slice("sha256:".length);

  #keyer(options: LayerCacheOptions): Keyer {
    const now = (this.#settings.now ?? Date.now)();
    return new Keyer(this.#hexDigest, options, now / 1000 - RACY_SECONDS);
  }
}

/**
 * Hashes entries' metadata in 64 KiB batches (thousands of tiny updates cost more than one big
 * one); the key is the digest of the batches' digests, so memory stays small for any tree.
 */
/** A blob whose time is this recent needs no refresh on a hit (see {@link LayerCache.get}). */
const RECENT_SECONDS = 5 * 60;

class Keyer {
  readonly #hexDigest: (bytes: Uint8Array) => Promise<string>;
  readonly #freshAfter: number;
  readonly #batchDigests: Promise<string>[] = [];
  #batch: string[] = [];
  #batchLength = 0;

  constructor(
    hexDigest: (bytes: Uint8Array) => Promise<string>,
    options: LayerCacheOptions,
    freshAfter: number,
  ) {
    this.#hexDigest = hexDigest;
    this.#freshAfter = freshAfter;
    const level = options.level ?? DEFAULT_LEVELS[options.compression];
    this.#push(JSON.stringify([
      CACHE_FORMAT,
      options.compression,
      level,
      options.clampEpoch ?? null,
      Boolean(options.files),
      options.compression === "estargz" ? options.prioritizedFiles ?? [] : [],
    ]));
  }

  /** Adds an entry; `false` when the layer cannot be cached. */
  add(entry: TarEntry): boolean {
    const info = entryFileInfo(entry);
    if (!info) return false;
    if (info.type === "file" && info.mtime >= this.#freshAfter) return false;
    // Byte values as `[bytes…]`, text as itself: the two never read the same in JSON.
    const xattrs = entry.xattrs
      ? Object.entries(entry.xattrs).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
        .map(([k, v]) => [k, typeof v === "string" ? v : [...v]])
      : null;
    this.#push(JSON.stringify([
      entry.path,
      entry.type,
      entry.mode,
      entry.uid,
      entry.gid,
      entry.uname ?? "",
      entry.gname ?? "",
      entry.size ?? 0,
      entry.mtime,
      entry.atime ?? null,
      entry.ctime ?? null,
      entry.linkName ?? null,
      entry.devMajor ?? null,
      entry.devMinor ?? null,
      xattrs,
      info.dev,
      info.ino,
      info.size,
      info.mtime,
      info.nlink,
    ]));
    return true;
  }

  async finish(): Promise<string> {
    this.#flush();
    const digests = await Promise.all(this.#batchDigests);
    return await this.#hexDigest(new TextEncoder().encode(digests.join("\n")));
  }

  #push(line: string): void {
    this.#batch.push(line);
    this.#batchLength += line.length;
    if (this.#batchLength > 64 * 1024) this.#flush();
  }

  #flush(): void {
    if (this.#batch.length === 0) return;
    const digest = this.#hexDigest(new TextEncoder().encode(this.#batch.join("\n") + "\n"));
    digest.catch(() => {}); // awaited by finish()
    this.#batchDigests.push(digest);
    this.#batch = [];
    this.#batchLength = 0;
  }
}

/** Only the fields the cache knows (an `EncodedLayer` carries more). */
function pick(layer: CachedLayer): CachedLayer {
  const { diffId, digest, size, uncompressedSize, annotations, files, hardlinks, blobStamp } =
    layer;
  return {
    diffId,
    digest,
    size,
    uncompressedSize,
    ...(annotations && Object.keys(annotations).length > 0 ? { annotations } : {}),
    ...(files ? { files: files.map(({ path, size, sha256 }) => ({ path, size, sha256 })) } : {}),
    ...(hardlinks ? { hardlinks } : {}),
    ...(blobStamp
      ? { blobStamp: { dev: blobStamp.dev, ino: blobStamp.ino, mtime: blobStamp.mtime } }
      : {}),
  };
}

function checkKey(key: string): void {
  if (!/^[a-f0-9]{64}$/.test(key)) {
    throw new TypeError(`Invalid layer cache key "${key}": expected 64 lowercase hex digits`);
  }
}

const DIGEST = /^sha256:[a-f0-9]{64}$/;

function validLayer(layer: unknown): layer is CachedLayer {
  if (typeof layer !== "object" || layer === null) return false;
  const l = layer as Record<string, unknown>;
  const count = (n: unknown) => typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
  return typeof l.diffId === "string" && DIGEST.test(l.diffId) &&
    typeof l.digest === "string" && DIGEST.test(l.digest) && count(l.size) &&
    count(l.uncompressedSize) &&
    (l.annotations === undefined ||
      (typeof l.annotations === "object" && l.annotations !== null)) &&
    (l.files === undefined || Array.isArray(l.files)) &&
    (l.hardlinks === undefined || Array.isArray(l.hardlinks)) &&
    (l.blobStamp === undefined || validStamp(l.blobStamp));
}

function validStamp(stamp: unknown): stamp is BlobStamp {
  if (typeof stamp !== "object" || stamp === null) return false;
  const s = stamp as Record<string, unknown>;
  return typeof s.dev === "number" && typeof s.ino === "number" && typeof s.mtime === "number";
}
