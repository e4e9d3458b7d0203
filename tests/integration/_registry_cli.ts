/**
 * Helpers for CLI registry tests: a small build context, the metadata file,
 * skopeo checks of a pushed image, tag listing and Docker config folders.
 * @module
 */
import assert from "node:assert/strict";
import { run, runOk } from "../_harness/cli.ts";
import { sha256Digest as sha256 } from "../fixtures/tar_tools.ts";

/** `sha256:<hex>` of bytes or text. */
export { sha256 };

/** Writes a small build context (a few files, one of `size` bytes) and returns its path. */
export async function makeContext(dir: string, text: string, size = 20_000): Promise<string> {
  await Deno.mkdir(`${dir}/sub`, { recursive: true });
  await Deno.writeTextFile(`${dir}/hello.txt`, `${text}\n`);
  await Deno.writeTextFile(`${dir}/sub/data.txt`, text.repeat(Math.ceil(size / text.length)));
  return dir;
}

/** Writes `size` random (incompressible) bytes to `path`, so a layer is sent in many pieces. */
export async function writeNoise(path: string, size: number): Promise<void> {
  const noise = new Uint8Array(size);
  for (let i = 0; i < noise.length; i += 65536) {
    crypto.getRandomValues(noise.subarray(i, i + 65536));
  }
  await Deno.writeFile(path, noise);
}

/** A temp work folder of a CLI registry test; see {@link workspace}. */
export interface Workspace {
  /** The temp folder (remove it when done). */
  dir: string;
  /** The build context, from {@link makeContext}. */
  context: string;
  /** `DIR/store`, for `--store`. */
  store: string;
  /** `DIR/meta.json`, for `--metadata-file`. */
  meta: string;
  /** An empty Docker config folder, so the user's is never read. */
  env: { DOCKER_CONFIG: string };
}

/** Makes a temp work folder with a context (see {@link makeContext}) and an empty Docker config. */
export async function workspace(prefix: string, text: string, size?: number): Promise<Workspace> {
  const dir = await Deno.makeTempDir({ prefix });
  const context = await makeContext(`${dir}/context`, text, size);
  const env = { DOCKER_CONFIG: await dockerConfig(dir, {}) };
  return { dir, context, store: `${dir}/store`, meta: `${dir}/meta.json`, env };
}

/** What `--metadata-file` holds. */
export interface Metadata {
  "containerimage.digest": string;
  "containerimage.descriptor": { mediaType: string; digest: string; size: number };
  "containerimage.config.digest": string;
  "image.name"?: string;
}

/** Reads a metadata file. */
export async function readMetadata(path: string): Promise<Metadata> {
  return JSON.parse(await Deno.readTextFile(path));
}

/** skopeo options for a registry (TLS off, optional credentials). */
function skopeoAuth(flag: "--creds" | "--src-creds", creds?: string): string[] {
  return creds ? [flag, creds] : [];
}

/**
 * Checks an image on a registry with skopeo: `inspect` succeeds and reports
 * `digest`, `inspect --raw` hashes to it, and `copy --all` into an OCI layout
 * keeps it. `ref` is `host/repo:tag` or `host/repo@digest`.
 */
export async function verifyPushed(ref: string, digest: string, creds?: string): Promise<void> {
  const inspected = JSON.parse(
    (await runOk("skopeo", [
      "inspect",
      "--no-tags",
      "--tls-verify=false",
      ...skopeoAuth("--creds", creds),
      `docker://${ref}`,
    ])).stdout,
  );
  // For an index skopeo reports the host platform's manifest; --raw gives the root itself.
  const raw = (await runOk("skopeo", [
    "inspect",
    "--raw",
    "--tls-verify=false",
    ...skopeoAuth("--creds", creds),
    `docker://${ref}`,
  ])).stdout;
  assert.equal(sha256(raw), digest, `skopeo inspect --raw ${ref}`);
  const root = JSON.parse(raw);
  const isIndex = Array.isArray(root.manifests);
  if (!isIndex) assert.equal(inspected.Digest, digest, `skopeo inspect ${ref}`);
  const dir = await Deno.makeTempDir({ prefix: "ocistream-skopeo-" });
  try {
    // skopeo must convert a Docker manifest list to write it into an OCI layout,
    // so digests are kept (and compared) for everything else, and the list is
    // also copied as-is into a `dir:` folder.
    const dockerList = isIndex && root.mediaType !== "application/vnd.oci.image.index.v1+json";
    await runOk("skopeo", [
      "copy",
      "--all",
      ...(dockerList ? [] : ["--preserve-digests"]),
      "--src-tls-verify=false",
      ...skopeoAuth("--src-creds", creds),
      `docker://${ref}`,
      `oci:${dir}/layout:t`,
    ]);
    const index = JSON.parse(await Deno.readTextFile(`${dir}/layout/index.json`));
    if (dockerList) {
      await runOk("skopeo", [
        "copy",
        "--all",
        "--preserve-digests",
        "--src-tls-verify=false",
        ...skopeoAuth("--src-creds", creds),
        `docker://${ref}`,
        `dir:${dir}/dir`,
      ]);
      assert.equal(sha256(await Deno.readFile(`${dir}/dir/manifest.json`)), digest);
    } else {
      assert.equal(index.manifests[0].digest, digest, `skopeo copy --all ${ref}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The tags of `repo` as the registry at `url` lists them (empty when the repository is unknown). */
export async function listTags(
  url: string,
  repo: string,
  options: { authorization?: string; caPem?: string } = {},
): Promise<string[]> {
  const client = options.caPem ? Deno.createHttpClient({ caCerts: [options.caPem] }) : undefined;
  try {
    const res = await fetch(`${url}/v2/${repo}/tags/list`, {
      headers: options.authorization ? { Authorization: options.authorization } : {},
      ...(client ? { client } : {}),
    });
    if (res.status === 404) {
      await res.body?.cancel();
      return [];
    }
    assert.equal(res.status, 200, `tags/list of ${repo}`);
    return (await res.json()).tags ?? [];
  } finally {
    client?.close();
  }
}

/** Writes `config.json` into a fresh Docker config folder under `dir`; returns the folder. */
export async function dockerConfig(dir: string, config: unknown): Promise<string> {
  const folder = await Deno.makeTempDir({ dir, prefix: "docker-config-" });
  await Deno.writeTextFile(`${folder}/config.json`, JSON.stringify(config));
  return folder;
}

/** Lists a folder recursively (relative paths), empty when it does not exist. */
export async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, prefix: string) => {
    try {
      for await (const e of Deno.readDir(d)) {
        out.push(prefix + e.name);
        if (e.isDirectory) await walk(`${d}/${e.name}`, `${prefix}${e.name}/`);
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  };
  await walk(dir, "");
  return out.sort();
}

/** Runs skopeo and returns its result without throwing. */
export function skopeo(args: string[]): ReturnType<typeof run> {
  return run("skopeo", args);
}
