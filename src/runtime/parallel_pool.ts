/**
 * A shared pool of compression worker threads.
 *
 * Web `Worker`s, not `node:worker_threads`: in Deno 2.9 the latter took about
 * 900 ms to pass a 4 MiB buffer (web workers: under 1 ms). A live web worker
 * keeps the process running, so workers stop once the pool has been idle for
 * {@linkcode POOL_LINGER_MS} (an unref'd timer): they stay warm between
 * layers and the process can still exit on its own.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { webCodecs } from "@ocistream/ocistream/stages";
 * import { CompressPool } from "./parallel_pool.ts";
 * const pool = CompressPool.shared(2);
 * const frame = await pool.run({ algorithm: "zstd", level: 3, input: new Uint8Array(8), last: true });
 * const back = ReadableStream.from([frame]).pipeThrough(webCodecs.decompress("zstd"));
 * assertEquals(new Uint8Array(await new Response(back).arrayBuffer()), new Uint8Array(8));
 * await CompressPool.terminateAll();
 * ```
 * @module
 */
import type { CompressTask, MembersTask } from "./workers/_compress_block.ts";
import { deferred } from "../stages/_deferred.ts";

interface Job {
  resolve(output: Uint8Array, sizes?: number[]): void;
  reject(error: Error): void;
  recycle?: (input: Uint8Array) => void;
}

interface PoolWorker {
  thread: Worker;
  jobs: Map<number, Job>;
}

/** How long idle workers are kept before they are stopped. */
export const POOL_LINGER_MS = 200;

const WORKER_URL = new URL("./workers/compress_worker.ts", import.meta.url);

/**
 * Runs {@linkcode CompressTask}s on up to `size` worker threads, started on
 * first use and stopped after {@linkcode POOL_LINGER_MS} without jobs.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { CompressPool } from "./parallel_pool.ts";
 * const pool = CompressPool.shared(1);
 * const piece = await pool.run({ algorithm: "gzip", level: 6, input: new Uint8Array(8), last: true });
 * assert(piece.byteLength > 0); // a raw deflate piece, joined into one gzip member by the caller
 * await CompressPool.terminateAll();
 * ```
 */
export class CompressPool {
  static #pools = new Map<number, CompressPool>();

  /** The process-wide pool with `size` workers. */
  static shared(size: number): CompressPool {
    if (!Number.isInteger(size) || size < 1) {
      throw new RangeError(`Cannot make a pool of ${size} workers: use an integer of at least 1`);
    }
    let pool = CompressPool.#pools.get(size);
    if (!pool) {
      pool = new CompressPool(size);
      CompressPool.#pools.set(size, pool);
    }
    return pool;
  }

  /** Stops every worker of every shared pool; later jobs start new ones. */
  static async terminateAll(): Promise<void> {
    await Promise.all([...CompressPool.#pools.values()].map((pool) => pool.terminate()));
  }

  /** The most workers this pool runs. */
  readonly size: number;
  #workers: PoolWorker[] = [];
  #nextId = 0;
  #busy = 0;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;

  /** A pool of `size` workers; prefer {@linkcode CompressPool.shared}. */
  constructor(size: number) {
    this.size = size;
  }

  /**
   * Compresses one block on the least busy worker. `task.input`'s buffer is
   * transferred; when done it is handed to `recycle` for reuse.
   */
  run(task: CompressTask, recycle?: (input: Uint8Array) => void): Promise<Uint8Array> {
    const { promise, resolve, reject } = deferred<Uint8Array>();
    this.#post({ task }, task.input, { resolve, reject, recycle });
    return this.#settled(promise);
  }

  /**
   * Compresses several independent gzip members in one job (see `gzipMembers`
   * in `workers/_compress_block.ts`); `task.input` must start its buffer,
   * and the whole buffer (which may be longer) is transferred, then handed
   * to `recycle`. Resolves to the members back to back and their sizes.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { CompressPool } from "./parallel_pool.ts";
   * const pool = CompressPool.shared(1);
   * const { sizes } = await pool.runMembers({ level: 6, input: new Uint8Array(9), sizes: [4, 5] });
   * assertEquals(sizes.length, 2);
   * await CompressPool.terminateAll();
   * ```
   */
  runMembers(
    task: MembersTask,
    recycle?: (input: Uint8Array) => void,
  ): Promise<{ output: Uint8Array; sizes: number[] }> {
    const { promise, resolve, reject } = deferred<{ output: Uint8Array; sizes: number[] }>();
    this.#post({ members: task }, task.input, {
      resolve: (output, sizes) => resolve({ output, sizes: sizes ?? [] }),
      reject,
      recycle,
    }, true);
    return this.#settled(promise);
  }

  #settled<T>(promise: Promise<T>): Promise<T> {
    return promise.finally(() => {
      if (--this.#busy === 0) this.#scheduleStop();
    });
  }

  /**
   * Sends a job to the least busy worker, transferring `input`'s buffer when the view covers
   * it (or, with `wholeBuffer`, starts it).
   */
  #post(message: object, input: Uint8Array, job: Job, wholeBuffer = false): void {
    if (this.#workers.length < this.size) this.#spawn();
    let worker = this.#workers[0];
    for (const w of this.#workers) if (w.jobs.size < worker.jobs.size) worker = w;
    const id = this.#nextId++;
    worker.jobs.set(id, job);
    this.#busy++;
    if (this.#idleTimer !== undefined) {
      clearTimeout(this.#idleTimer);
      this.#idleTimer = undefined;
    }
    const transfer: ArrayBuffer[] = [];
    const buffer = input.buffer;
    if (
      buffer instanceof ArrayBuffer && input.byteOffset === 0 &&
      (wholeBuffer || input.byteLength === buffer.byteLength)
    ) transfer.push(buffer);
    worker.thread.postMessage({ id, ...message }, transfer);
  }

  /** Stops this pool's workers; their pending jobs fail. */
  terminate(): Promise<void> {
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    const workers = this.#workers;
    this.#workers = [];
    for (const w of workers) {
      this.#fail(w, new Error("Compression worker was terminated"));
      w.thread.terminate();
    }
    return Promise.resolve();
  }

  #scheduleStop(): void {
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer);
    const timer = setTimeout(() => {
      this.#idleTimer = undefined;
      if (this.#busy === 0) this.terminate();
    }, POOL_LINGER_MS);
    // The timer alone must not keep the process alive; the workers do until it fires.
    Deno.unrefTimer(timer as unknown as number);
    this.#idleTimer = timer;
  }

  #spawn(): void {
    const thread = new Worker(WORKER_URL, { type: "module" });
    const worker: PoolWorker = { thread, jobs: new Map() };
    thread.onmessage = (
      event: MessageEvent<
        { id: number; output?: Uint8Array; input?: Uint8Array; sizes?: number[]; error?: string }
      >,
    ) => {
      const message = event.data;
      const job = worker.jobs.get(message.id);
      if (!job) return;
      worker.jobs.delete(message.id);
      if (message.input) job.recycle?.(message.input);
      if (message.output) job.resolve(message.output, message.sizes);
      else job.reject(new Error(`Compression worker failed: ${message.error}`));
    };
    const crash = (what: string) => {
      this.#drop(worker);
      this.#fail(worker, new Error(`Compression worker crashed: ${what}`));
      thread.terminate();
    };
    thread.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      crash(event.message);
    };
    thread.onmessageerror = () => crash("a message could not be read");
    this.#workers.push(worker);
  }

  #drop(worker: PoolWorker): void {
    this.#workers = this.#workers.filter((w) => w !== worker);
  }

  #fail(worker: PoolWorker, error: Error): void {
    for (const job of worker.jobs.values()) job.reject(error);
    worker.jobs.clear();
  }
}
