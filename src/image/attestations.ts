/**
 * In-toto statements and the attestation manifests that carry them in an
 * image index (SPEC §7, BuildKit's attestation storage format).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildStatement } from "@ocistream/ocistream/attest";
 * const s = buildStatement({
 *   subjects: [{ name: "_", digest: "sha256:" + "a".repeat(64) }],
 *   predicateType: "https://slsa.dev/provenance/v1",
 *   predicate: {},
 * });
 * assertEquals(s._type, "https://in-toto.io/Statement/v1");
 * ```
 * @module
 */
import type { Descriptor } from "../types/descriptor.ts";
import { descriptor as canonicalDescriptor } from "../types/descriptor.ts";
import type { ImageConfig } from "../types/config.ts";
import type { ImageManifest } from "../types/manifest.ts";
import { ATTESTATION_ARTIFACT, configMediaType, IN_TOTO, OCI_EMPTY } from "../types/media_types.ts";
import { parseReference } from "../types/reference.ts";
import type { Platform } from "../types/descriptor.ts";
import { encodeJson } from "./canonical_json.ts";
import { buildManifest, type Sha256Codecs, sha256Digest } from "./manifest_builder.ts";

/** The in-toto Statement v1 type. */
export const IN_TOTO_STATEMENT_V1 = "https://in-toto.io/Statement/v1";
/** Layer annotation naming a statement's predicate type. */
export const PREDICATE_TYPE_ANNOTATION = "in-toto.io/predicate-type";
/** Index descriptor annotation: what kind of reference this manifest is. */
export const REFERENCE_TYPE_ANNOTATION = "vnd.docker.reference.type";
/** Index descriptor annotation: the image manifest an attestation manifest is for. */
export const REFERENCE_DIGEST_ANNOTATION = "vnd.docker.reference.digest";
/** Value of {@link REFERENCE_TYPE_ANNOTATION} for attestation manifests. */
export const ATTESTATION_MANIFEST_TYPE = "attestation-manifest";

/** The OCI empty descriptor (content `{}`), the config of artifact manifests. */
export const EMPTY_DESCRIPTOR: Readonly<Descriptor> = Object.freeze({
  mediaType: OCI_EMPTY,
  digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
  size: 2,
  // image-spec's DescriptorEmptyJSON carries its content, as BuildKit writes it.
  data: "e30=",
});
/** The bytes of {@link EMPTY_DESCRIPTOR}. */
export const EMPTY_BYTES: Uint8Array = new TextEncoder().encode("{}");

/** An in-toto subject. */
export interface StatementSubject {
  /** Name, e.g. a package URL of the image (`pkg:docker/...`), or `_`. */
  name: string;
  /** `sha256:<hex>` of the subject (the platform manifest). */
  digest: string;
}

/** An in-toto Statement v1 as written (keys in in-toto-golang's order). */
export interface Statement<P = unknown> {
  /** Always {@link IN_TOTO_STATEMENT_V1}. */
  _type: string;
  /** The predicate's type URI. */
  predicateType: string;
  /** What the statement is about. */
  subject: { name: string; digest: Record<string, string> }[];
  /** The predicate. */
  predicate: P;
}

/** A statement encoded as a layer blob. */
export interface StatementBlob {
  /** The JSON bytes. */
  bytes: Uint8Array;
  /** Its layer descriptor (`application/vnd.in-toto+json`, predicate-type annotation). */
  descriptor: Descriptor;
  /** The predicate type. */
  predicateType: string;
}

/**
 * Builds an in-toto Statement v1.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildStatement } from "@ocistream/ocistream/attest";
 * const s = buildStatement({
 *   subjects: [{ name: "pkg:docker/app@1?platform=linux%2Famd64", digest: "sha256:" + "b".repeat(64) }],
 *   predicateType: "https://spdx.dev/Document",
 *   predicate: { spdxVersion: "SPDX-2.3" },
 * });
 * assertEquals(s.subject[0]!.digest.sha256.length, 64);
 * ```
 */
export function buildStatement<P>(options: {
  subjects: StatementSubject[];
  predicateType: string;
  predicate: P;
}): Statement<P> {
  // Go's field order of in-toto-golang's StatementHeader, as BuildKit marshals it; an image
  // without a name has no subject (BuildKit writes `"subject":[]`).
  return {
    _type: IN_TOTO_STATEMENT_V1,
    predicateType: options.predicateType,
    subject: options.subjects.map((s) => {
      const [algorithm, hex] = s.digest.split(":") as [string, string | undefined];
      if (algorithm !== "sha256" || hex === undefined || !/^[a-f0-9]{64}$/.test(hex)) {
        throw new TypeError(`Invalid subject digest "${s.digest}": use sha256: and 64 hex digits`);
      }
      return { name: s.name, digest: { sha256: hex } };
    }),
    predicate: options.predicate,
  };
}

/**
 * The default subjects for a platform manifest: one package URL per image
 * name (`pkg:docker/<namespace>/<name>@<tag>?platform=<os>%2F<arch>`, as
 * BuildKit names them); none when the image has no name, as in BuildKit.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { imageSubjects } from "@ocistream/ocistream/attest";
 * const subjects = imageSubjects(["alpine:3"], "sha256:" + "c".repeat(64), { os: "linux", architecture: "amd64" });
 * assertEquals(subjects[0]!.name, "pkg:docker/alpine@3?platform=linux%2Famd64");
 * ```
 */
export function imageSubjects(
  names: readonly string[],
  manifestDigest: string,
  platform?: Platform,
): StatementSubject[] {
  return names.map((n) => ({ name: imagePurl(n, platform), digest: manifestDigest }));
}

/**
 * The package URL of an image name, with Docker Hub's familiar form
 * (`docker.io/library/alpine` → `alpine`) and `latest` as default tag.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { imagePurl } from "@ocistream/ocistream/attest";
 * assertEquals(imagePurl("example.com:5000/team/app:1"), "pkg:docker/example.com:5000/team/app@1");
 * ```
 */
export function imagePurl(name: string, platform?: Platform): string {
  const ref = parseReference(name);
  let path = `${ref.registry}/${ref.repository}`;
  if (ref.registry === "docker.io") {
    path = ref.repository.startsWith("library/") ? ref.repository.slice(8) : ref.repository;
  }
  const enc = (s: string) => encodeURIComponent(s).replace(/%3A/g, ":");
  let purl = `pkg:docker/${path.split("/").map(enc).join("/")}`;
  const qualifiers: string[] = [];
  if (ref.digest !== undefined) {
    qualifiers.push(`digest=${encodeURIComponent(ref.digest)}`);
    if (ref.tag !== undefined) purl += `@${enc(ref.tag)}`;
  } else {
    purl += `@${enc(ref.tag ?? "latest")}`;
  }
  if (platform !== undefined) {
    const p = platform.variant
      ? `${platform.os}/${platform.architecture}/${platform.variant}`
      : `${platform.os}/${platform.architecture}`;
    qualifiers.push(`platform=${encodeURIComponent(p)}`);
  }
  return qualifiers.length > 0 ? `${purl}?${qualifiers.sort().join("&")}` : purl;
}

/**
 * Encodes a statement as a layer blob (compact JSON, as BuildKit's `json.Marshal`).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildStatement, encodeStatement } from "@ocistream/ocistream/attest";
 * import { createSHA256 } from "hash-wasm";
 * const codecs = {
 *   sha256: async () => {
 *     const h = await createSHA256();
 *     return { update: (d: Uint8Array) => void h.update(d), digestHex: () => h.digest("hex") };
 *   },
 * };
 * const statement = buildStatement({
 *   subjects: [{ name: "_", digest: "sha256:" + "a".repeat(64) }],
 *   predicateType: "https://example.com/p",
 *   predicate: {},
 * });
 * const blob = await encodeStatement(statement, codecs);
 * assertEquals(blob.descriptor.mediaType, "application/vnd.in-toto+json");
 * ```
 */
export async function encodeStatement(
  statement: Statement,
  codecs: Sha256Codecs,
): Promise<StatementBlob> {
  const bytes = encodeJson(statement);
  return {
    bytes,
    predicateType: statement.predicateType,
    descriptor: {
      mediaType: IN_TOTO,
      digest: await sha256Digest(bytes, codecs),
      size: bytes.byteLength,
      annotations: { [PREDICATE_TYPE_ANNOTATION]: statement.predicateType },
    },
  };
}

/** Options for {@link buildAttestationManifest}. */
export interface AttestationManifestOptions {
  /** Attestations need OCI media types; must be true. */
  oci: true;
  /** `oci-artifact=true`: artifactType, subject, empty config. */
  artifact: boolean;
  /** The image manifest these statements are about. */
  imageManifest: Descriptor;
  /** The statement blobs (see {@link encodeStatement}); at least one. */
  statements: StatementBlob[];
  /** Hashing. */
  codecs: Sha256Codecs;
}

/** An attestation manifest and everything that must be stored with it. */
export interface AttestationManifest {
  /** The manifest. */
  manifest: ImageManifest;
  /** Its bytes. */
  bytes: Uint8Array;
  /** Its entry in the index: platform `unknown/unknown` and the `vnd.docker.reference.*` annotations. */
  descriptor: Descriptor;
  /** The config blob to store (the attestation image config, or the empty `{}`). */
  config: { bytes: Uint8Array; descriptor: Descriptor };
  /** The statement blobs to store, in layer order. */
  layers: StatementBlob[];
}

/**
 * Builds the attestation manifest for one platform manifest. With
 * `artifact: false` the config is an image config with `unknown`
 * architecture and OS whose `rootfs.diff_ids` are the statement digests; with
 * `artifact: true` it is an OCI artifact (`artifactType`
 * `application/vnd.docker.attestation.manifest.v1+json`, `subject` = the
 * image manifest, config = the empty descriptor).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildAttestationManifest, buildStatement, encodeStatement } from "@ocistream/ocistream/attest";
 * import { createSHA256 } from "hash-wasm";
 * const codecs = {
 *   sha256: async () => {
 *     const h = await createSHA256();
 *     return { update: (d: Uint8Array) => void h.update(d), digestHex: () => h.digest("hex") };
 *   },
 * };
 * const imageManifest = {
 *   mediaType: "application/vnd.oci.image.manifest.v1+json",
 *   digest: "sha256:" + "d".repeat(64),
 *   size: 500,
 * };
 * const blob = await encodeStatement(
 *   buildStatement({ subjects: [{ name: "_", digest: imageManifest.digest }], predicateType: "x", predicate: {} }),
 *   codecs,
 * );
 * const att = await buildAttestationManifest({ oci: true, artifact: true, imageManifest, statements: [blob], codecs });
 * assertEquals(att.descriptor.platform, { architecture: "unknown", os: "unknown" });
 * ```
 */
export async function buildAttestationManifest(
  options: AttestationManifestOptions,
): Promise<AttestationManifest> {
  if (options.oci !== true) {
    throw new TypeError("Attestations need OCI media types: use oci-mediatypes=true");
  }
  if (options.statements.length === 0) {
    throw new TypeError("An attestation manifest needs at least one statement");
  }
  const layerDescriptors = options.statements.map((s) => s.descriptor);
  let config: { bytes: Uint8Array; descriptor: Descriptor };
  if (options.artifact) {
    config = { bytes: EMPTY_BYTES, descriptor: { ...EMPTY_DESCRIPTOR } };
  } else {
    // BuildKit's attestation config: platform unknown/unknown, the statements as "layers".
    const image: ImageConfig = {
      architecture: "unknown",
      os: "unknown",
      config: {},
      rootfs: { type: "layers", diff_ids: layerDescriptors.map((d) => d.digest) },
    };
    const bytes = encodeJson(image);
    config = {
      bytes,
      descriptor: {
        mediaType: configMediaType(true),
        digest: await sha256Digest(bytes, options.codecs),
        size: bytes.byteLength,
      },
    };
  }
  const built = await buildManifest({
    oci: true,
    config: config.descriptor,
    layers: layerDescriptors,
    ...(options.artifact
      ? { artifactType: ATTESTATION_ARTIFACT, subject: options.imageManifest }
      : {}),
    descriptorAnnotations: {
      [REFERENCE_DIGEST_ANNOTATION]: options.imageManifest.digest,
      [REFERENCE_TYPE_ANNOTATION]: ATTESTATION_MANIFEST_TYPE,
    },
    platform: { architecture: "unknown", os: "unknown" },
    codecs: options.codecs,
  });
  // BuildKit's index entry for an attestation manifest has no artifactType.
  const { artifactType: _artifactType, ...entry } = built.descriptor;
  return {
    manifest: built.manifest,
    bytes: built.bytes,
    descriptor: canonicalDescriptor(entry),
    config,
    layers: options.statements,
  };
}
