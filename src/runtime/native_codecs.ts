/**
 * Native hashing and (de)compression for Deno (and Node): `node:crypto`
 * sha256, `node:zlib` gzip and zstd, compression spread over worker threads.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { nativeCodecs } from "@ocistream/ocistream/deno";
 * const zst = new Blob(["hello"]).stream().pipeThrough(nativeCodecs.compress("zstd", 3));
 * const back = zst.pipeThrough(nativeCodecs.decompress("zstd"));
 * assertEquals(await new Response(back).text(), "hello");
 * ```
 * @module
 */
import type { Transform } from "node:stream";
import { assertAlgorithm, assertCompressionLevel } from "../stages/_codec_levels.ts";
import { ZstdFrameScanner } from "../stages/_zstd_frames.ts";
import type { Codecs, Hasher, StreamCompression } from "../types/codecs.ts";
import { defaultWorkerCount, parallelCompressStream } from "./parallel_compress.ts";
import { CompressPool } from "./parallel_pool.ts";

type Crypto = typeof import("node:crypto");
type Zlib = typeof import("node:zlib");

// Node modules are imported on first use: Node compatibility costs start-up time (tens of
// milliseconds) that a run needing no hash or codec should not pay. Once loaded, hashers are
// made synchronously.
let crypto: Crypto | undefined;

function nodeHasher({ createHash }: Crypto): Hasher {
  const hash = createHash("sha256");
  return {
    update(data: Uint8Array): void {
      hash.update(data);
    },
    digestHex(): string {
      return hash.digest("hex");
    },
  };
}

/** Options for {@linkcode createNativeCodecs}. */
export interface NativeCodecsOptions {
  /**
   * Worker threads for compression (0: the calling thread). The compressed
   * bytes are the same for any count. Default: one per core, at most 8.
   */
  workers?: number;
}

// Larger than zlib's 16 KiB default: fewer, bigger chunks cost less per byte downstream.
const OUTPUT_CHUNK = 256 * 1024;

/**
 * Native {@linkcode Codecs}. `compress` writes the block format of
 * `parallelCompressStream` (gzip: one pigz-style member; zstd: one frame per
 * 2 MiB), whatever `workers` is, so digests never depend on the core count.
 * `decompress` reads any gzip (several members too) or zstd (several frames,
 * skippable frames) stream.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { createNativeCodecs } from "@ocistream/ocistream/deno";
 * const codecs = createNativeCodecs({ workers: 2 });
 * const gz = new Blob([new Uint8Array(5 << 20)]).stream().pipeThrough(codecs.compress("gzip", 6));
 * const back = await new Response(gz.pipeThrough(codecs.decompress("gzip"))).arrayBuffer();
 * assertEquals(new Uint8Array(back), new Uint8Array(5 << 20));
 * ```
 */
export function createNativeCodecs(options: NativeCodecsOptions = {}): Codecs {
  const workers = options.workers ?? defaultWorkerCount();
  if (!Number.isInteger(workers) || workers < 0) {
    throw new RangeError(`Cannot use ${workers} compression workers: use an integer of at least 0`);
  }
  return {
    sha256(): Hasher | Promise<Hasher> {
      if (crypto) return nodeHasher(crypto);
      return import("node:crypto").then((loaded) => {
        crypto = loaded;
        return nodeHasher(loaded);
      });
    },
    compress(algorithm: StreamCompression, level: number): TransformStream<Uint8Array, Uint8Array> {
      return parallelCompressStream(algorithm, level, { workers });
    },
    decompress(algorithm: StreamCompression): TransformStream<Uint8Array, Uint8Array> {
      assertAlgorithm(algorithm);
      return algorithm === "gzip" ? gunzipStream() : zstdDecompressStream();
    },
    gzipMembers(level: number, members: readonly (readonly Uint8Array[])[]): Promise<Uint8Array[]> {
      assertCompressionLevel("gzip", level);
      return compressMembers(level, members, workers);
    },
  };
}

// Below this many input bytes a job is not worth a thread hop.
const MEMBERS_IN_THREAD = 16 * 1024;

// Member jobs on the pool now, from every stream of this thread.
let membersBusy = 0;

// Input buffers back from workers, reused: fewer dead buffers for V8 to collect.
const spareInputs: ArrayBuffer[] = [];
const INPUT_GRAIN = 256 * 1024;

function memberInput(size: number): Uint8Array {
  const i = spareInputs.findIndex((b) =>
    b.byteLength >= size && b.byteLength <= 2 * size + INPUT_GRAIN
  );
  const buffer = i >= 0
    ? spareInputs.splice(i, 1)[0]
    : new ArrayBuffer(Math.ceil(Math.max(size, 1) / INPUT_GRAIN) * INPUT_GRAIN);
  return new Uint8Array(buffer, 0, size);
}

function recycleInput(input: Uint8Array): void {
  if (input.buffer instanceof ArrayBuffer && spareInputs.length < 4) spareInputs.push(input.buffer);
}

/** gzip members on the worker pool (or in this thread): one job, one copy in and out. */
async function compressMembers(
  level: number,
  members: readonly (readonly Uint8Array[])[],
  workers: number,
): Promise<Uint8Array[]> {
  const sizes: number[] = [];
  let total = 0;
  for (const pieces of members) {
    let size = 0;
    for (const p of pieces) size += p.byteLength;
    sizes.push(size);
    total += size;
  }
  const input = memberInput(total);
  let at = 0;
  for (const pieces of members) {
    for (const p of pieces) {
      input.set(p, at);
      at += p.byteLength;
    }
  }
  let result: { output: Uint8Array; sizes: number[] } | undefined;
  // As for blocks (see parallelCompressStream): with 2 or more, this thread is one of the
  // compressing threads, taking a job whenever two jobs per worker are already on the pool.
  const poolSize = workers >= 2 ? workers - 1 : workers;
  const poolFull = workers >= 2 && membersBusy >= 2 * poolSize;
  if (workers > 0 && total >= MEMBERS_IN_THREAD && !poolFull) {
    membersBusy++;
    try {
      result = await CompressPool.shared(poolSize).runMembers(
        { level, input, sizes },
        recycleInput,
      );
    } catch (error) {
      // Only a runtime without Worker falls back; a failing worker is an error.
      if (typeof Worker !== "undefined") throw error;
    } finally {
      membersBusy--;
    }
  }
  if (!result) {
    const { gzipMembers } = await import("./workers/_compress_block.ts");
    result = gzipMembers(level, input, sizes);
    recycleInput(input);
  }
  const out: Uint8Array[] = [];
  let offset = 0;
  for (const size of result.sizes) {
    out.push(result.output.subarray(offset, offset + size));
    offset += size;
  }
  return out;
}

/**
 * {@linkcode createNativeCodecs} with default options: one worker per core.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { nativeCodecs } from "@ocistream/ocistream/deno";
 * const hasher = await nativeCodecs.sha256();
 * hasher.update(new TextEncoder().encode("hello"));
 * assertEquals(hasher.digestHex(), "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
 * ```
 */
export const nativeCodecs: Codecs = createNativeCodecs();

/** Feeds a node zlib stream and forwards its output to a web stream controller. */
class NodePump {
  #node: Transform;
  #done: Promise<void>;

  constructor(node: Transform, controller: TransformStreamDefaultController<Uint8Array>) {
    this.#node = node;
    node.on("data", (data: Uint8Array) => {
      controller.enqueue(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    });
    this.#done = new Promise((resolve, reject) => {
      node.once("end", resolve);
      node.once("error", reject);
    });
    this.#done.catch(() => {});
  }

  /** Resolves once zlib has taken the chunk in (its output is forwarded by then). */
  write(chunk: Uint8Array): Promise<void> {
    const written = new Promise<void>((resolve, reject) => {
      this.#node.write(chunk, (error) => error ? reject(error) : resolve());
    });
    return Promise.race([written, this.#done]);
  }

  end(): Promise<void> {
    this.#node.end();
    return this.#done;
  }

  destroy(): void {
    this.#node.destroy();
  }
}

function failure(algorithm: string, error: unknown): TypeError {
  return new TypeError(
    `Cannot decompress ${algorithm} data: ${(error as Error)?.message ?? error}`,
    { cause: error },
  );
}

/** gzip (any number of members) through `node:zlib`. */
function gunzipStream(): TransformStream<Uint8Array, Uint8Array> {
  let pump!: NodePump;
  let seen = 0;
  return new TransformStream({
    async start(controller) {
      const { createGunzip } = await import("node:zlib");
      pump = new NodePump(createGunzip({ chunkSize: OUTPUT_CHUNK }), controller);
    },
    async transform(chunk) {
      seen += chunk.byteLength;
      try {
        await pump.write(chunk);
      } catch (error) {
        throw failure("gzip", error);
      }
    },
    async flush() {
      if (seen === 0) throw new TypeError("Cannot decompress gzip data: the input is empty");
      try {
        await pump.end();
      } catch (error) {
        throw failure("gzip", error);
      }
    },
    cancel() {
      pump.destroy();
    },
  });
}

/**
 * zstd through `node:zlib`, one decoder per frame: Deno's decoder stops after
 * the first frame, so frame boundaries are found here.
 */
function zstdDecompressStream(): TransformStream<Uint8Array, Uint8Array> {
  const scanner = new ZstdFrameScanner();
  let pump: NodePump | undefined;
  let seen = 0;
  let zlib: Zlib;
  return new TransformStream({
    async start() {
      zlib = await import("node:zlib");
    },
    async transform(chunk, controller) {
      seen += chunk.byteLength;
      try {
        for (const piece of scanner.push(chunk)) {
          pump ??= new NodePump(zlib.createZstdDecompress({ chunkSize: OUTPUT_CHUNK }), controller);
          if (piece.bytes.byteLength > 0) await pump.write(piece.bytes);
          if (piece.end) {
            await pump.end();
            pump = undefined;
          }
        }
      } catch (error) {
        throw failure("zstd", error);
      }
    },
    flush() {
      if (seen === 0) throw new TypeError("Cannot decompress zstd data: the input is empty");
      scanner.finish();
    },
    cancel() {
      pump?.destroy();
    },
  });
}
