/**
 * Reads small JSON documents (manifests, indexes, configs) from a content
 * source, verified and bounded in size so a hostile source cannot exhaust memory.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { readJson } from "@ocistream/ocistream/image";
 * const source = { fetch: () => Promise.resolve(new Blob(["{}"]).stream()) };
 * const value = await readJson(source, {
 *   mediaType: "application/vnd.oci.empty.v1+json",
 *   digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
 *   size: 2,
 * });
 * assertEquals(value, {});
 * ```
 * @module
 */
import type { ContentSource } from "../types/content.ts";
import type { Descriptor } from "../types/descriptor.ts";
import { DigestMismatchError } from "../stages/verify_digest_stream.ts";
import { webSha256Digest } from "./manifest_builder.ts";

/** Largest manifest or config we accept (the distribution registry's own limit is 4 MiB). */
export const MAX_DOCUMENT_SIZE = 4 * 1024 * 1024;

/** Reads the bytes of a small document; its size must be what the descriptor says. */
export async function readDocumentBytes(
  source: ContentSource,
  descriptor: Descriptor,
): Promise<Uint8Array> {
  if (descriptor.size > MAX_DOCUMENT_SIZE) {
    throw new RangeError(
      `Refusing ${descriptor.mediaType} ${descriptor.digest}: ${descriptor.size} bytes is over the ${MAX_DOCUMENT_SIZE}-byte limit for manifests and configs`,
    );
  }
  // Documents are small: checked whole through Web Crypto when there is one (no hasher to load).
  const checkWhole = globalThis.crypto?.subtle !== undefined;
  const reader = (await source.fetch(descriptor, checkWhole ? { verify: false } : undefined))
    .getReader();
  const out = new Uint8Array(descriptor.size);
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (n + value.byteLength > out.byteLength) {
      await reader.cancel();
      throw new RangeError(
        `Refusing ${descriptor.digest}: it is longer than the ${descriptor.size} bytes its descriptor says`,
      );
    }
    out.set(value, n);
    n += value.byteLength;
  }
  if (n !== descriptor.size) {
    throw new RangeError(
      `Refusing ${descriptor.digest}: got ${n} bytes, its descriptor says ${descriptor.size}`,
    );
  }
  const digest = checkWhole ? await webSha256Digest(out) : descriptor.digest;
  if (digest !== descriptor.digest) {
    throw new DigestMismatchError(
      `content digest is ${digest} (${n} bytes), expected ${descriptor.digest} (${descriptor.size} bytes)`,
    );
  }
  return out;
}

/** Reads and parses a small JSON document. */
export async function readJson<T = unknown>(
  source: ContentSource,
  descriptor: Descriptor,
): Promise<T> {
  const bytes = await readDocumentBytes(source, descriptor);
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as T;
  } catch (e) {
    throw new SyntaxError(
      `${descriptor.mediaType} ${descriptor.digest} is not valid JSON: ${(e as Error).message}`,
    );
  }
}
