/**
 * A pass-through stage that fails at the end of the stream when the bytes do
 * not match a descriptor's digest and size: reads from stores and registries
 * go through it so corrupt content is never used.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { VerifyDigestStream, webCodecs } from "@ocistream/ocistream/stages";
 * const bytes = new TextEncoder().encode("{}");
 * const checked = new Blob([bytes]).stream().pipeThrough(
 *   new VerifyDigestStream(webCodecs, {
 *     digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
 *     size: 2,
 *   }),
 * );
 * assertEquals(await new Response(checked).text(), "{}");
 * ```
 * @module
 */
import type { Codecs, Hasher } from "../types/codecs.ts";
import type { BlobId } from "../types/content.ts";

/**
 * Bytes that do not match the digest or size they were read for.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { DigestMismatchError } from "@ocistream/ocistream";
 * assertEquals(new DigestMismatchError("content digest is sha256:…").name, "DigestMismatchError");
 * ```
 */
export class DigestMismatchError extends Error {
  /** Makes the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DigestMismatchError";
  }
}

/** Passes bytes through and errors the stream (a {@link DigestMismatchError}) if they do not match `expected`. */
export class VerifyDigestStream extends TransformStream<Uint8Array, Uint8Array> {
  /**
   * Verifies against `expected` using `codecs.sha256()`; `label` (such as
   * "Cannot read blob … from host/repo") starts the error message.
   */
  constructor(codecs: Pick<Codecs, "sha256">, expected: BlobId, label?: string) {
    const prefix = label ? `${label}: ` : "";
    let hasher: Hasher;
    let size = 0;
    super({
      async start() {
        hasher = await codecs.sha256();
      },
      transform(chunk, controller) {
        size += chunk.byteLength;
        if (size > expected.size) {
          throw new DigestMismatchError(
            `${prefix}content of ${expected.digest} is longer than its declared ${expected.size} bytes`,
          );
        }
        hasher.update(chunk);
        controller.enqueue(chunk);
      },
      flush() {
        const digest = `sha256:${hasher.digestHex()}`;
        if (size !== expected.size || digest !== expected.digest) {
          throw new DigestMismatchError(
            `${prefix}content digest is ${digest} (${size} bytes), expected ${expected.digest} (${expected.size} bytes)`,
          );
        }
      },
    });
  }
}
