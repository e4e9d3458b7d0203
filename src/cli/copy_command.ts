/**
 * `ocistream copy SRC DST`: copies an image (a whole index by default: every
 * platform and attestation manifest) between registries, the store, OCI
 * layouts and (as sources) archives, streaming blob by blob. Within one
 * registry blobs are mounted; a blob already at the destination is skipped.
 *
 * @example
 * ```ts ignore
 * import { copyCommand } from "./copy_command.ts";
 * await copyCommand(["127.0.0.1:5000/app:1", "127.0.0.1:5000/other:1"]);
 * ```
 * @module
 */
import { parseFlags } from "./args.ts";
import { UsageError } from "./errors.ts";
import { createProgressRenderer } from "./progress_renderer.ts";
import { openSourceImage, openTargetImage, selectPlatform } from "./image_location.ts";
import { createDenoEnvironment } from "../runtime/deno_environment.ts";
import { copyImage } from "../image/copy_image.ts";
import { copyProgress } from "../exporter/progress.ts";
import { parsePlatform } from "../types/platform.ts";
import { escapeControls } from "../types/quote.ts";

const HELP = `Usage: ocistream copy SRC DST [options]

Copies an image, all of it by default (every platform and attestation manifest
of an index), blob by blob. Blobs the destination has are skipped; within one
registry they are mounted instead of sent.

SRC is any of:
  REF or docker://REF                a registry image (host/repo[:tag|@digest]); a plain
                                     REF is the store's image with --store, or when the
                                     default store holds it
  store:NAME                         an image of the local store
  oci-layout://PATH[:TAG|@DIGEST]    an OCI image layout folder
  oci-archive:PATH[:NAME]            an OCI archive file
  docker-archive:PATH[:NAME]         a docker save archive file
DST is a registry reference (REF or docker://REF), store:NAME or oci-layout://PATH[:TAG].

Options:
  --platform P         copy only platform P's image (e.g. linux/arm64)
  --push-by-digest     put the image by digest only, create no tag
  --insecure           allow plain HTTP and unverified TLS for the registries
  --store DIR          the store for store names
  --progress MODE      plain|json|quiet (default plain)`;

/** Runs `ocistream copy`. */
export async function copyCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, {
    platform: { type: "string" },
    "push-by-digest": { type: "boolean" },
    insecure: { type: "boolean" },
    store: { type: "string" },
    progress: { type: "string" },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 2) throw new UsageError("copy takes SRC and DST: see --help");
  const mode = values.progress ?? "plain";
  if (!["plain", "json", "quiet"].includes(mode)) {
    throw new UsageError(`--progress must be plain, json or quiet, got "${mode}"`);
  }
  const platform = values.platform === undefined ? undefined : parsePlatform(values.platform);
  const renderer = createProgressRenderer(mode as "plain", (l) => console.error(l));
  const env = await createDenoEnvironment({ openStore: false, onProgress: renderer.listener });
  try {
    const ctx = { env, storePath: values.store, insecure: values.insecure ?? false };
    // The destination is checked first: a bad one is an error before anything is read.
    const target = await openTargetImage(positionals[1]!, ctx, {
      pushByDigest: values["push-by-digest"] ?? false,
    });
    const image = await openSourceImage(positionals[0]!, ctx);
    const root = platform ? await selectPlatform(image, platform) : image.root;
    await copyImage(image.source, root, target.sink, {
      tags: target.tags,
      pushByDigest: (values["push-by-digest"] ?? false) && target.repository !== undefined,
      onProgress: copyProgress({ onProgress: renderer.listener }, target.text),
    });
    await target.finish(root);
    if (mode === "plain") {
      console.error(escapeControls(`copied ${root.digest} to ${positionals[1]}`));
    }
    console.log(escapeControls(root.digest));
    return 0;
  } finally {
    renderer.close();
    await env.close();
  }
}
