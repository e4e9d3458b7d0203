/**
 * Store upkeep (SPEC §9, issue 6): `prune` deletes blobs no `index.json`
 * entry reaches, `verify` checks every blob's digest and every reference.
 *
 * Prune and exports running at the same time: an export writes its blobs
 * first and names them last, so for a while its blobs are reachable from
 * nothing. Prune therefore (1) holds the layout's lock while it decides and
 * deletes, so no name can be added in between, and (2) only deletes
 * unreachable blobs older than a grace period (default 60 minutes), so the
 * blobs of an export in progress survive. Leftovers of killed writers
 * (`.tmp-*` files, unpack staging folders) are deleted after the same grace
 * period; `verify` tolerates them.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { OciLayout, pruneStore, verifyStore } from "@ocistream/ocistream/layout";
 * import { denoFileSystem, nativeCodecs, createDenoEnvironment } from "@ocistream/ocistream/deno";
 * // A temporary folder of the environment's own, removed at the end.
 * const temp = await (await createDenoEnvironment({ openStore: false })).makeTempLayout!();
 * const dir = `${temp.layout.root}/work`;
 * await denoFileSystem.mkdir(dir);
 * const layout = await OciLayout.open(denoFileSystem, dir, nativeCodecs);
 * // A blob no image names.
 * const blob = new TextEncoder().encode("orphan");
 * const hasher = await nativeCodecs.sha256();
 * hasher.update(blob);
 * await layout.putBytes(blob, { digest: `sha256:${hasher.digestHex()}`, size: blob.length });
 * const pruned = await pruneStore(layout, { fs: denoFileSystem, graceMs: 0 });
 * assertEquals(pruned.removed.length, 1);
 * const report = await verifyStore(layout, { fs: denoFileSystem, codecs: nativeCodecs });
 * assertEquals(report.problems, []);
 * await temp.dispose();
 * ```
 * @module
 */
import type { Codecs } from "../types/codecs.ts";
import type { FileSystem } from "../types/file_system.ts";
import { NotFoundError, pathExists } from "../types/file_system.ts";
import type { OciLayout } from "../sinks/oci_layout.ts";
import { DigestStream } from "../stages/digest_stream.ts";
import { walkImage } from "./walk_image.ts";

/** Default age below which unreachable blobs and temp files are kept. */
export const DEFAULT_PRUNE_GRACE_MS = 60 * 60 * 1000;

/** Options of {@link pruneStore}. */
export interface PruneOptions {
  /** The file system the layout lives on. */
  fs: FileSystem;
  /** Keep unreachable blobs and temp files younger than this (ms); default 60 minutes. */
  graceMs?: number;
  /** Report what would be removed without removing it. */
  dryRun?: boolean;
  /** The clock (ms since the epoch); default `Date.now`. */
  now?: () => number;
}

/** What {@link pruneStore} did. */
export interface PruneResult {
  /** Digests of the blobs removed. */
  removed: string[];
  /** Bytes those blobs held. */
  freedBytes: number;
  /** Unreachable blobs kept because they are younger than the grace period. */
  keptRecent: string[];
  /** Leftover temp files and folders removed. */
  tempRemoved: string[];
  /** Unpacked rootfs folders removed (their image is gone). */
  unpackedRemoved: string[];
}

/**
 * Removes blobs that no entry of `index.json` reaches, holding the layout's
 * lock. Fails (removing nothing) if a named image cannot be read completely,
 * since then what it reaches is unknown: run `verify`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { OciLayout, pruneStore, verifyStore } from "@ocistream/ocistream/layout";
 * import { denoFileSystem, nativeCodecs, createDenoEnvironment } from "@ocistream/ocistream/deno";
 * // A temporary folder of the environment's own, removed at the end.
 * const temp = await (await createDenoEnvironment({ openStore: false })).makeTempLayout!();
 * const dir = `${temp.layout.root}/work`;
 * await denoFileSystem.mkdir(dir);
 * const layout = await OciLayout.open(denoFileSystem, dir, nativeCodecs);
 * // A blob no image names.
 * const blob = new TextEncoder().encode("orphan");
 * const hasher = await nativeCodecs.sha256();
 * hasher.update(blob);
 * await layout.putBytes(blob, { digest: `sha256:${hasher.digestHex()}`, size: blob.length });
 * const { removed, freedBytes } = await pruneStore(layout, { fs: denoFileSystem, graceMs: 0 });
 * assertEquals([removed.length, freedBytes], [1, blob.length]);
 * await temp.dispose();
 * ```
 */
export async function pruneStore(layout: OciLayout, options: PruneOptions): Promise<PruneResult> {
  const { fs } = options;
  const now = options.now?.() ?? Date.now();
  const grace = options.graceMs ?? DEFAULT_PRUNE_GRACE_MS;
  const old = (mtimeSeconds: number) => now - mtimeSeconds * 1000 >= grace;
  const result: PruneResult = {
    removed: [],
    freedBytes: 0,
    keptRecent: [],
    tempRemoved: [],
    unpackedRemoved: [],
  };
  await layout.withLock(async () => {
    const reachable = new Set<string>();
    for (const image of await layout.images()) {
      const nodes = await walkImage(layout, image.descriptor).catch((e) => {
        throw new Error(
          `Cannot prune: image ${image.name ?? image.descriptor.digest} cannot be read (${
            (e as Error).message
          }); run 'ocistream verify' and fix or remove it first`,
          { cause: e },
        );
      });
      for (const n of nodes) reachable.add(n.descriptor.digest);
    }
    const blobDir = `${layout.root}/blobs/sha256`;
    for (const name of await readDirOrEmpty(fs, blobDir)) {
      const path = `${blobDir}/${name}`;
      const info = await fs.lstat(path).catch(() => undefined);
      if (!info) continue;
      if (name.includes(".tmp-")) {
        if (old(info.mtime)) {
          if (!options.dryRun) await fs.remove(path, { recursive: true });
          result.tempRemoved.push(path);
        }
        continue;
      }
      if (!/^[a-f0-9]{64}$/.test(name)) continue;
      const digest = `sha256:${name}`;
      if (reachable.has(digest)) continue;
      if (!old(info.mtime)) {
        result.keptRecent.push(digest);
        continue;
      }
      if (!options.dryRun) await fs.remove(path);
      result.removed.push(digest);
      result.freedBytes += info.size;
    }
    // Temp files of index.json writes.
    for (const name of await readDirOrEmpty(fs, layout.root)) {
      if (!name.startsWith("index.json.tmp-")) continue;
      const path = `${layout.root}/${name}`;
      const info = await fs.lstat(path).catch(() => undefined);
      if (info && old(info.mtime)) {
        if (!options.dryRun) await fs.remove(path);
        result.tempRemoved.push(path);
      }
    }
    // Unpacked rootfs folders (`unpack=true`) of images no longer in the store.
    const unpacked = `${layout.root}/unpacked`;
    for (const name of await readDirOrEmpty(fs, unpacked)) {
      const path = `${unpacked}/${name}`;
      const info = await fs.lstat(path).catch(() => undefined);
      if (!info) continue;
      if (name.startsWith(".tmp-")) {
        if (old(info.mtime)) {
          if (!options.dryRun) await fs.remove(path, { recursive: true });
          result.tempRemoved.push(path);
        }
      } else if (/^[a-f0-9]{64}$/.test(name) && !reachable.has(`sha256:${name}`)) {
        if (!options.dryRun) await fs.remove(path, { recursive: true });
        result.unpackedRemoved.push(path);
      }
    }
  });
  return result;
}

/** Options of {@link verifyStore}. */
export interface VerifyOptions {
  /** The file system the layout lives on. */
  fs: FileSystem;
  /** Hashing. */
  codecs: Codecs;
}

/** What {@link verifyStore} found. */
export interface VerifyResult {
  /** Things that are wrong; empty when the store is sound. */
  problems: string[];
  /** Things worth knowing that are not wrong (leftover temp files, unreachable blobs). */
  notes: string[];
  /** Blobs hashed. */
  blobs: number;
  /** `index.json` entries checked. */
  images: number;
}

/**
 * Hashes every blob and compares it to its file name, then walks every
 * `index.json` entry and checks that each referenced blob exists with the
 * size its descriptor says and that every manifest and index parses.
 * Leftover `.tmp-*` files and stale locks (from killed writers) are notes,
 * not problems.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { OciLayout, pruneStore, verifyStore } from "@ocistream/ocistream/layout";
 * import { denoFileSystem, nativeCodecs, createDenoEnvironment } from "@ocistream/ocistream/deno";
 * // A temporary folder of the environment's own, removed at the end.
 * const temp = await (await createDenoEnvironment({ openStore: false })).makeTempLayout!();
 * const dir = `${temp.layout.root}/work`;
 * await denoFileSystem.mkdir(dir);
 * const layout = await OciLayout.open(denoFileSystem, dir, nativeCodecs);
 * // A blob no image names.
 * const blob = new TextEncoder().encode("orphan");
 * const hasher = await nativeCodecs.sha256();
 * hasher.update(blob);
 * await layout.putBytes(blob, { digest: `sha256:${hasher.digestHex()}`, size: blob.length });
 * const { problems } = await verifyStore(layout, { fs: denoFileSystem, codecs: nativeCodecs });
 * assertEquals(problems, []); // an unnamed blob is not a problem
 * await temp.dispose();
 * ```
 */
export async function verifyStore(
  layout: OciLayout,
  options: VerifyOptions,
): Promise<VerifyResult> {
  const { fs, codecs } = options;
  const result: VerifyResult = { problems: [], notes: [], blobs: 0, images: 0 };
  const problem = (m: string) => result.problems.push(m);

  try {
    const marker = JSON.parse(
      new TextDecoder().decode(await fs.readFile(`${layout.root}/oci-layout`)),
    );
    if (typeof marker?.imageLayoutVersion !== "string") {
      problem(`${layout.root}/oci-layout has no imageLayoutVersion`);
    }
  } catch (e) {
    problem(`${layout.root}/oci-layout is missing or not JSON: ${(e as Error).message}`);
  }

  // Every blob: its bytes must hash to its name.
  const sizes = new Map<string, number>();
  const blobDir = `${layout.root}/blobs/sha256`;
  let temps = 0;
  for (const name of (await readDirOrEmpty(fs, blobDir)).sort()) {
    const path = `${blobDir}/${name}`;
    if (name.includes(".tmp-")) {
      temps++;
      continue;
    }
    if (!/^[a-f0-9]{64}$/.test(name)) {
      result.notes.push(`${path} is not a blob (its name is not a sha256 digest)`);
      continue;
    }
    const info = await fs.lstat(path);
    if (info.type !== "file") {
      problem(`blob sha256:${name} is a ${info.type}, not a file`);
      continue;
    }
    const digester = new DigestStream(codecs);
    try {
      await (await fs.openRead(path)).pipeThrough(digester).pipeTo(new WritableStream());
      const actual = await digester.result;
      result.blobs++;
      if (actual.digest !== `sha256:${name}`) {
        problem(
          `blob sha256:${name} is corrupt: its content hashes to ${actual.digest}; delete it and re-export or re-pull the image`,
        );
        continue;
      }
      sizes.set(actual.digest, actual.size);
    } catch (e) {
      problem(`blob sha256:${name} cannot be read: ${(e as Error).message}`);
    }
  }
  if (temps > 0) {
    result.notes.push(
      `${temps} leftover temp file(s) in ${blobDir} (from interrupted writes); 'ocistream prune' removes them`,
    );
  }
  for (const name of await readDirOrEmpty(fs, layout.root)) {
    if (name === "index.json.lock") {
      result.notes.push(
        `${layout.root}/index.json.lock exists: a writer is running, or one was killed (the lock is broken after 30 s)`,
      );
    } else if (name.startsWith("index.json.tmp-")) {
      result.notes.push(`leftover ${layout.root}/${name}; 'ocistream prune' removes it`);
    }
  }

  // Every reference from index.json.
  let images;
  try {
    images = await layout.images();
  } catch (e) {
    problem(`${layout.root}/index.json cannot be read: ${(e as Error).message}`);
    return result;
  }
  const reachable = new Set<string>();
  for (const image of images) {
    result.images++;
    const label = image.name ? `image ${image.name}` : `unnamed image ${image.descriptor.digest}`;
    const nodes = await walkImage(layout, image.descriptor, {
      onError: (error, node) => {
        if (!sizes.has(node.descriptor.digest)) return; // reported below as missing
        problem(
          `${label}: ${node.kind} ${node.descriptor.digest} cannot be read: ${error.message}`,
        );
      },
    }).catch((e) => {
      problem(`${label}: ${(e as Error).message}`);
      return [];
    });
    for (const { descriptor, kind, parent } of nodes) {
      reachable.add(descriptor.digest);
      const where = parent ? ` (referenced by ${parent})` : "";
      const size = sizes.get(descriptor.digest);
      if (size === undefined) {
        if (!/^sha256:[a-f0-9]{64}$/.test(descriptor.digest)) {
          problem(`${label}: ${kind} has an invalid digest "${descriptor.digest}"${where}`);
        } else if (!(await pathExists(fs, layout.blobPath(descriptor.digest)))) {
          problem(`${label}: ${kind} ${descriptor.digest} is missing${where}`);
        }
        continue;
      }
      if (size !== descriptor.size) {
        problem(
          `${label}: ${kind} ${descriptor.digest} is ${size} bytes but its descriptor says ${descriptor.size}${where}`,
        );
      }
    }
  }
  const unreachable = [...sizes.keys()].filter((d) => !reachable.has(d)).length;
  if (unreachable > 0) {
    result.notes.push(
      `${unreachable} blob(s) no name reaches (an export in progress, or left by 'rm'); 'ocistream prune' removes old ones`,
    );
  }
  return result;
}

async function readDirOrEmpty(fs: FileSystem, path: string): Promise<string[]> {
  try {
    return await fs.readDir(path);
  } catch (e) {
    if (e instanceof NotFoundError) return [];
    throw e;
  }
}
