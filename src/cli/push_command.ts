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
import { createProgressRenderer, formatBytes } from "./progress_renderer.ts";
import type { ProgressEvent, ProgressListener } from "../exporter/progress.ts";
import { createDenoEnvironment } from "../runtime/deno_environment.ts";
import { copyImage } from "../image/copy_image.ts";
import { copyProgress } from "../exporter/export_image.ts";
import { parseReference } from "../types/reference.ts";

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
  const write = (l: string) => console.error(l);
  const renderer = createProgressRenderer(mode as "plain", write);
  const listener = mode === "plain"
    ? withUploadFigures(renderer.listener, write)
    : renderer.listener;
  const progress = { onProgress: listener };
  const env = await createDenoEnvironment({ openStore: false, onProgress: listener });
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
    if (mode !== "quiet") console.error(`pushed ${root.digest} to ${positionals[1]}`);
    return 0;
  } finally {
    renderer.close();
    await env.close();
  }
}

/**
 * Adds per-blob upload figures to `plain` progress: a line every 5 seconds
 * while a blob is being sent (bytes sent of total, rate), and the bytes and
 * rate on the blob's closing `pushed` line. Other events pass through.
 *
 * @example
 * ```ts
 * import { withUploadFigures } from "./push_command.ts";
 * const listener = withUploadFigures((e) => console.log(e.type), (l) => console.log(l));
 * listener({ type: "blob-upload", id: "sha256:ab", target: "r/app", digest: "sha256:ab", sent: 5, total: 5 });
 * listener({ type: "blob-done", id: "sha256:ab", target: "r/app", digest: "sha256:ab" });
 * ```
 */
export function withUploadFigures(
  listener: ProgressListener,
  write: (line: string) => void,
  now: () => number = () => performance.now(),
): ProgressListener {
  const start = now();
  const blobs = new Map<string, { sent: number; started: number; logged: number }>();
  const rate = (b: { sent: number; started: number }) =>
    `${formatBytes(b.sent / Math.max((now() - b.started) / 1000, 0.001))}/s`;
  return (e: ProgressEvent) => {
    if (e.type === "blob-upload") {
      const key = `${e.target}|${e.digest || e.id}`;
      let b = blobs.get(key);
      if (!b) blobs.set(key, b = { sent: 0, started: now(), logged: now() });
      b.sent = e.sent;
      if (now() - b.logged >= 5000 && e.sent !== e.total) {
        b.logged = now();
        const of = e.total !== undefined ? ` of ${formatBytes(e.total)}` : "";
        const secs = ((now() - start) / 1000).toFixed(1).padStart(5);
        write(
          `[${secs}s] uploading ${e.digest || e.id} to ${e.target}: ${formatBytes(e.sent)}${of} (${
            rate(b)
          })`,
        );
      }
      return listener(e);
    }
    if (e.type === "blob-done" && !e.skipped) {
      const b = blobs.get(`${e.target}|${e.digest}`);
      if (b) {
        blobs.delete(`${e.target}|${e.digest}`);
        return listener({ ...e, target: `${e.target} (${formatBytes(b.sent)}, ${rate(b)})` });
      }
    }
    listener(e);
  };
}
