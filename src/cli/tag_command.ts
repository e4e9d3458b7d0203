/**
 * `ocistream tag SRC NEWNAME`: gives a registry image another name. NEWNAME is
 * a tag (`:2`, same repository: only the manifest is put again, no blob moves)
 * or a full reference (another repository of the same registry mounts the
 * blobs; another registry gets them copied).
 *
 * @example
 * ```ts ignore
 * import { tagCommand } from "./tag_command.ts";
 * await tagCommand(["127.0.0.1:5000/app:1", ":stable"]);
 * ```
 * @module
 */
import { parseFlags } from "./args.ts";
import { UsageError } from "./errors.ts";
import { createProgressRenderer } from "./progress_renderer.ts";
import { openRepository, openSourceImage } from "./image_location.ts";
import { createDenoEnvironment } from "../runtime/deno_environment.ts";
import { copyImage } from "../image/copy_image.ts";
import { copyProgress } from "../exporter/progress.ts";
import { formatReference, isValidTag, parseReference } from "../types/reference.ts";
import { escapeControls } from "../types/quote.ts";

const HELP = `Usage: ocistream tag SRC NEWNAME [options]

Names the registry image SRC (host/repo:tag or host/repo@digest) NEWNAME too:
  :TAG             another tag in the same repository (no blob is moved)
  host/repo[:tag]  another repository (same registry: blobs are mounted)

Options:
  --insecure           allow plain HTTP and unverified TLS for the registries
  --progress MODE      plain|json|quiet (default plain)`;

/** Runs `ocistream tag`. */
export async function tagCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, {
    insecure: { type: "boolean" },
    progress: { type: "string" },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 2) throw new UsageError("tag takes SRC and NEWNAME: see --help");
  const mode = values.progress ?? "plain";
  if (!["plain", "json", "quiet"].includes(mode)) {
    throw new UsageError(`--progress must be plain, json or quiet, got "${mode}"`);
  }
  const [srcText, newText] = positionals as [string, string];
  const srcRef = parseReference(srcText.replace(/^docker:\/\//, ""));
  let newRef;
  if (newText.startsWith(":")) {
    const tag = newText.slice(1);
    if (!isValidTag(tag)) {
      throw new TypeError(
        `Invalid tag "${tag}": up to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'`,
      );
    }
    newRef = { registry: srcRef.registry, host: srcRef.host, repository: srcRef.repository, tag };
  } else {
    newRef = parseReference(newText.replace(/^docker:\/\//, ""));
    if (newRef.digest !== undefined) {
      throw new TypeError(`${newText} names a digest: a new name is a tag or repository:tag`);
    }
    newRef = { ...newRef, tag: newRef.tag ?? "latest" };
  }
  const renderer = createProgressRenderer(mode as "plain", (l) => console.error(l));
  const env = await createDenoEnvironment({ openStore: false, onProgress: renderer.listener });
  try {
    const insecure = values.insecure ?? false;
    const name = formatReference(newRef);
    let digest: string;
    if (newRef.registry === srcRef.registry && newRef.repository === srcRef.repository) {
      // Same repository: everything is there already; the root is put under the new tag.
      const repository = openRepository(env, srcRef, insecure);
      const m = await repository.getManifest(srcRef.digest ?? srcRef.tag ?? "latest");
      await repository.putManifest(m.bytes, m.descriptor, newRef.tag);
      digest = m.digest;
    } else {
      const image = await openSourceImage(`docker://${formatReference(srcRef)}`, { env, insecure });
      const target = openRepository(env, newRef, insecure);
      await copyImage(image.source, image.root, target, {
        tags: [newRef.tag],
        onProgress: copyProgress({ onProgress: renderer.listener }, name),
      });
      digest = image.root.digest;
    }
    if (mode === "plain") console.error(escapeControls(`tagged ${digest} as ${name}`));
    console.log(digest);
    return 0;
  } finally {
    renderer.close();
    await env.close();
  }
}
