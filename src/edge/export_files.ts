/**
 * One call from files in memory to a pushed image: the edge recipe
 * (`memoryEntries` → one layer → `exportImage` → registry).
 *
 * @example Compute the image digest without pushing (`type=image` with no store keeps nothing)
 * ```ts
 * import { exportFiles } from "./export_files.ts";
 * const result = await exportFiles(
 *   { "index.html": "<h1>hello</h1>" },
 *   "type=image,name=example.com/site:1,rewrite-timestamp=true,source-date-epoch=0",
 * );
 * console.log(result.digest); // sha256:…, the same in every runtime
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
import { type OutputSpec, parseOutputSpec } from "../exporter/output_spec.ts";
import {
  memoryEntries,
  type MemoryFiles,
  type MemorySourceOptions,
} from "../sources/memory_source.ts";
import { createEdgeEnvironment } from "./edge.ts";

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
}

/**
 * Builds a one-layer image from `files` (see `memoryEntries` for the forms
 * and the checks) and delivers it to `output`, an output spec string as
 * buildx writes it or a parsed {@linkcode OutputSpec}. With an epoch and
 * `rewrite-timestamp=true`, the same files give the same digest in every
 * runtime. Throws before any request when the files or the spec are invalid.
 *
 * @example
 * ```ts ignore
 * import { exportFiles } from "./export_files.ts";
 * const { digest } = await exportFiles(
 *   [{ path: "index.html", content: "<h1>hi</h1>" }],
 *   "type=registry,name=127.0.0.1:5000/site:1,registry.insecure=true",
 *   { prefix: "usr/share/nginx/html", config: { labels: { site: "demo" } } },
 * );
 * console.log(digest);
 * ```
 */
export async function exportFiles(
  files: MemoryFiles,
  output: string | OutputSpec,
  options: ExportFilesOptions = {},
): Promise<ExportResult> {
  const spec = typeof output === "string" ? parseOutputSpec(output) : output;
  const { environment, platform, config, sourceDateEpoch, createdBy, ...source } = options;
  // Validate the files now, not halfway through an export.
  await memoryEntries(files, source).cancel();
  const [result] = await exportImage(
    {
      platforms: [{
        platform: platform ?? { os: "linux", architecture: "amd64" },
        layers: [{
          entries: () => memoryEntries(files, source),
          createdBy: createdBy ?? "ocistream: files from memory",
        }],
      }],
      ...(config ? { config } : {}),
      ...(sourceDateEpoch !== undefined ? { sourceDateEpoch } : {}),
    },
    [spec],
    environment ?? createEdgeEnvironment(),
  );
  return result!;
}
