/**
 * One call from files in memory to a pushed image: the edge recipe
 * (`memoryEntries` → one layer → `exportImage` → registry).
 *
 * @example Compute the image digest without pushing (`store: false` keeps nothing)
 * ```ts
 * import { assertEquals, assertMatch } from "@std/assert";
 * import { exportFiles, type OutputOptions } from "@ocistream/ocistream";
 * const output: OutputOptions = { type: "image", store: false, rewriteTimestamp: true, sourceDateEpoch: 0 };
 * const result = await exportFiles({ "index.html": "<h1>hello</h1>" }, output);
 * assertMatch(result.digest, /^sha256:[0-9a-f]{64}$/);
 * // The same files give the same digest, here and in every runtime.
 * assertEquals((await exportFiles({ "index.html": "<h1>hello</h1>" }, output)).digest, result.digest);
 * ```
 * @module
 */
import type { Platform } from "../types/descriptor.ts";
import type { ConfigOverrides } from "../image/config_builder.ts";
import {
  type ExportEnvironment,
  exportImage,
  type ExportResult,
} from "../exporter/export_image.ts";
import type { OutputSpec } from "../exporter/output_spec.ts";
import type { OutputOptions } from "../exporter/output_options.ts";
import {
  memoryEntries,
  type MemoryFiles,
  type MemorySourceOptions,
} from "../sources/memory_source.ts";
import { createEdgeEnvironment } from "./edge.ts";
import { parseChmod, parseChown } from "../exporter/layer_spec.ts";
import type { TarEntry } from "../types/tar_entry.ts";

/** Options of {@linkcode exportFiles}. */
export interface ExportFilesOptions extends MemorySourceOptions {
  /** Where the export runs. Default: {@linkcode createEdgeEnvironment}`()` (registry pushes only). */
  environment?: ExportEnvironment;
  /** The image platform. Default `linux/amd64`. */
  platform?: Platform;
  /** Image config (entrypoint, env, labels, ...). */
  config?: ConfigOverrides;
  /** The epoch (`SOURCE_DATE_EPOCH`) when the output spec has no `source-date-epoch`. */
  sourceDateEpoch?: number;
  /** History `created_by` of the layer. Default `"ocistream: files from memory"`. */
  createdBy?: string;
  /**
   * Where the files go in the image, e.g. `"/usr/share/nginx/html"` (wins over `prefix`); the
   * folders it creates get mode 0755 (or the `chmod` bits) and the `chown` owner, as `COPY`.
   */
  dest?: string;
  /** Owner of every entry, as `COPY --chown`: `UID[:GID]` (GID defaults to UID) or a number. */
  chown?: string | number;
  /** Mode of every entry but symlinks, as `COPY --chmod`: octal string (`"755"`) or number. */
  chmod?: string | number;
}

/**
 * Builds a one-layer image from `files` (see `memoryEntries` for the forms
 * and the checks) and delivers it to `output`: an {@linkcode OutputOptions} object, an output
 * spec string as buildx writes it, or a parsed {@linkcode OutputSpec}. With an epoch and
 * `rewrite-timestamp=true`, the same files give the same digest in every
 * runtime. Throws before any request when the files or the spec are invalid.
 *
 * @example
 * ```ts ignore
 * import { exportFiles } from "./export_files.ts";
 * const { digest } = await exportFiles(
 *   [{ path: "index.html", content: "<h1>hi</h1>" }],
 *   "type=registry,name=127.0.0.1:5000/site:1,registry.insecure=true",
 *   { dest: "/usr/share/nginx/html", chown: "101:101", config: { labels: { site: "demo" } } },
 * );
 * console.log(digest);
 * ```
 */
export async function exportFiles(
  files: MemoryFiles,
  output: string | OutputOptions | OutputSpec,
  options: ExportFilesOptions = {},
): Promise<ExportResult> {
  const { environment, platform, config, sourceDateEpoch, createdBy, dest, chown, chmod, ...rest } =
    options;
  const owner = chown === undefined ? undefined : parseChown(chown, "exportFiles()");
  const mode = chmod === undefined ? undefined : parseChmod(chmod, "exportFiles()");
  const source: MemorySourceOptions = {
    ...rest,
    ...(dest !== undefined ? { prefix: dest } : {}),
    ...(mode !== undefined ? { directoryMode: mode & 0o777 } : {}),
  };
  const created = new Set<string>();
  const parts = (source.prefix ?? "").split("/").filter((p) => p !== "" && p !== ".");
  for (let i = 1; i <= parts.length; i++) created.add(parts.slice(0, i).join("/"));
  const entries = () => {
    const stream = memoryEntries(files, source);
    if (owner === undefined && mode === undefined) return stream;
    // COPY --chown/--chmod: every entry, whatever the file said; created folders keep 0755/bits.
    return stream.pipeThrough(
      new TransformStream<TarEntry, TarEntry>({
        transform(entry, controller) {
          const changed = { ...entry, ...(owner ?? {}) };
          if (mode !== undefined && entry.type !== "symlink" && !created.has(entry.path)) {
            changed.mode = mode;
          }
          controller.enqueue(changed);
        },
      }),
    );
  };
  // Validate the files now, not halfway through an export.
  await memoryEntries(files, source).cancel();
  const [result] = await exportImage(
    {
      platforms: [{
        platform: platform ?? { os: "linux", architecture: "amd64" },
        layers: [{
          entries,
          createdBy: createdBy ?? "ocistream: files from memory",
        }],
      }],
      ...(config ? { config } : {}),
      ...(sourceDateEpoch !== undefined ? { sourceDateEpoch } : {}),
    },
    [output],
    environment ?? createEdgeEnvironment(),
  );
  return result!;
}
