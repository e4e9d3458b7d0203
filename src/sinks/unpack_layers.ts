/**
 * Applies image layers onto a folder (SPEC §9, `unpack`): each layer's tar
 * in order, with whiteouts (`.wh.<name>` removes `<name>`, `.wh..wh..opq`
 * hides what lower layers put in that folder), hardlinks, symlinks, modes,
 * times, and, where the file system allows it, ownership and device nodes.
 * The result matches `umoci unpack`.
 *
 * Hostile layers cannot write outside the target:
 * - a path with a `..` component is refused (an error naming the entry);
 *   a leading `/` is dropped, as tar does;
 * - every parent folder is resolved inside the target, symlink by symlink,
 *   as if the target were `/` (a symlink to `/etc` means `<target>/etc`), so
 *   no write ever goes through a symlink out of it; this is also what makes
 *   absolute symlinks in real images (`/lib -> /usr/lib`) work;
 * - an existing entry in the way is removed (never written through), and a
 *   symlink that replaced a folder earlier in the layer is resolved the same
 *   way;
 * - hardlink targets are resolved inside the target too, and must exist;
 * - truncated tars and bodies shorter than their declared size fail with an
 *   error naming the entry.
 *
 * @example
 * ```ts ignore
 * import { unpackLayers } from "./unpack_layers.ts";
 * const report = await unpackLayers(layout, manifest, config, "/tmp/rootfs", { fs, codecs });
 * for (const note of report.notes) console.error(note);
 * ```
 * @module
 */
import type { Codecs } from "../types/codecs.ts";
import type { ImageConfig } from "../types/config.ts";
import type { ContentSource } from "../types/content.ts";
import type { FileInfo, FileSystem } from "../types/file_system.ts";
import { NotFoundError } from "../types/file_system.ts";
import type { ImageManifest } from "../types/manifest.ts";
import { layerCompression } from "../types/media_types.ts";
import { DigestStream } from "../stages/digest_stream.ts";
import { type TarEntryWithBody, UntarStream } from "../stages/untar_stream.ts";
import { joinDevice } from "../stages/_tar_device.ts";

const WHITEOUT = ".wh.";
const OPAQUE = ".wh..wh..opq";
const MAX_SYMLINKS = 255;

/** Options of {@link applyLayer} and {@link unpackLayers}. */
export interface UnpackOptions {
  /** Where to write. */
  fs: FileSystem;
  /** Set owners from the tar with `lchown` (default true; failures become notes). */
  ownership?: boolean;
  /** Called for each note as it happens (things that could not be applied). */
  onNote?: (message: string) => void;
}

/** Options of {@link unpackLayers}. */
export interface UnpackLayersOptions extends UnpackOptions {
  /** Decompression and hashing (for diffID checks). */
  codecs: Codecs;
}

/** What an unpack did. */
export interface UnpackReport {
  /** Layers applied. */
  layers: number;
  /** Tar entries applied (whiteouts included). */
  entries: number;
  /** What could not be applied, one line per kind (e.g. ownership as non-root). */
  notes: string[];
}

/**
 * Applies the layers of `manifest` onto `target` (an existing folder) in
 * order, reading each from `source`, decompressing it and checking its
 * diffID against `config` when given.
 *
 * @example
 * ```ts ignore
 * import { unpackLayers } from "./unpack_layers.ts";
 * await unpackLayers(layout, manifest, config, "/tmp/rootfs", { fs: denoFileSystem, codecs });
 * ```
 */
export async function unpackLayers(
  source: ContentSource,
  manifest: ImageManifest,
  config: ImageConfig | undefined,
  target: string,
  options: UnpackLayersOptions,
): Promise<UnpackReport> {
  const report: UnpackReport = { layers: 0, entries: 0, notes: [] };
  for (const [i, layer] of manifest.layers.entries()) {
    const name = `layer ${i + 1} (${layer.digest})`;
    const compression = layerCompression(layer.mediaType);
    let tar = await source.fetch(layer);
    if (compression !== "uncompressed") {
      tar = tar.pipeThrough(options.codecs.decompress(compression));
    }
    const diff = new DigestStream(options.codecs);
    const applied = await applyLayer(tar.pipeThrough(diff), target, {
      ...options,
      layerName: name,
    });
    const { digest } = await diff.result;
    const expected = config?.rootfs?.diff_ids?.[i];
    if (expected !== undefined && expected !== digest) {
      throw new Error(
        `Cannot unpack ${name}: it decompresses to ${digest}, but the image config says ${expected}; the image is corrupt`,
      );
    }
    report.layers++;
    report.entries += applied.entries;
    for (const n of applied.notes) report.notes.push(`${name}: ${n}`);
  }
  return report;
}

/**
 * Applies one uncompressed layer tar onto `target` (an existing folder).
 *
 * @example
 * ```ts ignore
 * import { applyLayer } from "./unpack_layers.ts";
 * const { entries } = await applyLayer(tarBytes, "/tmp/rootfs", { fs: denoFileSystem });
 * console.log(entries);
 * ```
 */
export async function applyLayer(
  tar: ReadableStream<Uint8Array>,
  target: string,
  options: UnpackOptions & { layerName?: string },
): Promise<{ entries: number; notes: string[] }> {
  const applier = new LayerApplier(target, options);
  let entries = 0;
  for await (const entry of tar.pipeThrough(new UntarStream())) {
    try {
      await applier.apply(entry);
    } finally {
      // A body left unread would stall the reader; cancelling a finished body is a no-op.
      await entry.body.cancel().catch(() => {});
    }
    entries++;
  }
  await applier.finish();
  return { entries, notes: applier.notes() };
}

interface DeferredDir {
  rel: string[];
  mode: number;
  atime: number;
  mtime: number;
}

class LayerApplier {
  readonly #fs: FileSystem;
  readonly #root: string;
  readonly #layer: string;
  readonly #ownership: boolean;
  readonly #onNote?: (message: string) => void;
  /** Resolved paths this layer wrote (and their parents): an opaque whiteout keeps them. */
  readonly #upper = new Set<string>();
  readonly #dirs: DeferredDir[] = [];
  readonly #notes = new Map<string, { count: number; example: string }>();

  constructor(root: string, options: UnpackOptions & { layerName?: string }) {
    this.#fs = options.fs;
    this.#root = root.replace(/\/+$/, "") || "/";
    this.#layer = options.layerName ?? "layer";
    this.#ownership = options.ownership ?? true;
    this.#onNote = options.onNote;
  }

  notes(): string[] {
    return [...this.#notes].map(([what, { count, example }]) =>
      count === 1 ? `${what} (${example})` : `${what} (${count} entries, e.g. ${example})`
    );
  }

  async apply(entry: TarEntryWithBody): Promise<void> {
    const parts = this.#split(entry.path, entry.path);
    if (parts.length === 0) {
      // The root folder entry ("./"): its metadata applies to the target itself.
      if (entry.type === "directory") await this.#directoryMeta([], entry);
      return;
    }
    const name = parts[parts.length - 1]!;
    if (name.startsWith(WHITEOUT)) return await this.#whiteout(parts, entry.path);

    // Hardlink targets are resolved before anything at the new path is removed.
    let linkTarget: string | undefined;
    if (entry.type === "hardlink") linkTarget = await this.#hardlinkTarget(entry);

    const parent = await this.#ensureDir(parts.slice(0, -1), entry.path);
    const rel = [...parent, name];
    const path = this.#abs(rel);
    const existing = await this.#lstat(path);
    if (existing && !(existing.type === "directory" && entry.type === "directory")) {
      // Replace, never write through (the old entry may be a symlink pointing anywhere).
      await this.#fs.remove(path, { recursive: true });
    }
    this.#markUpper(rel);
    const fs = this.#fs;
    switch (entry.type) {
      case "directory":
        if (!existing || existing.type !== "directory") await fs.mkdir(path, { mode: 0o700 });
        await this.#directoryMeta(rel, entry);
        return;
      case "file":
        await fs.writeFile(path, entry.body, { mode: 0o600 });
        await this.#meta(path, entry, false);
        return;
      case "symlink":
        await fs.symlink(entry.linkName ?? "", path);
        await this.#meta(path, entry, true);
        return;
      case "hardlink":
        await fs.link(linkTarget!, path);
        return;
      case "fifo":
      case "char":
      case "block": {
        if (!fs.mknod) {
          this.#note(`${entry.type} nodes not created: this file system cannot make them`, entry);
          return;
        }
        const dev = joinDevice(entry.devMajor ?? 0, entry.devMinor ?? 0);
        try {
          await fs.mknod(path, entry.type, entry.mode, dev);
        } catch (e) {
          this.#note(
            `${entry.type} nodes not created (run as root to create them): ${firstLine(e)}`,
            entry,
          );
          return;
        }
        await this.#meta(path, entry, false);
        return;
      }
    }
  }

  /** Applies deferred folder modes and times, deepest first (children change parent mtimes). */
  async finish(): Promise<void> {
    const dirs = [...this.#dirs].sort((a, b) => b.rel.length - a.rel.length);
    for (const d of dirs) {
      // Later entries may have replaced the folder or a parent with a symlink: never follow one.
      if (!(await this.#isRealDir(d.rel))) continue;
      const path = this.#abs(d.rel);
      await this.#fs.chmod(path, d.mode);
      await this.#fs.utime(path, d.atime, d.mtime).catch((e) =>
        this.#note(`times not set: ${firstLine(e)}`, { path: d.rel.join("/") || "." })
      );
    }
  }

  /** Whether every component of `rel` is a real folder (no symlinks). */
  async #isRealDir(rel: string[]): Promise<boolean> {
    for (let i = 0; i <= rel.length; i++) {
      const info = await this.#lstat(this.#abs(rel.slice(0, i)));
      if (!info || info.type !== "directory") return false;
    }
    return true;
  }

  /** Splits a tar path into components, refusing `..`. */
  #split(path: string, entryPath: string): string[] {
    const parts = path.split("/").filter((p) => p !== "" && p !== ".");
    if (parts.includes("..")) {
      throw new RangeError(
        `Refusing tar entry "${entryPath}" in ${this.#layer}: a ".." path component could reach outside the target; the layer is malformed or hostile`,
      );
    }
    return parts;
  }

  #abs(rel: string[]): string {
    return rel.length === 0 ? this.#root : `${this.#root}/${rel.join("/")}`;
  }

  async #lstat(path: string): Promise<FileInfo | undefined> {
    try {
      return await this.#fs.lstat(path);
    } catch (e) {
      if (e instanceof NotFoundError) return undefined;
      // ENOTDIR: a parent is a file; treat as missing (creation then reports it).
      if ((e as { code?: string }).code === "ENOTDIR" || /not a directory/i.test(String(e))) {
        return undefined;
      }
      throw e;
    }
  }

  /**
   * Resolves folder components inside the root, following symlinks as if the
   * root were `/`. Returns resolved components; missing ones are kept as given.
   */
  async #resolve(components: string[], entryPath: string): Promise<string[]> {
    let resolved: string[] = [];
    const queue = [...components];
    let links = 0;
    while (queue.length > 0) {
      const c = queue.shift()!;
      if (c === "" || c === ".") continue;
      if (c === "..") {
        resolved.pop();
        continue;
      }
      const candidate = [...resolved, c];
      const info = await this.#lstat(this.#abs(candidate));
      if (info?.type === "symlink") {
        if (++links > MAX_SYMLINKS) {
          throw new RangeError(
            `Cannot unpack tar entry "${entryPath}" in ${this.#layer}: more than ${MAX_SYMLINKS} symlinks on its path (a loop?)`,
          );
        }
        const target = await this.#fs.readLink(this.#abs(candidate));
        if (target.startsWith("/")) resolved = [];
        queue.unshift(...target.split("/"));
        continue;
      }
      resolved = candidate;
    }
    return resolved;
  }

  /** Resolves a parent folder inside the root and creates what is missing (0755, root-owned). */
  async #ensureDir(components: string[], entryPath: string): Promise<string[]> {
    const resolved = await this.#resolve(components, entryPath);
    for (let i = 1; i <= resolved.length; i++) {
      const rel = resolved.slice(0, i);
      const path = this.#abs(rel);
      const info = await this.#lstat(path);
      if (!info) {
        await this.#fs.mkdir(path, { mode: 0o755 });
        await this.#fs.chmod(path, 0o755);
      } else if (info.type !== "directory") {
        throw new TypeError(
          `Cannot unpack tar entry "${entryPath}" in ${this.#layer}: its parent /${
            rel.join("/")
          } is a ${info.type}, not a folder`,
        );
      }
    }
    return resolved;
  }

  async #hardlinkTarget(entry: TarEntryWithBody): Promise<string> {
    const parts = this.#split(entry.linkName ?? "", entry.path);
    if (parts.length === 0) {
      throw new TypeError(
        `Refusing hardlink "${entry.path}" in ${this.#layer}: it has no target`,
      );
    }
    const parent = await this.#resolve(parts.slice(0, -1), entry.path);
    const rel = [...parent, parts[parts.length - 1]!];
    const path = this.#abs(rel);
    const info = await this.#lstat(path);
    if (!info || info.type === "directory") {
      throw new TypeError(
        `Cannot unpack hardlink "${entry.path}" in ${this.#layer}: its target "${entry.linkName}" ${
          info ? "is a folder" : "does not exist in the image"
        }`,
      );
    }
    return path;
  }

  async #whiteout(parts: string[], entryPath: string): Promise<void> {
    const name = parts[parts.length - 1]!;
    const parent = await this.#resolve(parts.slice(0, -1), entryPath);
    const dir = this.#abs(parent);
    const info = await this.#lstat(dir);
    if (!info || info.type !== "directory") return;
    if (name === OPAQUE) {
      for (const child of await this.#fs.readDir(dir)) {
        const rel = [...parent, child].join("/");
        if (!this.#upper.has(rel)) await this.#fs.remove(`${dir}/${child}`, { recursive: true });
      }
      return;
    }
    // Other `.wh..wh.` names are aufs bookkeeping, not whiteouts.
    if (name.startsWith(`${WHITEOUT}${WHITEOUT}`)) return;
    const victim = name.slice(WHITEOUT.length);
    if (victim === "" || victim === "." || victim === "..") {
      throw new RangeError(`Refusing whiteout "${entryPath}" in ${this.#layer}: it names no file`);
    }
    await this.#fs.remove(`${dir}/${victim}`, { recursive: true });
  }

  #markUpper(rel: string[]): void {
    for (let i = 1; i <= rel.length; i++) this.#upper.add(rel.slice(0, i).join("/"));
  }

  async #owner(path: string, entry: TarEntryWithBody): Promise<void> {
    if (!this.#ownership) return;
    if (!this.#fs.lchown) {
      this.#note("owners not set: this file system cannot change them", entry);
      return;
    }
    try {
      await this.#fs.lchown(path, entry.uid, entry.gid);
    } catch (e) {
      this.#note(`owners not set (run as root to keep them): ${firstLine(e)}`, entry);
    }
  }

  async #meta(path: string, entry: TarEntryWithBody, symlink: boolean): Promise<void> {
    await this.#owner(path, entry);
    // chmod after chown: chown clears setuid/setgid bits.
    if (!symlink) await this.#fs.chmod(path, entry.mode);
    if (entry.xattrs && Object.keys(entry.xattrs).length > 0) {
      this.#note("extended attributes not set: the file system interface cannot write them", entry);
    }
    await this.#fs.utime(path, entry.atime ?? entry.mtime, entry.mtime).catch((e) =>
      this.#note(`times not set: ${firstLine(e)}`, entry)
    );
  }

  async #directoryMeta(rel: string[], entry: TarEntryWithBody): Promise<void> {
    const path = this.#abs(rel);
    await this.#owner(path, entry);
    if (entry.xattrs && Object.keys(entry.xattrs).length > 0) {
      this.#note("extended attributes not set: the file system interface cannot write them", entry);
    }
    // Mode and times last: a read-only folder must stay writable while the layer fills it.
    this.#dirs.push({
      rel,
      mode: entry.mode,
      atime: entry.atime ?? entry.mtime,
      mtime: entry.mtime,
    });
  }

  #note(what: string, entry: { path: string }): void {
    const seen = this.#notes.get(what);
    if (seen) seen.count++;
    else {
      this.#notes.set(what, { count: 1, example: entry.path });
      this.#onNote?.(`${this.#layer}: ${what} (e.g. ${entry.path})`);
    }
  }
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split("\n")[0]!;
}
