/**
 * The worker behind `CompressPool`: compresses blocks it is sent and posts
 * the bytes back (transferred, not copied).
 *
 * Messages in: `{ id, task: CompressTask }` or `{ id, members: MembersTask }`;
 * out: `{ id, output, input, sizes? }` (the input block comes back for reuse,
 * so buffers are not churned; `sizes` for members) or `{ id, error: string }`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const worker = new Worker(new URL("./compress_worker.ts", import.meta.url), {
 *   type: "module",
 * });
 * const task = { algorithm: "zstd", level: 3, input: new Uint8Array(4), last: true };
 * worker.postMessage({ id: 1, task });
 * const reply = await new Promise<MessageEvent>((resolve) => worker.onmessage = resolve);
 * assertEquals(reply.data.id, 1);
 * worker.terminate();
 * ```
 * @module
 */
import {
  compressBlock,
  type CompressTask,
  gzipMembers,
  type MembersTask,
} from "./_compress_block.ts";

// Typed loosely: this file is checked with the window lib, not the worker lib.
const port = self as unknown as {
  onmessage:
    | ((event: MessageEvent<{ id: number; task?: CompressTask; members?: MembersTask }>) => void)
    | null;
  postMessage(message: unknown, transfer?: Transferable[]): void;
};

port.onmessage = (event) => {
  const message = event.data;
  try {
    let output: Uint8Array;
    let sizes: number[] | undefined;
    let input: Uint8Array;
    if (message.members) {
      input = message.members.input;
      ({ output, sizes } = gzipMembers(message.members.level, input, message.members.sizes));
    } else {
      input = message.task!.input;
      output = compressBlock(message.task!);
    }
    // Both return arrays that own their whole buffer, so it can be transferred as is.
    // The input's buffer is this thread's (transferred or cloned in): send it back for reuse.
    const transfer = [output.buffer as ArrayBuffer];
    if (input.buffer instanceof ArrayBuffer) transfer.push(input.buffer);
    port.postMessage({ id: message.id, output, input, sizes }, transfer);
  } catch (error) {
    port.postMessage({ id: message.id, error: (error as Error)?.message ?? String(error) });
  }
};
