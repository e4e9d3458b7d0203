/**
 * Pushes a folder (a static site) as a one-layer image to a registry, with
 * ocistream's portable core running under Node. Node APIs only read the
 * folder; the image is built and pushed by the same code as the workerd and
 * Bun examples (`exportFiles`).
 *
 *     deno bundle --platform browser -o examples/node/dist/push.mjs examples/node/push.ts
 *     SOURCE_DATE_EPOCH=1700000000 node examples/node/dist/push.mjs 127.0.0.1:5000/site:node ./site
 *
 * Prints JSON: `{ image, digest, configDigest, layers, sha256, milliseconds }`.
 * @module
 */
import { readdir, readFile, readlink, stat } from "node:fs/promises";
import process from "node:process";
import { exportFiles } from "../../src/edge/export_files.ts";
import { edgeSha256Kind } from "../../src/edge/edge_codecs.ts";
import type { MemoryFile } from "../../src/sources/memory_source.ts";

/** Reads every file, folder and symlink under `dir` (folders get the default mode). */
async function readSite(dir: string): Promise<MemoryFile[]> {
  const files: MemoryFile[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const full = `${entry.parentPath}/${entry.name}`;
    const path = full.slice(dir.length + 1);
    if (entry.isDirectory()) files.push({ path, type: "directory" });
    else if (entry.isSymbolicLink()) {
      files.push({ path, type: "symlink", linkName: await readlink(full) });
    } else if (entry.isFile()) {
      const executable = ((await stat(full)).mode & 0o111) !== 0;
      files.push({
        path,
        content: new Uint8Array(await readFile(full)),
        mode: executable ? 0o755 : 0o644,
      });
    }
  }
  return files;
}

const [image, dir] = process.argv.slice(2);
if (!image || !dir) {
  console.error("usage: node push.mjs IMAGE DIR   (e.g. 127.0.0.1:5000/site:1 ./site)");
  process.exit(2);
}
const started = Date.now();
const epoch = process.env.SOURCE_DATE_EPOCH;
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
