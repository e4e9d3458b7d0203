/**
 * gzip or zstd decompression on a worker thread, so that the thread reading
 * the output (an unpack writing files with synchronous calls) never waits for
 * the decompressor and the decompressor never waits for it: they overlap, one
 * per core. The output's sha256 is computed on the worker too and declared on
 * the output stream (see `measuredDigest`), so a caller checking a diffID need
 * not hash the bytes again.
 *
 * Flow control is explicit: one input chunk in flight, and at most
 * {@link OUTPUT_WINDOW} output chunks (256 KiB each) decompressed ahead of the
 * reader, so memory stays flat whatever the stream's size or compression
 * ratio.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { workerDecompress } from "./worker_decompress.ts";
 * import { nativeCodecs } from "@ocistream/ocistream/deno";
 * import { measuredDigest } from "@ocistream/ocistream/stages";
 * const gz = new Blob(["hello"]).stream().pipeThrough(nativeCodecs.compress("gzip", 6));
 * const out = gz.pipeThrough(workerDecompress("gzip"));
 * const digest = measuredDigest(out);
 * assertEquals(await new Response(out).text(), "hello");
 * assertEquals((await digest!).size, 5);
 * ```
 * @module
 */
import type { StreamCompression } from "../types/codecs.ts";
import type { BlobId } from "../types/content.ts";
import { declareDigest } from "../stages/digest_stream.ts";
import { assertAlgorithm } from "../stages/_codec_levels.ts";
import type { DecompressReply, DecompressRequest } from "./workers/decompress_worker.ts";

const WORKER_URL = new URL("./workers/decompress_worker.ts", import.meta.url);

/** Output chunks the worker may decompress ahead of the reader. */
export const OUTPUT_WINDOW = 4;

/**
 * A decompressing stage whose work runs on its own worker thread (ended when
 * the stream ends, fails or is cancelled). Errors read like `nativeCodecs`'.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { webCodecs } from "@ocistream/ocistream/stages";
 * import { workerDecompress } from "./worker_decompress.ts";
 * const zst = new Blob(["hello"]).stream().pipeThrough(webCodecs.compress("zstd", 3));
 * assertEquals(await new Response(zst.pipeThrough(workerDecompress("zstd"))).text(), "hello");
 * await workerDecompress("zstd").writable.abort(); // ends its worker
 * ```
 */
export function workerDecompress(
  algorithm: StreamCompression,
): TransformStream<Uint8Array, Uint8Array> {
  assertAlgorithm(algorithm);
  const worker = new Worker(WORKER_URL, { type: "module" });
  const post = (message: DecompressRequest, transfer?: Transferable[]) =>
    worker.postMessage(message, transfer ?? []);
  const arrived: Uint8Array[] = [];
  let wants = 0;
  let ended = false;
  let failure: Error | undefined;
  // Wakes whichever side waits for a message.
  let wakeReader: (() => void) | undefined;
  let wakeWriter: (() => void) | undefined;
  const wakeAll = () => {
    wakeReader?.();
    wakeWriter?.();
  };
  let settle!: { resolve: (id: BlobId) => void; reject: (e: unknown) => void };
  const digest = new Promise<BlobId>((resolve, reject) => settle = { resolve, reject });
  digest.catch(() => {}); // reported through the streams

  const fail = (error: Error) => {
    if (failure || ended) return;
    failure = error;
    worker.terminate();
    settle.reject(error);
    wakeAll();
  };
  worker.onmessage = (event: MessageEvent<DecompressReply>) => {
    const message = event.data;
    switch (message.type) {
      case "want":
        wants++;
        wakeWriter?.();
        break;
      case "data":
        arrived.push(message.chunk);
        wakeReader?.();
        break;
      case "end":
        ended = true;
        worker.terminate();
        settle.resolve({ digest: message.digest, size: message.size });
        wakeAll();
        break;
      case "error":
        fail(new TypeError(message.message));
        break;
    }
  };
  worker.onerror = (event: ErrorEvent) => {
    event.preventDefault();
    fail(new Error(`Cannot decompress ${algorithm} data: the worker failed: ${event.message}`));
  };
  post({ type: "start", algorithm });
  post({ type: "credit", n: OUTPUT_WINDOW });

  const writable = new WritableStream<Uint8Array>({
    async write(chunk) {
      while (wants === 0 && !failure && !ended) {
        await new Promise<void>((resolve) => wakeWriter = resolve);
      }
      if (failure) throw failure;
      if (ended) return; // it finished early (trailing bytes after the end are its to judge)
      wants--;
      const copy = chunk.slice();
      post({ type: "data", chunk: copy }, [copy.buffer]);
    },
    close() {
      if (failure) throw failure;
      if (!ended) post({ type: "end" });
    },
    abort(reason) {
      fail(reason instanceof Error ? reason : new Error(String(reason)));
    },
  }, { highWaterMark: 1 });

  const readable = new ReadableStream<Uint8Array>({
    async pull(controller) {
      while (arrived.length === 0 && !ended && !failure) {
        await new Promise<void>((resolve) => wakeReader = resolve);
      }
      if (failure) throw failure;
      const chunk = arrived.shift();
      if (chunk) {
        controller.enqueue(chunk);
        if (!ended) post({ type: "credit", n: 1 });
      } else {
        controller.close();
      }
    },
    cancel(reason) {
      fail(reason instanceof Error ? reason : new Error(`cancelled: ${String(reason)}`));
    },
  }, { highWaterMark: 0 });
  declareDigest(readable, digest);
  return { readable, writable } as TransformStream<Uint8Array, Uint8Array>;
}
