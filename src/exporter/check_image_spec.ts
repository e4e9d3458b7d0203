/**
 * Run-time checks of what a caller passes to `exportImage`: JavaScript
 * callers (and TypeScript ones casting) get one clear error naming the field
 * instead of a silently wrong image: a string where a list belongs (`cmd:
 * "node server.js"` would be written letter by letter), a platform given as
 * `"linux/amd64"` (parsed here), an unknown or misspelt key (`workDir`).
 *
 * @example
 * ```ts
 * import { checkImageSpec } from "@ocistream/ocistream/image";
 * let message = "";
 * try {
 *   checkImageSpec({ platforms: [], config: { workDir: "/app" } } as never);
 * } catch (e) {
 *   message = (e as Error).message;
 * }
 * if (!message.includes('did you mean "workdir"')) throw new Error(message);
 * ```
 * @module
 */
import type { Platform } from "../types/descriptor.ts";
import { parsePlatform } from "../types/platform.ts";
import { nearest } from "../types/nearest.ts";
import { describeValue } from "./_describe.ts";
import type { ConfigOverrides } from "../image/config_builder.ts";
import type { ImageSpec, LayerInput, PlatformInput } from "./export_image.ts";

const SPEC_KEYS = ["platforms", "config", "annotations", "attest", "sourceDateEpoch", "cache"];
const PLATFORM_INPUT_KEYS = ["platform", "base", "layers"];
const LAYER_KEYS = ["entries", "source", "createdBy", "comment", "prioritizedFiles"];
const PLATFORM_KEYS = ["os", "architecture", "variant", "os.version", "os.features"];
const LIST_OPTIONS = ["entrypoint", "cmd", "env", "exposedPorts", "volumes"];
const TEXT_OPTIONS = ["workdir", "user", "stopSignal"];
const CONFIG_KEYS = [...LIST_OPTIONS, ...TEXT_OPTIONS, "labels"];

/**
 * Checks `spec` field by field and returns it with platforms given as strings parsed; throws
 * a `TypeError` naming the first wrong field (`platforms[0].layers[1].entries`).
 */
export function checkImageSpec(spec: ImageSpec): ImageSpec {
  const at = "ImageSpec";
  record(spec, at);
  knownKeys(spec, SPEC_KEYS, at);
  if (!Array.isArray(spec.platforms)) {
    throw new TypeError(
      `${at}.platforms is ${describeValue(spec.platforms)}: give a list of platforms`,
    );
  }
  if (spec.config !== undefined) checkConfigOverrides(spec.config, `${at}.config`);
  if (spec.sourceDateEpoch !== undefined) {
    wholeNumber(spec.sourceDateEpoch, `${at}.sourceDateEpoch`);
  }
  for (const key of ["annotations"] as const) {
    if (spec[key] !== undefined && !Array.isArray(spec[key])) {
      throw new TypeError(`${at}.${key} is ${describeValue(spec[key])}: give a list`);
    }
  }
  const platforms = spec.platforms.map((p, i) => checkPlatformInput(p, `${at}.platforms[${i}]`));
  return { ...spec, platforms };
}

/** Checks config overrides (entrypoint, cmd, env, ...) as {@linkcode checkImageSpec} does. */
export function checkConfigOverrides(config: ConfigOverrides, at = "config"): void {
  record(config, at);
  knownKeys(config, CONFIG_KEYS, at);
  const fields = config as Record<string, unknown>;
  for (const key of LIST_OPTIONS) {
    const value = fields[key];
    if (value === undefined) continue;
    if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
      const hint = typeof value === "string" && (key === "cmd" || key === "entrypoint")
        ? ` (a command is a list: ${JSON.stringify(value.split(/\s+/).filter(Boolean))})`
        : "";
      throw new TypeError(`${at}.${key} is ${describeValue(value)}: give a list of strings${hint}`);
    }
  }
  for (const key of TEXT_OPTIONS) {
    if (fields[key] !== undefined && typeof fields[key] !== "string") {
      throw new TypeError(`${at}.${key} is ${describeValue(fields[key])}: give a string`);
    }
  }
  if (fields.labels !== undefined) {
    record(fields.labels, `${at}.labels`);
    for (const [k, v] of Object.entries(fields.labels as object)) {
      if (typeof v !== "string") {
        throw new TypeError(`${at}.labels["${k}"] is ${describeValue(v)}: give a string`);
      }
    }
  }
}

function checkPlatformInput(input: PlatformInput, at: string): PlatformInput {
  record(input, at);
  knownKeys(input, PLATFORM_INPUT_KEYS, at);
  const platform = checkPlatform(input.platform as Platform | string, `${at}.platform`);
  if (!Array.isArray(input.layers)) {
    throw new TypeError(`${at}.layers is ${describeValue(input.layers)}: give a list of layers`);
  }
  input.layers.forEach((layer, i) => checkLayer(layer, `${at}.layers[${i}]`));
  if (input.base !== undefined) record(input.base, `${at}.base`);
  return { ...input, platform };
}

function checkPlatform(platform: Platform | string, at: string): Platform {
  if (typeof platform === "string") {
    try {
      return parsePlatform(platform);
    } catch (e) {
      throw new TypeError(`${at}: ${(e as Error).message}`);
    }
  }
  record(platform, at);
  knownKeys(platform, PLATFORM_KEYS, at);
  for (const key of ["os", "architecture"] as const) {
    if (typeof platform[key] !== "string" || platform[key] === "") {
      throw new TypeError(
        `${at}.${key} is ${
          describeValue(platform[key])
        }: give e.g. { os: "linux", architecture: "amd64" }`,
      );
    }
  }
  if (platform.variant !== undefined && typeof platform.variant !== "string") {
    throw new TypeError(`${at}.variant is ${describeValue(platform.variant)}: give a string`);
  }
  return platform;
}

function checkLayer(layer: LayerInput, at: string): void {
  record(layer, at);
  knownKeys(layer, LAYER_KEYS, at);
  if (typeof layer.entries !== "function") {
    throw new TypeError(
      `${at}.entries is ${describeValue(layer.entries)}: give a function returning a stream of ` +
        "tar entries, e.g. () => memoryEntries(files)",
    );
  }
  for (const key of ["source", "createdBy", "comment"] as const) {
    if (layer[key] !== undefined && typeof layer[key] !== "string") {
      throw new TypeError(`${at}.${key} is ${describeValue(layer[key])}: give a string`);
    }
  }
}

function record(value: unknown, at: string): void {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(`${at} is ${describeValue(value)}: give an object`);
  }
}

function knownKeys(value: object, known: readonly string[], at: string): void {
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    const near = nearest(key, known) ?? known.find((k) => k.toLowerCase() === key.toLowerCase());
    throw new TypeError(
      `Unknown field ${at}.${key}${near ? ` (did you mean "${near}"?)` : ""}: ` +
        `valid fields are ${known.join(", ")}`,
    );
  }
}

function wholeNumber(value: unknown, at: string): void {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new TypeError(
      `${at} is ${describeValue(value)}: give a whole number of seconds, 0 or more`,
    );
  }
}
