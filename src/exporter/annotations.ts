/**
 * OCI annotations from `--output` keys (`annotation[-TYPE][[PLATFORM]].KEY=VALUE`)
 * and buildx's `--annotation "[TYPES:]KEY=VALUE"` flag, and where each one goes (SPEC §2).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parsePlatform } from "@ocistream/ocistream";
 * import { parseAnnotationKey, placeAnnotations } from "@ocistream/ocistream/image";
 * const spec = parseAnnotationKey("annotation.org.opencontainers.image.title", "hello")!;
 * const placed = placeAnnotations([spec], [parsePlatform("linux/amd64")], false);
 * assertEquals(placed.manifest.get("linux/amd64"), { "org.opencontainers.image.title": "hello" });
 * ```
 * @module
 */
import type { Platform } from "../types/descriptor.ts";
import { sortedRecord } from "../types/descriptor.ts";
import { formatPlatform, parsePlatform, samePlatform } from "../types/platform.ts";
import { quote } from "../types/quote.ts";

/** Where an annotation goes. */
export type AnnotationType = "manifest" | "index" | "manifest-descriptor" | "index-descriptor";

/** The annotation types, in the order error messages list them. */
export const ANNOTATION_TYPES: readonly AnnotationType[] = [
  "manifest",
  "index",
  "manifest-descriptor",
  "index-descriptor",
];

/** One parsed annotation. */
export interface AnnotationSpec {
  /** Where it goes. */
  type: AnnotationType;
  /** Limits a `manifest`/`manifest-descriptor` annotation to one platform. */
  platform?: Platform;
  /** The annotation key, e.g. `org.opencontainers.image.title`. */
  key: string;
  /** The value. */
  value: string;
  /** The text it came from, for error messages. */
  source: string;
}

// BuildKit's grammar: annotation, optional -type, optional [platform], dot, key without spaces.
const KEY_RE = /^annotation(?:-([a-z-]+))?(?:\[([A-Za-z0-9_/.-]+)\])?\.(\S+)$/;
const PREFIX_RE = /^annotation[-.\[]/;
// buildx's flag: comma-separated types, each with an optional [platform], then ':'.
const FLAG_TYPES_RE = /^[a-z-]+(?:\[[A-Za-z0-9_/.-]+\])?(?:,[a-z-]+(?:\[[A-Za-z0-9_/.-]+\])?)*$/;

function checkType(type: string, source: string): AnnotationType {
  if ((ANNOTATION_TYPES as readonly string[]).includes(type)) return type as AnnotationType;
  throw new TypeError(
    `Unknown annotation type ${quote(type)} in ${quote(source)}: valid types are ${
      ANNOTATION_TYPES.join(", ")
    }`,
  );
}

function makeSpec(
  type: AnnotationType,
  platformText: string | undefined,
  key: string,
  value: string,
  source: string,
): AnnotationSpec {
  const spec: AnnotationSpec = { type, key, value, source };
  if (platformText !== undefined && platformText !== "") {
    if (type === "index" || type === "index-descriptor") {
      throw new TypeError(
        `Annotation ${
          quote(source)
        } names platform ${platformText}, but ${type} annotations apply to the whole index: drop [${platformText}]`,
      );
    }
    spec.platform = parsePlatform(platformText);
  }
  return spec;
}

/**
 * Whether an output-spec key is an annotation key (`annotation.`, `annotation-`, `annotation[`).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { isAnnotationKey } from "@ocistream/ocistream/image";
 * assertEquals([isAnnotationKey("annotation-index.k"), isAnnotationKey("name")], [true, false]);
 * ```
 */
export function isAnnotationKey(key: string): boolean {
  return PREFIX_RE.test(key);
}

/**
 * Parses an output-spec annotation key and its value; `undefined` if `key`
 * is not an annotation key at all. Throws a `TypeError` for a malformed key,
 * an unknown type, a bad platform, or a platform on an index annotation.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseAnnotationKey } from "@ocistream/ocistream/image";
 * const a = parseAnnotationKey("annotation-manifest[linux/arm64].com.example.k", "v")!;
 * assertEquals(a.type, "manifest");
 * assertEquals(a.platform, { architecture: "arm64", os: "linux" });
 * assertEquals(a.key, "com.example.k");
 * ```
 */
export function parseAnnotationKey(key: string, value: string): AnnotationSpec | undefined {
  if (!isAnnotationKey(key)) return undefined;
  const source = `${key}=${value}`;
  const m = KEY_RE.exec(key);
  if (m === null) {
    throw new TypeError(
      `Cannot parse annotation key ${quote(key)}: use annotation[-TYPE][[PLATFORM]].KEY=VALUE, ` +
        `e.g. annotation.org.opencontainers.image.title=x or annotation-index.com.example.k=v`,
    );
  }
  const type = checkType(m[1] ?? "manifest", key);
  return makeSpec(type, m[2], m[3]!, value, source);
}

/**
 * Parses buildx's `--annotation` flag: `[TYPE[,TYPE...]:]KEY=VALUE`, each
 * TYPE optionally with `[PLATFORM]`, e.g. `index,manifest[linux/amd64]:k=v`.
 * Without types the annotation goes on the manifest. Returns one spec per type.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseAnnotationFlag } from "@ocistream/ocistream/image";
 * const specs = parseAnnotationFlag("index,manifest:org.opencontainers.image.title=x");
 * assertEquals(specs.map((s) => s.type), ["index", "manifest"]);
 * ```
 */
export function parseAnnotationFlag(text: string): AnnotationSpec[] {
  const eq = text.indexOf("=");
  if (eq < 0) {
    throw new TypeError(
      `Invalid annotation ${
        quote(text)
      }: use [TYPE[,TYPE...]:]KEY=VALUE, e.g. index,manifest:com.example.k=v`,
    );
  }
  const left = text.slice(0, eq);
  const value = text.slice(eq + 1);
  let typesText = "";
  let key = left;
  const colon = left.indexOf(":");
  if (colon >= 0 && FLAG_TYPES_RE.test(left.slice(0, colon))) {
    typesText = left.slice(0, colon);
    key = left.slice(colon + 1);
  }
  if (key === "" || /\s/.test(key)) {
    throw new TypeError(
      `Invalid annotation ${
        quote(text)
      }: the key must be non-empty and without spaces, e.g. manifest:com.example.k=v`,
    );
  }
  if (typesText === "") return [makeSpec("manifest", undefined, key, value, text)];
  return typesText.split(",").map((part) => {
    const m = /^([a-z-]+)(?:\[([^\]]+)\])?$/.exec(part)!;
    return makeSpec(checkType(m[1]!, text), m[2], key, value, text);
  });
}

/** Annotations sorted into the places they go, see {@link placeAnnotations}. */
export interface PlacedAnnotations {
  /** Image manifest annotations per exported platform (`formatPlatform` of the platform as given). */
  manifest: Map<string, Record<string, string>>;
  /** Index annotations. */
  index: Record<string, string>;
  /** Annotations on each platform manifest's descriptor in the index. */
  manifestDescriptor: Map<string, Record<string, string>>;
  /**
   * Annotations on the root descriptor (`index.json` of a layout or archive and
   * the returned descriptor; registries never store it). In a single-manifest
   * export the root is the manifest's descriptor: put `manifestDescriptor` there too.
   */
  indexDescriptor: Record<string, string>;
}

/**
 * Sorts annotations into manifests, index, and descriptors for the platforms
 * being exported. A platform-less annotation applies to every platform; a
 * platform-specific one wins over it. Later specs win over earlier ones.
 * Throws a `TypeError` when a platform is not being exported, or when index
 * annotations are given for a single-manifest export.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parsePlatform } from "@ocistream/ocistream";
 * import { parseAnnotationFlag, placeAnnotations } from "@ocistream/ocistream/image";
 * const platforms = ["linux/amd64", "linux/arm64"].map(parsePlatform);
 * const placed = placeAnnotations(parseAnnotationFlag("index:k=v"), platforms, true);
 * assertEquals(placed.index, { k: "v" });
 * ```
 */
export function placeAnnotations(
  specs: readonly AnnotationSpec[],
  platforms: readonly Platform[],
  multiManifest: boolean,
): PlacedAnnotations {
  const keys = platforms.map(formatPlatform);
  const general = {
    manifest: {} as Record<string, string>,
    descriptor: {} as Record<string, string>,
  };
  const specific = keys.map(() => ({
    manifest: {} as Record<string, string>,
    descriptor: {} as Record<string, string>,
  }));
  const index: Record<string, string> = {};
  const indexDescriptor: Record<string, string> = {};
  for (const spec of specs) {
    switch (spec.type) {
      case "index":
        if (!multiManifest) {
          throw new TypeError(
            `annotation-index needs a multi-platform or attested export (an index): ${
              quote(spec.source)
            } ` +
              `cannot apply to a single manifest; use annotation.${spec.key} for the manifest instead`,
          );
        }
        index[spec.key] = spec.value;
        break;
      case "index-descriptor":
        // BuildKit: "index annotations not supported for single platform export".
        if (!multiManifest) {
          throw new TypeError(
            `annotation-index-descriptor needs a multi-platform or attested export (an index): ${
              quote(spec.source)
            } cannot apply to a single manifest; use annotation-manifest-descriptor.${spec.key} instead`,
          );
        }
        indexDescriptor[spec.key] = spec.value;
        break;
      case "manifest":
      case "manifest-descriptor": {
        const field = spec.type === "manifest" ? "manifest" : "descriptor";
        if (spec.platform === undefined) {
          general[field][spec.key] = spec.value;
          break;
        }
        const at = platforms.findIndex((p) => samePlatform(p, spec.platform!));
        if (at < 0) {
          const exporting = keys.length > 0 ? keys.join(", ") : "no platforms";
          throw new TypeError(
            `Annotation ${quote(spec.source)} names platform ${formatPlatform(spec.platform)}, ` +
              `which is not being exported (exporting ${exporting}): fix the platform or drop it`,
          );
        }
        specific[at]![field][spec.key] = spec.value;
        break;
      }
    }
  }
  const manifest = new Map<string, Record<string, string>>();
  const manifestDescriptor = new Map<string, Record<string, string>>();
  keys.forEach((k, i) => {
    manifest.set(k, sortedRecord({ ...general.manifest, ...specific[i]!.manifest }));
    manifestDescriptor.set(k, sortedRecord({ ...general.descriptor, ...specific[i]!.descriptor }));
  });
  return {
    manifest,
    index: sortedRecord(index),
    manifestDescriptor,
    indexDescriptor: sortedRecord(indexDescriptor),
  };
}
