/**
 * Bounded reads of registry answers: a small document read whole but never
 * past a cap, and the head of an error answer for its message. A registry
 * that answers an endless body costs a few KiB, not all memory.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { readCapped, readErrorText } from "./read_capped.ts";
 * const bytes = await readCapped(new Response("{}").body, 1024);
 * assertEquals(bytes.byteLength, 2);
 * assertEquals(await readErrorText(new Response("x".repeat(100_000))).then((t) => t.length), 8192);
 * ```
 * @module
 */

/** The most of an error answer read for its message. */
export const MAX_ERROR_BODY = 8 * 1024;

/** How long an error answer is read for its message before the rest is dropped. */
export const ERROR_BODY_MS = 10_000;

/**
 * Reads a small body whole; more than `max` bytes throws a `RangeError`
 * ("it is larger than …") as soon as the cap is passed, without buffering the rest.
 */
export async function readCapped(
  body: ReadableStream<Uint8Array> | null,
  max: number,
): Promise<Uint8Array<ArrayBuffer>> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  if (body) {
    const reader = body.getReader();
    try {
      for (;;) {
        const r = await reader.read();
        if (r.done) break;
        total += r.value.byteLength;
        if (total > max) throw new RangeError(`is larger than ${formatSize(max)}`);
        chunks.push(r.value);
      }
    } catch (e) {
      reader.cancel().catch(() => {});
      throw e;
    } finally {
      reader.releaseLock();
    }
  }
  return join(chunks, total);
}

/**
 * Reads at most {@linkcode MAX_ERROR_BODY} bytes of an error answer (for its
 * message), for at most `ms`, and cancels the rest, so an endless or trickled
 * error body costs nothing.
 */
export async function readErrorText(res: Response, ms = ERROR_BODY_MS): Promise<string> {
  if (!res.body) return "";
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<{ done: true; value: undefined }>((resolve) => {
    timer = setTimeout(() => resolve({ done: true, value: undefined }), ms);
  });
  try {
    while (total < MAX_ERROR_BODY) {
      const r = await Promise.race([reader.read(), late]);
      if (r.done) break;
      const part = r.value.subarray(0, MAX_ERROR_BODY - total);
      chunks.push(part);
      total += part.byteLength;
    }
  } catch {
    // A broken error answer: keep what arrived.
  } finally {
    clearTimeout(timer);
    reader.cancel().catch(() => {});
  }
  return new TextDecoder().decode(join(chunks, total));
}

function join(chunks: Uint8Array[], total: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}

function formatSize(n: number): string {
  return n % (1024 * 1024) === 0 ? `${n / 1024 / 1024} MiB` : `${n} bytes`;
}
