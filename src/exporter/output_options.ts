/**
 * Outputs as typed objects: each key of the buildx `--output` spec in
 * camelCase (`push-by-digest` → `pushByDigest`, `registry.insecure` →
 * `registryInsecure`), checked at run time as strictly as a spec string, so
 * that a value taken from user input can never add keys of its own.
 *
 * @example
 * ```ts
 * import { outputSpec } from "@ocistream/ocistream";
 * const spec = outputSpec({ type: "registry", name: "example.com/app:1", compression: "zstd" });
 * if (!spec.push || spec.names[0] !== "example.com/app:1") throw new Error("unexpected spec");
 * // A value is a value: the comma does not start a new key.
 * let refused = false;
 * try {
 *   outputSpec({ type: "registry", name: "example.com/app:1,name=other/repo:pwned" });
 * } catch {
 *   refused = true;
 * }
 * if (!refused) throw new Error("a name with a comma and a key must be refused");
 * ```
 * @module
 */
import type { Compression } from "../types/media_types.ts";
import { nearest } from "../types/nearest.ts";
import { describeValue } from "./_describe.ts";
import {
  type OutputSpec,
  type OutputType,
  parseOutputSpec,
  VALID_OUTPUT_KEYS,
} from "./output_spec.ts";

/**
 * An output as an object. Each field is the spec key of the same name in camelCase; see the
 * README's exporter options for what each does.
 */
export interface OutputOptions {
  /** The exporter: `image` (the store), `registry` (push), `oci` or `docker` (archives). */
  type: OutputType;
  /** Image names, in order: one or a list. */
  name?: string | readonly string[];
  /** Push after creating (`type=registry` always pushes). */
  push?: boolean;
  /** Push manifests by digest only, no tags. */
  pushByDigest?: boolean;
  /** Allow plain HTTP and unverified TLS for the named registries (`registry.insecure`). */
  registryInsecure?: boolean;
  /** Name an unnamed image `prefix@<digest>`. */
  danglingNamePrefix?: string;
  /** Only with `danglingNamePrefix`: name the image that way only when it has no name (BuildKit's spelling). */
  dangingNameEmptyOnly?: boolean;
  /** Also store `name@<digest>`. */
  nameCanonical?: boolean;
  /** BuildKit's `compatibility-version`: 20 (default) or 30 (OCI media types by default). */
  compatibilityVersion?: number;
  /** Compression of new layers. */
  compression?: Compression;
  /** Compression level (gzip/estargz 0–9, zstd 0–22). */
  compressionLevel?: number;
  /** Also re-compress base layers whose compression differs. */
  forceCompression?: boolean;
  /** Clamp file times in new layers to the epoch. */
  rewriteTimestamp?: boolean;
  /** OCI media types instead of Docker schema2 (`oci-mediatypes`). */
  ociMediatypes?: boolean;
  /** Attestations as OCI artifacts. */
  ociArtifact?: boolean;
  /** Unpack the host's platform into the store. */
  unpack?: boolean;
  /** Keep the image in the local store (`false`: stream straight to the registry). */
  store?: boolean;
  /** The epoch, in seconds. */
  sourceDateEpoch?: number;
  /** Archives: a path, or `-` for stdout. */
  dest?: string;
  /** Archives: a tar (default) or, for `oci`, a layout folder (`false`). */
  tar?: boolean;
  /**
   * Annotations: `{ "org.opencontainers.image.title": "app" }` for `annotation.KEY`, or keys
   * written as in a spec (`"annotation-index.KEY"`, `"annotation-manifest[linux/amd64].KEY"`).
   */
  annotations?: Readonly<Record<string, string>>;
}

/** `push-by-digest` → `pushByDigest`; `registry.insecure` → `registryInsecure`. */
function camelCase(key: string): string {
  return key.replace(/[-.]([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** Option name → spec key, for every plain key (not `type`, not annotations). */
function specKeys(): Map<string, string> {
  const keys = new Map<string, string>();
  for (const key of VALID_OUTPUT_KEYS) {
    if (key === "type" || key.startsWith("annotation")) continue;
    keys.set(camelCase(key), key);
  }
  return keys;
}

/** A spec field `key=value`, quoted when the value holds a comma, a quote or edge spaces. */
function field(key: string, value: string): string {
  const text = `${key}=${value}`;
  return /[",\r\n]|^\s|\s$/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/**
 * Checks an {@linkcode OutputOptions} object and turns it into the {@linkcode OutputSpec} a
 * spec string gives; a string is parsed as buildx's `--output`; an `OutputSpec` is returned
 * as it is. Throws a `TypeError` or `RangeError` naming the option for anything wrong.
 */
export function outputSpec(output: string | OutputOptions | OutputSpec): OutputSpec {
  if (typeof output === "string") return parseOutputSpec(output);
  if (typeof output !== "object" || output === null || Array.isArray(output)) {
    throw new TypeError(
      `Invalid output ${describeValue(output)}: give a spec string or an object such as ` +
        `{ type: "registry", name: "example.com/app:1" }`,
    );
  }
  if (isOutputSpec(output)) return output;
  const keys = specKeys();
  const fields: string[] = [];
  if (typeof output.type !== "string") {
    throw new TypeError(
      `Output option type is ${
        describeValue(output.type)
      }: use "image", "registry", "oci" or "docker"`,
    );
  }
  fields.push(field("type", output.type));
  for (const [option, value] of Object.entries(output as unknown as Record<string, unknown>)) {
    if (option === "type" || value === undefined) continue;
    if (option === "annotations") {
      fields.push(...annotationFields(value));
      continue;
    }
    const key = keys.get(option);
    if (key === undefined) {
      const near = nearest(option, [...keys.keys(), "annotations"]);
      throw new TypeError(
        `Unknown output option "${option}"${near ? ` (did you mean "${near}"?)` : ""}: ` +
          `valid options are type, ${[...keys.keys()].join(", ")}, annotations`,
      );
    }
    fields.push(field(key, optionText(option, value)));
  }
  return parseOutputSpec(fields.join(","));
}

const NUMBER_OPTIONS = new Set(["compressionLevel", "sourceDateEpoch", "compatibilityVersion"]);
const STRING_OPTIONS = new Set(["danglingNamePrefix", "dest", "compression"]);

/** The spec text of one option's value, after checking its type. */
function optionText(option: string, value: unknown): string {
  if (option === "name") {
    const names = typeof value === "string" ? [value] : value;
    if (!Array.isArray(names) || !names.every((n) => typeof n === "string")) {
      throw new TypeError(
        `Output option name is ${describeValue(value)}: give a string or strings`,
      );
    }
    for (const n of names) {
      // A name is one reference: a comma would read as a second one.
      if (n.includes(",")) {
        throw new TypeError(
          `Output option name ${describeValue(n)} holds a comma: give several names as a list`,
        );
      }
    }
    return names.join(",");
  }
  if (NUMBER_OPTIONS.has(option)) {
    if (typeof value !== "number" || !Number.isInteger(value)) {
      throw new TypeError(
        `Output option ${option} is ${describeValue(value)}: give a whole number`,
      );
    }
    return String(value);
  }
  if (STRING_OPTIONS.has(option)) {
    if (typeof value !== "string") {
      throw new TypeError(`Output option ${option} is ${describeValue(value)}: give a string`);
    }
    return value;
  }
  if (typeof value !== "boolean") {
    throw new TypeError(`Output option ${option} is ${describeValue(value)}: give true or false`);
  }
  return String(value);
}

function annotationFields(value: unknown): string[] {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(
      `Output option annotations is ${describeValue(value)}: give an object of strings`,
    );
  }
  return Object.entries(value).map(([key, text]) => {
    if (typeof text !== "string") {
      throw new TypeError(`Annotation "${key}" is ${describeValue(text)}: give a string`);
    }
    return field(key.startsWith("annotation") ? key : `annotation.${key}`, text);
  });
}

function isOutputSpec(value: object): value is OutputSpec {
  const v = value as Partial<OutputSpec>;
  return Array.isArray(v.names) && Array.isArray(v.warnings) && Array.isArray(v.annotations);
}
