/**
 * The worker behind `CompressPool`: compresses blocks it is sent and posts
 * the bytes back (transferred, not copied).
 *
 * Messages in: `{ id, task: CompressTask }`; out: `{ id, output, input }`
 * (the input block comes back for reuse, so buffers are not churned) or
 * `{ id, error: string }`.
 *
 * @example
 * ```ts
 * const worker = new Worker(new URL("./compress_worker.ts", import.meta.url), {
 *   type: "module",
 * });
 * const task = { algorithm: "zstd", level: 3, input: new Uint8Array(4), last: true };
 * worker.postMessage({ id: 1, task });
 * const reply = await new Promise<MessageEvent>((resolve) => worker.onmessage = resolve);
 * console.log(reply.data.id); // 1
 * worker.terminate();
 * ```
 * @module
 */
import { compressBlock, type CompressTask } from "./_compress_block.ts";

// Typed loosely: this file is checked with the window lib, not the worker lib.
const port = self as unknown as {
  onmessage: ((event: MessageEvent<{ id: number; task: CompressTask }>) => void) | null;
  postMessage(message: unknown, transfer?: Transferable[]): void;
};

port.onmessage = (event) => {
  const message = event.data;
  try {
    let output = compressBlock(message.task);
    // Transfer needs a buffer of its own; zlib may hand back a view into a larger one.
    if (output.byteOffset !== 0 || output.byteLength !== output.buffer.byteLength) {
      output = output.slice();
    }
    const input = message.task.input;
    const transfer = [output.buffer as ArrayBuffer];
    if (input.byteOffset === 0 && input.byteLength === input.buffer.byteLength) {
      transfer.push(input.buffer as ArrayBuffer);
    }
    port.postMessage({ id: message.id, output, input }, transfer);
  } catch (error) {
    port.postMessage({ id: message.id, error: (error as Error)?.message ?? String(error) });
  }
};
