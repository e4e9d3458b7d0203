/**
 * Renders export progress on stderr: a live per-layer view on a terminal,
 * one line per step in CI logs (`plain`), JSON lines for tools (`json`), or
 * nothing (`quiet`). stdout is never used.
 *
 * @example
 * ```ts
 * import { createProgressRenderer } from "./progress_renderer.ts";
 * const r = createProgressRenderer("plain", (line) => console.error(line));
 * r.listener({ type: "note", message: "hello" });
 * r.close();
 * ```
 * @module
 */
import type { ProgressEvent, ProgressListener } from "../exporter/progress.ts";

/** Progress modes of `--progress`. */
export type ProgressMode = "auto" | "tty" | "plain" | "json" | "quiet";

/** The progress modes, for validation. */
export const PROGRESS_MODES: readonly ProgressMode[] = ["auto", "tty", "plain", "json", "quiet"];

/** A renderer: feed it events, close it at the end. */
export interface ProgressRenderer {
  /** Receives events. */
  listener: ProgressListener;
  /** Finishes the display. */
  close(): void;
}

interface LayerState {
  description: string;
  written: number;
  started: number;
  done?: string;
}

/** Creates a renderer writing lines through `write` (and raw terminal text through `writeRaw`). */
export function createProgressRenderer(
  mode: Exclude<ProgressMode, "auto">,
  write: (line: string) => void,
  writeRaw?: (text: string) => void,
  now: () => number = () => performance.now(),
): ProgressRenderer {
  if (mode === "quiet") return { listener: () => {}, close: () => {} };
  if (mode === "json") {
    return { listener: (e) => write(JSON.stringify(e)), close: () => {} };
  }
  const start = now();
  const elapsed = () => ((now() - start) / 1000).toFixed(1).padStart(5) + "s";
  const layers = new Map<string, LayerState>();
  if (mode === "plain" || !writeRaw) {
    const lastLogged = new Map<string, number>();
    return {
      listener(e) {
        const line = plainLine(e, layers, now, lastLogged);
        if (line !== undefined) write(`[${elapsed()}] ${line}`);
      },
      close: () => {},
    };
  }
  // tty: redraw the block of layer lines in place.
  let drawnLines = 0;
  let lastDraw = 0;
  const notes: string[] = [];
  const draw = (force = false) => {
    const t = now();
    if (!force && t - lastDraw < 100) return;
    lastDraw = t;
    let text = drawnLines > 0 ? `\x1b[${drawnLines}A` : "";
    const lines: string[] = [...notes.splice(0)];
    for (const [id, s] of layers) {
      const secs = Math.max((t - s.started) / 1000, 0.001);
      const rate = formatBytes(s.written / secs) + "/s";
      lines.push(
        s.done
          ? `✔ ${id} ${s.description}  ${s.done}`
          : `… ${id} ${s.description}  ${formatBytes(s.written)}  ${rate}`,
      );
    }
    text += lines.map((l) => `\x1b[2K${l}\n`).join("");
    drawnLines = lines.length - (lines.length - layers.size);
    writeRaw(text);
  };
  return {
    listener(e) {
      switch (e.type) {
        case "note":
          notes.push(`note: ${e.message}`);
          draw(true);
          return;
        case "layer":
          layers.set(e.id, { description: e.description, written: 0, started: now() });
          break;
        case "layer-progress": {
          const s = layers.get(e.id);
          if (s) s.written = e.written;
          break;
        }
        case "layer-done": {
          const s = layers.get(e.id);
          if (s) {
            s.done = `${e.digest.slice(0, 19)} ${formatBytes(e.size)}${
              e.cached ? " (cached)" : ""
            }`;
          }
          draw(true);
          return;
        }
        case "done":
          draw(true);
          write(`exported ${e.digest} in ${elapsed().trim()}`);
          return;
        default: {
          const line = plainLine(e, layers, now, new Map());
          if (line) {
            notes.push(line);
            draw(true);
          }
          return;
        }
      }
      draw();
    },
    close: () => draw(true),
  };
}

function plainLine(
  e: ProgressEvent,
  layers: Map<string, LayerState>,
  now: () => number,
  lastLogged: Map<string, number>,
): string | undefined {
  switch (e.type) {
    case "note":
      return `note: ${e.message}`;
    case "layer":
      layers.set(e.id, { description: e.description, written: 0, started: now() });
      return `layer ${e.id}: ${e.description}`;
    case "layer-progress": {
      const s = layers.get(e.id);
      if (s) s.written = e.written;
      // One line every 5 seconds per layer keeps CI logs short.
      const last = lastLogged.get(e.id) ?? 0;
      if (now() - last < 5000) return undefined;
      lastLogged.set(e.id, now());
      return `layer ${e.id}: ${formatBytes(e.written)} written`;
    }
    case "layer-done": {
      const s = layers.get(e.id);
      const secs = s ? Math.max((now() - s.started) / 1000, 0.001) : 0;
      const rate = s ? `, ${formatBytes(e.uncompressedSize / secs)}/s` : "";
      return `layer ${e.id}: ${e.digest} ${formatBytes(e.size)} (${
        formatBytes(e.uncompressedSize)
      } uncompressed${rate})${e.cached ? " cached" : ""}`;
    }
    case "blob-upload":
      return undefined;
    case "blob-done":
      return `${e.skipped ? "exists" : "pushed"} ${e.digest} to ${e.target}`;
    case "manifest":
      return `pushed manifest ${e.digest}${e.tag ? ` as ${e.tag}` : ""} to ${e.target}`;
    case "done":
      return `exported ${e.digest}`;
  }
}

/** Formats a byte count as `12.3 MiB`. */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return i === 0 ? `${Math.round(n)} B` : `${n.toFixed(1)} ${units[i]}`;
}
