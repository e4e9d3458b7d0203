/**
 * Progress events an export reports. The CLI renders them (tty, plain, json);
 * library users may log or ignore them.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import type { ProgressEvent } from "@ocistream/ocistream";
 * const seen: string[] = [];
 * const log = (e: ProgressEvent) => seen.push(e.type);
 * log({ type: "note", message: "hello" });
 * assertEquals(seen, ["note"]);
 * ```
 * @module
 */
import type { CopyEvent } from "../image/copy_image.ts";

/** One progress event. Byte counts are cumulative for their `id`. */
export type ProgressEvent =
  | { type: "note"; message: string }
  | { type: "layer"; id: string; platform: string; description: string }
  | { type: "layer-progress"; id: string; read: number; written: number }
  | {
    type: "layer-done";
    id: string;
    digest: string;
    size: number;
    uncompressedSize: number;
    cached?: boolean;
  }
  | {
    type: "blob-upload";
    id: string;
    target: string;
    digest: string;
    sent: number;
    total?: number;
  }
  | { type: "blob-done"; id: string; target: string; digest: string; skipped?: boolean }
  | { type: "manifest"; target: string; digest: string; tag?: string }
  | { type: "done"; digest: string };

/** Receives progress events. */
export type ProgressListener = (event: ProgressEvent) => void;

/**
 * Turns copy events into progress events for `target`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { type ProgressEvent } from "@ocistream/ocistream";
 * import { copyProgress } from "@ocistream/ocistream/image";
 * const seen: ProgressEvent["type"][] = [];
 * const onEvent = copyProgress({ onProgress: (e) => seen.push(e.type) }, "reg.lan/app");
 * onEvent?.({ type: "manifest", digest: "sha256:…", mediaType: "application/vnd.oci.image.manifest.v1+json" });
 * assertEquals(seen, ["manifest"]);
 * ```
 */
export function copyProgress(
  env: { onProgress?: ProgressListener },
  target: string,
): ((event: CopyEvent) => void) | undefined {
  const listener = env.onProgress;
  if (!listener) return undefined;
  return (e) =>
    listener(
      e.type === "blob"
        ? {
          type: "blob-done",
          id: e.digest,
          target,
          digest: e.digest,
          skipped: e.result !== "uploaded",
        }
        : { type: "manifest", target, digest: e.digest, tag: e.tag },
    );
}
