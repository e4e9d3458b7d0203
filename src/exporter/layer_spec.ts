/**
 * One new layer of a build, as `--layer` writes it (buildx-style CSV, or the `DIR[:DEST]`
 * shorthand) and as `buildImage` takes it: a folder placed at `dest`, with `COPY --chown` /
 * `--chmod` / `--exclude` semantics.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { layerCreatedBy, parseLayerSpec } from "@ocistream/ocistream/image";
 * const layer = parseLayerSpec("src=dist,dest=/app,chown=1000:1000,exclude=*.map");
 * assertEquals(layer, { src: "dist", dest: "/app", chown: "1000:1000", exclude: ["*.map"] });
 * assertEquals(layerCreatedBy(layer), "COPY --chown=1000:1000 dist /app # buildkit");
 * assertEquals(parseLayerSpec("node_modules:/app/node_modules").dest, "/app/node_modules");
 * ```
 * @module
 */
import { splitCsvLine } from "./_csv.ts";
import { cleanPath } from "../sources/pattern_matcher.ts";

/** One layer: a folder, where it goes in the image, and what to change on the way. */
export interface LayerOptions {
  /** The folder whose content becomes the layer. */
  src: string;
  /**
   * Where its content goes in the image (default `/`). A relative path is under the config's
   * `workdir` when one is set (as `COPY` resolves it against `WORKDIR`), else under `/`.
   */
  dest?: string;
  /**
   * Owner of every entry, including the folders `dest` creates: `UID[:GID]` (GID defaults to
   * UID, as `COPY --chown`), or a number. Default `0:0`.
   */
  chown?: string | number;
  /**
   * Permission bits of every entry but symlinks, and of the folders `dest` creates, as
   * `COPY --chmod`: an octal string (`"755"`, `"0644"`) or a number (`0o755`).
   */
  chmod?: string | number;
  /** Docker path patterns to leave out, added after the ignore file's. */
  exclude?: string[];
  /** The ignore file to read instead of `<src>/.dockerignore`. */
  ignoreFile?: string;
  /** History `created_by`; default `COPY [--chown=…] [--chmod=…] SRC DEST # buildkit`. */
  createdBy?: string;
}

const KEYS: Record<string, keyof LayerOptions> = {
  src: "src",
  dest: "dest",
  chown: "chown",
  chmod: "chmod",
  exclude: "exclude",
  "ignore-file": "ignoreFile",
  "created-by": "createdBy",
};

/**
 * Parses a `--layer` value: `src=DIR[,dest=/PATH][,chown=UID[:GID]][,chmod=MODE]
 * [,exclude=PATTERN]...[,ignore-file=FILE][,created-by=TEXT]` (CSV, quotes as buildx), or
 * `DIR[:DEST]`. Throws a `TypeError` saying what to write instead.
 */
export function parseLayerSpec(text: string): LayerOptions {
  const fields = splitCsvLine(text);
  const first = fields[0] ?? "";
  const eq = first.indexOf("=");
  if (eq < 0 || !(first.slice(0, eq) in KEYS)) {
    // DIR[:DEST], DEST an absolute path after the last ':'.
    const colon = text.lastIndexOf(":/");
    const layer: LayerOptions = colon > 0
      ? { src: text.slice(0, colon), dest: text.slice(colon + 1) }
      : { src: text };
    return checkLayer(layer, `--layer ${text}`);
  }
  const layer: Partial<LayerOptions> & { exclude?: string[] } = {};
  for (const field of fields) {
    const at = field.indexOf("=");
    const key = at < 0 ? field : field.slice(0, at);
    const name = KEYS[key];
    if (at < 0 || name === undefined) {
      throw new TypeError(
        `Invalid --layer field "${field}" in "${text}": use ${
          Object.keys(KEYS).map((k) => `${k}=`).join(", ")
        } (e.g. src=dist,dest=/app)`,
      );
    }
    const value = field.slice(at + 1);
    if (name === "exclude") (layer.exclude ??= []).push(value);
    else if (layer[name] !== undefined) {
      throw new TypeError(`--layer "${text}" gives ${key}= twice: keep one`);
    } else (layer as Record<string, string>)[name] = value;
  }
  if (layer.src === undefined) {
    throw new TypeError(`--layer "${text}" has no src=: name the folder, e.g. src=dist,dest=/app`);
  }
  return checkLayer(layer as LayerOptions, `--layer ${text}`);
}

/**
 * Checks a layer given as an object (from JavaScript or {@link parseLayerSpec}); returns it
 * with an absolute `dest` cleaned. Throws a `TypeError` naming the field.
 */
export function checkLayer(layer: LayerOptions, what = "layer"): LayerOptions {
  if (layer === null || typeof layer !== "object") {
    throw new TypeError(`Invalid ${what}: give a folder path or { src, dest?, ... }`);
  }
  if (typeof layer.src !== "string" || layer.src === "") {
    throw new TypeError(`Invalid ${what}: src must name a folder`);
  }
  const out: LayerOptions = { ...layer };
  if (layer.dest !== undefined) {
    if (typeof layer.dest !== "string" || layer.dest.includes("\0")) {
      throw new TypeError(`Invalid ${what}: dest must be a path such as /app`);
    }
    out.dest = layer.dest.startsWith("/") ? cleanPath(layer.dest) : layer.dest;
  }
  if (layer.chown !== undefined) parseChown(layer.chown, what);
  if (layer.chmod !== undefined) parseChmod(layer.chmod, what);
  if (layer.exclude !== undefined) {
    if (!Array.isArray(layer.exclude) || layer.exclude.some((p) => typeof p !== "string")) {
      throw new TypeError(`Invalid ${what}: exclude must be a list of patterns`);
    }
  }
  for (const key of ["ignoreFile", "createdBy"] as const) {
    if (layer[key] !== undefined && typeof layer[key] !== "string") {
      throw new TypeError(`Invalid ${what}: ${key} must be a string`);
    }
  }
  return out;
}

/**
 * `UID[:GID]` (numbers; GID defaults to UID as `COPY --chown` does) or a number, to ids.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseChown } from "@ocistream/ocistream/image";
 * assertEquals(parseChown("1000"), { uid: 1000, gid: 1000 });
 * assertEquals(parseChown("1000:50"), { uid: 1000, gid: 50 });
 * ```
 */
export function parseChown(chown: string | number, what = "chown"): { uid: number; gid: number } {
  const text = String(chown);
  const m = /^(\d+)(?::(\d+))?$/.exec(text);
  const uid = m ? Number(m[1]) : NaN;
  const gid = m ? Number(m[2] ?? m[1]) : NaN;
  if (!m || uid > 0xffff_ffff || gid > 0xffff_ffff) {
    throw new TypeError(
      `Invalid chown "${text}" in ${what}: use numeric UID[:GID], e.g. 1000:1000 ` +
        "(names need the image's /etc/passwd, which a build from folders does not read)",
    );
  }
  return { uid, gid };
}

/**
 * An octal mode string (`"755"`, `"0o644"`) or a number, to permission bits (`0`–`0o7777`).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseChmod } from "@ocistream/ocistream/image";
 * assertEquals([parseChmod("755") === 0o755, parseChmod(0o640) === 0o640], [true, true]);
 * ```
 */
export function parseChmod(chmod: string | number, what = "chmod"): number {
  const mode = typeof chmod === "number"
    ? chmod
    : /^(?:0o)?[0-7]{1,5}$/.test(chmod)
    ? parseInt(chmod.replace(/^0o/, ""), 8)
    : NaN;
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
    throw new TypeError(
      `Invalid chmod "${chmod}" in ${what}: use an octal mode from 0 to 7777, e.g. 755 or 0644`,
    );
  }
  return mode;
}

/**
 * The absolute folder a layer's `dest` names: a relative one is under `workdir` (default `/`).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { layerDestination } from "@ocistream/ocistream/image";
 * assertEquals(layerDestination({ src: "dist", dest: "public" }, "/srv"), "/srv/public");
 * assertEquals(layerDestination({ src: "dist" }), "/");
 * ```
 */
export function layerDestination(layer: LayerOptions, workdir = "/"): string {
  const dest = layer.dest ?? "/";
  return cleanPath(dest.startsWith("/") ? dest : `/${workdir}/${dest}`);
}

/**
 * The history `created_by` BuildKit's Dockerfile frontend writes for the `COPY` this layer
 * is: `COPY [--chown=…] [--chmod=…] SRC DEST # buildkit`, SRC relative (`.` for an absolute
 * folder, whose location must not change the image), unless `createdBy` is given.
 */
export function layerCreatedBy(layer: LayerOptions): string {
  if (layer.createdBy !== undefined) return layer.createdBy;
  let text = "COPY";
  if (layer.chown !== undefined) text += ` --chown=${layer.chown}`;
  if (layer.chmod !== undefined) {
    text += ` --chmod=${
      typeof layer.chmod === "number" ? layer.chmod.toString(8).padStart(4, "0") : layer.chmod
    }`;
  }
  const src = layer.src.startsWith("/") ? "." : cleanPath(layer.src);
  return `${text} ${src} ${layer.dest ?? "/"} # buildkit`;
}
