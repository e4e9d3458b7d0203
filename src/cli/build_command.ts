/**
 * `ocistream build [CONTEXT]`: a folder becomes the new layer at `/`, on top
 * of `--from`, exported to each `--output` (SPEC §10).
 *
 * @example
 * ```ts ignore
 * import { buildCommand } from "./build_command.ts";
 * await buildCommand(["examples/hello", "--output", "type=image,name=example.com/hello:1"]);
 * ```
 * @module
 */
import { parseEpoch, parseFlags, single } from "./args.ts";
import { UsageError } from "./errors.ts";
import { createProgressRenderer, PROGRESS_MODES, type ProgressMode } from "./progress_renderer.ts";
import { type OutputSpec, parseOutputSpec } from "../exporter/output_spec.ts";
import { parseAnnotationFlag } from "../exporter/annotations.ts";
import { exportImage, type PlatformInput } from "../exporter/export_image.ts";
import type { ConfigOverrides } from "../image/config_builder.ts";
import { parseEntrypointArg } from "../image/config_builder.ts";
import { formatPlatform, parsePlatform, samePlatform } from "../types/platform.ts";
import type { Platform } from "../types/descriptor.ts";
import { parseReference, registryHost } from "../types/reference.ts";
import { directoryEntries } from "../sources/directory_source.ts";
import { denoFileSystem } from "../runtime/deno_file_system.ts";
import { createDenoEnvironment, hostPlatform } from "../runtime/deno_environment.ts";
import { resolveBaseImage } from "../runtime/resolve_base_image.ts";
import { PatternMatcher } from "../sources/pattern_matcher.ts";
import { parseIgnoreFile } from "../sources/ignore_file.ts";

const HELP = `Usage: ocistream build [CONTEXT] [options]

CONTEXT (default ".") is a folder; it becomes the new layer at /. Its .dockerignore is
honoured with Docker's semantics.

Options:
  --from REF              base image: scratch (default), a registry ref, or oci-layout://PATH[:TAG|@DIGEST]
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
  --exclude PATTERN       leave out what matches, as a .dockerignore line (repeatable)
  --ignore-file FILE      read ignore patterns from FILE instead of CONTEXT/.dockerignore
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
    exclude: { type: "string", multiple: true },
    "ignore-file": { type: "string" },
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
  const outputs: OutputSpec[] = (values.output?.length ? values.output : ["type=image"]).map((o) =>
    parseOutputSpec(o)
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
  const context = positionals[0] ?? ".";
  // --platform-context P=DIR: per-platform content (issue 5), checked before any work.
  const platformContexts = parsePlatformContexts(values["platform-context"] ?? [], platforms);
  const contexts = new Set([...platformContexts.values()]);
  // CONTEXT is needed only when some platform has no folder of its own.
  if (platforms.some((p) => !platformContexts.has(formatPlatform(p)))) contexts.add(context);
  for (const dir of contexts) {
    const info = await Deno.stat(dir).catch(() => undefined);
    if (!info) {
      throw new TypeError(`Context folder ${dir} does not exist: pass an existing folder`);
    }
    if (!info.isDirectory) {
      throw new TypeError(`Context ${dir} is not a folder: pass a folder to build`);
    }
  }
  const metadataFile = single(values["metadata-file"], "metadata-file");
  const ignoreFile = single(values["ignore-file"], "ignore-file");
  const excludes = new Map<string, string[]>();
  for (const dir of contexts) {
    const patterns = [
      ...await readIgnoreFile(dir, ignoreFile),
      ...(values.exclude ?? []),
    ];
    new PatternMatcher(patterns); // a malformed pattern fails here, before any work
    excludes.set(dir, patterns);
  }

  const renderer = createProgressRenderer(
    progressMode,
    (line) => console.error(line),
    (text) => Deno.stderr.writeSync(new TextEncoder().encode(text)),
    undefined,
    progressMode === "tty" ? terminalColumns() : 0,
  );
  const needsStore = outputs.some((o) => o.store && (o.type === "image" || o.type === "registry"));
  const env = await createDenoEnvironment({
    storePath: values.store,
    openStore: needsStore,
    workers,
    layerCache: !values["no-cache"],
    onProgress: renderer.listener,
  });
  try {
    // registry.insecure=true covers that registry for pulling --from too, as BuildKit's per-host config does.
    const insecureHosts = outputs.filter((o) => o.insecureRegistry)
      .flatMap((o) => o.names.map((n) => registryHost(parseReference(n))));
    const inputs: PlatformInput[] = [];
    for (const platform of platforms) {
      const dir = platformContexts.get(formatPlatform(platform)) ?? context;
      const base = values.from && values.from !== "scratch"
        ? await resolveBaseImage(values.from, platform, env, { insecureHosts })
        : undefined;
      inputs.push({
        platform,
        base,
        layers: [{
          entries: () => directoryEntries(denoFileSystem, dir, { exclude: excludes.get(dir) }),
          source: sourceName(dir),
          // Not the folder's path: history must not depend on where the tree sits (SPEC §5),
          // as BuildKit records the Dockerfile line `COPY . /`, not the context path.
          createdBy: "COPY . / # buildkit",
        }],
      });
    }
    const results = await exportImage(
      {
        platforms: inputs,
        config,
        annotations,
        attest,
        sourceDateEpoch,
      },
      outputs,
      env,
    );
    renderer.close();
    const last = results[results.length - 1]!;
    if (metadataFile) {
      const metadata: Record<string, unknown> = {
        "containerimage.digest": last.digest,
        "containerimage.descriptor": last.descriptor,
        "containerimage.config.digest": last.configDigest,
      };
      if (last.names.length > 0) metadata["image.name"] = last.names.join(",");
      await Deno.writeTextFile(metadataFile, JSON.stringify(metadata, null, 2) + "\n");
    }
    return 0;
  } finally {
    renderer.close();
    await env.close();
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

/** The patterns of `ignoreFile` if given, else of `DIR/.dockerignore` when there is one. */
async function readIgnoreFile(dir: string, ignoreFile: string | undefined): Promise<string[]> {
  const file = ignoreFile ?? `${dir.replace(/\/+$/, "")}/.dockerignore`;
  try {
    return parseIgnoreFile(await Deno.readTextFile(file));
  } catch (e) {
    if (ignoreFile === undefined && e instanceof Deno.errors.NotFound) return [];
    throw new TypeError(
      `Cannot read ignore file ${file}: ${(e as Error).message}; fix the path or its permissions`,
    );
  }
}

/** A folder's canonical path, naming it for the layer cache (the path given when it is missing). */
function sourceName(dir: string): string {
  try {
    return Deno.realPathSync(dir);
  } catch {
    return dir;
  }
}
