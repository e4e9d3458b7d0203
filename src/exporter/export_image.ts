/**
 * The export orchestrator: builds an image from new layers on top of an
 * optional base for each platform, then delivers it to each output (local
 * store, registry push, archives), as BuildKit's `image`/`registry`
 * exporters do (SPEC §1–§9).
 *
 * New layers stream once into the first place that keeps blobs (the store,
 * else the registry being pushed to, else a temporary layout for archives);
 * every other output copies from there.
 *
 * @example Export files held in memory into an in-memory sink
 * ```ts ignore
 * import { exportImage, memoryEntries, parseOutputSpec } from "@ocistream/ocistream";
 * import { createDenoEnvironment } from "@ocistream/ocistream/deno";
 * // Needs a registry at 127.0.0.1:5000 to push to.
 * const environment = await createDenoEnvironment({ openStore: false });
 * const layer = { entries: () => memoryEntries([{ path: "hello.txt", content: "hi\n" }]) };
 * const result = await exportImage(
 *   { platforms: [{ platform: { os: "linux", architecture: "amd64" }, layers: [layer] }] },
 *   [parseOutputSpec("type=image,push=true,name=127.0.0.1:5000/hello:1")],
 *   environment,
 * );
 * console.log(result[0]!.digest);
 * await environment.close();
 * ```
 * @module
 */
import type { Codecs } from "../types/codecs.ts";
import type { ContentSink, ContentSource } from "../types/content.ts";
import type { ImageConfig } from "../types/config.ts";
import type { Descriptor, Platform } from "../types/descriptor.ts";
import type { ImageManifest } from "../types/manifest.ts";
import { layerCompression, layerMediaType } from "../types/media_types.ts";
import { formatPlatform, parsePlatform, samePlatform } from "../types/platform.ts";
import {
  formatReference,
  parseReference,
  type Reference,
  registryHost,
} from "../types/reference.ts";
import type { TarEntry } from "../types/tar_entry.ts";
import { ClampTimestampsStream } from "../stages/clamp_timestamps_stream.ts";
import { CountStream } from "../stages/count_stream.ts";
import { inheritDigest } from "../stages/digest_stream.ts";
import {
  type EncodedLayer,
  encodeLayer,
  type LayerEncoding,
  recompressLayer,
} from "../stages/layer_encoder.ts";
import type { BaseImage } from "../image/base_image.ts";
import { buildConfig, type ConfigOverrides, encodeConfig } from "../image/config_builder.ts";
import { buildIndex, buildManifest } from "../image/manifest_builder.ts";
import { copyImage, type ReopenableSink } from "../image/copy_image.ts";
import { type AnnotationSpec, placeAnnotations } from "./annotations.ts";
import { dockerZstdWarning, type OutputSpec, resolveOciMediaTypes } from "./output_spec.ts";
import { type OutputOptions, outputSpec } from "./output_options.ts";
import { checkImageSpec } from "./check_image_spec.ts";
import { copyProgress, type ProgressListener } from "./progress.ts";
import type { OciLayout } from "../sinks/oci_layout.ts";
import { MemoryContent } from "../sinks/memory_content.ts";
import { putBytes } from "../sinks/put_bytes.ts";
import { type AttestationOptions, attestPlatform } from "./attest.ts";
import { FileInventoryStream, type InventoryFile } from "../stages/file_inventory_stream.ts";
import { listLayerFiles } from "../image/layer_files.ts";
import { MAX_DOCUMENT_SIZE } from "../image/read_json.ts";
import type { SbomFile } from "../image/sbom.ts";
import type { LayerCache, LayerLookup } from "./layer_cache.ts";

/** A new layer: a fresh stream of entries each time it is called. */
export interface LayerInput {
  /** Produces the layer's entries (called once per distinct encoding). */
  entries(): ReadableStream<TarEntry>;
  /**
   * Where the entries come from, e.g. the folder's absolute path: lets the layer cache skip its
   * metadata walk for a source it never cached (see `LayerCacheOptions.source`).
   */
  source?: string;
  /** History `created_by` for the layer. */
  createdBy?: string;
  /** History comment. */
  comment?: string;
  /**
   * With `compression=estargz`: paths to put first in the layer, before the
   * `.prefetch.landmark` (see `EstargzStreamOptions.prioritizedFiles`); ignored otherwise.
   */
  prioritizedFiles?: string[];
}

/** What to build for one platform. */
export interface PlatformInput {
  /** The platform. */
  platform: Platform;
  /** The base image for this platform; scratch when absent. */
  base?: BaseImage;
  /** New layers, applied in order on top of the base. */
  layers: LayerInput[];
}

/** What to build, independent of where it goes. */
export interface ImageSpec {
  /** One entry per platform, in index order. */
  platforms: PlatformInput[];
  /** Config settings (entrypoint, env, ...). */
  config?: ConfigOverrides;
  /** Annotations from outside the output spec (the CLI's `--annotation`). */
  annotations?: AnnotationSpec[];
  /** Attestations to attach. */
  attest?: AttestationOptions;
  /** The epoch; the output spec's `source-date-epoch` wins. */
  sourceDateEpoch?: number;
  /** Reuse layers from the environment's layer cache (default true; `false` is `--no-cache`). */
  cache?: boolean;
}

/** What the orchestrator needs from its runtime. */
export interface ExportEnvironment {
  /** Hashing and compression. */
  codecs: Codecs;
  /** The local store, where the runtime has one. */
  store?: OciLayout;
  /** The store's layer cache; used only for outputs whose blobs go to {@link store}. */
  layerCache?: LayerCache;
  /** Opens a registry repository for pushing (and reading back). */
  openRepository?(ref: Reference, options: { insecure: boolean }): ContentSink & ContentSource;
  /** Makes a scratch layout for archives when the store is not used. */
  makeTempLayout?(): Promise<{ layout: OciLayout; dispose(): Promise<void> }>;
  /** Writes a `type=oci` or `type=docker` archive from a layout. */
  writeArchive?(
    output: OutputSpec,
    layout: ContentSource,
    root: Descriptor,
    names: string[],
  ): Promise<void>;
  /** Unpacks one platform of an image from the store (`unpack=true`). */
  unpack?(store: OciLayout, root: Descriptor, platform: Platform): Promise<string>;
  /**
   * The platform this machine runs: `unpack=true` unpacks the exported platform matching it
   * (nothing when none does), as BuildKit does. Without it, nothing is unpacked.
   */
  hostPlatform?: Platform;
  /** The clock, for `created` when no epoch is given. */
  now?(): Date;
  /** Progress and notes. */
  onProgress?: ProgressListener;
}

/** One platform's image in a finished export. */
export interface ExportedManifest {
  /** Platform. */
  platform: Platform;
  /** The image manifest's descriptor (with platform). */
  descriptor: Descriptor;
  /** The config's descriptor. */
  config: Descriptor;
  /** The layer descriptors. */
  layers: Descriptor[];
}

/** The result of one output. */
export interface ExportResult {
  /** The output it belongs to. */
  output: OutputSpec;
  /** Root descriptor (manifest or index), with `index-descriptor` annotations. */
  descriptor: Descriptor;
  /** Root digest. */
  digest: string;
  /** Config digest of the first platform (the image's own config when it is a single manifest). */
  configDigest: string;
  /** Names given to the image (store and registry). */
  names: string[];
  /** Per-platform manifests. */
  manifests: ExportedManifest[];
  /** Notes printed along the way (media-type switches, warnings). */
  notes: string[];
}

/**
 * Builds the image described by `spec` and delivers it to every output: a spec string as
 * buildx writes it, an {@linkcode OutputOptions} object, or a parsed `OutputSpec`. Everything
 * is checked first (field types, unknown keys, outputs this environment cannot serve): a bad
 * input throws before any work.
 */
export async function exportImage(
  input: ImageSpec,
  outputList: readonly (string | OutputOptions | OutputSpec)[],
  env: ExportEnvironment,
): Promise<ExportResult[]> {
  const spec = checkImageSpec(input);
  const outputs = outputList.map((o) => outputSpec(o));
  for (const output of outputs) checkEnvironmentServes(env, output);
  if (spec.platforms.length === 0) throw new TypeError("Nothing to export: no platform given");
  // One build, one image (BuildKit makes the config once per build): every output shares the
  // build's times, so outputs of the same media-type family get the same config and digest.
  const times: BuildTimes = { startedOn: env.now?.() ?? new Date() };
  const results: ExportResult[] = [];
  for (const output of outputs) results.push(await exportOne(spec, output, env, times));
  return results;
}

/** The times of one build, shared by all its outputs. */
interface BuildTimes {
  /** When the build started: config `created` and new history times without an epoch. */
  startedOn: Date;
  /** When the first output's layers were done (provenance `finishedOn`). */
  finishedOn?: Date;
}

/** An output this environment cannot deliver is an error, never a silent no-op. */
function checkEnvironmentServes(env: ExportEnvironment, output: OutputSpec): void {
  const keeps = output.type === "image" || output.type === "registry";
  if (keeps && output.store && !env.store && !output.push) {
    throw new TypeError(
      `type=${output.type} keeps the image in a local store, and this environment has none: ` +
        "push it (type=registry), or set store=false to only compute its digest",
    );
  }
  if (output.unpack && (!env.store || !env.unpack)) {
    throw new TypeError(
      "unpack=true needs a local store and a file system, which this environment has not",
    );
  }
  if ((output.type === "oci" || output.type === "docker") && !env.writeArchive) {
    throw new TypeError(
      `type=${output.type} needs a file system to write its archive, which this environment has not`,
    );
  }
  if (output.push && !env.openRepository) {
    throw new TypeError("push=true needs registry access, which this environment was not given");
  }
}

async function exportOne(
  spec: ImageSpec,
  givenOutput: OutputSpec,
  env: ExportEnvironment,
  times: BuildTimes,
): Promise<ExportResult> {
  let output = givenOutput;
  const startedOn = times.startedOn;
  const notes: string[] = [...output.warnings];
  const note = (message: string) => {
    notes.push(message);
    env.onProgress?.({ type: "note", message });
  };
  for (const w of output.warnings) env.onProgress?.({ type: "note", message: w });
  const hasAttestations = Boolean(spec.attest?.sbom || spec.attest?.provenance);
  const allAnnotations = [...output.annotations, ...(spec.annotations ?? [])];
  const media = resolveOciMediaTypes(
    { ...output, annotations: allAnnotations },
    { hasAttestations },
  );
  const oci = media.oci;
  const multi = spec.platforms.length > 1 || hasAttestations;
  const placed = placeAnnotations(allAnnotations, spec.platforms.map((p) => p.platform), multi);
  const epoch = output.sourceDateEpoch ?? spec.sourceDateEpoch;
  // Notes only once the spec is known to be valid: a rejected export prints one error line.
  for (const n of media.notes) note(n);
  if (output.rewriteTimestamp && epoch === undefined) {
    // BuildKit warns and goes on without rewriting.
    note(
      "rewrite-timestamp=true has no effect without an epoch: set SOURCE_DATE_EPOCH or " +
        "source-date-epoch=<seconds>; exporting without rewriting timestamps",
    );
    output = { ...output, rewriteTimestamp: false };
  }
  const pushRefs = output.push ? output.names.map((n) => parseReference(n)) : [];
  if (output.push && !env.openRepository) {
    throw new TypeError("push=true needs registry access, which this runtime was not given");
  }

  // Where blobs go first.
  const memory = new MemoryContent(env.codecs);
  let target: ContentSink & ContentSource;
  let disposeTarget: (() => Promise<void>) | undefined;
  // Base repositories on the target registry (store=false pushes), to mount from.
  let targetMounts: string[] = [];
  const isArchive = output.type === "oci" || output.type === "docker";
  const useStore = env.store !== undefined && output.store;
  if (useStore) {
    target = env.store!;
  } else if (isArchive) {
    if (!env.makeTempLayout) throw new TypeError(`type=${output.type} needs a file system`);
    const temp = await env.makeTempLayout();
    target = temp.layout;
    disposeTarget = temp.dispose;
  } else if (pushRefs.length > 0) {
    target = env.openRepository!(pushRefs[0]!, { insecure: output.insecureRegistry });
    targetMounts = mountSources(spec, pushRefs[0]!);
  } else {
    target = memory.discardingLargeBlobs();
  }

  try {
    const manifests: ExportedManifest[] = [];
    const indexEntries: Descriptor[] = [];
    const attestationEntries: Descriptor[] = [];
    for (const input of spec.platforms) {
      const { built, files } = await buildPlatform(input, {
        spec,
        output,
        env,
        oci,
        epoch,
        now: startedOn,
        note,
        target,
        memory,
        manifestAnnotations: placed.manifest.get(formatPlatform(input.platform)) ?? {},
        mountFrom: targetMounts,
        // Cached layers live in the store, so the cache serves only outputs that keep blobs there.
        cache: useStore && spec.cache !== false ? env.layerCache : undefined,
      });
      manifests.push(built);
      const descriptorAnnotations = placed.manifestDescriptor.get(formatPlatform(input.platform));
      indexEntries.push({
        ...built.descriptor,
        ...(descriptorAnnotations && Object.keys(descriptorAnnotations).length > 0
          ? { annotations: descriptorAnnotations }
          : {}),
      });
      if (hasAttestations) {
        const attestation = await attestPlatform(built, input, files, {
          options: spec.attest!,
          artifact: output.ociArtifact,
          output,
          config: spec.config,
          epoch,
          codecs: env.codecs,
          startedOn,
          now: times.finishedOn ??= env.now?.() ?? new Date(),
          sink: target,
          memory,
        });
        attestationEntries.push(attestation);
      }
    }

    let root: Descriptor;
    if (multi) {
      const index = await buildIndex({
        oci,
        manifests: [...indexEntries, ...attestationEntries],
        annotations: placed.index,
        codecs: env.codecs,
      });
      await memory.put(index.bytes, index.descriptor);
      await target.putManifest(index.bytes, index.descriptor);
      root = { ...index.descriptor };
    } else {
      // A single manifest is its own root: its descriptor carries both descriptor kinds.
      const { platform: _platform, ...single } = indexEntries[0]!;
      root = { ...single };
    }
    const rootAnnotations = { ...root.annotations, ...placed.indexDescriptor };
    root = { ...root, annotations: rootAnnotations };
    if (Object.keys(rootAnnotations).length === 0) delete root.annotations;

    const names = await deliver(output, root, pushRefs, {
      env,
      target,
      memory,
      note,
      manifests,
      mountFor: (ref) => mountSources(spec, ref),
    });
    env.onProgress?.({ type: "done", digest: root.digest });
    return {
      output,
      descriptor: root,
      digest: root.digest,
      configDigest: manifests[0]!.config.digest,
      names,
      manifests,
      notes,
    };
  } finally {
    await disposeTarget?.();
  }
}

interface PlatformContext {
  spec: ImageSpec;
  output: OutputSpec;
  env: ExportEnvironment;
  oci: boolean;
  epoch: number | undefined;
  /** The build's time, for `created` without an epoch. */
  now: Date;
  /** Prints a note (a warning) for the user. */
  note: (message: string) => void;
  target: ContentSink & ContentSource;
  memory: MemoryContent;
  manifestAnnotations: Record<string, string>;
  cache?: LayerCache;
  /** Repositories on a registry target holding the base's layers. */
  mountFrom: string[];
}

async function buildPlatform(
  input: PlatformInput,
  ctx: PlatformContext,
): Promise<{ built: ExportedManifest; files: SbomFile[] }> {
  const { env, oci, target } = ctx;
  const platformName = formatPlatform(input.platform);
  const layers: Descriptor[] = [];
  const baseDiffIds = input.base?.config.rootfs.diff_ids ?? [];
  const wantFiles = Boolean(ctx.spec.attest?.sbom);
  const files = new Map<string, InventoryFile & { layerDigest?: string }>();

  // Base layers: kept as they are, or re-compressed with force-compression.
  // A conversion to eStargz changes a layer's diffID (landmark and TOC entries are
  // added), so the config gets the diffIDs of the layers as carried.
  const baseLayers = input.base?.manifest.layers ?? [];
  if (baseLayers.length + input.layers.length > MAX_LAYERS) {
    throw new RangeError(
      `Cannot build ${platformName}: the image would have ${
        baseLayers.length + input.layers.length
      } layers (${baseLayers.length} from the base), over the limit of ${MAX_LAYERS}; ` +
        "use a base with fewer layers",
    );
  }
  if (baseDiffIds.length !== baseLayers.length) {
    throw new TypeError(
      `Cannot build ${platformName} on ${
        input.base!.name
      }: its manifest has ${baseLayers.length} ` +
        `layers but its config lists ${baseDiffIds.length} diff_ids; the base image is corrupt`,
    );
  }
  const carriedDiffIds: string[] = [];
  for (const [i, layer] of baseLayers.entries()) {
    const carried = await carryBaseLayer(layer, baseDiffIds[i]!, input.base!, ctx);
    layers.push(carried.descriptor);
    carriedDiffIds.push(carried.diffId);
    if (wantFiles) {
      // The SBOM reads the layer again: from the local store when it was just copied there
      // as it is, rather than downloading it a second time.
      const local = target === env.store && carried.descriptor.digest === layer.digest;
      await listLayerFiles(
        local ? target : input.base!.source,
        layer,
        env.codecs,
        files,
        baseDiffIds[i],
      );
    }
  }
  const baseConfig = input.base && carriedDiffIds.some((d, i) => d !== baseDiffIds[i])
    ? {
      ...input.base.config,
      rootfs: { ...input.base.config.rootfs, diff_ids: carriedDiffIds },
    }
    : input.base?.config;

  // New layers: encoded once, streamed into the target.
  const newLayers: { diffId: string; createdBy?: string; comment?: string }[] = [];
  for (const [i, layer] of input.layers.entries()) {
    const made = await buildNewLayer(layer, i + 1, platformName, ctx);
    layers.push(made.descriptor);
    newLayers.push({ diffId: made.diffId, createdBy: layer.createdBy, comment: layer.comment });
    for (const f of made.files) files.set(f.path, { ...f, layerDigest: made.descriptor.digest });
    // Hardlinks share their target's content: the SBOM lists them too (issue 5).
    for (const [path, linkName] of made.hardlinks) {
      const target = files.get(linkName);
      if (target) files.set(path, { ...target, path, layerDigest: made.descriptor.digest });
    }
  }

  const config: ImageConfig = buildConfig({
    base: baseConfig,
    platform: input.platform,
    overrides: ctx.spec.config ?? {},
    layers: newLayers,
    epoch: ctx.epoch,
    now: ctx.now,
    // As the Dockerfile frontend records a build: metadata steps as empty_layer entries, and
    // its comment on everything this build adds.
    recordMetadataHistory: true,
    historyComment: DOCKERFILE_HISTORY_COMMENT,
    baseName: input.base?.name,
  });
  const configDoc = await encodeConfig(config, oci, env.codecs);
  await ctx.memory.put(configDoc.bytes, configDoc.descriptor);
  await putBytes(target, configDoc.bytes, configDoc.descriptor);

  const manifest = await buildManifest({
    oci,
    config: configDoc.descriptor,
    layers,
    annotations: ctx.manifestAnnotations,
    codecs: env.codecs,
  });
  if (manifest.bytes.byteLength > MAX_DOCUMENT_SIZE) {
    // Readers (verify, inspect, unpack, registries) refuse bigger manifests: never store one.
    throw new RangeError(
      `Cannot build ${platformName}: its manifest would be ${manifest.bytes.byteLength} bytes, ` +
        `over the ${MAX_DOCUMENT_SIZE}-byte limit; use fewer layers or annotations`,
    );
  }
  await ctx.memory.put(manifest.bytes, manifest.descriptor);
  await target.putManifest(manifest.bytes, manifest.descriptor);
  const built: ExportedManifest = {
    platform: input.platform,
    descriptor: { ...manifest.descriptor, platform: input.platform },
    config: configDoc.descriptor,
    layers,
  };
  return { built, files: [...files.values()] };
}

/**
 * Encodes one new layer into the target, or takes it from the layer cache when its
 * folder did not change; returns its descriptor, diffID and (for an SBOM) its files.
 */
async function buildNewLayer(
  layer: LayerInput,
  number: number,
  platformName: string,
  ctx: PlatformContext,
): Promise<{
  descriptor: Descriptor;
  diffId: string;
  files: InventoryFile[];
  hardlinks: [string, string][];
}> {
  const { output, env, oci } = ctx;
  const id = `${platformName}#${number}`;
  const wantFiles = Boolean(ctx.spec.attest?.sbom);
  env.onProgress?.({
    type: "layer",
    id,
    platform: platformName,
    description: layer.createdBy ?? `layer ${number}`,
  });
  // Layer cache (issue 7): an unchanged folder reuses its stored layer, nothing read or compressed.
  const cached: LayerLookup = ctx.cache
    ? await ctx.cache.lookup(() => layer.entries(), {
      compression: output.compression,
      level: output.compressionLevel,
      clampEpoch: output.rewriteTimestamp ? ctx.epoch : undefined,
      files: wantFiles,
      prioritizedFiles: layer.prioritizedFiles,
      source: layer.source,
    })
    : {};
  let encoded: Omit<EncodedLayer, "annotations"> & { annotations?: Record<string, string> };
  let files: InventoryFile[] = [];
  let hardlinks: [string, string][] = [];
  if (cached.hit) {
    // On a hit the folder is not walked again: no file is opened.
    encoded = cached.hit;
    files = cached.hit.files ?? [];
    hardlinks = cached.hit.hardlinks ?? [];
  } else {
    let entries = layer.entries();
    // The recorder keys the very walk being encoded (first, on the source's own entries).
    if (cached.recorder) entries = cached.recorder.record(entries);
    if (output.rewriteTimestamp) {
      entries = entries.pipeThrough(new ClampTimestampsStream(ctx.epoch!));
    }
    const inventory = wantFiles ? new FileInventoryStream(env.codecs) : undefined;
    if (inventory) entries = entries.pipeThrough(inventory);
    const encodingOptions = {
      compression: output.compression,
      level: output.compressionLevel,
      codecs: env.codecs,
      prioritizedFiles: layer.prioritizedFiles,
    };
    const encoding = encodeLayer(entries, encodingOptions);
    // A registry that lost a streamed upload gets the layer made again from its source: the
    // same walk, clamped alike (the first pass alone feeds the cache key and file list).
    const remake = () => {
      const again = layer.entries();
      return Promise.resolve(encodeLayer(
        output.rewriteTimestamp ? again.pipeThrough(new ClampTimestampsStream(ctx.epoch!)) : again,
        encodingOptions,
      ));
    };
    encoded = await streamInto(ctx.target, encoding, id, env, remake);
    files = inventory?.files ?? [];
    hardlinks = inventory?.hardlinks ?? [];
    if (cached.recorder) {
      await ctx.cache!.save(cached.recorder, {
        ...encoded,
        ...(inventory ? { files, hardlinks } : {}),
      });
    }
  }
  const annotations: Record<string, string> = { ...encoded.annotations };
  if (output.rewriteTimestamp && oci) {
    annotations["buildkit/rewritten-timestamp"] = String(ctx.epoch);
  }
  env.onProgress?.({
    type: "layer-done",
    id,
    digest: encoded.digest,
    size: encoded.size,
    uncompressedSize: encoded.uncompressedSize,
    ...(cached.hit ? { cached: true } : {}),
  });
  return {
    descriptor: {
      mediaType: layerMediaType(output.compression, oci),
      digest: encoded.digest,
      size: encoded.size,
      ...(oci && Object.keys(annotations).length > 0 ? { annotations } : {}),
    },
    diffId: encoded.diffId,
    files,
    hardlinks,
  };
}

/**
 * Copies or converts one base layer into the target; returns its new descriptor and
 * diffID (changed only by a conversion to eStargz).
 */
async function carryBaseLayer(
  layer: Descriptor,
  diffId: string,
  base: BaseImage,
  ctx: PlatformContext,
): Promise<{ descriptor: Descriptor; diffId: string }> {
  const { output, oci, target, env } = ctx;
  const from = layerCompression(layer.mediaType);
  // eStargz is its own type for force-compression, as BuildKit's NeedsConversion has it: plain
  // gzip layers become eStargz, and eStargz layers become plain gzip (same tar, same diffID);
  // a layer counts as eStargz when it carries the TOC digest annotation.
  const isEstargz = layer.annotations?.[ESTARGZ_TOC_DIGEST] !== undefined;
  const differs = output.compression === "estargz"
    ? !isEstargz
    : from !== output.compression || (output.compression === "gzip" && isEstargz);
  if (output.forceCompression && differs) {
    const recompress = async () =>
      recompressLayer(await base.source.fetch(layer), from, {
        compression: output.compression,
        level: output.compressionLevel,
        codecs: env.codecs,
      });
    const encoded = await streamInto(target, await recompress(), layer.digest, env, recompress);
    const sourceDiffId = encoded.sourceDiffId ?? encoded.diffId;
    if (sourceDiffId !== diffId) {
      throw new Error(
        `Base layer ${layer.digest} of ${base.name} decompresses to ${sourceDiffId}, but its config says ${diffId}`,
      );
    }
    const descriptor: Descriptor = {
      mediaType: layerMediaType(output.compression, oci),
      digest: encoded.digest,
      size: encoded.size,
    };
    if (!oci && output.compression === "zstd") {
      ctx.note(dockerZstdWarning(`base layer ${layer.digest}`));
    }
    if (oci && Object.keys(encoded.annotations).length > 0) {
      descriptor.annotations = encoded.annotations;
    }
    return { descriptor, diffId: encoded.diffId };
  }
  const id = { digest: layer.digest, size: layer.size };
  if (isReopenableSink(target)) {
    // Registry target (store=false): HEAD or mount first, so a base layer already
    // on that registry moves no bytes; it is only read when it must be uploaded.
    await target.putBlobFrom(id, () => base.source.fetch(layer), ctx.mountFrom);
  } else if (!(await target.hasBlob(layer.digest))) {
    await target.putBlob(await base.source.fetch(layer), id);
  }
  // Same bytes, the chosen family's media type (SPEC §3).
  if (!oci && from === "zstd") ctx.note(dockerZstdWarning(`base layer ${layer.digest}`));
  const converted: Descriptor = {
    mediaType: layerMediaType(from, oci),
    digest: layer.digest,
    size: layer.size,
  };
  if (oci && layer.annotations) converted.annotations = layer.annotations;
  if (layer.urls) converted.urls = layer.urls;
  return { descriptor: converted, diffId };
}

/** The most layers an image may have (base and new); overlay file systems mount far fewer. */
export const MAX_LAYERS = 1000;

/** The history comment BuildKit's Dockerfile frontend puts on every entry it adds. */
const DOCKERFILE_HISTORY_COMMENT = "buildkit.dockerfile.v0";

/** The layer annotation that marks an eStargz blob. */
const ESTARGZ_TOC_DIGEST = "containerd.io/snapshot/stargz/toc.digest";

/** Whether a sink can HEAD/mount before reading a blob (a registry repository). */
function isReopenableSink(sink: ContentSink): sink is ContentSink & ReopenableSink {
  return typeof (sink as Partial<ReopenableSink>).putBlobFrom === "function";
}

/**
 * Streams an encoded blob into the target with progress; resolves to its digests. `remake`
 * encodes it again from its source, for a registry that lost the upload.
 */
async function streamInto(
  target: ContentSink,
  { blob, result }: LayerEncoding,
  id: string,
  env: ExportEnvironment,
  remake: () => Promise<LayerEncoding>,
): Promise<EncodedLayer> {
  let written = 0;
  const counted = env.onProgress
    ? blob.pipeThrough(
      new CountStream({
        onProgress: (bytes) => {
          written = bytes;
          env.onProgress!({ type: "layer-progress", id, read: 0, written });
        },
      }),
    )
    : blob;
  // CountStream passes bytes unchanged, so the encoder's digest still describes them and the
  // store need not hash the layer again.
  if (counted !== blob) inheritDigest(blob, counted);
  const expected = result.then((r) => ({ digest: r.digest, size: r.size }));
  // The sink may fail first (a registry answering 401): then the encoder's
  // promise rejects with a mere "cancelled"; report the sink's error instead.
  expected.catch(() => {});
  const put = target.putBlob(counted, expected, {
    remake: async () => {
      const again = await remake();
      const expected = again.result.then((r) => ({ digest: r.digest, size: r.size }));
      expected.catch(() => {});
      return { body: again.blob, expected };
    },
    onResume: (e) =>
      env.onProgress?.({
        type: "note",
        message: `layer ${id}: upload broke off (${e.reason}); ` + (e.remade
          ? "the registry lost it: sending the layer again, made anew from its source"
          : `resumed from the ${e.offset} bytes the registry has`),
      }),
  });
  const [putDone, encoded] = await Promise.allSettled([put, result]);
  if (putDone.status === "rejected") throw putDone.reason;
  if (encoded.status === "rejected") throw encoded.reason;
  return encoded.value;
}

/** Repositories on `ref`'s registry that hold base layers: pushes mount blobs from them. */
function mountSources(spec: ImageSpec, ref: Reference): string[] {
  const host = registryHost(ref);
  const repositories = spec.platforms.flatMap(({ base }) =>
    base?.origin && base.origin.host === host && base.origin.repository !== ref.repository
      ? [base.origin.repository]
      : []
  );
  return [...new Set(repositories)];
}

interface DeliverContext {
  env: ExportEnvironment;
  target: ContentSink & ContentSource;
  memory: MemoryContent;
  note: (message: string) => void;
  manifests: ExportedManifest[];
  /** Repositories to mount blobs from when pushing to `ref`. */
  mountFor: (ref: Reference) => string[];
}

/** Names, pushes and writes the finished image; returns the names it was given. */
async function deliver(
  output: OutputSpec,
  root: Descriptor,
  pushRefs: Reference[],
  ctx: DeliverContext,
): Promise<string[]> {
  const { env, target, memory } = ctx;
  const source = memory.over(target);
  const names = [...output.names];

  // BuildKit: the dangling name joins the given names unless danging-name-empty-only=true.
  if (
    (output.type === "image" || output.type === "registry") && output.danglingNamePrefix &&
    (!output.danglingNameEmptyOnly || names.length === 0)
  ) {
    names.push(`${output.danglingNamePrefix}@${root.digest}`);
  }

  // Unpacking checks every layer against its diff_id: do it before anything is pushed or
  // named, so a base whose config lies leaves no name and no pushed image behind. BuildKit
  // unpacks while naming: only with a name, and only the platform matching this host.
  if (
    env.store && output.store && (output.type === "image" || output.type === "registry") &&
    output.unpack && names.length > 0
  ) {
    if (!env.unpack) throw new TypeError("unpack=true is not available in this runtime");
    const platform = env.hostPlatform &&
      hostMatch(ctx.manifests.map((m) => m.platform), env.hostPlatform);
    if (platform) await env.unpack(env.store, root, platform);
    else {
      ctx.note(
        `unpack=true: no exported platform matches this host (${
          env.hostPlatform ? formatPlatform(env.hostPlatform) : "unknown"
        }), so nothing was unpacked`,
      );
    }
  }

  if (output.type === "oci" || output.type === "docker") {
    await env.writeArchive!(output, source, root, names);
  }

  // Push: all blobs, then manifests, then the root (by tag unless push-by-digest).
  if (pushRefs.length > 0) {
    const byRepository = new Map<string, { ref: Reference; tags: string[] }>();
    for (const ref of pushRefs) {
      const key = `${ref.registry}/${ref.repository}`;
      const entry = byRepository.get(key) ?? { ref, tags: [] };
      if (ref.tag && !output.pushByDigest) entry.tags.push(ref.tag);
      byRepository.set(key, entry);
    }
    await Promise.all([...byRepository.values()].map(async ({ ref, tags }) => {
      const repository = env.openRepository!(ref, { insecure: output.insecureRegistry });
      await copyImage(source, root, repository, {
        tags: output.pushByDigest ? [] : (tags.length > 0 ? tags : ["latest"]),
        pushByDigest: output.pushByDigest,
        onProgress: copyProgress(env, `${ref.registry}/${ref.repository}`),
        mountFrom: ctx.mountFor(ref),
      });
    }));
  }

  if (env.store && output.store && (output.type === "image" || output.type === "registry")) {
    const storeNames: string[] = [];
    for (const n of names) {
      storeNames.push(formatStoreName(n));
      // name-canonical: also `name:tag@digest`, for names that carry no digest yet.
      const ref = parseReference(n);
      if (output.nameCanonical && ref.digest === undefined) {
        storeNames.push(formatReference({ ...ref, digest: root.digest }));
      }
    }
    await env.store.setNames(root, storeNames);
  }
  return names;
}

/**
 * The exported platform to unpack on `host`, as containerd's `platforms.Only(host)` ranks them:
 * the host's own platform first, then the ones it also runs (`arm64` runs `arm/v8`…`arm/v5`,
 * `amd64` runs `386`); `undefined` when none fits.
 */
function hostMatch(platforms: Platform[], host: Platform): Platform | undefined {
  const ranked: string[] = [formatPlatform(host)];
  if (host.architecture === "arm64") {
    ranked.push(...["v8", "v7", "v6", "v5"].map((v) => `${host.os}/arm/${v}`));
  } else if (host.architecture === "amd64") {
    ranked.push(`${host.os}/386`);
  }
  for (const want of ranked) {
    const found = platforms.find((p) => samePlatform(p, parsePlatform(want)));
    if (found) return found;
  }
  return undefined;
}

/** The name as stored: the full reference, `latest` added when untagged. */
function formatStoreName(name: string): string {
  const ref = parseReference(name);
  return formatReference(
    ref.tag === undefined && ref.digest === undefined ? { ...ref, tag: "latest" } : ref,
  );
}

export type { ImageManifest };
