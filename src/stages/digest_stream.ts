/**
 * A pass-through stage that computes a blob's sha256 digest and size.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { DigestStream, webCodecs } from "@ocistream/ocistream/stages";
 * const digest = new DigestStream(webCodecs);
 * await new Blob(["hello"]).stream().pipeThrough(digest).pipeTo(new WritableStream());
 * assertEquals(await digest.result, {
 *   digest: "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
 *   size: 5,
 * });
 * ```
 * @module
 */
import type { Codecs, Hasher } from "../types/codecs.ts";
import type { BlobId } from "../types/content.ts";
import { type CancellableTransformer, deferred } from "./_deferred.ts";

// The readable side of each DigestStream (and of pass-through stages marked with
// inheritDigest) → the digest of exactly the bytes it yields.
const measured = new WeakMap<ReadableStream<Uint8Array>, Promise<BlobId>>();

/**
 * The digest and size a {@link DigestStream} computes of the bytes `stream` yields, when
 * `stream` is such a stage's readable side (or {@link inheritDigest} marked it); `undefined`
 * otherwise. A sink that must verify a blob can then skip hashing it a second time.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { DigestStream, measuredDigest, webCodecs } from "@ocistream/ocistream/stages";
 * const body = new Blob(["hi"]).stream().pipeThrough(new DigestStream(webCodecs));
 * const digest = measuredDigest(body);
 * await body.pipeTo(new WritableStream());
 * assertEquals([(await digest!).size, measuredDigest(new Blob([]).stream())], [2, undefined]);
 * ```
 */
export function measuredDigest(stream: ReadableStream<Uint8Array>): Promise<BlobId> | undefined {
  return measured.get(stream);
}

/**
 * Marks `to` as yielding exactly the bytes of `from` (the output of a pass-through stage such
 * as `CountStream` piped from `from`), so {@link measuredDigest} of `to` is that of `from`.
 * Only for stages that never change, add or drop bytes.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { CountStream, DigestStream, inheritDigest, measuredDigest, webCodecs } from "@ocistream/ocistream/stages";
 * const hashed = new Blob(["hi"]).stream().pipeThrough(new DigestStream(webCodecs));
 * const counted = hashed.pipeThrough(new CountStream());
 * inheritDigest(hashed, counted);
 * assertEquals(measuredDigest(counted) === measuredDigest(hashed), true);
 * await counted.pipeTo(new WritableStream());
 * ```
 */
export function inheritDigest(
  from: ReadableStream<Uint8Array>,
  to: ReadableStream<Uint8Array>,
): void {
  const digest = measured.get(from);
  if (digest) measured.set(to, digest);
}

/**
 * Records that `stream` yields exactly the bytes `digest` describes, computed by the stage
 * that produced it (e.g. an eStargz writer hashing its own output), so {@link measuredDigest}
 * of `stream` is `digest` and a sink need not hash those bytes again. Only for a digest of
 * this very stream's bytes; `digest` must settle once the stream has ended.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { declareDigest, measuredDigest } from "@ocistream/ocistream/stages";
 * const body = new Blob(["hi"]).stream();
 * const digest = Promise.resolve({
 *   digest: "sha256:8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4",
 *   size: 2,
 * });
 * declareDigest(body, digest);
 * assertEquals(measuredDigest(body) === digest, true);
 * await body.cancel();
 * ```
 */
export function declareDigest(stream: ReadableStream<Uint8Array>, digest: Promise<BlobId>): void {
  // Marked handled: a reader that never asks for it gets no unhandled rejection.
  digest.catch(() => {});
  measured.set(stream, digest);
}

/**
 * Passes bytes through unchanged and resolves {@linkcode DigestStream.result}
 * with `{ digest: "sha256:<hex>", size }` once the input has ended.
 * `result` rejects when the stream is cancelled or aborted, or hashing fails.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { DigestStream, webCodecs } from "@ocistream/ocistream/stages";
 * const digest = new DigestStream(webCodecs);
 * const body = new Blob([new Uint8Array(1024)]).stream().pipeThrough(digest);
 * await body.pipeTo(new WritableStream());
 * const { digest: d, size } = await digest.result;
 * assertEquals(d, "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef");
 * assertEquals(size, 1024);
 * ```
 */
export class DigestStream extends TransformStream<Uint8Array, Uint8Array> {
  /** The digest and size of everything that passed through; settles when the stream ends. */
  readonly result: Promise<BlobId>;

  /** Hashes with `codecs.sha256()` (which may be async to create). */
  constructor(codecs: Codecs) {
    const { promise, resolve, reject } = deferred<BlobId>();
    // Marked handled so a caller that never reads `result` gets no unhandled rejection.
    promise.catch(() => {});
    let hasher: Hasher | undefined;
    let size = 0;
    const transformer: CancellableTransformer<Uint8Array, Uint8Array> = {
      async start() {
        try {
          hasher = await codecs.sha256();
        } catch (error) {
          reject(error);
          throw error;
        }
      },
      transform(chunk, controller) {
        hasher!.update(chunk);
        size += chunk.byteLength;
        controller.enqueue(chunk);
      },
      flush() {
        resolve({ digest: `sha256:${hasher!.digestHex()}`, size });
      },
      cancel(reason: unknown) {
        reject(reason ?? new Error("DigestStream was cancelled before its input ended"));
      },
    };
    super(transformer);
    this.result = promise;
    measured.set(this.readable, promise);
  }
}
