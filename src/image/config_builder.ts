/**
 * Builds an image config (SPEC §4, §5): base config kept, platform set,
 * settings merged, new layers appended to `rootfs.diff_ids` and `history`,
 * times clamped to `SOURCE_DATE_EPOCH`.
 *
 * Key order follows BuildKit: it re-encodes the config as a Go map, so the
 * top-level keys are sorted; `config` keeps Docker's field order
 * (`User, ExposedPorts, Env, Entrypoint, Cmd, Volumes, WorkingDir, Labels,
 * StopSignal`, then any others from the base), maps inside are sorted, and
 * history entries are `created, created_by, author, comment, empty_layer`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildConfig } from "@ocistream/ocistream/image";
 * const config = buildConfig({
 *   platform: { os: "linux", architecture: "amd64" },
 *   overrides: { entrypoint: ["/hello"] },
 *   layers: [{ diffId: "sha256:" + "a".repeat(64), createdBy: "COPY . /" }],
 *   epoch: 0,
 * });
 * assertEquals([config.created, config.config?.Entrypoint], ["1970-01-01T00:00:00Z", ["/hello"]]);
 * ```
 * @module
 */
import type { Codecs } from "../types/codecs.ts";
import type { ContainerConfig, HistoryEntry, ImageConfig } from "../types/config.ts";
import type { Descriptor, Platform } from "../types/descriptor.ts";
import { sortedRecord } from "../types/descriptor.ts";
import { configMediaType } from "../types/media_types.ts";
import { encodeJson } from "./canonical_json.ts";
import { sha256Digest } from "./manifest_builder.ts";

/** Settings to apply on top of the base config (all optional). */
export interface ConfigOverrides {
  /** Entrypoint argv; setting it without `cmd` clears the base `Cmd`, as Docker does. `[]` removes it. */
  entrypoint?: string[];
  /** Default arguments; `[]` removes them. */
  cmd?: string[];
  /** `KEY=VALUE` entries, merged by key into the base `Env` (later wins). */
  env?: string[];
  /** Working directory. */
  workdir?: string;
  /** User (`name`, `uid`, `uid:gid`). */
  user?: string;
  /** Labels merged into the base labels. */
  labels?: Record<string, string>;
  /** Ports: `80`, `80/tcp`, `53/udp`, `8000-8002/tcp`. */
  exposedPorts?: string[];
  /** Volume paths. */
  volumes?: string[];
  /** Stop signal, e.g. `SIGTERM`. */
  stopSignal?: string;
}

/** A new layer to record. */
export interface NewLayer {
  /** sha256 of the uncompressed layer (`sha256:<hex>`). */
  diffId: string;
  /** What made it (history `created_by`). */
  createdBy?: string;
  /** History comment. */
  comment?: string;
}

/** Options for {@link buildConfig}. */
export interface ConfigOptions {
  /** The base image's config; scratch when absent. */
  base?: ImageConfig;
  /** The platform this config is for (sets `architecture`, `os`, `variant`). */
  platform: Platform;
  /** Settings to apply. */
  overrides?: ConfigOverrides;
  /** New layers, in order. */
  layers?: NewLayer[];
  /**
   * Add one `empty_layer` history entry per metadata setting (e.g.
   * `ENTRYPOINT ["/hello"]`), after the new layers, as Dockerfile builds do.
   */
  recordMetadataHistory?: boolean;
  /**
   * Comment of the history entries this build adds when a layer gives none
   * (the Dockerfile frontend writes `buildkit.dockerfile.v0`); default none.
   */
  historyComment?: string;
  /** The base's name, for history entries made up for base layers that had none. */
  baseName?: string;
  /** `SOURCE_DATE_EPOCH` in seconds: `created` and new history times become it. */
  epoch?: number;
  /** The time of the build when there is no epoch; default the current time. */
  now?: Date;
  /** Author to record. */
  author?: string;
}

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;
const PORT_RE = /^([0-9]{1,5})(?:-([0-9]{1,5}))?(?:\/([a-zA-Z]+))?$/;
// Go's time.Time JSON for a whole second in UTC.
const RFC3339_RE =
  /^(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:([Zz])|([+-])(\d\d):(\d\d))$/;

/**
 * Formats a time like Go's `time.Time` JSON (RFC 3339, UTC, fractional
 * seconds only when not zero, trailing zeros dropped).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { formatRfc3339 } from "@ocistream/ocistream/image";
 * assertEquals(formatRfc3339(1704164645), "2024-01-02T03:04:05Z");
 * assertEquals(formatRfc3339(new Date(1500)), "1970-01-01T00:00:01.5Z");
 * ```
 */
export function formatRfc3339(time: Date | number): string {
  const ms = typeof time === "number" ? time * 1000 : time.getTime();
  if (!Number.isFinite(ms)) {
    throw new RangeError(`Cannot format time ${String(time)}: not a valid time`);
  }
  const iso = new Date(ms).toISOString(); // 2024-01-02T03:04:05.678Z
  const [whole, frac] = iso.slice(0, -1).split(".") as [string, string | undefined];
  const trimmed = (frac ?? "").replace(/0+$/, "");
  return trimmed === "" ? `${whole}Z` : `${whole}.${trimmed}Z`;
}

/**
 * Whether an RFC 3339 time is later than `epoch` seconds; `undefined` when
 * the text is not a time (callers then treat it as missing).
 */
function laterThan(text: string, epoch: number): boolean | undefined {
  const m = RFC3339_RE.exec(text);
  if (m === null) return undefined;
  let seconds = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) / 1000;
  if (m[9] !== undefined) {
    const offset = (+m[10]! * 60 + +m[11]!) * 60;
    seconds += m[9] === "+" ? -offset : offset;
  }
  const fractionNonZero = /[1-9]/.test(m[7] ?? "");
  return seconds > epoch || (seconds === epoch && fractionNonZero);
}

/**
 * Parses `--entrypoint`/`--cmd`: a JSON array of strings (exec form) or a
 * plain string (shell form, run with `/bin/sh -c`). An empty string gives `[]`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseEntrypointArg } from "@ocistream/ocistream/image";
 * assertEquals(parseEntrypointArg('["/hello", "world"]'), ["/hello", "world"]);
 * assertEquals(parseEntrypointArg("echo hi"), ["/bin/sh", "-c", "echo hi"]);
 * ```
 */
export function parseEntrypointArg(text: string): string[] {
  const trimmed = text.trim();
  if (trimmed === "") return [];
  if (!trimmed.startsWith("[")) return ["/bin/sh", "-c", text];
  let parsed: unknown;
  try {
    parsed = JSON.parse(trimmed);
  } catch (e) {
    throw new TypeError(
      `Cannot parse ${text} as a JSON array: ${
        (e as Error).message
      }; write ["/bin/app", "arg"] or a plain shell command`,
    );
  }
  if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === "string")) {
    throw new TypeError(`${text} must be a JSON array of strings, e.g. ["/bin/app", "arg"]`);
  }
  return parsed;
}

/**
 * Normalises an exposed port to `PORT/PROTO` keys (`80` → `80/tcp`; a range expands).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseExposedPort } from "@ocistream/ocistream/image";
 * assertEquals(parseExposedPort("53/udp"), ["53/udp"]);
 * assertEquals(parseExposedPort("8000-8001"), ["8000/tcp", "8001/tcp"]);
 * ```
 */
export function parseExposedPort(text: string): string[] {
  const m = PORT_RE.exec(text.trim());
  const fail = (why: string): never => {
    throw new TypeError(
      `Invalid port "${text}": ${why}; use PORT[/tcp|udp|sctp], e.g. 80 or 53/udp`,
    );
  };
  if (m === null) return fail("it is not a port number with an optional protocol");
  const proto = (m[3] ?? "tcp").toLowerCase();
  if (proto !== "tcp" && proto !== "udp" && proto !== "sctp") fail(`unknown protocol ${proto}`);
  const first = Number(m[1]);
  const last = m[2] === undefined ? first : Number(m[2]);
  if (first < 1 || last > 65535 || first > 65535) fail("ports are 1 to 65535");
  if (last < first) fail("the range ends before it starts");
  const out: string[] = [];
  for (let p = first; p <= last; p++) out.push(`${p}/${proto}`);
  return out;
}

function mergeEnv(base: readonly string[], extra: readonly string[]): string[] {
  const out = [...base];
  for (const entry of extra) {
    const eq = entry.indexOf("=");
    if (eq <= 0) {
      throw new TypeError(`Invalid environment variable "${entry}": use KEY=VALUE`);
    }
    const key = entry.slice(0, eq);
    const at = out.findIndex((e) => e === key || e.startsWith(`${key}=`));
    if (at >= 0) out[at] = entry;
    else out.push(entry);
  }
  return out;
}

function keySet(keys: Iterable<string>): Record<string, Record<string, never>> {
  const out: Record<string, Record<string, never>> = {};
  for (const k of [...new Set(keys)].sort()) out[k] = {};
  return out;
}

const CONTAINER_KEY_ORDER = [
  "User",
  "ExposedPorts",
  "Env",
  "Entrypoint",
  "Cmd",
  "Volumes",
  "WorkingDir",
  "Labels",
  "StopSignal",
  "ArgsEscaped",
  // Docker's extensions (moby/docker-image-spec DockerOCIImageConfigExt).
  "Healthcheck",
  "OnBuild",
  "Shell",
] as const;

/**
 * The container config the Dockerfile frontend starts from: on scratch its `emptyImage`
 * (`Env` with the default `PATH`, `WorkingDir: "/"`), on a base the base's own with `PATH`
 * added when missing; Windows gets no `PATH`.
 */
function frontendDefaults(
  base: ContainerConfig | undefined,
  platform: Platform,
): ContainerConfig {
  if (platform.os === "windows") return base ?? { WorkingDir: "/" };
  if (base === undefined) return { Env: [DEFAULT_PATH_ENV], WorkingDir: "/" };
  const env = base.Env ?? [];
  if (env.some((e) => e === "PATH" || e.startsWith("PATH="))) return base;
  return { ...base, Env: [...env, DEFAULT_PATH_ENV] };
}

function buildContainerConfig(
  base: ContainerConfig | undefined,
  o: ConfigOverrides,
): ContainerConfig {
  const c: ContainerConfig = { ...(base ?? {}) };
  if (o.user !== undefined) c.User = o.user;
  if (o.exposedPorts !== undefined && o.exposedPorts.length > 0) {
    c.ExposedPorts = keySet([
      ...Object.keys(c.ExposedPorts ?? {}),
      ...o.exposedPorts.flatMap(parseExposedPort),
    ]);
  }
  if (o.env !== undefined) c.Env = mergeEnv(c.Env ?? [], o.env);
  if (o.entrypoint !== undefined) {
    c.Entrypoint = [...o.entrypoint];
    // Docker: a new entrypoint drops the inherited default arguments.
    if (o.cmd === undefined) delete c.Cmd;
  }
  if (o.cmd !== undefined) c.Cmd = [...o.cmd];
  if (o.volumes !== undefined && o.volumes.length > 0) {
    c.Volumes = keySet([...Object.keys(c.Volumes ?? {}), ...o.volumes]);
  }
  if (o.workdir !== undefined) c.WorkingDir = o.workdir;
  if (o.labels !== undefined) c.Labels = { ...(c.Labels ?? {}), ...o.labels };
  if (o.stopSignal !== undefined) c.StopSignal = o.stopSignal;

  // Go's field order; empty values dropped as omitempty does; keys the Go struct does not know
  // are dropped, as BuildKit's frontend reads the base config into that struct.
  const out: Record<string, unknown> = {};
  const empty = (v: unknown) =>
    v === undefined || v === null || v === "" || v === false ||
    (Array.isArray(v) && v.length === 0) ||
    (typeof v === "object" && v !== null && !Array.isArray(v) && Object.keys(v).length === 0);
  for (const k of CONTAINER_KEY_ORDER) {
    const v = c[k];
    if (empty(v)) continue;
    if (k === "Labels") out[k] = sortedRecord(v as Record<string, string>);
    else if (k === "ExposedPorts" || k === "Volumes") out[k] = keySet(Object.keys(v as object));
    else out[k] = v;
  }
  return out as ContainerConfig;
}

/** A history entry as Go's `ocispecs.History` writes it: its five fields in order, empty ones omitted. */
function historyEntry(h: HistoryEntry): HistoryEntry {
  const out: HistoryEntry = {};
  if (h.created !== undefined && h.created !== null) out.created = h.created;
  if (h.created_by) out.created_by = h.created_by;
  if (h.author) out.author = h.author;
  if (h.comment) out.comment = h.comment;
  if (h.empty_layer) out.empty_layer = true;
  return out;
}

/** The Dockerfile frontend's default `PATH` (`system.DefaultPathEnv` for Linux). */
export const DEFAULT_PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The comment BuildKit's exporter puts on history entries it makes up for layers without one. */
const EXPORTER_HISTORY_COMMENT = "buildkit.exporter.image.v0";

/**
 * A base's history with one non-empty entry per layer, as BuildKit's
 * `normalizeLayersAndHistory` makes it: entries beyond the layers become
 * `empty_layer` from the bottom; missing ones are added (after the base's own,
 * so each layer keeps its entry), `created_by: "pulled from <base>"`.
 */
function normalizeBaseHistory(
  history: readonly HistoryEntry[],
  layerCount: number,
  made: { created: string | undefined; name: string },
): HistoryEntry[] {
  const out: HistoryEntry[] = [];
  let layers = 0;
  for (const h of history) {
    const entry = historyEntry(h);
    if (!entry.empty_layer) {
      if (layers >= layerCount) entry.empty_layer = true;
      else layers++;
    }
    out.push(entry);
  }
  for (; layers < layerCount; layers++) {
    out.push(historyEntry({
      created: made.created,
      created_by: `pulled from ${made.name}`,
      comment: EXPORTER_HISTORY_COMMENT,
    }));
  }
  return out;
}

/** Go's `%q` of a string slice, as the Dockerfile frontend records `CMD` and `ENTRYPOINT`: `["a" "b"]`. */
function goQuotedList(items: readonly string[]): string {
  return `[${items.map((i) => JSON.stringify(i)).join(" ")}]`;
}

/** The history `created_by` of each metadata setting, worded as the Dockerfile frontend does. */
function metadataSteps(o: ConfigOverrides): string[] {
  const steps: string[] = [];
  if (o.user !== undefined) steps.push(`USER ${o.user}`);
  if (o.exposedPorts?.length) {
    steps.push(`EXPOSE [${o.exposedPorts.flatMap(parseExposedPort).join(" ")}]`);
  }
  if (o.env?.length) steps.push(`ENV ${o.env.join(" ")}`);
  if (o.entrypoint !== undefined) steps.push(`ENTRYPOINT ${goQuotedList(o.entrypoint)}`);
  if (o.cmd !== undefined) steps.push(`CMD ${goQuotedList(o.cmd)}`);
  if (o.volumes?.length) steps.push(`VOLUME [${o.volumes.join(" ")}]`);
  if (o.workdir !== undefined) steps.push(`WORKDIR ${o.workdir}`);
  if (o.labels && Object.keys(o.labels).length > 0) {
    steps.push(`LABEL ${Object.entries(o.labels).map(([k, v]) => `${k}=${v}`).join(" ")}`);
  }
  if (o.stopSignal !== undefined) steps.push(`STOPSIGNAL ${o.stopSignal}`);
  return steps;
}

/**
 * Builds the image config for one platform. The base's fields, history and
 * diffIDs are kept; `architecture`/`os`/`variant` come from `platform`.
 * With an `epoch`, `created` and every history time that is later or missing
 * become the epoch (BuildKit clamps base history the same way); without one,
 * `created` and new history times are `now`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildConfig } from "@ocistream/ocistream/image";
 * const c = buildConfig({ platform: { os: "linux", architecture: "arm64", variant: "v8" }, now: new Date(0) });
 * assertEquals(Object.keys(c), ["architecture", "config", "created", "os", "rootfs", "variant"]);
 * ```
 */
export function buildConfig(options: ConfigOptions): ImageConfig {
  const { base, platform, epoch } = options;
  if (epoch !== undefined && (!Number.isInteger(epoch) || epoch < 0)) {
    throw new RangeError(`Invalid epoch ${epoch}: use a non-negative whole number of seconds`);
  }
  const overrides = options.overrides ?? {};
  const layers = options.layers ?? [];
  for (const l of layers) {
    if (!DIGEST_RE.test(l.diffId)) {
      throw new TypeError(`Invalid diffID "${l.diffId}": use sha256: followed by 64 hex digits`);
    }
  }
  const nowText = epoch !== undefined
    ? formatRfc3339(epoch)
    : formatRfc3339(options.now ?? new Date());
  const clamp = (created: string | undefined): string | undefined => {
    if (epoch === undefined) return created;
    if (created === undefined) return nowText;
    return laterThan(created, epoch) === false ? created : nowText;
  };

  // The base's history is kept verbatim, as BuildKit keeps it under an epoch (it clamps only
  // what the build adds); a base with too few entries gets them filled in.
  const history: HistoryEntry[] = base
    ? normalizeBaseHistory(base.history ?? [], base.rootfs?.diff_ids?.length ?? 0, {
      created: clamp(base.created) ?? nowText,
      name: options.baseName ?? "the base image",
    })
    : [];
  for (const l of layers) {
    history.push(historyEntry({
      created: nowText,
      created_by: l.createdBy,
      author: options.author,
      comment: l.comment ?? options.historyComment,
    }));
  }
  if (options.recordMetadataHistory) {
    for (const step of metadataSteps(overrides)) {
      history.push(historyEntry({
        created: nowText,
        created_by: step,
        author: options.author,
        comment: options.historyComment,
        empty_layer: true,
      }));
    }
  }

  const all: Record<string, unknown> = { ...(base ?? {}) };
  all.architecture = platform.architecture;
  all.os = platform.os;
  if (platform.variant) all.variant = platform.variant;
  else delete all.variant;
  if (platform["os.version"]) all["os.version"] = platform["os.version"];
  if (platform["os.features"]?.length) all["os.features"] = platform["os.features"];
  // `created` is the build time (or epoch), even over a base's own.
  all.created = nowText;
  if (options.author) all.author = options.author;
  all.config = buildContainerConfig(frontendDefaults(base?.config, platform), overrides);
  all.rootfs = {
    type: "layers",
    diff_ids: [...(base?.rootfs?.diff_ids ?? []), ...layers.map((l) => l.diffId)],
  };
  if (history.length > 0) all.history = history;
  else delete all.history;

  // BuildKit's exporter re-encodes the config as a Go map (keys sorted); its frontend read the
  // base into the Go struct first, so keys the struct does not know are gone, empty ones omitted.
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(all).sort()) {
    const v = all[k];
    if (!IMAGE_CONFIG_KEYS.has(k) || v === undefined || v === null || v === "") continue;
    if (Array.isArray(v) && v.length === 0) continue;
    out[k] = v;
  }
  return out as ImageConfig;
}

/** The top-level fields of Go's image config struct (image-spec `v1.Image`). */
const IMAGE_CONFIG_KEYS = new Set([
  "created",
  "author",
  "architecture",
  "variant",
  "os",
  "os.version",
  "os.features",
  "config",
  "rootfs",
  "history",
]);

/**
 * Encodes a config (compact JSON, as BuildKit does) and describes it.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildConfig, encodeConfig } from "@ocistream/ocistream/image";
 * import { createSHA256 } from "hash-wasm";
 * const codecs = {
 *   sha256: async () => {
 *     const h = await createSHA256();
 *     return { update: (d: Uint8Array) => void h.update(d), digestHex: () => h.digest("hex") };
 *   },
 * };
 * const config = buildConfig({ platform: { os: "linux", architecture: "amd64" }, epoch: 0 });
 * const { descriptor } = await encodeConfig(config, true, codecs);
 * assertEquals(descriptor.mediaType, "application/vnd.oci.image.config.v1+json");
 * ```
 */
export async function encodeConfig(
  config: ImageConfig,
  oci: boolean,
  codecs: Pick<Codecs, "sha256">,
): Promise<{ bytes: Uint8Array; descriptor: Descriptor }> {
  const bytes = encodeJson(config);
  return {
    bytes,
    descriptor: {
      mediaType: configMediaType(oci),
      digest: await sha256Digest(bytes, codecs),
      size: bytes.byteLength,
    },
  };
}
