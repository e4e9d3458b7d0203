/**
 * Attestations for one platform (SPEC §7): an SPDX SBOM of the image's files
 * and an SLSA provenance predicate, each an in-toto statement about the
 * platform manifest, stored as an attestation manifest beside the image.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseOutputSpec } from "@ocistream/ocistream";
 * import { attestPlatform } from "@ocistream/ocistream/attest";
 * import { MemoryContent } from "@ocistream/ocistream/layout";
 * import { webCodecs } from "@ocistream/ocistream/stages";
 * const platform = { os: "linux", architecture: "amd64" };
 * const image = { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: `sha256:${"a".repeat(64)}`, size: 400 };
 * const built = { platform, descriptor: { ...image, platform }, config: image, layers: [] };
 * const sink = new MemoryContent(webCodecs);
 * const entry = await attestPlatform(built, { platform, layers: [] }, [], {
 *   options: { sbom: true },
 *   artifact: false,
 *   output: parseOutputSpec("type=image,name=example.com/app:1"),
 *   epoch: 0,
 *   codecs: webCodecs,
 *   startedOn: new Date(0),
 *   now: new Date(0),
 *   sink,
 *   memory: new MemoryContent(webCodecs),
 * });
 * // The index entry of the attestation manifest: platform unknown/unknown, pointing at the image.
 * assertEquals(entry.platform, { architecture: "unknown", os: "unknown" });
 * assertEquals(entry.annotations?.["vnd.docker.reference.digest"], image.digest);
 * ```
 * @module
 */
import type { Codecs } from "../types/codecs.ts";
import type { ContentSink } from "../types/content.ts";
import type { Descriptor } from "../types/descriptor.ts";
import {
  buildAttestationManifest,
  buildStatement,
  encodeStatement,
  imageSubjects,
  type StatementBlob,
} from "../image/attestations.ts";
import { buildSpdxSbom, type SbomFile, SPDX_PREDICATE_TYPE } from "../image/sbom.ts";
import { buildProvenance, SLSA_PROVENANCE_V1 } from "../image/provenance.ts";
import { formatPlatform } from "../types/platform.ts";
import type { MemoryContent } from "../sinks/memory_content.ts";
import { putBytes } from "../sinks/put_bytes.ts";
import type { OutputSpec } from "./output_spec.ts";
import type { ExportedManifest, PlatformInput } from "./export_image.ts";
import type { ConfigOverrides } from "../image/config_builder.ts";

/** Which attestations to attach. */
export interface AttestationOptions {
  /** An SPDX 2.3 SBOM of the image's files. */
  sbom?: boolean;
  /** An SLSA v1 provenance predicate. */
  provenance?: boolean;
}

/** What {@link attestPlatform} needs besides the image. */
export interface AttestContext {
  /** Which attestations. */
  options: AttestationOptions;
  /** `oci-artifact=true` form. */
  artifact: boolean;
  /** The output (for names and recorded options). */
  output: OutputSpec;
  /** The config settings the user gave. */
  config?: ConfigOverrides;
  /** The epoch, for reproducible statements. */
  epoch?: number;
  /** Hashing. */
  codecs: Codecs;
  /** When the export started. */
  startedOn: Date;
  /** The clock. */
  now: Date;
  /** Where the blobs go. */
  sink: ContentSink;
  /** Small documents kept for later outputs. */
  memory: MemoryContent;
}

/** Builds and stores the attestation manifest; returns its index entry. */
export async function attestPlatform(
  built: ExportedManifest,
  input: PlatformInput,
  files: SbomFile[],
  ctx: AttestContext,
): Promise<Descriptor> {
  const subjects = imageSubjects(ctx.output.names, built.descriptor.digest, input.platform);
  const statements: StatementBlob[] = [];
  if (ctx.options.sbom) {
    const sbom = await buildSpdxSbom({
      name: ctx.output.names[0] ?? built.descriptor.digest,
      files,
      epoch: ctx.epoch,
      now: ctx.now,
      codecs: ctx.codecs,
    });
    statements.push(
      await encodeStatement(
        buildStatement({ subjects, predicateType: SPDX_PREDICATE_TYPE, predicate: sbom }),
        ctx.codecs,
      ),
    );
  }
  if (ctx.options.provenance) {
    const o = ctx.output;
    const predicate = buildProvenance({
      externalParameters: {
        platform: formatPlatform(input.platform),
        output: {
          type: o.type,
          names: o.names,
          compression: o.compression,
          ...(o.compressionLevel !== undefined ? { "compression-level": o.compressionLevel } : {}),
          "force-compression": o.forceCompression,
          "rewrite-timestamp": o.rewriteTimestamp,
          "oci-artifact": o.ociArtifact,
          push: o.push,
        },
        ...(ctx.config ? { config: ctx.config } : {}),
        layers: input.layers.map((l) => l.createdBy ?? "layer"),
      },
      resolvedDependencies: input.base
        ? [{ uri: input.base.name, digest: input.base.descriptor.digest }]
        : [],
      builderVersion: { ocistream: "0.1.0" },
      invocationId: crypto.randomUUID(),
      startedOn: ctx.startedOn,
      finishedOn: ctx.now,
      epoch: ctx.epoch,
    });
    statements.push(
      await encodeStatement(
        buildStatement({ subjects, predicateType: SLSA_PROVENANCE_V1, predicate }),
        ctx.codecs,
      ),
    );
  }
  const attestation = await buildAttestationManifest({
    oci: true,
    artifact: ctx.artifact,
    imageManifest: built.descriptor,
    statements,
    codecs: ctx.codecs,
  });
  for (const blob of [attestation.config, ...attestation.layers]) {
    await ctx.memory.put(blob.bytes, blob.descriptor);
    await putBytes(ctx.sink, blob.bytes, blob.descriptor);
  }
  await ctx.memory.put(attestation.bytes, attestation.descriptor);
  await ctx.sink.putManifest(attestation.bytes, attestation.descriptor);
  return attestation.descriptor;
}
