/**
 * Renders export progress on stderr: a live per-layer view on a terminal,
 * one line per step in CI logs (`plain`), JSON lines for tools (`json`), or
 * nothing (`quiet`). stdout is never used.
 *
 * @example
 * ```ts
 * import { assertEquals, assertMatch } from "@std/assert";
 * import { createProgressRenderer } from "./progress_renderer.ts";
 * const lines: string[] = [];
 * const r = createProgressRenderer("plain", (line) => lines.push(line));
 * r.listener({ type: "note", message: "hello" });
 * r.close();
 * assertEquals(lines.length, 1);
 * assertMatch(lines[0]!, /hello/);
 * const json: string[] = [];
 * createProgressRenderer("json", (line) => json.push(line)).listener({ type: "note", message: "hi" });
 * assertEquals(json.map((l) => JSON.parse(l)), [{ type: "note", message: "hi" }]);
 * ```
 * @module
 */
import type { ProgressEvent, ProgressListener } from "../exporter/progress.ts";
import { escapeControls, safeJson } from "../types/quote.ts";

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

/**
 * Creates a renderer writing lines through `write` (and, for `tty`, raw
 * terminal text through `writeRaw`, clipped to `columns` when known).
 */
export function createProgressRenderer(
  mode: Exclude<ProgressMode, "auto">,
  write: (line: string) => void,
  writeRaw?: (text: string) => void,
  now: () => number = () => performance.now(),
  columns = 0,
): ProgressRenderer {
  if (mode === "quiet") return { listener: () => {}, close: () => {} };
  if (mode === "json") {
    return { listener: (e) => write(safeJson(JSON.stringify(e))), close: () => {} };
  }
  const start = now();
  const elapsed = () => ((now() - start) / 1000).toFixed(1).padStart(5) + "s";
  const layers = new Map<string, LayerState>();
  if (mode === "plain" || !writeRaw) {
    const state: PlainState = { layers, lastLogged: new Map(), uploads: new Map(), now };
    return {
      listener(e) {
        const line = plainLine(e, state);
        if (line !== undefined) write(`[${elapsed()}] ${escapeControls(line)}`);
      },
      close: () => {},
    };
  }
  // tty: permanent lines (notes, pushes) scroll above a block of layer lines
  // that is redrawn in place; after "done" nothing is redrawn again.
  let drawn = 0;
  let closed = false;
  let lastDraw = 0;
  const render = (permanent: string[] = [], force = true) => {
    if (closed) return;
    const t = now();
    if (!force && permanent.length === 0 && t - lastDraw < 100) return;
    lastDraw = t;
    const block = [...layers].map(([id, s]) => {
      if (s.done) return `✔ ${id} ${s.description}  ${s.done}`;
      const rate = formatBytes(s.written / Math.max((t - s.started) / 1000, 0.001));
      return `… ${id} ${s.description}  ${formatBytes(s.written)}  ${rate}/s`;
    });
    let text = drawn > 0 ? `\x1b[${drawn}A` : "";
    // A wrapped block line would break the in-place redraw: clip to the terminal width.
    const clip = (line: string) =>
      columns > 1 && line.length >= columns ? line.slice(0, columns - 2) + "…" : line;
    // Lines carry names from registries and layers: escape their controls before ours go in.
    const lines = [...permanent, ...block].map((l) => escapeControls(l));
    for (
      const line of [
        ...lines.slice(0, permanent.length),
        ...lines.slice(permanent.length).map(clip),
      ]
    ) {
      text += `\x1b[2K${line}\n`;
    }
    writeRaw(text + "\x1b[J");
    drawn = block.length;
  };
  const finish = () => {
    render();
    closed = true;
  };
  return {
    listener(e) {
      switch (e.type) {
        case "layer":
          layers.set(e.id, { description: e.description, written: 0, started: now() });
          return render();
        case "layer-progress": {
          const s = layers.get(e.id);
          if (s) s.written = e.written;
          return render([], false);
        }
        case "layer-done": {
          const s = layers.get(e.id);
          if (s) {
            s.done = `${e.digest.slice(0, 19)} ${formatBytes(e.size)}${
              e.cached ? " (cached)" : ""
            }`;
          }
          return render();
        }
        case "done":
          finish();
          write(escapeControls(`exported ${e.digest} in ${elapsed().trim()}`));
          return;
        default: {
          const line = plainLine(e, { layers, lastLogged: new Map(), uploads: new Map(), now });
          if (line) render([line]);
          return;
        }
      }
    },
    close: finish,
  };
}

/** What plain lines remember between events. */
interface PlainState {
  layers: Map<string, LayerState>;
  /** When each layer or upload last got a progress line. */
  lastLogged: Map<string, number>;
  /** Bytes sent per blob upload, for its rate. */
  uploads: Map<string, { sent: number; started: number }>;
  now: () => number;
}

function plainLine(e: ProgressEvent, state: PlainState): string | undefined {
  const { layers, lastLogged, uploads, now } = state;
  // One progress line every 5 seconds per layer or upload keeps CI logs short.
  const due = (key: string) => {
    if (now() - (lastLogged.get(key) ?? now()) < 5000) return false;
    lastLogged.set(key, now());
    return true;
  };
  const rate = (bytes: number, started: number) =>
    `${formatBytes(bytes / Math.max((now() - started) / 1000, 0.001))}/s`;
  switch (e.type) {
    case "note":
      return `note: ${e.message}`;
    case "layer":
      layers.set(e.id, { description: e.description, written: 0, started: now() });
      lastLogged.set(e.id, now());
      return `layer ${e.id}: ${e.description}`;
    case "layer-progress": {
      const s = layers.get(e.id);
      if (s) s.written = e.written;
      return due(e.id) ? `layer ${e.id}: ${formatBytes(e.written)} written` : undefined;
    }
    case "layer-done": {
      const s = layers.get(e.id);
      const speed = s ? `, ${rate(e.uncompressedSize, s.started)}` : "";
      return `layer ${e.id}: ${e.digest} ${formatBytes(e.size)} (${
        formatBytes(e.uncompressedSize)
      } uncompressed${speed})${e.cached ? " cached" : ""}`;
    }
    case "blob-upload": {
      const key = `${e.target}|${e.digest || e.id}`;
      let upload = uploads.get(key);
      if (!upload) {
        uploads.set(key, upload = { sent: 0, started: now() });
        lastLogged.set(key, now());
      }
      upload.sent = e.sent;
      if (e.sent === e.total || !due(key)) return undefined;
      const of = e.total !== undefined ? ` of ${formatBytes(e.total)}` : "";
      return `uploading ${e.digest || e.id} to ${e.target}: ${formatBytes(e.sent)}${of} (${
        rate(e.sent, upload.started)
      })`;
    }
    case "blob-done": {
      const upload = uploads.get(`${e.target}|${e.digest}`);
      uploads.delete(`${e.target}|${e.digest}`);
      const figures = upload && !e.skipped
        ? ` (${formatBytes(upload.sent)}, ${rate(upload.sent, upload.started)})`
        : "";
      return `${e.skipped ? "exists" : "pushed"} ${e.digest} to ${e.target}${figures}`;
    }
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
