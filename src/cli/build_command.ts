/**
 * `ocistream build [CONTEXT]`: folders become layers (CONTEXT at `/`, then each `--layer`),
 * on top of `--from`, exported to each `--output` (SPEC §10). A thin layer over `buildImage`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildCommand } from "./build_command.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.mkdir(`${dir}/hello`);
 * await Deno.writeTextFile(`${dir}/hello/hello.txt`, "hi\n");
 * const output = ["--output", "type=image,name=example.com/hello:1"];
 * const where = ["--store", `${dir}/store`, "--progress", "quiet", "--workers", "1"];
 * assertEquals(await buildCommand([`${dir}/hello`, ...output, ...where]), 0);
 * await Deno.remove(dir, { recursive: true });
 * ```
 * @module
 */
import { parseEpoch, parseFlags, single } from "./args.ts";
import { UsageError } from "./errors.ts";
import { createProgressRenderer, PROGRESS_MODES, type ProgressMode } from "./progress_renderer.ts";
import { type OutputSpec, parseOutputSpec } from "../exporter/output_spec.ts";
import { parseAnnotationFlag } from "../exporter/annotations.ts";
import { layerCreatedBy, type LayerOptions, parseLayerSpec } from "../exporter/layer_spec.ts";
import type { ConfigOverrides } from "../image/config_builder.ts";
import { parseEntrypointArg } from "../image/config_builder.ts";
import { formatPlatform, parsePlatform, samePlatform } from "../types/platform.ts";
import { type Platform, platformObject } from "../types/descriptor.ts";
import { hostPlatform } from "../runtime/deno_environment.ts";
import { buildImage } from "../runtime/build_image.ts";

const HELP = `Usage: ocistream build [CONTEXT] [options]

CONTEXT is a folder; it becomes the first new layer, at / (default ".", unless --layer is
given). Each --layer adds one more, in order. Each layer folder's .dockerignore is honoured with Docker's semantics.

Options:
  --layer SPEC            one more layer (repeatable): DIR[:DEST], or buildx-style CSV
                          src=DIR[,dest=/PATH][,chown=UID[:GID]][,chmod=MODE][,exclude=PATTERN]...
                          [,ignore-file=FILE][,created-by=TEXT]
  --chown UID[:GID]       owner of every entry of every layer, as COPY --chown (a spec's chown= wins)
  --chmod MODE            octal mode of every entry but symlinks, as COPY --chmod (chmod= wins)
  --exclude PATTERN       leave out what matches, as a .dockerignore line (repeatable; exclude= wins)
  --ignore-file FILE      read CONTEXT's ignore patterns from FILE instead of CONTEXT/.dockerignore
  --from REF              base image: scratch (default), a name the store holds, a registry ref,
                          or oci-layout://PATH[:TAG|@DIGEST]
  --pull                  take --from from its registry even when the store holds that name
  --platform P[,P...]     target platforms (default: linux/<host arch>)
  --platform-context P=DIR  for platform P, the new layer comes from DIR instead of CONTEXT
                          (repeatable; e.g. prebuilt binaries per architecture)
  --entrypoint JSON|STR   entrypoint (JSON array, or a string run by /bin/sh -c)
  --cmd JSON|STR          default command
  --env K=V               environment variable (repeatable)
  --workdir DIR           working directory
  --user USER             user to run as
  --label K=V             label (repeatable)
  --expose PORT[/PROTO]   exposed port (repeatable)
  --annotation SPEC       annotation, buildx style: [TYPE[,TYPE][[PLATFORM]]:]KEY=VALUE (repeatable)
  --attest type=sbom|type=provenance   attach an attestation (repeatable)
  --output SPEC           exporter, buildx syntax (repeatable; default type=image)
  --store DIR             local store (default $OCISTREAM_STORE or the user data folder)
  --source-date-epoch N   epoch for timestamps (default $SOURCE_DATE_EPOCH)
  --progress MODE         auto|tty|plain|json|quiet (default auto)
  --metadata-file FILE    write the export's metadata as JSON
  --workers N             threads that compress, this one included (default: number of cores)
  --no-cache              rebuild the layer even if the store has it cached for an unchanged folder
`;

/** Runs `ocistream build`. */
export async function buildCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, {
    from: { type: "string" },
    platform: { type: "string", multiple: true },
    "platform-context": { type: "string", multiple: true },
    entrypoint: { type: "string" },
    cmd: { type: "string" },
    env: { type: "string", multiple: true },
    workdir: { type: "string" },
    user: { type: "string" },
    label: { type: "string", multiple: true },
    expose: { type: "string", multiple: true },
    annotation: { type: "string", multiple: true },
    attest: { type: "string", multiple: true },
    output: { type: "string", short: "o", multiple: true },
    store: { type: "string" },
    "source-date-epoch": { type: "string" },
    progress: { type: "string" },
    "metadata-file": { type: "string" },
    workers: { type: "string" },
    "no-cache": { type: "boolean" },
    layer: { type: "string", multiple: true },
    chown: { type: "string" },
    chmod: { type: "string" },
    exclude: { type: "string", multiple: true },
    "ignore-file": { type: "string" },
    pull: { type: "boolean" },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length > 1) {
    throw new UsageError(
      `build takes one CONTEXT folder, got ${positionals.length}: ${positionals.join(" ")}`,
    );
  }

  // Validate everything before any work or any write.
  const outputs: OutputSpec[] = (values.output?.length ? values.output : ["type=image"]).map(
    (o) => {
      try {
        return parseOutputSpec(o);
      } catch (e) {
        // The core names the spec's keys; the CLI says which flag held them.
        if (e instanceof TypeError || e instanceof RangeError) e.message = `--output: ${e.message}`;
        throw e;
      }
    },
  );
  const platforms: Platform[] = (values.platform ?? []).flatMap((p) => p.split(","))
    .filter((p) => p.trim() !== "").map((p) => parsePlatform(p));
  if (platforms.length === 0) platforms.push(hostPlatform());
  const annotations = (values.annotation ?? []).flatMap((a) => parseAnnotationFlag(a));
  const attest = parseAttest(values.attest ?? []);
  const progressMode = parseProgress(values.progress);
  const epochText = values["source-date-epoch"] ?? Deno.env.get("SOURCE_DATE_EPOCH");
  const sourceDateEpoch = epochText === undefined || epochText === "" ? undefined : parseEpoch(
    epochText,
    values["source-date-epoch"] ? "--source-date-epoch" : "SOURCE_DATE_EPOCH",
  );
  const config = configOverrides(values);
  const workers = values.workers === undefined ? undefined : Number(values.workers);
  if (workers !== undefined && (!Number.isInteger(workers) || workers < 1 || workers > 256)) {
    throw new UsageError(`--workers must be a whole number from 1 to 256, got "${values.workers}"`);
  }
  // Without --layer, CONTEXT defaults to "."; with --layer, there is a CONTEXT layer only if named.
  const context = positionals[0] ?? (values.layer?.length ? undefined : ".");
  // --platform-context P=DIR: per-platform content (issue 5), checked before any work.
  const platformContexts = parsePlatformContexts(values["platform-context"] ?? [], platforms);
  const metadataFile = single(values["metadata-file"], "metadata-file");
  // --chown / --chmod / --exclude are defaults for every layer; a key in a --layer spec wins.
  const defaults: Partial<LayerOptions> = {};
  const chown = single(values.chown, "chown");
  const chmod = single(values.chmod, "chmod");
  if (chown !== undefined) defaults.chown = chown;
  if (chmod !== undefined) defaults.chmod = chmod;
  if (values.exclude?.length) defaults.exclude = values.exclude;
  const ignoreFile = single(values["ignore-file"], "ignore-file");
  const layers: LayerOptions[] = [];
  if (context !== undefined) {
    const first: LayerOptions = {
      ...defaults,
      src: context,
      ...(ignoreFile !== undefined ? { ignoreFile } : {}),
    };
    // History names the build context ".", not its path: the image must not depend on where
    // the tree sits (SPEC §5), as BuildKit records the Dockerfile line `COPY . /`.
    first.createdBy = layerCreatedBy({ ...first, src: "." });
    layers.push(first);
  } else if (ignoreFile !== undefined) {
    throw new UsageError(
      "--ignore-file is for CONTEXT; with --layer only, use ignore-file= in the spec",
    );
  }
  for (const spec of values.layer ?? []) layers.push({ ...defaults, ...parseLayerSpec(spec) });
  if (metadataFile) await checkMetadataFolder(metadataFile);

  const renderer = createProgressRenderer(
    progressMode,
    (line) => console.error(line),
    (text) => Deno.stderr.writeSync(new TextEncoder().encode(text)),
    undefined,
    progressMode === "tty" ? terminalColumns() : 0,
  );
  try {
    const result = await buildImage({
      ...(values.from !== undefined ? { from: values.from } : {}),
      platforms,
      layers,
      config,
      outputs,
      ...(values.store !== undefined ? { store: values.store } : {}),
      ...(sourceDateEpoch !== undefined ? { sourceDateEpoch } : {}),
      progress: renderer.listener,
      pull: values.pull === true,
      annotations,
      attest,
      ...(workers !== undefined ? { workers } : {}),
      cache: !values["no-cache"],
      platformContexts: Object.fromEntries(platformContexts),
    });
    renderer.close();
    if (metadataFile) {
      // As BuildKit's exporter response: a single manifest's descriptor carries its platform,
      // and only a single manifest has a config digest of its own.
      const single = result.manifests.length === 1 &&
        result.descriptor.digest === result.manifests[0]!.descriptor.digest;
      const metadata: Record<string, unknown> = {
        "containerimage.digest": result.digest,
        "containerimage.descriptor": single
          ? { ...result.descriptor, platform: platformObject(result.manifests[0]!.platform) }
          : result.descriptor,
      };
      if (single) metadata["containerimage.config.digest"] = result.configDigest;
      if (result.names.length > 0) metadata["image.name"] = result.names.join(",");
      await Deno.writeTextFile(metadataFile, JSON.stringify(metadata, null, 2) + "\n");
    }
    return 0;
  } finally {
    renderer.close();
  }
}

/**
 * `--platform-context P=DIR` values, keyed by `formatPlatform` of the matching
 * platform being built; a platform not being built or given twice is a usage error.
 */
function parsePlatformContexts(specs: string[], platforms: Platform[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const spec of specs) {
    const eq = spec.indexOf("=");
    if (eq <= 0 || eq === spec.length - 1) {
      throw new UsageError(
        `--platform-context takes PLATFORM=DIR, got "${spec}", e.g. linux/arm64=./dist/arm64`,
      );
    }
    const platform = parsePlatform(spec.slice(0, eq));
    const match = platforms.find((p) => samePlatform(p, platform));
    if (!match) {
      throw new TypeError(
        `--platform-context ${spec} names ${formatPlatform(platform)}, which is not being built ` +
          `(building ${platforms.map(formatPlatform).join(", ")}): add it to --platform or drop it`,
      );
    }
    const key = formatPlatform(match);
    if (out.has(key)) {
      throw new UsageError(`--platform-context is given twice for ${key}: keep one`);
    }
    out.set(key, spec.slice(eq + 1));
  }
  return out;
}

function terminalColumns(): number {
  try {
    return Deno.consoleSize().columns;
  } catch {
    return 0;
  }
}

function parseProgress(text: string | undefined): Exclude<ProgressMode, "auto"> {
  const mode = (text ?? "auto") as ProgressMode;
  if (!PROGRESS_MODES.includes(mode)) {
    throw new UsageError(`--progress must be one of ${PROGRESS_MODES.join(", ")}, got "${text}"`);
  }
  if (mode !== "auto") return mode;
  return Deno.stderr.isTerminal() && !Deno.env.get("CI") ? "tty" : "plain";
}

function parseAttest(specs: string[]): { sbom?: boolean; provenance?: boolean } {
  const attest: { sbom?: boolean; provenance?: boolean } = {};
  for (const spec of specs) {
    const fields = Object.fromEntries(
      spec.split(",").map((f) => {
        const eq = f.indexOf("=");
        return eq < 0 ? [f, "true"] : [f.slice(0, eq), f.slice(eq + 1)];
      }),
    );
    if (fields.type === "sbom") attest.sbom = fields.disabled !== "true";
    else if (fields.type === "provenance") attest.provenance = fields.disabled !== "true";
    else {
      throw new UsageError(
        `Unknown attestation "${spec}": use --attest type=sbom or --attest type=provenance`,
      );
    }
  }
  return attest;
}

function keyValue(text: string, flag: string): [string, string] {
  const eq = text.indexOf("=");
  if (eq <= 0) throw new UsageError(`--${flag} takes KEY=VALUE, got "${text}"`);
  return [text.slice(0, eq), text.slice(eq + 1)];
}

function configOverrides(values: Record<string, unknown>): ConfigOverrides {
  const c: ConfigOverrides = {};
  if (typeof values.entrypoint === "string") c.entrypoint = parseEntrypointArg(values.entrypoint);
  if (typeof values.cmd === "string") c.cmd = parseEntrypointArg(values.cmd);
  if (Array.isArray(values.env)) {
    c.env = (values.env as string[]).map((e) => keyValue(e, "env").join("="));
  }
  if (typeof values.workdir === "string") c.workdir = values.workdir;
  if (typeof values.user === "string") c.user = values.user;
  if (Array.isArray(values.label)) {
    c.labels = Object.fromEntries((values.label as string[]).map((l) => keyValue(l, "label")));
  }
  if (Array.isArray(values.expose)) c.exposedPorts = values.expose as string[];
  return c;
}

/**
 * Checks, before anything is built or pushed, that the metadata file can be written where it
 * was asked: its folder exists and it is not itself a folder.
 */
async function checkMetadataFolder(file: string): Promise<void> {
  const slash = file.lastIndexOf("/");
  const folder = slash < 0 ? "." : file.slice(0, slash) || "/";
  const info = await Deno.stat(folder).catch(() => undefined);
  if (!info?.isDirectory) {
    throw new TypeError(
      `Cannot write --metadata-file ${file}: folder ${folder} does not exist; create it first`,
    );
  }
  if ((await Deno.stat(file).catch(() => undefined))?.isDirectory) {
    throw new TypeError(`Cannot write --metadata-file ${file}: it is a folder; give a file path`);
  }
}
