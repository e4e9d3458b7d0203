/**
 * `ocistream index create --tag NAME SRC...`: merges per-platform images
 * (pushed by digest from several machines, say) into one multi-platform tag,
 * like `docker buildx imagetools create`. Sources are manifests or indexes by
 * tag or digest, also in other repositories of the registry (their blobs are
 * mounted), or bare digests in the first tag's repository.
 *
 * @example
 * ```ts ignore
 * import { indexCommand } from "./index_command.ts";
 * await indexCommand(["create", "--tag", "127.0.0.1:5000/app:1", "127.0.0.1:5000/app@sha256:…"]);
 * ```
 * @module
 */
import { parseFlags } from "./args.ts";
import { UsageError } from "./errors.ts";
import { createProgressRenderer } from "./progress_renderer.ts";
import { openRepository } from "./image_location.ts";
import { createDenoEnvironment } from "../runtime/deno_environment.ts";
import { copyImage } from "../image/copy_image.ts";
import { createIndex, type IndexSource } from "../image/create_index.ts";
import { copyProgress } from "../exporter/progress.ts";
import { parsePlatform } from "../types/platform.ts";
import { type AnnotationSpec, parseAnnotationFlag } from "../exporter/annotations.ts";
import {
  formatReference,
  isValidDigest,
  parseReference,
  type Reference,
} from "../types/reference.ts";
import { escapeControls, quote, safeJson } from "../types/quote.ts";

const HELP = `Usage: ocistream index create --tag NAME [--tag NAME...] SRC... [options]

Creates one index from SRC manifests and indexes (like 'docker buildx imagetools
create') and pushes it under each NAME (host/repo:tag). Indexes are flattened;
attestation manifests follow their image; a manifest's platform comes from its
config. SRC is host/repo:tag, host/repo@digest, or a bare digest in the first
NAME's repository. Blobs of sources in other repositories of the registry are
mounted, from other registries copied.

Options:
  -t, --tag NAME          where to push the index (repeatable)
  --annotation A          index:KEY=VALUE or manifest-descriptor[PLATFORM]:KEY=VALUE (repeatable)
  --dry-run               print the index instead of pushing it
  --oci-mediatypes        make an OCI index even from Docker manifests
  -p, --platform P[,P]    keep only these platforms (with their attestations; repeatable)
  --insecure              allow plain HTTP and unverified TLS for the registries
  --progress MODE         plain|json|quiet (default plain)`;

/** Runs `ocistream index SUBCOMMAND`. */
export async function indexCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === "--help" || sub === "-h") {
    console.log(HELP);
    return sub === undefined ? 2 : 0;
  }
  if (sub !== "create") {
    throw new UsageError(`unknown index command ${quote(sub)}: the only one is 'index create'`);
  }
  return await createCommand(rest);
}

async function createCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, {
    tag: { type: "string", short: "t", multiple: true },
    annotation: { type: "string", multiple: true },
    "dry-run": { type: "boolean" },
    "oci-mediatypes": { type: "boolean" },
    platform: { type: "string", short: "p", multiple: true },
    insecure: { type: "boolean" },
    progress: { type: "string" },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length === 0) throw new UsageError("index create needs sources: see --help");
  const tags = (values.tag ?? []).map((t) => parseReference(t));
  if (tags.length === 0 && !values["dry-run"]) {
    throw new UsageError("index create needs --tag NAME (or --dry-run to print the index)");
  }
  for (const [i, t] of tags.entries()) {
    if (t.digest !== undefined) {
      throw new TypeError(`--tag ${values.tag![i]} names a digest: give host/repo:tag`);
    }
  }
  const mode = values.progress ?? "plain";
  if (!["plain", "json", "quiet"].includes(mode)) {
    throw new UsageError(`--progress must be plain, json or quiet, got "${mode}"`);
  }
  const annotations: AnnotationSpec[] = (values.annotation ?? []).flatMap(parseAnnotationFlag);
  const refs: Reference[] = positionals.map((text) => {
    if (isValidDigest(text)) {
      const home = tags[0];
      if (!home) {
        throw new UsageError(`source ${text} is a bare digest: give host/repo@${text} or a --tag`);
      }
      return {
        registry: home.registry,
        host: home.host,
        repository: home.repository,
        digest: text,
      };
    }
    const ref = parseReference(text.replace(/^docker:\/\//, ""));
    return ref.tag === undefined && ref.digest === undefined ? { ...ref, tag: "latest" } : ref;
  });

  const renderer = createProgressRenderer(mode as "plain", (l) => console.error(l));
  const env = await createDenoEnvironment({ openStore: false, onProgress: renderer.listener });
  try {
    const insecure = values.insecure ?? false;
    const sources: IndexSource[] = await Promise.all(refs.map(async (ref) => {
      const repository = openRepository(env, ref, insecure);
      const m = await repository.getManifest(ref.digest ?? ref.tag!);
      return { source: repository, descriptor: m.descriptor, name: formatReference(ref) };
    }));
    const index = await createIndex(sources, {
      annotations,
      ociMediaTypes: values["oci-mediatypes"] ?? false,
      platforms: (values.platform ?? []).flatMap((p) => p.split(",")).map(parsePlatform),
      codecs: env.codecs,
    });
    if (values["dry-run"]) {
      await writeAll(index.bytes);
      return 0;
    }
    for (const tag of tags) {
      const target = openRepository(env, tag, insecure);
      const name = formatReference(tag);
      // Each entry with everything under it, by digest (mounted within the registry), then the
      // index by tag.
      for (const e of index.entries) {
        await copyImage(e.from.source, e.descriptor, target, {
          pushByDigest: true,
          onProgress: copyProgress({ onProgress: renderer.listener }, name),
        });
      }
      await target.putManifest(index.bytes, index.descriptor, tag.tag ?? "latest");
      if (mode === "plain") {
        console.error(escapeControls(`pushed index ${index.descriptor.digest} to ${name}`));
      }
    }
    console.log(index.descriptor.digest);
    return 0;
  } finally {
    renderer.close();
    await env.close();
  }
}

/** Writes the index and a newline; C1 controls and separators in it are escaped (still JSON). */
async function writeAll(bytes: Uint8Array): Promise<void> {
  const text = new TextDecoder().decode(bytes);
  const safe = safeJson(text);
  const body = safe === text ? bytes : new TextEncoder().encode(safe);
  const line = new Uint8Array(body.byteLength + 1);
  line.set(body);
  line[body.byteLength] = 0x0a;
  for (let off = 0; off < line.byteLength;) off += await Deno.stdout.write(line.subarray(off));
}
