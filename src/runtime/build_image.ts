/**
 * `buildImage(options)`: folders placed where they belong, each its own layer, on top of a
 * base image, delivered to each output — what `ocistream build` does, as one call. The CLI's
 * `build` is a thin layer over it: every flag has an option of the same name in camelCase.
 *
 * @example Dependencies and app code in two layers under /app, run as a non-root user
 * ```ts ignore
 * import { buildImage } from "@ocistream/ocistream/deno";
 * const { digest } = await buildImage({
 *   from: "node:22-slim",
 *   layers: [
 *     { src: "node_modules", dest: "/app/node_modules", chown: "1000:1000" },
 *     { src: "dist", dest: "/app", chown: "1000:1000", exclude: ["**\/*.map"] },
 *   ],
 *   config: { workdir: "/app", user: "1000", cmd: ["node", "server.js"] },
 *   outputs: ["type=registry,name=registry.example.com/team/app:1"],
 *   sourceDateEpoch: 0,
 * });
 * console.log(digest);
 * ```
 * @module
 */
import type { Platform } from "../types/descriptor.ts";
import { formatPlatform, parsePlatform, samePlatform } from "../types/platform.ts";
import { parseReference, registryHost } from "../types/reference.ts";
import type { ConfigOverrides } from "../image/config_builder.ts";
import {
  exportImage,
  type ExportResult,
  type LayerInput,
  type PlatformInput,
} from "../exporter/export_image.ts";
import type { OutputSpec } from "../exporter/output_spec.ts";
import { type OutputOptions, outputSpec } from "../exporter/output_options.ts";
import { type AnnotationSpec, parseAnnotationFlag } from "../exporter/annotations.ts";
import type { AttestationOptions } from "../exporter/attest.ts";
import type { ProgressListener } from "../exporter/progress.ts";
import {
  checkLayer,
  layerCreatedBy,
  layerDestination,
  type LayerOptions,
  parseChmod,
  parseChown,
  parseLayerSpec,
} from "../exporter/layer_spec.ts";
import { directoryEntries, type PrefixFolder } from "../sources/directory_source.ts";
import { parseIgnoreFile } from "../sources/ignore_file.ts";
import { PatternMatcher } from "../sources/pattern_matcher.ts";
import { denoFileSystem } from "./deno_file_system.ts";
import { createDenoEnvironment, hostPlatform } from "./deno_environment.ts";
import { resolveBaseImage } from "./resolve_base_image.ts";

export type { LayerOptions } from "../exporter/layer_spec.ts";

/** Options of {@link buildImage}. */
export interface BuildImageOptions {
  /**
   * The base image: `scratch` (default), a name the store holds, a registry reference, or
   * `oci-layout://PATH[:TAG|@DIGEST]`.
   */
  from?: string;
  /** Target platforms (`"linux/arm64"` or objects); default the host's Linux platform. */
  platforms?: (string | Platform)[];
  /**
   * The new layers, in order: `--layer` strings (`"dist:/app"`, `"src=dist,dest=/app"`) or
   * {@link LayerOptions}. Each folder's `.dockerignore` is honoured.
   */
  layers: (string | LayerOptions)[];
  /** Image config settings (entrypoint, cmd, env, workdir, user, labels, ports...). */
  config?: ConfigOverrides;
  /**
   * Where the image goes: {@link OutputOptions} objects (`{ type: "registry", name }`), output
   * specs as buildx's `--output` takes them, or parsed ones.
   */
  outputs: (string | OutputOptions | OutputSpec)[];
  /** The local store folder; default `$OCISTREAM_STORE` or the user data folder. */
  store?: string;
  /** The epoch (`SOURCE_DATE_EPOCH`): timestamps and stable layer digests. */
  sourceDateEpoch?: number;
  /** Told about each step (bytes read, compressed, uploaded; notes). */
  progress?: ProgressListener;
  /** Take `from` from the registry even when the store holds that name (`--pull`). */
  pull?: boolean;
  /** Annotations, buildx's `--annotation` syntax or parsed. */
  annotations?: (string | AnnotationSpec)[];
  /** Attestations to attach (`--attest`). */
  attest?: AttestationOptions;
  /** Threads that compress (`--workers`); default the number of cores. */
  workers?: number;
  /** Reuse layers of unchanged folders from the store's layer cache (default true; `--no-cache`). */
  cache?: boolean;
  /**
   * Per platform (`"linux/arm64"`), a folder that replaces the first layer's `src`
   * (`--platform-context`), e.g. prebuilt binaries per architecture.
   */
  platformContexts?: Record<string, string>;
}

/** What {@link buildImage} returns: the last output's result, and every output's. */
export interface BuildImageResult extends ExportResult {
  /** One result per output, in order. */
  results: ExportResult[];
}

/**
 * Builds an image from folders and delivers it to every output; see {@link BuildImageOptions}.
 * Everything is checked (folders, ignore files, patterns, specs) before any byte is written.
 */
export async function buildImage(options: BuildImageOptions): Promise<BuildImageResult> {
  if (options === null || typeof options !== "object") {
    throw new TypeError("buildImage() takes an options object: { layers, outputs, ... }");
  }
  if (!Array.isArray(options.layers)) {
    throw new TypeError("buildImage() needs layers: a list of folders or { src, dest, ... }");
  }
  if (!Array.isArray(options.outputs) || options.outputs.length === 0) {
    throw new TypeError('buildImage() needs outputs, e.g. ["type=image,name=example.com/app:1"]');
  }
  const outputs = options.outputs.map((o) => outputSpec(o));
  const platforms = (options.platforms ?? []).map((p) =>
    typeof p === "string" ? parsePlatform(p) : p
  );
  if (platforms.length === 0) platforms.push(hostPlatform());
  const annotations = (options.annotations ?? []).flatMap((a) =>
    typeof a === "string" ? parseAnnotationFlag(a) : [a]
  );
  const layers = options.layers.map((l, i) =>
    typeof l === "string" ? parseLayerSpec(l) : checkLayer(l, `layer ${i + 1}`)
  );
  const platformContexts = new Map<string, string>();
  for (const [key, dir] of Object.entries(options.platformContexts ?? {})) {
    const platform = parsePlatform(key);
    const match = platforms.find((p) => samePlatform(p, platform));
    if (!match) {
      throw new TypeError(
        `Platform context ${key} is not a platform being built: add it to the platforms or drop it`,
      );
    }
    if (layers.length === 0) {
      throw new TypeError(`Platform context ${key} replaces the first layer, but there is none`);
    }
    platformContexts.set(formatPlatform(match), dir);
  }

  const epoch = options.sourceDateEpoch ??
    outputs.find((o) => o.sourceDateEpoch !== undefined)?.sourceDateEpoch;
  // Folders that `dest` creates get the build's time, clamped by the epoch (BuildKit's
  // fileop creates them at build time; rewrite-timestamp clamps them).
  const now = Math.floor(Date.now() / 1000);
  const createdMtime = epoch === undefined ? now : Math.min(now, epoch);

  // Every folder, ignore file and pattern is checked before any work.
  const prepared = new Map<string, PreparedLayer>();
  const plans: { platform: Platform; layers: PreparedLayer[] }[] = [];
  for (const platform of platforms) {
    const own = platformContexts.get(formatPlatform(platform));
    // The folders each `dest` creates, as the layers stack up: a folder that an earlier layer
    // created keeps its attributes (BuildKit's copy only makes the folders that are missing).
    const folders = new Map<string, PrefixFolder>();
    const list: PreparedLayer[] = [];
    for (const [i, layer] of layers.entries()) {
      const src = i === 0 && own !== undefined ? own : layer.src;
      const dest = layerDestination(layer, options.config?.workdir);
      const mode = layer.chmod === undefined ? undefined : parseChmod(layer.chmod);
      const owner = layer.chown === undefined ? { uid: 0, gid: 0 } : parseChown(layer.chown);
      const parts = dest.split("/").filter((p) => p !== "");
      const existing: Record<string, PrefixFolder> = {};
      for (let n = 1; n <= parts.length; n++) {
        const path = parts.slice(0, n).join("/");
        const known = folders.get(path);
        if (known) existing[path] = known;
        else {
          // As BuildKit's copy makes them: the --chmod bits or 0755, owned as --chown.
          folders.set(path, {
            mode: mode === undefined ? 0o755 : mode & 0o777,
            ...owner,
            mtime: createdMtime,
          });
        }
      }
      const key = `${src}\0${JSON.stringify(layer)}\0${JSON.stringify(existing)}`;
      let made = prepared.get(key);
      if (!made) {
        made = await prepareLayer(layer, src, dest, createdMtime, existing);
        prepared.set(key, made);
      }
      list.push(made);
    }
    plans.push({ platform, layers: list });
  }

  const needsStore = outputs.some((o) => o.store && (o.type === "image" || o.type === "registry"));
  const env = await createDenoEnvironment({
    storePath: options.store,
    openStore: needsStore,
    workers: options.workers,
    layerCache: options.cache !== false,
    onProgress: options.progress,
  });
  try {
    // registry.insecure=true covers that registry for pulling `from` too, as BuildKit's
    // per-host config does.
    const insecureHosts = outputs.filter((o) => o.insecureRegistry)
      .flatMap((o) => o.names.map((n) => registryHost(parseReference(n))));
    const inputs: PlatformInput[] = [];
    for (const plan of plans) {
      const base = options.from && options.from !== "scratch"
        ? await resolveBaseImage(options.from, plan.platform, env, {
          insecureHosts,
          pull: options.pull,
          storePath: options.store,
        })
        : undefined;
      inputs.push({ platform: plan.platform, base, layers: plan.layers.map((l) => l.input) });
    }
    const results = await exportImage(
      {
        platforms: inputs,
        ...(options.config ? { config: options.config } : {}),
        annotations,
        ...(options.attest ? { attest: options.attest } : {}),
        ...(options.sourceDateEpoch !== undefined
          ? { sourceDateEpoch: options.sourceDateEpoch }
          : {}),
      },
      outputs,
      env,
    );
    return { ...results[results.length - 1]!, results };
  } finally {
    await env.close();
  }
}

interface PreparedLayer {
  input: LayerInput;
}

/** Checks the folder, reads its ignore file and turns the layer into a {@link LayerInput}. */
async function prepareLayer(
  layer: LayerOptions,
  src: string,
  dest: string,
  createdMtime: number,
  existing: Record<string, PrefixFolder>,
): Promise<PreparedLayer> {
  const info = await Deno.stat(src).catch(() => undefined);
  if (!info) throw new TypeError(`Layer folder ${src} does not exist: pass an existing folder`);
  if (!info.isDirectory) throw new TypeError(`Layer source ${src} is not a folder: pass a folder`);
  const exclude = [...await readIgnoreFile(src, layer.ignoreFile), ...(layer.exclude ?? [])];
  new PatternMatcher(exclude); // a malformed pattern fails here, before any work
  const owner = layer.chown === undefined ? undefined : parseChown(layer.chown);
  const mode = layer.chmod === undefined ? undefined : parseChmod(layer.chmod);
  return {
    input: {
      entries: () =>
        directoryEntries(denoFileSystem, src, {
          ...(exclude.length > 0 ? { exclude } : {}),
          prefix: dest,
          // As BuildKit's copy makes the destination: the --chmod bits or 0755, owned as --chown.
          prefixMode: mode === undefined ? 0o755 : mode & 0o777,
          prefixMtime: createdMtime,
          prefixFolders: existing,
          ...(mode !== undefined ? { mode } : {}),
          ...(owner ? owner : {}),
          // File capabilities travel as containerd's differ writes them (BuildKit's COPY
          // layers): the security.capability xattr, read through libc where FFI is allowed.
          xattrs: LAYER_XATTRS,
        }),
      source: realPath(src),
      createdBy: layerCreatedBy(layer),
    },
  };
}

/** The extended attributes containerd's differ (`archive.WriteDiff`) puts into a layer. */
const LAYER_XATTRS = ["security.capability"] as const;

/** The patterns of `ignoreFile` if given, else of `DIR/.dockerignore` when there is one. */
async function readIgnoreFile(dir: string, ignoreFile: string | undefined): Promise<string[]> {
  const file = ignoreFile ?? `${dir.replace(/\/+$/, "")}/.dockerignore`;
  try {
    return parseIgnoreFile(await Deno.readTextFile(file));
  } catch (e) {
    if (ignoreFile === undefined && e instanceof Deno.errors.NotFound) return [];
    throw new TypeError(
      `Cannot read ignore file ${file}: ${(e as Error).message}; fix the path or its permissions`,
    );
  }
}

/** A folder's canonical path, naming it for the layer cache (the path given when it fails). */
function realPath(dir: string): string {
  try {
    return Deno.realPathSync(dir);
  } catch {
    return dir;
  }
}
