/**
 * Writes a layer as eStargz (`containerd/stargz-snapshotter`, as BuildKit's
 * `compression=estargz` does): tar entries in, a seekable gzip blob out.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { type EstargzResult, EstargzStream, type EstargzStreamOptions, webCodecs } from "@ocistream/ocistream/stages";
 * const body = new TextEncoder().encode("hello\n");
 * const entries = ReadableStream.from([
 *   { path: "hello.txt", type: "file" as const, mode: 0o644, uid: 0, gid: 0, mtime: 0,
 *     size: body.length, open: () => ReadableStream.from([body]) },
 * ]);
 * const options: EstargzStreamOptions = { level: 6 };
 * const estargz = new EstargzStream(webCodecs, options);
 * const blob = await new Response(entries.pipeThrough(estargz)).arrayBuffer();
 * const { size, tocDigest }: EstargzResult = await estargz.result;
 * assertEquals([blob.byteLength === size, tocDigest.startsWith("sha256:")], [true, true]);
 * ```
 * @module
 */

import type { Codecs, Hasher } from "../types/codecs.ts";
import type { TarEntry } from "../types/tar_entry.ts";
import { estargzFooter } from "./_estargz_footer.ts";
import { GzipMembers } from "./_estargz_members.ts";
import { cleanEntryName, prioritize } from "./_estargz_order.ts";
import { BlobOutput } from "./_estargz_output.ts";
import {
  formatModtime,
  LANDMARK_CONTENTS,
  NO_PREFETCH_LANDMARK,
  PREFETCH_LANDMARK,
  TOC_TAR_NAME,
  type TocEntry,
  tocEntryJson,
  tocJsonFrame,
} from "./_estargz_toc.ts";
import { encodeTarHeader, TAR_END, tarPadding, tarPath } from "./tar_header.ts";
import { rawTarHeader } from "./untar_stream.ts";
import { SMALL_BODY, wholeBodyReader } from "./tar_stream.ts";

/** Options of {@link EstargzStream}. */
export interface EstargzStreamOptions {
  /** gzip level 0–9 of every member (default 6). */
  level?: number;
  /**
   * Largest file payload per gzip member, in bytes: 1 to 64 MiB (default 4 MiB, as the
   * reference). A member may be compressed in one piece, so this bounds the memory it takes.
   */
  chunkSize?: number;
  /**
   * Paths to put first, before the `.prefetch.landmark` (with their parent folders and
   * hardlink targets), in this order. Every path must be in the layer. When set, the entries'
   * metadata is held until the input ends (bodies are still opened one at a time, when
   * written), so every entry's `open()` must still work after later entries were produced.
   */
  prioritizedFiles?: readonly string[];
  /**
   * Write the reference's landmark files (`estargz.Build`): `.no.prefetch.landmark` first, or
   * `.prefetch.landmark` after the prioritized files. Default: only with `prioritizedFiles`.
   * Without them the layer is BuildKit's lossless conversion (`AppendTarLossLess`): exactly
   * the input entries, then the TOC.
   */
  landmarks?: boolean;
}

/** What is known once the blob has been read to its end. */
export interface EstargzResult {
  /** `sha256:` of the TOC JSON: the `containerd.io/snapshot/stargz/toc.digest` annotation. */
  tocDigest: string;
  /** `sha256:` of the whole uncompressed stream (entries, TOC entry and end blocks). */
  diffId: string;
  /** Length of that uncompressed stream: `io.containers.estargz.uncompressed-size`. */
  uncompressedSize: number;
  /** `sha256:` of the blob. */
  digest: string;
  /** Blob size in bytes. */
  size: number;
}

const DEFAULT_CHUNK_SIZE = 4 << 20;
// Members are compressed whole when batched (see GzipMembers): a chunk is held at once.
const MAX_CHUNK_SIZE = 64 << 20;
const EMPTY_SHA256 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const TOC_TYPES: Record<TarEntry["type"], string> = {
  file: "reg",
  directory: "dir",
  symlink: "symlink",
  hardlink: "hardlink",
  char: "char",
  block: "block",
  fifo: "fifo",
};
const utf8 = new TextEncoder();
// Chunks at least this large make room for themselves in the member batch up front.
const RESERVE_FROM = 256 * 1024;
/** The TOC's JSON is kept in pieces of this size. */
const TOC_PIECE = 256 * 1024;

/**
 * An eStargz writer stage: {@link TarEntry} in, the eStargz blob out.
 *
 * Layout (the reference's `estargz.Writer` with one writer): by default BuildKit's lossless
 * conversion (`AppendTarLossLess`), the input entries as they come; with landmarks
 * (`estargz.Build` on one core) `.no.prefetch.landmark` first, or the prioritized files then
 * `.prefetch.landmark`. Each regular file's payload starts a new gzip member and so does
 * every `chunkSize` bytes of it, tar headers travel in the member before; then
 * `stargz.index.json` (the TOC) and the tar end blocks in a member of their own; then the
 * 51-byte footer. An input entry named like the TOC is an error without landmarks (BuildKit
 * cannot convert it losslessly) and dropped with them, as are landmark-named ones.
 *
 * Memory stays flat: a file body is read a chunk at a time (at most 64 MiB, 4 MiB by
 * default), and the output waits for its reader. Only the TOC (one small record per entry and
 * chunk) grows with the layer.
 *
 * It implements `TransformStream` (rather than extending it) so that writing waits for the
 * reader's demand, which a transformer cannot observe.
 *
 * @example With a prioritized file
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { type EstargzResult, EstargzStream, type EstargzStreamOptions, webCodecs } from "@ocistream/ocistream/stages";
 * const file = (path: string) => ({
 *   path, type: "file" as const, mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 1,
 *   open: () => ReadableStream.from([new Uint8Array([1])]),
 * });
 * const options: EstargzStreamOptions = { level: 9, prioritizedFiles: ["b"] };
 * const estargz = new EstargzStream(webCodecs, options);
 * await ReadableStream.from([file("a"), file("b")]).pipeThrough(estargz)
 *   .pipeTo(new WritableStream());
 * const result: EstargzResult = await estargz.result;
 * assertEquals(result.diffId.length, 71);
 * ```
 */
export class EstargzStream implements TransformStream<TarEntry, Uint8Array> {
  /** Settles when the blob has been read to its end (rejects if writing failed). */
  readonly result: Promise<EstargzResult>;
  #readable: ReadableStream<Uint8Array>;
  #writable: WritableStream<TarEntry>;

  /** `codecs` compresses the gzip members and hashes. */
  constructor(codecs: Codecs, options: EstargzStreamOptions = {}) {
    const level = options.level ?? 6;
    if (!Number.isInteger(level) || level < 0 || level > 9) {
      throw new RangeError(`Cannot write eStargz at level ${level}: use an integer from 0 to 9`);
    }
    const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0 || chunkSize > MAX_CHUNK_SIZE) {
      throw new RangeError(
        `Cannot write eStargz with chunk size ${chunkSize}: use an integer from 1 to ${MAX_CHUNK_SIZE} bytes`,
      );
    }
    const prioritized = [...(options.prioritizedFiles ?? [])];
    const landmarks = options.landmarks ?? prioritized.length > 0;

    let resolveResult!: (r: EstargzResult) => void;
    let rejectResult!: (e: unknown) => void;
    this.result = new Promise((resolve, reject) => {
      resolveResult = resolve;
      rejectResult = reject;
    });
    // Callers that only read the blob learn about failures there.
    this.result.catch(() => {});

    let writer: Writer | undefined;
    let failure: { error: unknown } | undefined;
    const fail = (error: unknown) => {
      if (failure) return;
      failure = { error };
      out.error(error);
      writer?.fail(error);
      rejectResult(error);
    };
    const out = new BlobOutput(
      codecs.sha256(),
      (reason) => fail(reason ?? new Error("The eStargz blob was cancelled by its reader")),
    );
    this.#readable = out.readable;
    // The diffID hasher may be asynchronous to create; every step waits on it.
    const ready = Promise.resolve(codecs.sha256()).then((diff) =>
      writer = new Writer(codecs, level, chunkSize, out, diff)
    );
    ready.catch(() => {});
    const guard = async (step: (w: Writer) => Promise<void>) => {
      if (failure) throw failure.error;
      try {
        await step(await ready);
      } catch (e) {
        fail(e);
        throw e;
      }
    };

    // Without prioritized files entries stream straight through; with them only their
    // metadata is kept (keyed like the reference, a later duplicate replacing the earlier).
    const held = prioritized.length > 0 ? new Map<string, TarEntry>() : undefined;
    let started = false;
    this.#writable = new WritableStream<TarEntry>({
      write: (entry) =>
        guard(async (w) => {
          const name = cleanEntryName(tarPath(entry.path, entry.type));
          if (!landmarks) {
            if (name === TOC_TAR_NAME) {
              throw new TypeError(
                `Cannot write eStargz losslessly: the layer has its own ${TOC_TAR_NAME} ` +
                  "(BuildKit refuses it too); rename or exclude that file",
              );
            }
            await w.writeEntry(entry);
            return;
          }
          if (name === NO_PREFETCH_LANDMARK || name === PREFETCH_LANDMARK) return;
          if (name === TOC_TAR_NAME) return;
          if (held) {
            held.delete(name);
            held.set(name, entry);
            return;
          }
          if (!started) {
            started = true;
            await w.writeLandmark(NO_PREFETCH_LANDMARK);
          }
          await w.writeEntry(entry);
        }),
      close: () =>
        guard(async (w) => {
          if (held) {
            const { first, rest } = prioritize(
              held,
              prioritized,
              (e) => e.type === "hardlink" ? e.linkName : undefined,
            );
            held.clear();
            for (const e of first) await w.writeEntry(e);
            await w.writeLandmark(PREFETCH_LANDMARK);
            for (const e of rest) await w.writeEntry(e);
          } else if (!started && landmarks) {
            await w.writeLandmark(NO_PREFETCH_LANDMARK);
          }
          resolveResult(await w.finish());
        }),
      abort: (reason) => {
        fail(reason ?? new Error("The eStargz writer was aborted"));
      },
    });
  }

  /** The eStargz blob. */
  get readable(): ReadableStream<Uint8Array> {
    return this.#readable;
  }

  /** Tar entries in. */
  get writable(): WritableStream<TarEntry> {
    return this.#writable;
  }
}

/** Writes entries one after another into gzip members and collects the TOC. */
class Writer {
  readonly output: BlobOutput;
  #codecs: Codecs;
  #chunkSize: number;
  #members: GzipMembers;
  #diff: Hasher;
  #uncompressed = 0;
  // The TOC's entries as UTF-8 in pieces, joined as `tocJsonFrame` says: compact bytes rather
  // than thousands of strings held (and then joined and encoded) until the end, and a big TOC
  // is never copied whole.
  #toc: Uint8Array[] = [];
  #tocPiece = new Uint8Array(TOC_PIECE);
  #tocFill = 0;
  #tocEntries = 0;
  // TOC entries waiting for the blob offset of their gzip member (members may be compressed
  // out of order), in TOC order.
  #pending: { entry: TocEntry; member?: number }[] = [];
  #lastUser = new Map<number, string>();
  #lastGroup = new Map<number, string>();
  #body: ReadableStreamDefaultReader<Uint8Array> | undefined;

  constructor(codecs: Codecs, level: number, chunkSize: number, out: BlobOutput, diff: Hasher) {
    this.#codecs = codecs;
    this.#chunkSize = chunkSize;
    this.output = out;
    // The members see every uncompressed byte in order (batched into large pieces): hashing
    // there costs one update per batch, not one per header, payload piece and padding.
    this.#members = new GzipMembers(codecs, level, out, (bytes) => diff.update(bytes));
    this.#diff = diff;
  }

  /** Uncompressed bytes into the current member (which also hashes them for the diffID). */
  #write(bytes: Uint8Array): Promise<void> {
    this.#uncompressed += bytes.length;
    return this.#members.write(bytes);
  }

  // The reference writes a name only where it differs from the last one seen for the id.
  #nameIfChanged(last: Map<number, string>, id: number, name: string | undefined): string {
    if (!name || last.get(id) === name) return "";
    last.set(id, name);
    return name;
  }

  /** Writes a landmark: a 1-byte file holding 0x0f, with zero metadata. */
  writeLandmark(name: string): Promise<void> {
    const body = new Uint8Array([LANDMARK_CONTENTS]);
    return this.writeEntry({
      path: name,
      type: "file",
      mode: 0,
      uid: 0,
      gid: 0,
      mtime: 0,
      size: 1,
      open: () =>
        new ReadableStream({
          start(controller) {
            controller.enqueue(body);
            controller.close();
          },
        }),
    });
  }

  /** Writes one entry: header into the current member, payload chunks into new members. */
  async writeEntry(entry: TarEntry): Promise<void> {
    // An entry read from a tar keeps its header bytes as they were: the lossless conversion.
    const header = rawTarHeader(entry) ?? encodeTarHeader(entry);
    const type = TOC_TYPES[entry.type];
    const toc: TocEntry = {
      name: tarPath(entry.path, entry.type),
      type,
      modtime: formatModtime(entry.mtime),
      mode: entry.mode & 0o7777,
      uid: entry.uid,
      gid: entry.gid,
      userName: this.#nameIfChanged(this.#lastUser, entry.uid, entry.uname),
      groupName: this.#nameIfChanged(this.#lastGroup, entry.gid, entry.gname),
    };
    if (entry.xattrs) {
      const xattrs: Record<string, Uint8Array> = {};
      for (const [k, v] of Object.entries(entry.xattrs)) {
        xattrs[k] = typeof v === "string" ? utf8.encode(v) : v;
      }
      toc.xattrs = xattrs;
    }
    if (entry.type === "symlink") toc.linkName = entry.linkName;
    if (entry.type === "hardlink") toc.linkName = tarPath(entry.linkName ?? "", "file");
    if (entry.type === "char" || entry.type === "block") {
      toc.devMajor = entry.devMajor;
      toc.devMinor = entry.devMinor;
    }
    await this.#write(header);
    if (entry.type !== "file") {
      this.#addToc(toc);
      return;
    }
    const size = entry.size ?? 0;
    toc.size = size;
    if (size === 0) {
      toc.digest = EMPTY_SHA256;
      this.#addToc(toc);
      return;
    }
    if (!entry.open) {
      throw new TypeError(
        `Cannot write file ${entry.path} to the eStargz layer: it has size ${size} but no open()`,
      );
    }
    const entries = await this.#writePayload(entry, size, toc);
    for (const e of entries) this.#addToc(e.entry, e.member);
    await this.#write(tarPadding(size));
  }

  /** Queues a TOC entry; `member` is the gzip member whose blob offset it records. */
  #addToc(entry: TocEntry, member?: number): void {
    this.#pending.push({ entry, member });
    this.#settle();
  }

  /** Turns queued TOC entries into JSON, in order, as their members' offsets become known. */
  #settle(): void {
    const pending = this.#pending;
    let done = 0;
    for (; done < pending.length; done++) {
      const { entry, member } = pending[done];
      if (member !== undefined) {
        const offset = this.#members.offsetOf(member);
        if (offset === undefined) break;
        entry.offset = offset;
      }
      this.#appendToc(tocEntryJson(entry));
    }
    if (done > 0) pending.splice(0, done);
  }

  #appendToc(text: string): void {
    const line = this.#tocEntries++ === 0 ? text : `,\n${text}`;
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    if (3 * line.length > this.#tocPiece.length - this.#tocFill) {
      this.#endTocPiece();
      if (3 * line.length > TOC_PIECE) this.#tocPiece = new Uint8Array(3 * line.length);
    }
    this.#tocFill += utf8.encodeInto(line, this.#tocPiece.subarray(this.#tocFill)).written;
  }

  #endTocPiece(): void {
    if (this.#tocFill > 0) this.#toc.push(this.#tocPiece.subarray(0, this.#tocFill));
    this.#tocPiece = new Uint8Array(TOC_PIECE);
    this.#tocFill = 0;
  }

  /** The whole TOC JSON in pieces. */
  #tocPieces(): Uint8Array[] {
    this.#endTocPiece();
    const { head, tail } = tocJsonFrame(this.#tocEntries);
    const pieces = [utf8.encode(head), ...this.#toc, utf8.encode(tail)];
    this.#toc = [];
    return pieces;
  }

  async #writePayload(
    entry: TarEntry,
    size: number,
    first: TocEntry,
  ): Promise<{ entry: TocEntry; member: number }[]> {
    const chunkSize = this.#chunkSize;
    const entries: { entry: TocEntry; member: number }[] = [];
    // One hasher serves file and chunk when the file is a single chunk.
    const file = size > chunkSize ? await this.#codecs.sha256() : undefined;
    let chunk: Hasher | undefined;
    let current: TocEntry = first;
    let member = 0;
    let written = 0;
    let left = 0; // bytes still due in the current chunk
    const finishChunk = () => {
      current.chunkDigest = `sha256:${chunk!.digestHex()}`;
      entries.push({ entry: current, member });
    };
    const startChunk = async () => {
      if (chunk) {
        finishChunk();
        current = { name: current.name, type: "chunk" };
      }
      // A new member per chunk; the header (or previous chunk) stays in the one before.
      await this.#members.end();
      this.#settle();
      member = this.#members.next;
      current.chunkOffset = written;
      left = Math.min(chunkSize, size - written);
      if (left === chunkSize) current.chunkSize = chunkSize;
      // Room for the chunk, its padding and the next header in one allocation.
      if (left >= RESERVE_FROM) this.#members.reserve(left + 1024);
      chunk = await this.#codecs.sha256();
    };
    const readInto = wholeBodyReader(entry);
    if (readInto && size <= Math.min(chunkSize, SMALL_BODY)) {
      // One chunk, read straight into the member's batch: no stream, no buffer per file.
      await startChunk();
      const { bytes, length } = await this.#members.writeFrom(size, readInto);
      if (length !== size) throw sizeError(entry.path, size, length);
      this.#uncompressed += size;
      chunk!.update(bytes);
      finishChunk();
      first.digest = first.chunkDigest;
      return entries;
    }
    const reader = (await entry.open!()).getReader();
    this.#body = reader;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        let piece = value;
        while (piece.length > 0) {
          if (written + piece.length > size) throw sizeError(entry.path, size, written, piece);
          if (left === 0) await startChunk();
          const take = piece.length <= left ? piece : piece.subarray(0, left);
          piece = piece.subarray(take.length);
          chunk!.update(take);
          file?.update(take);
          written += take.length;
          left -= take.length;
          await this.#write(take);
        }
      }
    } catch (e) {
      await reader.cancel(e).catch(() => {});
      throw e;
    } finally {
      // No releaseLock(): the body is ours alone, and releasing builds an Error per file.
      this.#body = undefined;
    }
    if (written !== size) throw sizeError(entry.path, size, written);
    finishChunk();
    first.digest = file ? `sha256:${file.digestHex()}` : first.chunkDigest;
    return entries;
  }

  /** Writes the TOC member and the footer, and ends the blob. */
  async finish(): Promise<EstargzResult> {
    await this.#members.flush();
    this.#settle();
    if (this.#pending.length > 0) throw new Error("eStargz TOC entries were left without offsets");
    const tocOffset = this.output.size;
    const json = this.#tocPieces();
    const tocHash = await this.#codecs.sha256();
    let size = 0;
    for (const piece of json) {
      tocHash.update(piece);
      size += piece.length;
    }
    // The TOC is one member: room for it (and its header and padding) in one allocation.
    this.#members.reserve(size + 2048);
    await this.#write(encodeTarHeader({
      path: TOC_TAR_NAME,
      type: "file",
      mode: 0,
      uid: 0,
      gid: 0,
      mtime: 0,
      size,
    }));
    for (const piece of json) await this.#write(piece);
    await this.#write(tarPadding(size));
    await this.#write(TAR_END);
    await this.#members.flush();
    await this.output.push(estargzFooter(tocOffset));
    this.output.close();
    return {
      tocDigest: `sha256:${tocHash.digestHex()}`,
      diffId: `sha256:${this.#diff.digestHex()}`,
      uncompressedSize: this.#uncompressed,
      digest: await this.output.digest(),
      size: this.output.size,
    };
  }

  /** Stops after a failure: the reader's stream errors, an open body is cancelled. */
  fail(error: unknown): void {
    this.#body?.cancel(error).catch(() => {});
    this.#members.abort(error).catch(() => {});
  }
}

function sizeError(path: string, expected: number, got: number, extra?: Uint8Array): Error {
  const more = extra ? ` (at least ${got + extra.length})` : "";
  return new Error(
    `${path} changed size while being read: expected ${expected} bytes, got ${got}${more}; ` +
      "keep files unchanged while the layer is written",
  );
}
