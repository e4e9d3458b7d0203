/**
 * Progress events an export reports. The CLI renders them (tty, plain, json);
 * library users may log or ignore them.
 *
 * @example
 * ```ts
 * import type { ProgressEvent } from "./progress.ts";
 * const log = (e: ProgressEvent) => console.log(e.type);
 * log({ type: "note", message: "hello" });
 * ```
 * @module
 */

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
