/**
 * Pushes a folder (a static site) as a one-layer image to a registry, with
 * ocistream's portable core running under Bun. Bun's APIs only read the
 * folder; the image is built and pushed by the same code as the workerd and
 * Node examples (`exportFiles`).
 *
 *     deno bundle --platform browser -o examples/bun/dist/push.js examples/bun/push.ts
 *     SOURCE_DATE_EPOCH=1700000000 bun run examples/bun/dist/push.js 127.0.0.1:5000/site:bun ./site
 *
 * Prints JSON: `{ image, digest, configDigest, layers, sha256, milliseconds }`.
 * @module
 */
import { readdir, readlink } from "node:fs/promises";
import { exportFiles } from "../../src/edge/export_files.ts";
import { edgeSha256Kind } from "../../src/edge/edge_codecs.ts";
import type { MemoryFile } from "../../src/sources/memory_source.ts";

/** The parts of Bun's global this script uses (so it type-checks without bun-types). */
declare const Bun: {
  argv: string[];
  env: Record<string, string | undefined>;
  file(path: string): Blob & { stat(): Promise<{ mode: number }> };
  exit(code: number): never;
};

/** Reads every file, folder and symlink under `dir`; file bodies stay lazy `Blob`s. */
async function readSite(dir: string): Promise<MemoryFile[]> {
  const files: MemoryFile[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const full = `${entry.parentPath}/${entry.name}`;
    const path = full.slice(dir.length + 1);
    if (entry.isDirectory()) files.push({ path, type: "directory" });
    else if (entry.isSymbolicLink()) {
      files.push({ path, type: "symlink", linkName: await readlink(full) });
    } else if (entry.isFile()) {
      const file = Bun.file(full);
      const executable = ((await file.stat()).mode & 0o111) !== 0;
      files.push({ path, content: file, mode: executable ? 0o755 : 0o644 });
    }
  }
  return files;
}

const [image, dir] = Bun.argv.slice(2);
if (!image || !dir) {
  console.error("usage: bun run push.js IMAGE DIR   (e.g. 127.0.0.1:5000/site:1 ./site)");
  Bun.exit(2);
}
const started = Date.now();
const epoch = Bun.env.SOURCE_DATE_EPOCH;
const result = await exportFiles(
  await readSite(dir.replace(/\/+$/, "")),
  `type=registry,"name=${image}"` +
    (epoch ? `,rewrite-timestamp=true,source-date-epoch=${epoch}` : ""),
  { mtime: Math.floor(Date.now() / 1000) },
);
console.log(JSON.stringify({
  image,
  digest: result.digest,
  configDigest: result.configDigest,
  layers: result.manifests[0]!.layers.map((l) => l.digest),
  sha256: await edgeSha256Kind(),
  milliseconds: Date.now() - started,
}));
