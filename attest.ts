/**
 * Attestations as BuildKit writes them: in-toto statements, SPDX SBOMs,
 * SLSA provenance, and the attestation manifests (Docker reference type or
 * OCI artifacts with `subject`) that point at their image.
 *
 * @example An SPDX SBOM
 * ```ts
 * import { buildSpdxSbom } from "@ocistream/ocistream/attest";
 * import { webCodecs } from "@ocistream/ocistream/stages";
 * const sbom = await buildSpdxSbom({ name: "example.com/app:1", files: [], epoch: 0, codecs: webCodecs });
 * if (sbom.spdxVersion !== "SPDX-2.3") throw new Error(sbom.spdxVersion);
 * ```
 *
 * @module
 */
export * from "./src/image/attestations.ts";
export * from "./src/image/sbom.ts";
export * from "./src/image/provenance.ts";
export * from "./src/exporter/attest.ts";
