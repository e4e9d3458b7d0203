/**
 * Reads what a build left in a store or OCI layout folder (index.json, JSON
 * blobs, blob files), hashes files and what a command prints (a decompressed
 * layer), and runs `ocistream build` into a store.
 * @module
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { runCli, runOk, type RunResult } from "./cli.ts";

/** Parsed JSON documents (checked field by field by the assertions). */
export type Json = ReturnType<typeof JSON.parse>;

/** Parses the JSON file at `path`. */
export function readJson(path: string): Json {
  return JSON.parse(Deno.readTextFileSync(path));
}

/** The file of blob `digest` (`sha256:<hex>`) in the store or layout folder `store`. */
export function blobPath(store: string, digest: string): string {
  return `${store}/blobs/sha256/${digest.slice("sha256:".length)}`;
}

/** Parses the JSON blob `digest` (a manifest, index or config) of `store`. */
export function readBlob(store: string, digest: string): Json {
  return readJson(blobPath(store, digest));
}

/** The root `at` (default the first) of a store's or layout's index.json, and its document. */
export function rootOf(store: string, at = 0): { digest: string; doc: Json } {
  const digest: string = readJson(`${store}/index.json`).manifests[at].digest;
  return { digest, doc: readBlob(store, digest) };
}

/** An image read back from a store: its root digest, manifest (or index) and config. */
export interface StoredImage {
  /** The root digest. */
  digest: string;
  /** The manifest, or the index for a multi-platform image. */
  manifest: Json;
  /** The config, undefined when the root is an index. */
  config: Json;
}

/** Reads the image `digest` of `store`: its manifest and (for a manifest) config. */
export function readImage(store: string, digest: string): StoredImage {
  const manifest = readBlob(store, digest);
  const config = manifest.config ? readBlob(store, manifest.config.digest) : undefined;
  return { digest, manifest, config };
}

/** Blob file names in a store (empty when the store has none). */
export async function blobNames(store: string): Promise<string[]> {
  try {
    return (await Array.fromAsync(Deno.readDir(`${store}/blobs/sha256`))).map((e) => e.name);
  } catch {
    return [];
  }
}

/** `sha256:<hex>` of a file's content, streaming. */
export async function fileSha256(path: string): Promise<string> {
  const hash = createHash("sha256");
  using file = await Deno.open(path);
  for await (const chunk of file.readable) hash.update(chunk);
  return `sha256:${hash.digest("hex")}`;
}

/** `sha256:<hex>` and length of what a command prints; asserts it exits 0. */
export async function commandOutput(
  program: string,
  args: string[],
): Promise<{ digest: string; size: number }> {
  const child = new Deno.Command(program, { args, stdout: "piped", stderr: "piped" }).spawn();
  const stderr = new Response(child.stderr).text();
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of child.stdout) {
    hash.update(chunk);
    size += chunk.length;
  }
  const status = await child.status;
  assert.equal(status.code, 0, `${program} ${args.join(" ")} failed: ${await stderr}`);
  return { digest: `sha256:${hash.digest("hex")}`, size };
}

/** `sha256:<hex>` of what a command prints (a decompressed layer); asserts it exits 0. */
export async function commandSha256(program: string, args: string[]): Promise<string> {
  return (await commandOutput(program, args)).digest;
}

/**
 * The diffID (`sha256:` of the tar) of a layer blob file, decompressed with `zstd` or `gzip`
 * (or hashed as is) as `kind` says: a layer media type or a compression name (`estargz`
 * is gzip).
 */
export function layerDiffId(blob: string, kind: string): Promise<string> {
  if (/zstd$/.test(kind)) return commandSha256("zstd", ["-dcq", blob]);
  if (/(gzip|estargz)$/.test(kind)) return commandSha256("gzip", ["-dc", blob]);
  return fileSha256(blob);
}

/**
 * `skopeo copy --quiet --preserve-digests SOURCE oci:DEST:TAG` (SOURCE a skopeo reference
 * such as `oci:STORE:NAME`); returns the digest the copy's index.json names.
 */
export async function skopeoCopy(source: string, dest: string, tag = "c"): Promise<string> {
  await runOk("skopeo", ["copy", "--quiet", "--preserve-digests", source, `oci:${dest}:${tag}`]);
  return readJson(`${dest}/index.json`).manifests[0].digest;
}

/** Runs `fn` with a fresh temp folder, removed afterwards. */
export async function withTempDir<T>(prefix: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Options of {@link runBuild}: each adds its flag when given. */
export interface BuildOptions {
  /** `--progress`. */
  progress?: string;
  /** `--source-date-epoch`. */
  epoch?: string | number;
  /** `--metadata-file`. */
  metadataFile?: string;
  /** More flags, before `--output`. */
  flags?: string[];
  /** Environment of the CLI. */
  env?: Record<string, string>;
  /** {@link buildIntoStore}: read the image back from this OCI layout folder, not the store. */
  layout?: string;
}

/**
 * Runs `ocistream build CONTEXT --store STORE [options] --output OUTPUT` (no assertion);
 * `store` undefined leaves `--store` out.
 */
export function runBuild(
  context: string,
  store: string | undefined,
  output: string,
  options: BuildOptions = {},
): Promise<RunResult> {
  return runCli([
    "build",
    context,
    ...(store !== undefined ? ["--store", store] : []),
    ...(options.progress ? ["--progress", options.progress] : []),
    ...(options.epoch !== undefined ? ["--source-date-epoch", String(options.epoch)] : []),
    ...(options.metadataFile ? ["--metadata-file", options.metadataFile] : []),
    ...(options.flags ?? []),
    "--output",
    output,
  ], { env: options.env });
}

/** What {@link buildIntoStore} built: the image as stored, the metadata file and the output. */
export interface BuiltImage extends StoredImage {
  /** The metadata file's content. */
  metadata: Json;
  /** What the CLI printed. */
  stdout: string;
  /** What the CLI printed on stderr. */
  stderr: string;
}

/**
 * {@link runBuild}, asserts exit 0, and reads the image back from `store` (or `layout`) by
 * the metadata file's `containerimage.digest` (a temp metadata file unless `metadataFile`
 * is given).
 */
export async function buildIntoStore(
  context: string,
  store: string | undefined,
  output: string,
  options: BuildOptions = {},
): Promise<BuiltImage> {
  const run = async (metadataFile: string) => {
    const r = await runBuild(context, store, output, { ...options, metadataFile });
    assert.equal(r.code, 0, r.stderr);
    return { metadata: readJson(metadataFile), stdout: r.stdout, stderr: r.stderr };
  };
  const out = options.metadataFile
    ? await run(options.metadataFile)
    : await withTempDir("ocistream-meta-", (dir) => run(`${dir}/m.json`));
  const from = options.layout ?? store;
  assert.ok(from !== undefined, "buildIntoStore needs a store or a layout to read from");
  return { ...readImage(from, out.metadata["containerimage.digest"]), ...out };
}
