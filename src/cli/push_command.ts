/**
 * `ocistream push SRC NAME`: copies an image (every platform of an index)
 * from the store or an OCI layout to a registry, blobs first, root last.
 *
 * @example
 * ```ts ignore
 * import { pushCommand } from "./push_command.ts";
 * await pushCommand(["example.com/hello:1", "127.0.0.1:5000/hello:1"]);
 * ```
 * @module
 */
import { parseFlags } from "./args.ts";
import { UsageError } from "./errors.ts";
import { openImageSource } from "./image_source.ts";
import { createProgressRenderer } from "./progress_renderer.ts";
import { createDenoEnvironment } from "../runtime/deno_environment.ts";
import { copyImage } from "../image/copy_image.ts";
import { copyProgress } from "../exporter/progress.ts";
import { parseReference } from "../types/reference.ts";
import { escapeControls } from "../types/quote.ts";

const HELP = `Usage: ocistream push SRC NAME [options]

Copies SRC (a store name, name@digest, or oci-layout://PATH[:TAG]) to the registry
reference NAME (host/repo[:tag]).

Options:
  --store DIR          store to read from
  --insecure           allow plain HTTP and unverified TLS for this registry
  --push-by-digest     push the root by digest only, create no tag
  --progress MODE      plain|json|quiet (default plain)`;

/** Runs `ocistream push`. */
export async function pushCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, {
    store: { type: "string" },
    insecure: { type: "boolean" },
    "push-by-digest": { type: "boolean" },
    progress: { type: "string" },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 2) throw new UsageError("push takes SRC and NAME: see --help");
  const ref = parseReference(positionals[1]!);
  if (values["push-by-digest"] && ref.tag !== undefined) {
    throw new TypeError(
      `--push-by-digest creates no tag, but ${positionals[1]} has one: drop ":${ref.tag}"`,
    );
  }
  const mode = values.progress ?? "plain";
  if (!["plain", "json", "quiet"].includes(mode)) {
    throw new UsageError(`--progress must be plain, json or quiet, got "${mode}"`);
  }
  const renderer = createProgressRenderer(mode as "plain", (l) => console.error(l));
  const progress = { onProgress: renderer.listener };
  const env = await createDenoEnvironment({ openStore: false, onProgress: renderer.listener });
  try {
    const { layout, root } = await openImageSource(positionals[0]!, {
      storePath: values.store,
      codecs: env.codecs,
    });
    const repository = env.openRepository!(ref, { insecure: values.insecure ?? false });
    await copyImage(layout, root, repository, {
      tags: values["push-by-digest"] ? [] : [ref.tag ?? "latest"],
      pushByDigest: values["push-by-digest"] ?? false,
      onProgress: copyProgress(progress, `${ref.registry}/${ref.repository}`),
    });
    if (mode !== "quiet") {
      console.error(escapeControls(`pushed ${root.digest} to ${positionals[1]}`));
    }
    return 0;
  } finally {
    renderer.close();
    await env.close();
  }
}
