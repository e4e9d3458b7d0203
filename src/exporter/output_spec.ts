/**
 * Parses an export's output spec, written exactly as buildx's `--output`
 * (SPEC §1): `type=image,name=a/b:1,push=true,compression=zstd`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseOutputSpec } from "@ocistream/ocistream";
 * const spec = parseOutputSpec('type=registry,"name=example.com/a:1,example.com/a:latest"');
 * assertEquals([spec.type, spec.push], ["registry", true]);
 * assertEquals(spec.names, ["example.com/a:1", "example.com/a:latest"]);
 * ```
 * @module
 */
import type { Compression } from "../types/media_types.ts";
import { parseReference } from "../types/reference.ts";
import { nearest } from "../types/nearest.ts";
import { type AnnotationSpec, isAnnotationKey, parseAnnotationKey } from "./annotations.ts";
import { splitCsvLine } from "./_csv.ts";

/** BuildKit's `compatibility-version` values ocistream implements (docs/build-repro.md). */
export type CompatibilityVersion = 20 | 30;

/** The exporters ocistream supports. */
export type OutputType = "image" | "registry" | "oci" | "docker";

/** The output types, in the order error messages list them. */
export const OUTPUT_TYPES: readonly OutputType[] = ["image", "registry", "oci", "docker"];

/** A parsed output spec with every default filled in. */
export interface OutputSpec {
  /** The exporter. */
  type: OutputType;
  /** Image names in the order given (validated references). */
  names: string[];
  /** Push after creating (`type=registry` always pushes). */
  push: boolean;
  /** Push manifests by digest only, no tags. */
  pushByDigest: boolean;
  /** `registry.insecure`: allow plain HTTP and unverified TLS for the named registries. */
  insecureRegistry: boolean;
  /** Also name the image `prefix@<digest>` (see {@link danglingNameEmptyOnly}). */
  danglingNamePrefix?: string;
  /** `danging-name-empty-only` (BuildKit's spelling): the dangling name only for unnamed images. */
  danglingNameEmptyOnly: boolean;
  /** Also store `name:tag@<digest>` for each name without a digest. */
  nameCanonical: boolean;
  /** Compression of new layers. */
  compression: Compression;
  /** Compression level; `undefined` means the algorithm's default (gzip/estargz 6, zstd 3). */
  compressionLevel?: number;
  /** Also re-compress base layers whose compression differs. */
  forceCompression: boolean;
  /** Clamp file timestamps in new layers to the epoch (a warning and no effect without one). */
  rewriteTimestamp: boolean;
  /**
   * BuildKit's `compatibility-version`: `20` (default, Docker media types unless a feature
   * needs OCI) or `30` (OCI media types and OCI-artifact attestations by default).
   */
  compatibilityVersion: CompatibilityVersion;
  /** OCI media types; `undefined` when not given (see `resolveOciMediaTypes`). */
  ociMediaTypes?: boolean;
  /** Attestations as OCI artifacts. */
  ociArtifact: boolean;
  /** Unpack the default platform's rootfs after creating. */
  unpack: boolean;
  /** Keep the image in the local store. */
  store: boolean;
  /** `annotation...` fields, parsed and in order (`source` keeps the field as typed); place them with `placeAnnotations`. */
  annotations: AnnotationSpec[];
  /** `source-date-epoch` in seconds, if given (the caller falls back to `SOURCE_DATE_EPOCH`). */
  sourceDateEpoch?: number;
  /** Archive destination for `oci`/`docker`: a path, or `-` for stdout. */
  dest?: string;
  /** `oci`/`docker`: write a tar (true) or, for `oci` only, a layout folder (false). */
  tar: boolean;
  /** Things worth telling the user that are not errors. */
  warnings: string[];
}

/** Keys that shape the image's layers and documents, for every type. */
const IMAGE_FORMAT_KEYS = [
  "compression",
  "compression-level",
  "force-compression",
  "rewrite-timestamp",
  "oci-mediatypes",
  "oci-artifact",
  "compatibility-version",
] as const;

/** Keys of `type=image` and `type=registry`. */
const IMAGE_KEYS = [
  "name",
  "push",
  "push-by-digest",
  "registry.insecure",
  "dangling-name-prefix",
  "danging-name-empty-only",
  "name-canonical",
  ...IMAGE_FORMAT_KEYS,
  "unpack",
  "store",
  "source-date-epoch",
] as const;

/** Keys of `type=oci` and `type=docker` (archives). */
const ARCHIVE_KEYS = [
  "name",
  "dest",
  "tar",
  "dangling-name-prefix",
  "danging-name-empty-only",
  "name-canonical",
  ...IMAGE_FORMAT_KEYS,
  "source-date-epoch",
] as const;

/** Every key an output spec may have, besides `annotation...` forms (SPEC §1, §2). */
export const VALID_OUTPUT_KEYS: readonly string[] = [
  "type",
  ...IMAGE_KEYS,
  "dest",
  "tar",
  "annotation.<key>",
  "annotation-<type>[<platform>].<key>",
];

const COMPRESSIONS: readonly Compression[] = ["uncompressed", "gzip", "estargz", "zstd"];
const MAX_LEVEL: Record<Compression, number> = { uncompressed: 0, gzip: 9, estargz: 9, zstd: 22 };
// 9999-12-31T23:59:59Z: the last second RFC 3339 can write.
const MAX_EPOCH = 253402300799;
const ZERO_DIGEST = `sha256:${"0".repeat(64)}`;

function keysFor(type: OutputType): readonly string[] {
  return type === "image" || type === "registry" ? IMAGE_KEYS : ARCHIVE_KEYS;
}

// Go's strconv.ParseBool, which BuildKit uses for every boolean key.
const TRUE_WORDS = new Set(["1", "t", "T", "TRUE", "true", "True"]);
const FALSE_WORDS = new Set(["0", "f", "F", "FALSE", "false", "False"]);

/** A boolean as BuildKit reads it: Go's `strconv.ParseBool`; a bare key or `key=` is true. */
function parseBool(key: string, value: string | undefined): boolean {
  if (value === undefined || value === "") return true;
  if (TRUE_WORDS.has(value)) return true;
  if (FALSE_WORDS.has(value)) return false;
  throw new TypeError(
    `Invalid value "${value}" for ${key} in the output: use ${key}=true or ${key}=false ` +
      "(also accepted: 1, t, T, TRUE, True, 0, f, F, FALSE, False)",
  );
}

function parseInteger(key: string, value: string, what: string): number {
  if (!/^-?[0-9]+$/.test(value)) {
    throw new TypeError(`Invalid value "${value}" for ${key} in the output: it must be ${what}`);
  }
  return Number(value);
}

/**
 * Parses an output spec (buildx `--output` syntax). Throws a `TypeError` or
 * `RangeError` with a one-line message for every mistake SPEC §1 lists,
 * before any work starts.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseOutputSpec } from "@ocistream/ocistream";
 * const spec = parseOutputSpec("type=oci,dest=out.tar,compression=zstd,compression-level=19");
 * assertEquals([spec.dest, spec.compression, spec.compressionLevel], ["out.tar", "zstd", 19]);
 * ```
 */
export function parseOutputSpec(text: string): OutputSpec {
  try {
    return parseSpec(text);
  } catch (e) {
    // Hostile input (fuzzing found these): messages echo the spec, which may hold line breaks or
    // control characters, and the CSV splitter throws SyntaxError. Keep one line, TypeError.
    if (!(e instanceof Error)) throw e;
    const message = oneLine(e.message);
    if (e instanceof RangeError) throw new RangeError(message, { cause: e.cause });
    throw new TypeError(message, { cause: e instanceof TypeError ? e.cause : e });
  }
}

/** Escapes control characters (line breaks included) so a message stays on one line. */
function oneLine(text: string): string {
  return text.replace(
    // deno-lint-ignore no-control-regex
    /[\u0000-\u001f\u007f\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

function parseSpec(text: string): OutputSpec {
  if (text.trim() === "") {
    throw new TypeError("Empty output spec: use e.g. type=image,name=example.com/app:1");
  }
  const fields = splitCsvLine(text);
  if (fields.length === 1 && !fields[0]!.includes("=")) {
    throw new TypeError(
      `Output "${text}" looks like a path (buildx's type=local shorthand), which ocistream does not support: ` +
        `write an image with type=oci,dest=${text},tar=false (a layout folder) or type=oci,dest=FILE.tar`,
    );
  }
  const values = new Map<string, string | undefined>();
  const annotations: AnnotationSpec[] = [];
  const warnings: string[] = [];
  for (const raw of fields) {
    const eq = raw.indexOf("=");
    const rawKey = (eq < 0 ? raw : raw.slice(0, eq)).trim();
    const value = eq < 0 ? undefined : raw.slice(eq + 1);
    if (rawKey === "") {
      if (raw.trim() === "") continue; // "type=image," has an empty last field, as buildx allows
      throw new TypeError(`Field "${raw}" in the output has no key: use key=value`);
    }
    if (isAnnotationKey(rawKey)) {
      if (value === undefined) {
        throw new TypeError(`Annotation "${rawKey}" in the output needs a value: ${rawKey}=VALUE`);
      }
      annotations.push(parseAnnotationKey(rawKey, value)!);
      continue;
    }
    const key = rawKey.toLowerCase();
    if (values.has(key)) {
      // A later value silently winning lets text spliced into a spec steer it (a name from
      // user input that carries ",name=other/repo"): refuse, as an injection would need it.
      throw new TypeError(
        `Output key "${key}" is given twice: give each key once` +
          (key === "name" ? ' (several names go in one quoted field: "name=a:1,b:1")' : ""),
      );
    }
    values.set(key, value);
  }

  const typeText = values.get("type");
  if (values.has("type") && typeText === undefined) {
    throw new TypeError('Output key "type" needs a value: type=image, registry, oci or docker');
  }
  if (typeText === undefined) {
    throw new TypeError(
      `Output "${text}" has no type: add type=image, type=registry, type=oci or type=docker`,
    );
  }
  const typeLower = typeText.trim().toLowerCase();
  if (!(OUTPUT_TYPES as readonly string[]).includes(typeLower)) {
    const why = typeLower === "local" || typeLower === "tar"
      ? `ocistream exports images only; use type=oci,dest=PATH,tar=false for a folder or type=oci,dest=FILE.tar`
      : `valid types are ${OUTPUT_TYPES.join(", ")}`;
    throw new TypeError(`Unknown output type "${typeText}" in the output: ${why}`);
  }
  const type = typeLower as OutputType;
  values.delete("type");
  const allowed = keysFor(type);
  for (const key of values.keys()) {
    if (allowed.includes(key)) continue;
    if ((VALID_OUTPUT_KEYS as readonly string[]).includes(key)) {
      const where = (IMAGE_KEYS as readonly string[]).includes(key)
        ? "type=image and type=registry"
        : "type=oci and type=docker";
      throw new TypeError(`Output key "${key}" does not apply to type=${type}: it is for ${where}`);
    }
    const near = nearest(key, allowed);
    throw new TypeError(
      `Unknown output key "${key}" in the output${near ? ` (did you mean "${near}"?)` : ""}: ` +
        `valid keys for type=${type} are ${allowed.join(", ")}, and annotation.<key> forms`,
    );
  }

  const bool = (key: string, fallback: boolean): boolean =>
    values.has(key) ? parseBool(key, values.get(key)) : fallback;
  const str = (key: string): string | undefined => {
    if (!values.has(key)) return undefined;
    const v = values.get(key);
    if (v === undefined || v === "") {
      throw new TypeError(`Output key "${key}" needs a value: ${key}=VALUE`);
    }
    return v;
  };

  const names: string[] = [];
  const nameText = values.has("name") ? str("name") ?? "" : "";
  for (const part of nameText.split(",")) {
    const name = part.trim();
    if (name === "") continue;
    parseReference(name); // throws `Invalid image name "...": why`
    names.push(name);
  }

  let push = bool("push", type === "registry");
  if (type === "registry" && !push) {
    throw new TypeError(
      "type=registry always pushes: use type=image,push=false to only store the image",
    );
  }
  push = push || type === "registry";
  const pushByDigest = bool("push-by-digest", false);
  const insecureRegistry = bool("registry.insecure", false);
  const nameCanonical = bool("name-canonical", false);
  const forceCompression = bool("force-compression", false);
  const rewriteTimestamp = bool("rewrite-timestamp", false);
  const ociMediaTypes = values.has("oci-mediatypes") ? bool("oci-mediatypes", false) : undefined;
  const compatibilityVersion = parseCompatibilityVersion(str("compatibility-version"));
  // BuildKit: under 30, attestations become OCI artifacts by default whenever OCI types are on.
  const ociArtifact = bool(
    "oci-artifact",
    compatibilityVersion === 30 && ociMediaTypes !== false,
  );
  const danglingNameEmptyOnly = bool("danging-name-empty-only", false);
  const unpack = bool("unpack", false);
  const store = bool("store", true);

  let compression: Compression = "gzip";
  const compressionText = str("compression");
  if (compressionText !== undefined) {
    // Case-sensitive, as BuildKit's compression.Parse.
    if (!(COMPRESSIONS as readonly string[]).includes(compressionText)) {
      const lower = compressionText.toLowerCase();
      const hint = (COMPRESSIONS as readonly string[]).includes(lower)
        ? ` (values are lowercase: compression=${lower})`
        : "";
      throw new TypeError(
        `Unknown compression "${compressionText}" in the output${hint}: use ${
          COMPRESSIONS.join(", ")
        }`,
      );
    }
    compression = compressionText as Compression;
  }
  let compressionLevel: number | undefined;
  const levelText = str("compression-level");
  if (levelText !== undefined) {
    const level = parseInteger("compression-level", levelText, "an integer");
    if (compression === "uncompressed") {
      warnings.push("compression-level has no effect with compression=uncompressed: ignored");
    } else {
      const max = MAX_LEVEL[compression];
      if (level < 0 || level > max) {
        throw new RangeError(
          `compression-level=${levelText} is out of range for compression=${compression}: use 0 to ${max}`,
        );
      }
      compressionLevel = level;
    }
  }

  let sourceDateEpoch: number | undefined;
  const epochText = str("source-date-epoch");
  if (epochText !== undefined) {
    sourceDateEpoch = parseInteger(
      "source-date-epoch",
      epochText.trim(),
      "a non-negative integer number of seconds since 1970-01-01 UTC",
    );
    if (sourceDateEpoch < 0 || sourceDateEpoch > MAX_EPOCH) {
      throw new RangeError(
        `source-date-epoch=${epochText} is out of range: use 0 to ${MAX_EPOCH} seconds since 1970-01-01 UTC`,
      );
    }
  }

  const danglingNamePrefix = str("dangling-name-prefix");
  if (danglingNamePrefix !== undefined) {
    try {
      parseReference(`${danglingNamePrefix}@${ZERO_DIGEST}`);
    } catch {
      throw new TypeError(
        `Invalid dangling-name-prefix "${danglingNamePrefix}": it must be a repository name such as example.com/app (no tag)`,
      );
    }
  }

  if (push && names.length === 0) {
    throw new TypeError(
      `push=true needs a name to push to: add name=REGISTRY/REPOSITORY[:TAG] to the output`,
    );
  }
  if (pushByDigest) {
    for (const name of names) {
      if (parseReference(name).tag !== undefined) {
        throw new TypeError(
          `push-by-digest=true pushes no tags, but name "${name}" has one: drop the tag from the name`,
        );
      }
    }
    if (!push) warnings.push("push-by-digest has no effect without push=true");
  }
  // BuildKit refuses the pair only where it would unpack: a name is given and the store is on.
  if (
    rewriteTimestamp && unpack && store && (names.length > 0 || danglingNamePrefix !== undefined)
  ) {
    throw new TypeError(
      "rewrite-timestamp=true conflicts with unpack=true (as in BuildKit): drop one of them",
    );
  }
  if (unpack && !store) {
    throw new TypeError("unpack=true needs store=true: the rootfs is unpacked from the store");
  }
  if (nameCanonical && names.length === 0) {
    warnings.push("name-canonical has no effect without a name");
  }

  let dest: string | undefined;
  let tar = true;
  if (type === "oci" || type === "docker") {
    dest = str("dest");
    tar = bool("tar", true);
    if (dest === undefined) {
      throw new TypeError(
        `type=${type} needs dest=PATH: a file for the archive, or dest=- for stdout`,
      );
    }
    if (!tar && type === "docker") {
      throw new TypeError(
        "tar=false is only for type=oci (a layout folder): type=docker always writes a tar",
      );
    }
    if (!tar && dest === "-") {
      throw new TypeError("tar=false writes a folder, which cannot go to stdout: use dest=FOLDER");
    }
  }

  const spec: OutputSpec = {
    type,
    names,
    push,
    pushByDigest,
    insecureRegistry,
    danglingNameEmptyOnly,
    nameCanonical,
    compression,
    forceCompression,
    rewriteTimestamp,
    compatibilityVersion,
    ociArtifact,
    unpack,
    store,
    annotations,
    tar,
    warnings,
  };
  if (danglingNamePrefix !== undefined) spec.danglingNamePrefix = danglingNamePrefix;
  if (compressionLevel !== undefined) spec.compressionLevel = compressionLevel;
  if (ociMediaTypes !== undefined) spec.ociMediaTypes = ociMediaTypes;
  if (sourceDateEpoch !== undefined) spec.sourceDateEpoch = sourceDateEpoch;
  if (dest !== undefined) spec.dest = dest;
  return spec;
}

/** `compatibility-version`: 20 (default) or 30; 10 is refused, anything else is an error. */
function parseCompatibilityVersion(text: string | undefined): CompatibilityVersion {
  if (text === undefined) return 20;
  const v = text.trim();
  if (v === "20" || v === "30") return Number(v) as CompatibilityVersion;
  if (v === "10") {
    throw new RangeError(
      "compatibility-version=10 (BuildKit v0.13/v0.14 output) is not supported by ocistream: " +
        "use compatibility-version=20 (the default) or 30",
    );
  }
  throw new RangeError(
    `Unknown compatibility-version "${text}" in the output: use 20 (the default) or 30`,
  );
}

// The annotation as the user typed it, without its value: `annotation-index.k`, `index:k`.
function annotationName(a: AnnotationSpec): string {
  const eq = a.source.indexOf("=");
  return eq < 0 ? a.source : a.source.slice(0, eq);
}

/** What {@link resolveOciMediaTypes} decided. */
export interface OciMediaTypesDecision {
  /** Use OCI media types. */
  oci: boolean;
  /** Lines for stderr: why OCI was switched on, or warnings about Docker zstd. */
  notes: string[];
}

/**
 * Decides between OCI and Docker media types (SPEC §1). estargz, `index`,
 * `index-descriptor` and `manifest-descriptor` annotations, `oci-artifact=true`
 * and attestations need OCI: when `oci-mediatypes` is unset they switch it on
 * (with a note); when it is `false` that is a `TypeError` naming both options.
 * Manifest annotations go into Docker-typed manifests too, as BuildKit writes
 * them. `type=oci` and `compatibility-version=30` default to OCI media types.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseOutputSpec } from "@ocistream/ocistream";
 * import { resolveOciMediaTypes } from "@ocistream/ocistream/image";
 * const spec = parseOutputSpec("type=image,compression=estargz");
 * assertEquals(resolveOciMediaTypes(spec, { hasAttestations: false }), {
 *   oci: true,
 *   notes: ["compression=estargz needs OCI media types: using oci-mediatypes=true"],
 * });
 * ```
 */
export function resolveOciMediaTypes(
  spec:
    & Pick<OutputSpec, "type" | "compression" | "ociMediaTypes" | "ociArtifact" | "annotations">
    & Partial<Pick<OutputSpec, "compatibilityVersion">>,
  context: { hasAttestations: boolean },
): OciMediaTypesDecision {
  const reasons: string[] = [];
  if (spec.compression === "estargz") reasons.push("compression=estargz");
  const needsOci = spec.annotations.find((a) => a.type !== "manifest");
  if (needsOci) reasons.push(annotationName(needsOci));
  if (spec.ociArtifact) reasons.push("oci-artifact=true");
  if (context.hasAttestations) reasons.push("attestations");
  const notes: string[] = [];
  if (spec.ociMediaTypes === false) {
    if (reasons.length > 0) {
      const plural = reasons[0] === "attestations";
      throw new TypeError(
        `${reasons[0]} ${plural ? "conflict" : "conflicts"} with oci-mediatypes=false: Docker ` +
          `media types cannot carry ${plural ? "them" : "it"}; remove oci-mediatypes=false or ` +
          reasons[0],
      );
    }
  }
  let oci = spec.ociMediaTypes ?? (spec.type === "oci" || spec.compatibilityVersion === 30);
  if (!oci && spec.ociMediaTypes === undefined && reasons.length > 0) {
    oci = true;
    const verb = reasons.length === 1 && reasons[0] !== "attestations" ? "needs" : "need";
    notes.push(`${reasons.join(" and ")} ${verb} OCI media types: using oci-mediatypes=true`);
  }
  if (!oci && spec.compression === "zstd") notes.push(dockerZstdWarning("new layers"));
  return { oci, notes };
}

/**
 * The warning printed whenever a zstd layer is written with Docker media types
 * (`application/vnd.docker.image.rootfs.diff.tar.zstd`), for new or base layers.
 *
 * @example
 * ```ts
 * import { assertMatch } from "@std/assert";
 * import { dockerZstdWarning } from "@ocistream/ocistream/image";
 * assertMatch(dockerZstdWarning("base layer sha256:ab…"), /^.*base layer sha256:ab….*zstd/);
 * ```
 */
export function dockerZstdWarning(what: string): string {
  return `${what}: zstd with Docker media types is written as application/vnd.docker.image.rootfs.diff.tar.zstd, ` +
    "which many clients reject (Docker before 23.0 cannot read zstd at all): add oci-mediatypes=true";
}
