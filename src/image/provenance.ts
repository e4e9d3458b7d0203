/**
 * An SLSA provenance v1 predicate describing how ocistream built an image (SPEC §7).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildProvenance } from "@ocistream/ocistream/attest";
 * const p = buildProvenance({ externalParameters: { platform: "linux/amd64" }, epoch: 0 });
 * assertEquals(p.runDetails.builder.id, "https://jsr.io/@ocistream/ocistream");
 * ```
 * @module
 */
import { formatRfc3339 } from "./config_builder.ts";

/** The in-toto predicate type of SLSA provenance v1. */
export const SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1";
/** The build type ocistream records. */
export const OCISTREAM_BUILD_TYPE = "https://jsr.io/@ocistream/ocistream/build/v1";
/** The builder id ocistream records. */
export const OCISTREAM_BUILDER_ID = "https://jsr.io/@ocistream/ocistream";

/** An input of the build, e.g. the base image. */
export interface ResolvedDependency {
  /** Where it came from: `pkg:docker/alpine@3?platform=linux%2Famd64`, `oci-layout://...`. */
  uri: string;
  /** `sha256:<hex>` of what was used (the base manifest). */
  digest: string;
  /** Optional name. */
  name?: string;
}

/** Options for {@link buildProvenance}. */
export interface ProvenanceOptions {
  /** The options the user gave (output spec, config settings, platform...). Keep secrets out. */
  externalParameters: Record<string, unknown>;
  /** Internal parameters (versions, runtime), if any. */
  internalParameters?: Record<string, unknown>;
  /** Base images and other inputs. */
  resolvedDependencies?: ResolvedDependency[];
  /** Builder id; default {@link OCISTREAM_BUILDER_ID}. */
  builderId?: string;
  /** Builder version, e.g. `{ ocistream: "0.1.0", deno: "2.9.6" }`. */
  builderVersion?: Record<string, string>;
  /** Build type; default {@link OCISTREAM_BUILD_TYPE}. */
  buildType?: string;
  /** A unique id of this run (dropped when `epoch` is set). */
  invocationId?: string;
  /** When the build started. */
  startedOn?: Date;
  /** When the build finished. */
  finishedOn?: Date;
  /**
   * `SOURCE_DATE_EPOCH`: the times become the epoch and `invocationId` is
   * dropped, so the attestation (and so the index digest) is reproducible.
   */
  epoch?: number;
}

/** The SLSA provenance v1 predicate. */
export interface ProvenancePredicate {
  /** What was built and from what. */
  buildDefinition: {
    buildType: string;
    externalParameters: Record<string, unknown>;
    internalParameters?: Record<string, unknown>;
    resolvedDependencies?: { uri: string; digest: Record<string, string>; name?: string }[];
  };
  /** Who built it and when. */
  runDetails: {
    builder: { id: string; version?: Record<string, string> };
    metadata?: { invocationId?: string; startedOn?: string; finishedOn?: string };
  };
}

/**
 * Builds the provenance predicate (wrap it with `buildStatement` and
 * {@link SLSA_PROVENANCE_V1}).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildProvenance } from "@ocistream/ocistream/attest";
 * const p = buildProvenance({
 *   externalParameters: { output: "type=image,name=app:1" },
 *   resolvedDependencies: [{ uri: "pkg:docker/alpine@3", digest: "sha256:" + "e".repeat(64) }],
 *   startedOn: new Date(0),
 *   finishedOn: new Date(2000),
 * });
 * assertEquals(p.runDetails.metadata, {
 *   startedOn: "1970-01-01T00:00:00Z",
 *   finishedOn: "1970-01-01T00:00:02Z",
 * });
 * ```
 */
export function buildProvenance(options: ProvenanceOptions): ProvenancePredicate {
  const buildDefinition: ProvenancePredicate["buildDefinition"] = {
    buildType: options.buildType ?? OCISTREAM_BUILD_TYPE,
    externalParameters: options.externalParameters,
  };
  if (options.internalParameters !== undefined) {
    buildDefinition.internalParameters = options.internalParameters;
  }
  if (options.resolvedDependencies?.length) {
    buildDefinition.resolvedDependencies = options.resolvedDependencies.map((d) => {
      const [algorithm, hex] = d.digest.split(":") as [string, string | undefined];
      if (!algorithm || !hex) {
        throw new TypeError(`Invalid digest "${d.digest}" for ${d.uri}: use sha256:<hex>`);
      }
      const out: { uri: string; digest: Record<string, string>; name?: string } = {
        uri: d.uri,
        digest: { [algorithm]: hex },
      };
      if (d.name !== undefined) out.name = d.name;
      return out;
    });
  }
  const builder: ProvenancePredicate["runDetails"]["builder"] = {
    id: options.builderId ?? OCISTREAM_BUILDER_ID,
  };
  if (options.builderVersion !== undefined) builder.version = options.builderVersion;
  const metadata: NonNullable<ProvenancePredicate["runDetails"]["metadata"]> = {};
  const { epoch } = options;
  if (epoch === undefined && options.invocationId !== undefined) {
    metadata.invocationId = options.invocationId;
  }
  const time = (d: Date | undefined) =>
    epoch !== undefined
      ? formatRfc3339(epoch)
      : d === undefined
      ? undefined
      : formatRfc3339(Math.floor(d.getTime() / 1000));
  const startedOn = time(options.startedOn);
  const finishedOn = time(options.finishedOn);
  if (startedOn !== undefined) metadata.startedOn = startedOn;
  if (finishedOn !== undefined) metadata.finishedOn = finishedOn;
  const runDetails: ProvenancePredicate["runDetails"] = { builder };
  if (Object.keys(metadata).length > 0) runDetails.metadata = metadata;
  return { buildDefinition, runDetails };
}
