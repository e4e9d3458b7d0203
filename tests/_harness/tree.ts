/**
 * Snapshots a folder tree (types, modes, content digests, link targets,
 * hardlink groups) so tests can compare what peers unpacked with the source.
 * @module
 */
import { createHash } from "node:crypto";

/** One path's facts. */
export interface TreeNode {
  /** file, dir, symlink, fifo, ... */
  type: string;
  /** Permission bits. */
  mode: number;
  /** sha256 of a file's content. */
  sha256?: string;
  /** Size of a file. */
  size?: number;
  /** Symlink target. */
  link?: string;
  /** Index of the hardlink group (paths sharing an inode), when nlink > 1. */
  hardlinkGroup?: string;
}

/** Walks `root` and returns path → facts (root itself excluded), sorted by path. */
export async function snapshotTree(
  root: string,
  options: { ignore?: (path: string) => boolean } = {},
): Promise<Record<string, TreeNode>> {
  const out: Record<string, TreeNode> = {};
  const inodes = new Map<string, string>();
  async function walk(rel: string) {
    const dir = rel ? `${root}/${rel}` : root;
    const names = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    names.sort();
    for (const name of names) {
      const path = rel ? `${rel}/${name}` : name;
      if (options.ignore?.(path)) continue;
      const full = `${root}/${path}`;
      const info = await Deno.lstat(full);
      const mode = (info.mode ?? 0) & 0o7777;
      if (info.isSymlink) {
        out[path] = { type: "symlink", mode: 0, link: await Deno.readLink(full) };
      } else if (info.isDirectory) {
        out[path] = { type: "dir", mode };
        await walk(path);
      } else if (info.isFile) {
        const node: TreeNode = { type: "file", mode, size: info.size };
        const hash = createHash("sha256");
        for await (const chunk of (await Deno.open(full)).readable) hash.update(chunk);
        node.sha256 = hash.digest("hex");
        if ((info.nlink ?? 1) > 1) {
          const key = `${info.dev}:${info.ino}`;
          if (!inodes.has(key)) inodes.set(key, path);
          node.hardlinkGroup = inodes.get(key);
        }
        out[path] = node;
      } else {
        out[path] = { type: info.isFifo ? "fifo" : info.isCharDevice ? "char" : "other", mode };
      }
    }
  }
  await walk("");
  return out;
}

/** sha256 of every file under `root`, for "nothing changed" checks. */
export async function fingerprint(root: string): Promise<string> {
  try {
    await Deno.lstat(root);
  } catch {
    return "<missing>";
  }
  return JSON.stringify(await snapshotTree(root));
}

/** Writes `files` (relative path → text) under `dir`, making folders as needed. */
export async function writeTree(dir: string, files: Record<string, string>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    await Deno.mkdir(`${dir}/${path.slice(0, Math.max(0, path.lastIndexOf("/")))}`, {
      recursive: true,
    });
    await Deno.writeTextFile(`${dir}/${path}`, content);
  }
}
