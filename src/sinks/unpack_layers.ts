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
 * It is fast on trees of many small files: each folder is resolved once and
 * remembered (a folder this unpack made or already looked at is not looked
 * at again for every child); only entries that can change what a path
 * resolves to (a symlink, a whiteout, a replaced folder) forget what they
 * touch. New entries are created exclusively (an existing one, a symlink
 * included, makes creation fail, and is then removed and created again), so
 * nothing is looked up before writing, and nothing is ever written through.
 * Folder modes and times are set in one pass at the end of each layer, from
 * what the unpack knows, with no further lookups.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { TarStream } from "@ocistream/ocistream/tar";
 * import { createDenoEnvironment, denoFileSystem, nativeCodecs } from "@ocistream/ocistream/deno";
 * // A temporary folder of the environment's own, removed at the end.
 * const temp = await (await createDenoEnvironment({ openStore: false })).makeTempLayout!();
 * const dir = temp.layout.root;
 * // A one-file layer.
 * const tarBytes = () =>
 *   ReadableStream.from([
 *     { path: "hi.txt", type: "file" as const, mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 3,
 *       open: () => ReadableStream.from([new TextEncoder().encode("hi\n")]) },
 *   ]).pipeThrough(new TarStream());
 * import { OciLayout, unpackLayers } from "@ocistream/ocistream/layout";
 * const layout = await OciLayout.open(denoFileSystem, `${dir}/store`, nativeCodecs);
 * const layer = new Uint8Array(await new Response(tarBytes()).arrayBuffer());
 * const hasher = await nativeCodecs.sha256();
 * hasher.update(layer);
 * const id = { digest: `sha256:${hasher.digestHex()}`, size: layer.length };
 * await layout.putBytes(layer, id);
 * const manifest = {
 *   schemaVersion: 2 as const,
 *   mediaType: "application/vnd.oci.image.manifest.v1+json",
 *   config: { mediaType: "application/vnd.oci.image.config.v1+json", ...id },
 *   layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", ...id }],
 * };
 * await denoFileSystem.mkdir(`${dir}/rootfs`);
 * const report = await unpackLayers(layout, manifest, undefined, `${dir}/rootfs`, {
 *   fs: denoFileSystem,
 *   codecs: nativeCodecs,
 *   ownership: false,
 * });
 * assertEquals([report.layers, report.entries], [1, 1]);
 * assertEquals(new TextDecoder().decode(await denoFileSystem.readFile(`${dir}/rootfs/hi.txt`)), "hi\n");
 * await temp.dispose();
 * ```
 * @module
 */
import type { Codecs } from "../types/codecs.ts";
import type { ImageConfig } from "../types/config.ts";
import type { ContentSource } from "../types/content.ts";
import type { FileInfo, FileSystem, NewFileProblems } from "../types/file_system.ts";
import { NotFoundError } from "../types/file_system.ts";
import type { ImageManifest } from "../types/manifest.ts";
import { layerCompression } from "../types/media_types.ts";
import { DigestStream, measuredDigest } from "../stages/digest_stream.ts";
import { type TarEntryWithBody, UntarStream } from "../stages/untar_stream.ts";
import { joinDevice } from "../stages/_tar_device.ts";

const WHITEOUT = ".wh.";
const OPAQUE = ".wh..wh..opq";
const MAX_SYMLINKS = 255;
/** File bodies up to this size are read whole and written with one call; larger ones stream. */
const WHOLE_BODY = 1024 * 1024;
const EMPTY = new Uint8Array(0);

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
 * diffID against `config` when given. When the decompressing stage declares
 * the digest of its output (see `declareDigest`), that digest is checked
 * rather than hashing the bytes a second time.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { TarStream } from "@ocistream/ocistream/tar";
 * import { createDenoEnvironment, denoFileSystem, nativeCodecs } from "@ocistream/ocistream/deno";
 * // A temporary folder of the environment's own, removed at the end.
 * const temp = await (await createDenoEnvironment({ openStore: false })).makeTempLayout!();
 * const dir = temp.layout.root;
 * // A one-file layer.
 * const tarBytes = () =>
 *   ReadableStream.from([
 *     { path: "hi.txt", type: "file" as const, mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 3,
 *       open: () => ReadableStream.from([new TextEncoder().encode("hi\n")]) },
 *   ]).pipeThrough(new TarStream());
 * import { OciLayout, unpackLayers } from "@ocistream/ocistream/layout";
 * const layout = await OciLayout.open(denoFileSystem, `${dir}/store`, nativeCodecs);
 * const layer = new Uint8Array(await new Response(tarBytes()).arrayBuffer());
 * const hasher = await nativeCodecs.sha256();
 * hasher.update(layer);
 * const id = { digest: `sha256:${hasher.digestHex()}`, size: layer.length };
 * await layout.putBytes(layer, id);
 * const manifest = {
 *   schemaVersion: 2 as const,
 *   mediaType: "application/vnd.oci.image.manifest.v1+json",
 *   config: { mediaType: "application/vnd.oci.image.config.v1+json", ...id },
 *   layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", ...id }],
 * };
 * await denoFileSystem.mkdir(`${dir}/rootfs`);
 * await unpackLayers(layout, manifest, undefined, `${dir}/rootfs`, {
 *   fs: denoFileSystem,
 *   codecs: nativeCodecs,
 *   ownership: false,
 * });
 * assertEquals((await denoFileSystem.lstat(`${dir}/rootfs/hi.txt`)).size, 3);
 * await temp.dispose();
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
  // What the unpack knows of the target's folders holds across layers: only they change it.
  const tree = new Known(undefined, "");
  for (const [i, layer] of manifest.layers.entries()) {
    const name = `layer ${i + 1} (${layer.digest})`;
    const compression = layerCompression(layer.mediaType);
    let tar = await source.fetch(layer);
    if (compression !== "uncompressed") {
      tar = tar.pipeThrough(options.codecs.decompress(compression));
    }
    const declared = measuredDigest(tar);
    const diff = declared ? undefined : new DigestStream(options.codecs);
    const applied = await apply(diff ? tar.pipeThrough(diff) : tar, target, {
      ...options,
      layerName: name,
    }, tree);
    const { digest } = await (declared ?? diff!.result);
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
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { TarStream } from "@ocistream/ocistream/tar";
 * import { createDenoEnvironment, denoFileSystem, nativeCodecs } from "@ocistream/ocistream/deno";
 * // A temporary folder of the environment's own, removed at the end.
 * const temp = await (await createDenoEnvironment({ openStore: false })).makeTempLayout!();
 * const dir = temp.layout.root;
 * // A one-file layer.
 * const tarBytes = () =>
 *   ReadableStream.from([
 *     { path: "hi.txt", type: "file" as const, mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 3,
 *       open: () => ReadableStream.from([new TextEncoder().encode("hi\n")]) },
 *   ]).pipeThrough(new TarStream());
 * import { applyLayer } from "@ocistream/ocistream/layout";
 * const { entries } = await applyLayer(tarBytes(), dir, { fs: denoFileSystem, ownership: false });
 * assertEquals(entries, 1);
 * assertEquals(new TextDecoder().decode(await denoFileSystem.readFile(`${dir}/hi.txt`)), "hi\n");
 * await temp.dispose();
 * ```
 */
export function applyLayer(
  tar: ReadableStream<Uint8Array>,
  target: string,
  options: UnpackOptions & { layerName?: string },
): Promise<{ entries: number; notes: string[] }> {
  return apply(tar, target, options, new Known(undefined, ""));
}

async function apply(
  tar: ReadableStream<Uint8Array>,
  target: string,
  options: UnpackOptions & { layerName?: string },
  tree: Known,
): Promise<{ entries: number; notes: string[] }> {
  const applier = new LayerApplier(target, options, tree);
  let entries = 0;
  for await (const entry of tar.pipeThrough(new UntarStream())) {
    let read = false;
    try {
      read = await applier.apply(entry);
    } finally {
      // A body left unread would stall the reader (an empty one never does).
      if (!read && (entry.size ?? 0) > 0) await entry.body.cancel().catch(() => {});
    }
    entries++;
  }
  await applier.finish();
  return { entries, notes: applier.notes() };
}

/**
 * A folder or symlink the unpack knows is at a path of the target, because it made it or
 * looked at it. Entries that replace or remove a path drop it from its parent's `kids`, so a
 * node is current exactly while every node up to the root is its parent's kid of that name.
 */
class Known {
  /** Folders and symlinks known inside this folder (files are not remembered). */
  readonly kids = new Map<string, Known>();
  /** The path relative to the target, `""` for the target itself. */
  readonly rel: string;
  readonly depth: number;

  constructor(
    readonly parent: Known | undefined,
    readonly name: string,
    /** The target of a symlink; `undefined` for a real folder. */
    readonly link?: string,
  ) {
    this.rel = parent === undefined ? "" : parent.rel === "" ? name : `${parent.rel}/${name}`;
    this.depth = parent === undefined ? 0 : parent.depth + 1;
  }

  /** Whether nothing replaced or removed this node or a folder above it since it was made. */
  current(): boolean {
    return this.parent === undefined ||
      (this.parent.kids.get(this.name) === this && this.parent.current());
  }

  /** Remembers a real folder `name` inside this one. */
  folder(name: string): Known {
    const kid = new Known(this, name);
    this.kids.set(name, kid);
    return kid;
  }
}

interface DeferredDir {
  node: Known;
  mode: number;
  atime: number;
  mtime: number;
}

class LayerApplier {
  readonly #fs: FileSystem;
  readonly #root: string;
  readonly #tree: Known;
  readonly #layer: string;
  readonly #ownership: boolean;
  readonly #onNote?: (message: string) => void;
  /** Resolved paths this layer wrote (and their parents): an opaque whiteout keeps them. */
  readonly #upper = new Set<string>();
  readonly #dirs: DeferredDir[] = [];
  readonly #notes = new Map<string, { count: number; example: string }>();

  constructor(root: string, options: UnpackOptions & { layerName?: string }, tree: Known) {
    this.#fs = options.fs;
    this.#root = root.replace(/\/+$/, "") || "/";
    this.#tree = tree;
    this.#layer = options.layerName ?? "layer";
    this.#ownership = options.ownership ?? true;
    this.#onNote = options.onNote;
  }

  notes(): string[] {
    return [...this.#notes].map(([what, { count, example }]) =>
      count === 1 ? `${what} (${example})` : `${what} (${count} entries, e.g. ${example})`
    );
  }

  /** Applies one entry; true when it read the entry's body to its end. */
  async apply(entry: TarEntryWithBody): Promise<boolean> {
    const parts = this.#split(entry.path, entry.path);
    if (parts.length === 0) {
      // The root folder entry ("./"): its metadata applies to the target itself.
      if (entry.type === "directory") await this.#directoryMeta(this.#tree, entry);
      return false;
    }
    const name = parts.pop()!;
    if (name.startsWith(WHITEOUT)) {
      await this.#whiteout(parts, name, entry.path);
      return false;
    }

    // Hardlink targets are resolved before anything at the new path is removed.
    let linkTarget: string | undefined;
    if (entry.type === "hardlink") linkTarget = await this.#hardlinkTarget(entry);

    const parent = (await this.#folder(parts, entry.path, true))!;
    const rel = parent.rel === "" ? name : `${parent.rel}/${name}`;
    const path = this.#abs(rel);
    this.#markUpper(rel);
    const fs = this.#fs;
    switch (entry.type) {
      case "directory": {
        let node = parent.kids.get(name);
        if (node === undefined || node.link !== undefined) {
          await this.#replace(parent, name, path, () => fs.mkdir(path, { mode: 0o700 }), true);
          node = parent.folder(name);
        }
        await this.#directoryMeta(node, entry);
        return false;
      }
      case "file": {
        const data = await this.#data(entry);
        await this.#replace(parent, name, path, () => this.#createFile(path, data, entry));
        return true;
      }
      case "symlink": {
        const target = entry.linkName ?? "";
        await this.#replace(parent, name, path, () => fs.symlink(target, path));
        parent.kids.set(name, new Known(parent, name, target));
        await this.#meta(path, entry, true);
        return false;
      }
      case "hardlink":
        await this.#replace(parent, name, path, () => fs.link(linkTarget!, path));
        return false;
      case "fifo":
      case "char":
      case "block": {
        if (!fs.mknod) {
          this.#note(`${entry.type} nodes not created: this file system cannot make them`, entry);
          return false;
        }
        const dev = joinDevice(entry.devMajor ?? 0, entry.devMinor ?? 0);
        try {
          await this.#replace(
            parent,
            name,
            path,
            () => fs.mknod!(path, entry.type as "fifo", entry.mode, dev),
          );
        } catch (e) {
          this.#note(
            `${entry.type} nodes not created (run as root to create them): ${firstLine(e)}`,
            entry,
          );
          return false;
        }
        await this.#meta(path, entry, false);
        return false;
      }
    }
    return false;
  }

  /**
   * Creates `name` in `parent` with `create`, replacing what is there: it is never written
   * through (it may be a symlink pointing anywhere). `create` fails when something is in the
   * way; that is then removed (unless it is a folder and `keepFolder`) and `create` runs again.
   */
  async #replace(
    parent: Known,
    name: string,
    path: string,
    create: () => Promise<unknown>,
    keepFolder = false,
  ): Promise<void> {
    const known = parent.kids.get(name);
    parent.kids.delete(name);
    if (known === undefined) {
      try {
        await create();
        return;
      } catch (e) {
        const existing = await this.#lstat(path);
        if (!existing) throw e;
        if (keepFolder && existing.type === "directory") return;
      }
    } else if (keepFolder && known.link === undefined) {
      parent.kids.set(name, known);
      return;
    }
    await this.#fs.remove(path, { recursive: true });
    await create();
  }

  /** A file entry's bytes: whole when small (one write), else its body stream. */
  async #data(entry: TarEntryWithBody): Promise<Uint8Array | ReadableStream<Uint8Array>> {
    const size = entry.size ?? 0;
    if (size === 0) return EMPTY;
    if (size > WHOLE_BODY) return entry.body;
    // Read to its end, the body closes: its reader is dropped, not released (releasing costs
    // an error object per file).
    const reader = entry.body.getReader();
    const parts: Uint8Array[] = [];
    let length = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      length += value.length;
    }
    if (parts.length === 1) return parts[0]!;
    const whole = new Uint8Array(length);
    let at = 0;
    for (const p of parts) {
      whole.set(p, at);
      at += p.length;
    }
    return whole;
  }

  /** Creates a new file with its owner, mode and times (the path is free: see #replace). */
  async #createFile(
    path: string,
    data: Uint8Array | ReadableStream<Uint8Array>,
    entry: TarEntryWithBody,
  ): Promise<void> {
    const fs = this.#fs;
    this.#xattrNote(entry);
    if (!fs.createFile) {
      if (await this.#lstat(path)) throw new TypeError(`${path} exists`);
      await fs.writeFile(path, data, { mode: 0o600 });
      await this.#meta(path, entry, false);
      return;
    }
    let owner: { uid: number; gid: number } | undefined;
    if (this.#ownership) {
      if (fs.lchown) owner = { uid: entry.uid, gid: entry.gid };
      else this.#note("owners not set: this file system cannot change them", entry);
    }
    const problems: NewFileProblems = await fs.createFile(path, data, {
      owner,
      mode: entry.mode,
      atime: entry.atime ?? entry.mtime,
      mtime: entry.mtime,
    });
    if (problems.owner !== undefined) {
      this.#note(`owners not set (run as root to keep them): ${firstLine(problems.owner)}`, entry);
    }
    if (problems.times !== undefined) {
      this.#note(`times not set: ${firstLine(problems.times)}`, entry);
    }
  }

  /** Applies deferred folder modes and times, deepest first (children change parent mtimes). */
  async finish(): Promise<void> {
    const dirs = [...this.#dirs].sort((a, b) => b.node.depth - a.node.depth);
    for (const d of dirs) {
      // Later entries may have replaced the folder or a parent (with a symlink, say): skip it.
      if (!d.node.current()) continue;
      const path = this.#abs(d.node.rel);
      await this.#fs.chmod(path, d.mode);
      await this.#fs.utime(path, d.atime, d.mtime).catch((e) =>
        this.#note(`times not set: ${firstLine(e)}`, { path: d.node.rel || "." })
      );
    }
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

  #abs(rel: string): string {
    return rel === "" ? this.#root : `${this.#root}/${rel}`;
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
   * Resolves folder components inside the root, following symlinks as if the root were `/`,
   * and returns the real folder they name. Known folders and symlinks are not looked at again.
   * What is missing is created (0755) with `create`; without it, a missing folder (or a file
   * on the way) gives `undefined`.
   */
  async #folder(
    components: string[],
    entryPath: string,
    create: boolean,
  ): Promise<Known | undefined> {
    const todo = components.toReversed(); // the next component is last
    let at = this.#tree;
    const missing: string[] = []; // components below `at` that do not exist
    let links = 0;
    while (todo.length > 0) {
      const c = todo.pop()!;
      if (c === "" || c === ".") continue;
      if (c === "..") {
        if (missing.length > 0) missing.pop();
        else at = at.parent ?? at;
        continue;
      }
      if (missing.length > 0) {
        missing.push(c);
        continue;
      }
      let kid = at.kids.get(c);
      if (kid === undefined) {
        const path = this.#abs(at.rel === "" ? c : `${at.rel}/${c}`);
        const info = await this.#lstat(path);
        if (!info) {
          missing.push(c);
          continue;
        }
        if (info.type === "directory") kid = at.folder(c);
        else if (info.type === "symlink") {
          kid = new Known(at, c, await this.#fs.readLink(path));
          at.kids.set(c, kid);
        } else {
          if (!create) return undefined;
          throw new TypeError(
            `Cannot unpack tar entry "${entryPath}" in ${this.#layer}: its parent /${
              at.rel === "" ? c : `${at.rel}/${c}`
            } is a ${info.type}, not a folder`,
          );
        }
      }
      if (kid.link !== undefined) {
        if (++links > MAX_SYMLINKS) {
          throw new RangeError(
            `Cannot unpack tar entry "${entryPath}" in ${this.#layer}: more than ${MAX_SYMLINKS} symlinks on its path (a loop?)`,
          );
        }
        if (kid.link.startsWith("/")) at = this.#tree;
        const target = kid.link.split("/");
        for (let i = target.length - 1; i >= 0; i--) todo.push(target[i]!);
        continue;
      }
      at = kid;
    }
    if (missing.length === 0) return at;
    if (!create) return undefined;
    for (const c of missing) {
      const path = this.#abs(at.rel === "" ? c : `${at.rel}/${c}`);
      await this.#fs.mkdir(path, { mode: 0o755 });
      await this.#fs.chmod(path, 0o755);
      at = at.folder(c);
    }
    return at;
  }

  async #hardlinkTarget(entry: TarEntryWithBody): Promise<string> {
    const parts = this.#split(entry.linkName ?? "", entry.path);
    if (parts.length === 0) {
      throw new TypeError(
        `Refusing hardlink "${entry.path}" in ${this.#layer}: it has no target`,
      );
    }
    const name = parts.pop()!;
    const parent = await this.#folder(parts, entry.path, false);
    const path = parent ? this.#abs(parent.rel === "" ? name : `${parent.rel}/${name}`) : "";
    const info = parent ? await this.#lstat(path) : undefined;
    if (!info || info.type === "directory") {
      throw new TypeError(
        `Cannot unpack hardlink "${entry.path}" in ${this.#layer}: its target "${entry.linkName}" ${
          info ? "is a folder" : "does not exist in the image"
        }`,
      );
    }
    return path;
  }

  async #whiteout(parents: string[], name: string, entryPath: string): Promise<void> {
    const folder = await this.#folder(parents, entryPath, false);
    if (!folder) return;
    const dir = this.#abs(folder.rel);
    if (name === OPAQUE) {
      for (const child of await this.#fs.readDir(dir)) {
        const rel = folder.rel === "" ? child : `${folder.rel}/${child}`;
        if (!this.#upper.has(rel)) {
          folder.kids.delete(child);
          await this.#fs.remove(`${dir}/${child}`, { recursive: true });
        }
      }
      return;
    }
    // Other `.wh..wh.` names are aufs bookkeeping, not whiteouts.
    if (name.startsWith(`${WHITEOUT}${WHITEOUT}`)) return;
    const victim = name.slice(WHITEOUT.length);
    if (victim === "" || victim === "." || victim === "..") {
      throw new RangeError(`Refusing whiteout "${entryPath}" in ${this.#layer}: it names no file`);
    }
    folder.kids.delete(victim);
    await this.#fs.remove(`${dir}/${victim}`, { recursive: true });
  }

  /** Marks `rel` and its parents as written by this layer. */
  #markUpper(rel: string): void {
    // A marked path's parents are marked already.
    for (let r = rel; r !== "" && !this.#upper.has(r);) {
      this.#upper.add(r);
      const slash = r.lastIndexOf("/");
      r = slash < 0 ? "" : r.slice(0, slash);
    }
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

  #xattrNote(entry: TarEntryWithBody): void {
    if (entry.xattrs && Object.keys(entry.xattrs).length > 0) {
      this.#note("extended attributes not set: the file system interface cannot write them", entry);
    }
  }

  async #meta(path: string, entry: TarEntryWithBody, symlink: boolean): Promise<void> {
    await this.#owner(path, entry);
    // chmod after chown: chown clears setuid/setgid bits.
    if (!symlink) await this.#fs.chmod(path, entry.mode);
    this.#xattrNote(entry);
    await this.#fs.utime(path, entry.atime ?? entry.mtime, entry.mtime).catch((e) =>
      this.#note(`times not set: ${firstLine(e)}`, entry)
    );
  }

  async #directoryMeta(node: Known, entry: TarEntryWithBody): Promise<void> {
    await this.#owner(this.#abs(node.rel), entry);
    this.#xattrNote(entry);
    // Mode and times last: a read-only folder must stay writable while the layer fills it.
    this.#dirs.push({
      node,
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
