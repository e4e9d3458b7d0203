/**
 * The worker behind `workerDecompress`: decompresses one gzip or zstd stream
 * with `nativeCodecs`, hashes what comes out (sha256) and posts it back.
 *
 * Messages in: `{ type: "start", algorithm }`, then `{ type: "data", chunk }`
 * (one per `want` it posted), `{ type: "end" }`, and `{ type: "credit", n }`
 * (how many more output chunks it may post). Out: `{ type: "want" }`,
 * `{ type: "data", chunk }` (transferred), then `{ type: "end", digest, size }`
 * or `{ type: "error", message }`. So at most one input chunk and the credited
 * output chunks are in flight: memory stays flat whatever the stream's size.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const worker = new Worker(new URL("./decompress_worker.ts", import.meta.url), {
 *   type: "module",
 * });
 * worker.postMessage({ type: "start", algorithm: "gzip" });
 * worker.postMessage({ type: "credit", n: 1 }); // it reads (and asks for input) only with credit
 * worker.postMessage({ type: "end" });
 * const reply = await new Promise<MessageEvent>((resolve) => worker.onmessage = resolve);
 * assertEquals(reply.data.type, "want");
 * worker.terminate();
 * ```
 * @module
 */
import { nativeCodecs } from "../native_codecs.ts";
import type { StreamCompression } from "../../types/codecs.ts";

/** A message to the worker. */
export type DecompressRequest =
  | { type: "start"; algorithm: StreamCompression }
  | { type: "data"; chunk: Uint8Array }
  | { type: "end" }
  | { type: "credit"; n: number };

/** A message from the worker. */
export type DecompressReply =
  | { type: "want" }
  | { type: "data"; chunk: Uint8Array }
  | { type: "end"; digest: string; size: number }
  | { type: "error"; message: string };

// Typed loosely: this file is checked with the window lib, not the worker lib.
const port = self as unknown as {
  onmessage: ((event: MessageEvent<DecompressRequest>) => void) | null;
  postMessage(message: DecompressReply, transfer?: Transferable[]): void;
};

let input: ReadableStreamDefaultController<Uint8Array> | undefined;
let credits = 0;
let wake: (() => void) | undefined;

port.onmessage = (event) => {
  const message = event.data;
  switch (message.type) {
    case "start":
      run(message.algorithm).catch((e) =>
        port.postMessage({ type: "error", message: e instanceof Error ? e.message : String(e) })
      );
      break;
    case "data":
      input?.enqueue(message.chunk);
      break;
    case "end":
      input?.close();
      break;
    case "credit":
      credits += message.n;
      wake?.();
      break;
  }
};

async function run(algorithm: StreamCompression): Promise<void> {
  // The input exists before anything is awaited: messages that follow `start` find it.
  const source = new ReadableStream<Uint8Array>({
    start: (controller) => void (input = controller),
    // One `want` per chunk taken: the sender posts a chunk only for a `want`.
    pull: () => port.postMessage({ type: "want" }),
  }, { highWaterMark: 1 });
  const reader = source.pipeThrough(nativeCodecs.decompress(algorithm)).getReader();
  const hasher = await nativeCodecs.sha256();
  let size = 0;
  for (;;) {
    while (credits === 0) await new Promise<void>((resolve) => wake = resolve);
    const { done, value } = await reader.read();
    if (done) break;
    if (value.byteLength === 0) continue;
    hasher.update(value);
    size += value.byteLength;
    // Transferred: zlib's output chunks are whole buffers of their own (a chunk sharing its
    // buffer, which later output might reuse, is copied first).
    const own = value.byteOffset === 0 && value.byteLength === value.buffer.byteLength &&
      value.buffer instanceof ArrayBuffer;
    const chunk = own ? value : value.slice();
    credits--;
    port.postMessage({ type: "data", chunk }, [chunk.buffer as ArrayBuffer]);
  }
  port.postMessage({ type: "end", digest: `sha256:${hasher.digestHex()}`, size });
}
