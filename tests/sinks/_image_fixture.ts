/**
 * Test helper: builds small images by hand (layers from entry lists through
 * TarStream and gzip, config and manifest JSON) into an OciLayout, and
 * compares folder trees.
 * @module
 */
import { createHash } from "node:crypto";
import { sha256Digest as digestOf } from "../fixtures/tar_tools.ts";
import { gzipSync } from "node:zlib";
import type { Codecs } from "../../src/types/codecs.ts";
import type { Descriptor, Platform } from "../../src/types/descriptor.ts";
import type { TarEntry } from "../../src/types/tar_entry.ts";
import {
  OCI_CONFIG,
  OCI_INDEX,
  OCI_LAYER,
  OCI_LAYER_GZIP,
  OCI_MANIFEST,
} from "../../src/types/media_types.ts";
import { TarStream } from "../../src/stages/tar_stream.ts";
import { OciLayout } from "../../src/sinks/oci_layout.ts";
import { denoFileSystem } from "../../src/runtime/deno_file_system.ts";
import { nativeCodecs } from "../../src/runtime/native_codecs.ts";

export { nativeCodecs as testCodecs };
export type { Codecs };

/** An entry to put in a test layer: a TarEntry whose body is given inline. */
export type Spec = Omit<TarEntry, "open" | "mode" | "uid" | "gid" | "mtime"> & {
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  data?: string | Uint8Array;
};

/** A regular file. */
export function file(path: string, data: string | Uint8Array, extra: Partial<Spec> = {}): Spec {
  return { path, type: "file", data, ...extra };
}
/** A folder. */
export function dir(path: string, extra: Partial<Spec> = {}): Spec {
  return { path, type: "directory", mode: 0o755, ...extra };
}
/** A symlink. */
export function symlink(path: string, target: string): Spec {
  return { path, type: "symlink", linkName: target, mode: 0o777 };
}
/** A hardlink to `target`. */
export function hardlink(path: string, target: string): Spec {
  return { path, type: "hardlink", linkName: target };
}

function toEntry(s: Spec): TarEntry {
  const { data, ...rest } = s;
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const entry: TarEntry = {
    mode: s.type === "directory" ? 0o755 : 0o644,
    uid: 0,
    gid: 0,
    mtime: 1700000000,
    ...rest,
  };
  if (s.type === "file") {
    const body = bytes ?? new Uint8Array(0);
    entry.size = body.byteLength;
    entry.open = () => new Blob([body as Uint8Array<ArrayBuffer>]).stream();
  }
  return entry;
}

/** The tar bytes of a layer. */
export async function layerTar(specs: Spec[]): Promise<Uint8Array> {
  const tar = ReadableStream.from(specs.map(toEntry)).pipeThrough(new TarStream());
  return new Uint8Array(await new Response(tar).arrayBuffer());
}

/** sha256 digest string of bytes. */
export { digestOf };

async function putBytes(
  layout: OciLayout,
  bytes: Uint8Array,
  mediaType: string,
): Promise<Descriptor> {
  const d = { mediaType, digest: digestOf(bytes), size: bytes.byteLength };
  await layout.putBytes(bytes, d);
  return d;
}

/** Options of {@link writeImage}. */
export interface ImageOptions {
  platform?: Platform;
  /** Layers as raw tar bytes (for crafted tars) instead of specs. */
  gzip?: boolean;
}

/** Writes an image (layers as specs or raw tar bytes) into `layout`; returns the manifest descriptor with platform. */
export async function writeImage(
  layout: OciLayout,
  layers: (Spec[] | Uint8Array)[],
  options: ImageOptions = {},
): Promise<Descriptor> {
  const platform = options.platform ?? { os: "linux", architecture: "amd64" };
  const gzip = options.gzip ?? true;
  const layerDescs: Descriptor[] = [];
  const diffIds: string[] = [];
  for (const layer of layers) {
    const tar = layer instanceof Uint8Array ? layer : await layerTar(layer);
    diffIds.push(digestOf(tar));
    const blob = gzip ? new Uint8Array(gzipSync(tar)) : tar;
    layerDescs.push(await putBytes(layout, blob, gzip ? OCI_LAYER_GZIP : OCI_LAYER));
  }
  const config = new TextEncoder().encode(JSON.stringify({
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: {},
    rootfs: { type: "layers", diff_ids: diffIds },
    history: diffIds.map(() => ({ created_by: "test" })),
  }));
  const configDesc = await putBytes(layout, config, OCI_CONFIG);
  const manifest = new TextEncoder().encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: configDesc,
    layers: layerDescs,
  }));
  const d = await putBytes(layout, manifest, OCI_MANIFEST);
  return { ...d, platform };
}

/** Writes an index of `manifests` into `layout`. */
export async function writeIndex(layout: OciLayout, manifests: Descriptor[]): Promise<Descriptor> {
  const bytes = new TextEncoder().encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests,
  }));
  return await putBytes(layout, bytes, OCI_INDEX);
}

/** A temp folder holding an empty store (`TMP/store`), for {@link withTempStore}. */
export interface TempStore {
  /** The temp folder. */
  tmp: string;
  /** The store folder in it. */
  store: string;
  /** The store, opened. */
  layout: OciLayout;
}

/** Runs `fn` with a fresh temp folder and a store opened in it; removes the folder afterwards. */
export async function withTempStore(
  prefix: string,
  fn: (t: TempStore) => Promise<void>,
): Promise<void> {
  const tmp = await Deno.makeTempDir({ prefix });
  try {
    const store = `${tmp}/store`;
    await fn({ tmp, store, layout: await OciLayout.open(denoFileSystem, store, nativeCodecs) });
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

/** Runs a command; returns stdout, throwing with stderr on failure. */
export async function run(cmd: string, args: string[], stdin?: Uint8Array): Promise<string> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin) {
    const w = child.stdin.getWriter();
    await w.write(stdin);
    await w.close();
  }
  const out = await child.output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed (${out.code}): ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return text;
}

/** Runs a command; returns its stdout bytes, throwing with stderr on failure. */
export async function runBytes(cmd: string, args: string[]): Promise<Uint8Array> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return out.stdout;
}

/** One line per path below `root`: type, mode, owner, sha256 or link target, inode group. */
export async function describeTree(root: string): Promise<string[]> {
  const lines: string[] = [];
  const inodes = new Map<number, string>();
  const walk = async (rel: string) => {
    const names: string[] = [];
    for await (const e of Deno.readDir(rel === "" ? root : `${root}/${rel}`)) names.push(e.name);
    names.sort();
    for (const name of names) {
      const p = rel === "" ? name : `${rel}/${name}`;
      const abs = `${root}/${p}`;
      const info = await Deno.lstat(abs);
      const mode = ((info.mode ?? 0) & 0o7777).toString(8);
      const owner = `${info.uid}:${info.gid}`;
      if (info.isSymlink) {
        lines.push(`${p} symlink ${owner} -> ${await Deno.readLink(abs)}`);
      } else if (info.isDirectory) {
        lines.push(`${p} dir ${mode} ${owner}`);
        await walk(p);
      } else if (info.isFile) {
        const hash = createHash("sha256").update(await Deno.readFile(abs)).digest("hex");
        let link = "";
        if ((info.nlink ?? 1) > 1) {
          const first = inodes.get(info.ino!) ?? p;
          inodes.set(info.ino!, first);
          link = ` link=${first}`;
        }
        lines.push(`${p} file ${mode} ${owner} ${hash.slice(0, 16)}${link}`);
      } else {
        const kind = info.isFifo ? "fifo" : info.isCharDevice ? "char" : "block";
        lines.push(`${p} ${kind} ${mode} ${owner} rdev=${info.rdev}`);
      }
    }
  };
  await walk("");
  return lines;
}
