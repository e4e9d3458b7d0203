/**
 * Writes a small blob held in memory (a config, an attestation) into any
 * {@linkcode ContentSink}, saying how to read it again, so that a registry
 * upload that breaks off restarts instead of failing the export.
 *
 * @example
 * ```ts
 * import { putBytes } from "./put_bytes.ts";
 * import { MemoryContent } from "@ocistream/ocistream/layout";
 * import { edgeCodecs } from "@ocistream/ocistream/stages";
 * const sink = new MemoryContent(edgeCodecs);
 * const bytes = new TextEncoder().encode("{}");
 * const digest = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
 * await putBytes(sink, bytes, { digest, size: bytes.byteLength });
 * if (!(await sink.hasBlob(digest))) throw new Error("the blob was not written");
 * ```
 * @module
 */
import type { BlobId, ContentSink } from "../types/content.ts";

/** Writes `bytes` as the blob `id` into `sink`. */
export async function putBytes(sink: ContentSink, bytes: Uint8Array, id: BlobId): Promise<void> {
  const stream = () => new Blob([bytes as Uint8Array<ArrayBuffer>]).stream();
  await sink.putBlob(stream(), { digest: id.digest, size: id.size }, {
    remake: () => Promise.resolve({ body: stream(), expected: Promise.resolve(id) }),
  });
}
