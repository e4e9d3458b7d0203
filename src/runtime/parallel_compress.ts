/**
 * gzip and zstd compression that uses several cores, with output bytes that
 * do not depend on how many workers made them.
 *
 * @example
 * ```ts
 * import { assert, assertEquals } from "@std/assert";
 * import { parallelCompressStream } from "@ocistream/ocistream/deno";
 * const gz = await new Response(
 *   new Blob([new Uint8Array(3 << 20)]).stream()
 *     .pipeThrough(parallelCompressStream("gzip", 6, { workers: 2 })),
 * ).arrayBuffer();
 * assert(gz.byteLength < 10_000);
 * // One gzip member: any gzip reader gets the 3 MiB back.
 * const back = new Blob([gz]).stream().pipeThrough(new DecompressionStream("gzip"));
 * assertEquals((await new Response(back).arrayBuffer()).byteLength, 3 << 20);
 * ```
 * @module
 */
import { assertCompressionLevel } from "../stages/_codec_levels.ts";
import type { StreamCompression } from "../types/codecs.ts";
import { CompressPool } from "./parallel_pool.ts";
import type { CompressTask } from "./workers/_compress_block.ts";

type Zlib = typeof import("node:zlib");
type BlockModule = typeof import("./workers/_compress_block.ts");

/** Options for {@linkcode parallelCompressStream}. */
export interface ParallelCompressOptions {
  /**
   * Worker threads to compress on; 0 compresses in the calling thread. The
   * calling thread never compresses when there are workers (it has the walk,
   * the reads and the tar framing to do). Does not change the output. Default: `navigator.hardwareConcurrency` (at most 8).
   */
  workers?: number;
  /**
   * Input bytes per block, 64 KiB–64 MiB. Changes the output, so keep the
   * default (gzip 1 MiB, zstd 2 MiB) for reproducible digests.
   */
  blockSize?: number;
}

/** Default input bytes per block: the output format depends on it, so it never varies. */
export const PARALLEL_BLOCK_SIZE: Readonly<Record<StreamCompression, number>> = {
  gzip: 1024 * 1024,
  zstd: 2 * 1024 * 1024,
};

const WINDOW = 32 * 1024;
const MIN_BLOCK = 64 * 1024;
const MAX_BLOCK = 64 * 1024 * 1024;

/** The number of workers used when none is given: one per core, at most 8. */
export function defaultWorkerCount(): number {
  const cores = globalThis.navigator?.hardwareConcurrency ?? 1;
  return Math.max(1, Math.min(8, cores));
}

/**
 * Compresses in fixed-size input blocks spread over worker threads, written
 * back in order with at most 2 blocks per worker in flight (memory stays flat).
 *
 * - gzip: one gzip member (mtime 0, OS 3), as pigz writes it: each block is
 *   raw deflate primed with the previous 32 KiB and ends with a sync flush,
 *   the last with the final block; CRC-32 and size in one trailer.
 * - zstd: one independent frame (with checksum) per block; empty input gives
 *   one empty frame.
 *
 * Inputs of one block or less are compressed in the calling thread and start
 * no worker. Throws a RangeError for a level outside gzip 0–9 / zstd 0–22 or
 * a bad `workers`/`blockSize`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { webCodecs } from "@ocistream/ocistream/stages";
 * import { parallelCompressStream } from "@ocistream/ocistream/deno";
 * const zst = new Blob(["hello"]).stream().pipeThrough(parallelCompressStream("zstd", 3));
 * assertEquals(await new Response(zst.pipeThrough(webCodecs.decompress("zstd"))).text(), "hello");
 * ```
 */
export function parallelCompressStream(
  algorithm: StreamCompression,
  level: number,
  options: ParallelCompressOptions = {},
): TransformStream<Uint8Array, Uint8Array> {
  assertCompressionLevel(algorithm, level);
  const workers = options.workers ?? defaultWorkerCount();
  if (!Number.isInteger(workers) || workers < 0) {
    throw new RangeError(`Cannot compress with ${workers} workers: use an integer of at least 0`);
  }
  const blockSize = options.blockSize ?? PARALLEL_BLOCK_SIZE[algorithm];
  if (!Number.isInteger(blockSize) || blockSize < MIN_BLOCK || blockSize > MAX_BLOCK) {
    throw new RangeError(
      `Cannot compress in blocks of ${blockSize} bytes: use an integer from ${MIN_BLOCK} to ${MAX_BLOCK}`,
    );
  }
  return new TransformStream(new BlockCompressor(algorithm, level, workers, blockSize));
}

interface Pending {
  promise: Promise<Uint8Array>;
  output?: Uint8Array;
}

/** gzip header: no name, mtime 0, XFL as zlib sets it, OS 3 (Unix) like gzip and pigz. */
function gzipHeader(level: number): Uint8Array {
  const xfl = level === 9 ? 2 : level < 2 ? 4 : 0;
  return new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 3]);
}

class BlockCompressor implements Transformer<Uint8Array, Uint8Array> {
  #algorithm: StreamCompression;
  #level: number;
  #workers: number;
  #blockSize: number;
  #maxInFlight: number;
  #block: Uint8Array;
  #fill = 0;
  #blocks = 0;
  #crc = 0;
  #isize = 0;
  #tail: Uint8Array | undefined;
  #queue: Pending[] = [];
  #pool: CompressPool | undefined;
  #blockModule: BlockModule | undefined;
  #zlib: Zlib | undefined;
  #poolSize: number;
  #poolBusy = 0; // this stream's blocks on the pool
  #spare: Uint8Array[] = []; // input blocks back from workers, reused to avoid churn
  #recycle = (input: Uint8Array) => {
    if (input.byteLength === this.#blockSize && this.#spare.length < 2) this.#spare.push(input);
  };

  constructor(algorithm: StreamCompression, level: number, workers: number, blockSize: number) {
    this.#algorithm = algorithm;
    this.#level = level;
    this.#workers = workers;
    this.#blockSize = blockSize;
    // From 2 up the calling thread is one of the compressing threads, taking a block only when
    // this stream already has two per worker on the pool (so on trees of small files, where
    // the walk and the tar framing are the critical path, it hardly ever does). A worker less
    // is a V8 isolate and a malloc arena less: a worker per core keeps ~20 MiB more of output
    // buffers alive on a 1 GiB layer (measured: 210 against 170 MiB peak), which only this thread's
    // garbage collector frees.
    this.#poolSize = workers >= 2 ? workers - 1 : workers;
    // Blocks written back in order may wait behind a slower one: bound them, so memory stays
    // at a few blocks whatever the layer size.
    this.#maxInFlight = 2 * this.#poolSize + 2;
    this.#block = new Uint8Array(blockSize);
  }

  async start(controller: TransformStreamDefaultController<Uint8Array>): Promise<void> {
    // Imported when a stream starts: Node compatibility (node:zlib) costs start-up time that a
    // run compressing nothing (a push, a cached re-export) should not pay.
    [this.#blockModule, this.#zlib] = await Promise.all([
      import("./workers/_compress_block.ts"),
      import("node:zlib"),
    ]);
    if (this.#algorithm === "gzip") controller.enqueue(gzipHeader(this.#level));
  }

  async transform(
    chunk: Uint8Array,
    controller: TransformStreamDefaultController<Uint8Array>,
  ): Promise<void> {
    let offset = 0;
    while (offset < chunk.byteLength) {
      const n = Math.min(this.#blockSize - this.#fill, chunk.byteLength - offset);
      this.#block.set(chunk.subarray(offset, offset + n), this.#fill);
      this.#fill += n;
      offset += n;
      if (this.#fill === this.#blockSize) {
        const block = this.#block;
        // The full one is transferred to a worker.
        this.#block = this.#spare.pop() ?? new Uint8Array(this.#blockSize);
        this.#fill = 0;
        this.#dispatch(block, false);
        await this.#drain(controller, this.#maxInFlight - 1);
      }
    }
    await this.#drain(controller, this.#maxInFlight - 1);
  }

  async flush(controller: TransformStreamDefaultController<Uint8Array>): Promise<void> {
    if (this.#algorithm === "gzip" || this.#fill > 0 || this.#blocks === 0) {
      this.#dispatch(this.#block.slice(0, this.#fill), true);
    }
    this.#block = new Uint8Array(0);
    await this.#drain(controller, 0);
    if (this.#algorithm === "gzip") {
      const trailer = new Uint8Array(8);
      const view = new DataView(trailer.buffer);
      view.setUint32(0, this.#crc >>> 0, true);
      view.setUint32(4, this.#isize >>> 0, true);
      controller.enqueue(trailer);
    }
  }

  cancel(): void {
    this.#queue = []; // workers finish their blocks; the output is dropped
    this.#block = new Uint8Array(0);
    this.#spare = [];
  }

  #dispatch(input: Uint8Array, last: boolean): void {
    const task: CompressTask = { algorithm: this.#algorithm, level: this.#level, input, last };
    if (this.#algorithm === "gzip") {
      this.#crc = this.#zlib!.crc32(input, this.#crc);
      this.#isize = (this.#isize + input.byteLength) >>> 0;
      if (this.#tail) task.dictionary = this.#tail;
      // Blocks are at least 64 KiB, so only the last (which needs no tail) can be shorter.
      if (!last) this.#tail = input.slice(input.byteLength - WINDOW);
    }
    const first = this.#blocks++ === 0;
    const poolFull = this.#workers >= 2 && this.#poolBusy >= 2 * this.#poolSize;
    if (this.#workers > 0 && !(first && last) && !poolFull) {
      let promise: Promise<Uint8Array> | undefined;
      try {
        this.#pool ??= CompressPool.shared(this.#poolSize);
        promise = this.#pool.run(task, this.#recycle);
      } catch {
        // No workers here (e.g. a runtime without Worker): same bytes, one thread.
        this.#workers = 0;
      }
      if (promise) {
        const pending: Pending = { promise };
        this.#poolBusy++;
        promise.then((output) => pending.output = output, () => {}).finally(() => this.#poolBusy--);
        this.#queue.push(pending);
        return;
      }
    }
    // One block in all, no workers, or every worker busy: this thread compresses it.
    const output = this.#blockModule!.compressBlock(task);
    this.#queue.push({ promise: Promise.resolve(output), output });
    this.#recycle(input);
  }

  /** Writes finished blocks in order; waits until at most `keep` are in flight. */
  async #drain(
    controller: TransformStreamDefaultController<Uint8Array>,
    keep: number,
  ): Promise<void> {
    while (this.#queue.length > 0) {
      const head = this.#queue[0];
      const output = head.output ?? (this.#queue.length > keep ? await head.promise : undefined);
      if (!output) return;
      this.#queue.shift();
      if (output.byteLength > 0) controller.enqueue(output);
    }
  }
}
