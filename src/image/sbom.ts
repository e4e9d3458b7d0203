/**
 * An SPDX 2.3 JSON SBOM listing the regular files an image contains (SPEC §7).
 * Deterministic: files sorted by path, identifiers numbered in that order,
 * the namespace derived from the content, `created` the epoch when given.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildSpdxSbom } from "@ocistream/ocistream/attest";
 * import { createSHA256 } from "hash-wasm";
 * const codecs = {
 *   sha256: async () => {
 *     const h = await createSHA256();
 *     return { update: (d: Uint8Array) => void h.update(d), digestHex: () => h.digest("hex") };
 *   },
 * };
 * const doc = await buildSpdxSbom({
 *   name: "example.com/app:1",
 *   files: [{ path: "hello", sha256: "a".repeat(64), size: 5 }],
 *   epoch: 0,
 *   codecs,
 * });
 * assertEquals([doc.spdxVersion, doc.files.length], ["SPDX-2.3", 1]);
 * ```
 * @module
 */
import { encodeJson } from "./canonical_json.ts";
import { formatRfc3339 } from "./config_builder.ts";
import { type Sha256Codecs, sha256Digest } from "./manifest_builder.ts";

/** The in-toto predicate type of an SPDX document. */
export const SPDX_PREDICATE_TYPE = "https://spdx.dev/Document";

/** A regular file of the image. */
export interface SbomFile {
  /** Path inside the image, without leading `/` (a leading `/` or `./` is accepted). */
  path: string;
  /** Lowercase hex SHA-256 of the content. */
  sha256: string;
  /** Size in bytes. */
  size: number;
  /** Lowercase hex SHA-1, if known (SPDX 2.3 validators want one per file). */
  sha1?: string;
  /** Digest of the layer that holds the file, recorded as BuildKit does (`layerID: ...`). */
  layerDigest?: string;
}

/** Options for {@link buildSpdxSbom}. */
export interface SpdxSbomOptions {
  /** The image's name (or any label for it); the package name. */
  name: string;
  /** The image's regular files (any order; sorted here). */
  files: readonly SbomFile[];
  /** `SOURCE_DATE_EPOCH` in seconds: the document's `created`. */
  epoch?: number;
  /** The time when there is no epoch; default now. */
  now?: Date;
  /** The tool string, default `ocistream`. */
  tool?: string;
  /** Hashing (for the namespace). */
  codecs: Sha256Codecs;
}

/** An SPDX 2.3 checksum. */
export interface SpdxChecksum {
  /** `SHA1` or `SHA256`. */
  algorithm: string;
  /** Hex value. */
  checksumValue: string;
}

/** An SPDX file entry. */
export interface SpdxFile {
  /** `/path`. */
  fileName: string;
  /** `SPDXRef-File-<n>`. */
  SPDXID: string;
  /** Checksums. */
  checksums: SpdxChecksum[];
  /** Always `NOASSERTION`. */
  licenseConcluded: string;
  /** Always `NOASSERTION`. */
  copyrightText: string;
  /** `layerID: <digest>` when known. */
  comment?: string;
}

/** The SPDX 2.3 document this module writes. */
export interface SpdxDocument {
  /** `SPDX-2.3`. */
  spdxVersion: string;
  /** `CC0-1.0`. */
  dataLicense: string;
  /** `SPDXRef-DOCUMENT`. */
  SPDXID: string;
  /** Document name. */
  name: string;
  /** Unique URI derived from the content. */
  documentNamespace: string;
  /** Creation info. */
  creationInfo: { creators: string[]; created: string };
  /** One package: the image. */
  packages: Record<string, unknown>[];
  /** The files. */
  files: SpdxFile[];
  /** DESCRIBES and CONTAINS relationships. */
  relationships: { spdxElementId: string; relatedSpdxElement: string; relationshipType: string }[];
}

const HEX64 = /^[a-f0-9]{64}$/;
const HEX40 = /^[a-f0-9]{40}$/;

function cleanPath(path: string): string {
  return path.replace(/^\.?\/+/, "").replace(/\/+$/, "");
}

/**
 * Builds the SPDX document. Throws a `TypeError` for a bad checksum or a path given twice.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildSpdxSbom } from "@ocistream/ocistream/attest";
 * import { createSHA256 } from "hash-wasm";
 * const codecs = {
 *   sha256: async () => {
 *     const h = await createSHA256();
 *     return { update: (d: Uint8Array) => void h.update(d), digestHex: () => h.digest("hex") };
 *   },
 * };
 * const doc = await buildSpdxSbom({ name: "app", files: [], epoch: 1700000000, codecs });
 * assertEquals(doc.creationInfo.created, "2023-11-14T22:13:20Z");
 * ```
 */
export async function buildSpdxSbom(options: SpdxSbomOptions): Promise<SpdxDocument> {
  const files = options.files.map((f) => ({ ...f, path: cleanPath(f.path) }));
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (let i = 0; i < files.length; i++) {
    const f = files[i]!;
    if (!HEX64.test(f.sha256)) {
      throw new TypeError(
        `Invalid SHA-256 "${f.sha256}" for ${f.path}: use 64 lowercase hex digits`,
      );
    }
    if (f.sha1 !== undefined && !HEX40.test(f.sha1)) {
      throw new TypeError(`Invalid SHA-1 "${f.sha1}" for ${f.path}: use 40 lowercase hex digits`);
    }
    if (i > 0 && files[i - 1]!.path === f.path) {
      throw new TypeError(`File ${f.path} is listed twice: pass each path once`);
    }
  }
  // SPDX wants whole seconds.
  const when = options.epoch !== undefined
    ? formatRfc3339(options.epoch)
    : formatRfc3339(Math.floor((options.now ?? new Date()).getTime() / 1000));

  const spdxFiles: SpdxFile[] = files.map((f, i) => {
    const checksums: SpdxChecksum[] = [];
    if (f.sha1 !== undefined) checksums.push({ algorithm: "SHA1", checksumValue: f.sha1 });
    checksums.push({ algorithm: "SHA256", checksumValue: f.sha256 });
    const entry: SpdxFile = {
      fileName: `/${f.path}`,
      SPDXID: `SPDXRef-File-${i + 1}`,
      checksums,
      licenseConcluded: "NOASSERTION",
      copyrightText: "NOASSERTION",
    };
    if (f.layerDigest !== undefined) entry.comment = `layerID: ${f.layerDigest}`;
    return entry;
  });
  const content = encodeJson({
    name: options.name,
    files: files.map((f) => [f.path, f.sha256, f.size]),
  });
  const namespaceHash = (await sha256Digest(content, options.codecs)).slice("sha256:".length);
  const packageId = "SPDXRef-Package-image";
  return {
    spdxVersion: "SPDX-2.3",
    dataLicense: "CC0-1.0",
    SPDXID: "SPDXRef-DOCUMENT",
    name: options.name,
    documentNamespace: `https://jsr.io/@ocistream/ocistream/spdx/${namespaceHash}`,
    creationInfo: { creators: [`Tool: ${options.tool ?? "ocistream"}`], created: when },
    packages: [{
      name: options.name,
      SPDXID: packageId,
      downloadLocation: "NOASSERTION",
      filesAnalyzed: false,
      licenseConcluded: "NOASSERTION",
      licenseDeclared: "NOASSERTION",
      copyrightText: "NOASSERTION",
      primaryPackagePurpose: "CONTAINER",
    }],
    files: spdxFiles,
    relationships: [
      {
        spdxElementId: "SPDXRef-DOCUMENT",
        relatedSpdxElement: packageId,
        relationshipType: "DESCRIBES",
      },
      ...spdxFiles.map((f) => ({
        spdxElementId: packageId,
        relatedSpdxElement: f.SPDXID,
        relationshipType: "CONTAINS",
      })),
    ],
  };
}
