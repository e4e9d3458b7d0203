/**
 * Finds zstd frame boundaries in a byte stream without decompressing, so a
 * decoder that stops after one frame can be fed frame by frame.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { ZstdFrameScanner } from "./_zstd_frames.ts";
 * const scanner = new ZstdFrameScanner();
 * // An empty frame: magic, header (single segment, size 0), one empty last raw block.
 * const frame = new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x00, 0x01, 0x00, 0x00]);
 * // The magic number as soon as it is seen, then the rest up to the frame's end.
 * assertEquals(scanner.push(frame), [
 *   { bytes: frame.subarray(0, 4), end: false },
 *   { bytes: frame.subarray(4), end: true },
 * ]);
 * scanner.finish();
 * ```
 * @module
 */

/** A piece of one zstd frame; `end` marks the frame's last piece. */
export interface ZstdFramePiece {
  /** Bytes of the current frame (a view into the pushed chunk). */
  bytes: Uint8Array;
  /** Whether the frame ends with these bytes. */
  end: boolean;
}

const ZSTD_MAGIC = 0xfd2fb528;
const MAGIC_BYTES = new Uint8Array([0x28, 0xb5, 0x2f, 0xfd]);
const DICT_ID_SIZES = [0, 1, 2, 4];
const FCS_SIZES = [0, 2, 4, 8];

type State =
  | "magic"
  | "frame-header"
  | "block-header"
  | "block-body"
  | "checksum"
  | "skip-size"
  | "skip-body";

/**
 * Splits a stream of concatenated zstd frames (and skippable frames, which
 * are dropped) into per-frame pieces.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { ZstdFrameScanner } from "./_zstd_frames.ts";
 * const s = new ZstdFrameScanner();
 * assertEquals(s.push(new Uint8Array(0)).length, 0);
 * ```
 */
export class ZstdFrameScanner {
  #state: State = "magic";
  // Header bytes gathered across chunks; at most 14 are ever needed.
  #head = new Uint8Array(16);
  #headFill = 0;
  #headNeed = 4;
  #remaining = 0; // bytes left in a block body, checksum or skippable frame
  #checksum = false;
  #lastBlock = false;
  #offset = 0; // input bytes before the current chunk, for error messages

  /** Feeds a chunk; returns the frame pieces it holds, in order. */
  push(chunk: Uint8Array): ZstdFramePiece[] {
    const pieces: ZstdFramePiece[] = [];
    const n = chunk.byteLength;
    let i = 0;
    let start = 0; // where the current frame's bytes in this chunk begin
    while (true) {
      if (
        this.#state === "block-body" || this.#state === "checksum" || this.#state === "skip-body"
      ) {
        const take = Math.min(this.#remaining, n - i);
        i += take;
        this.#remaining -= take;
        if (this.#remaining > 0) break; // the chunk ended inside the body
        if (this.#state === "skip-body") {
          this.#expect("magic", 4);
          start = i;
        } else if (this.#state === "block-body" && !this.#lastBlock) {
          this.#expect("block-header", 3);
        } else if (this.#state === "block-body" && this.#checksum) {
          this.#state = "checksum";
          this.#remaining = 4;
        } else {
          pieces.push({ bytes: chunk.subarray(start, i), end: true });
          this.#expect("magic", 4);
          start = i;
        }
        continue;
      }
      if (i >= n) break;
      const take = Math.min(this.#headNeed - this.#headFill, n - i);
      this.#head.set(chunk.subarray(i, i + take), this.#headFill);
      this.#headFill += take;
      i += take;
      if (this.#headFill < this.#headNeed) break;
      const wasMagic = this.#state === "magic";
      this.#parseHeader(this.#offset + i);
      if (wasMagic) {
        // Magic bytes are held back until known, so a skippable frame's never reach the decoder.
        if (this.#inFrame()) pieces.push({ bytes: MAGIC_BYTES.slice(), end: false });
        start = i;
      } else if (!this.#inFrame()) {
        start = i;
      }
    }
    this.#offset += n;
    if (start < n && this.#inFrame()) {
      pieces.push({ bytes: chunk.subarray(start, n), end: false });
    }
    return pieces;
  }

  /** Throws a TypeError if the input ended inside a frame. */
  finish(): void {
    if (this.#state !== "magic" || this.#headFill !== 0) {
      throw new TypeError(
        `Cannot decompress zstd data: it ends inside a frame after ${this.#offset} bytes (truncated?)`,
      );
    }
  }

  #inFrame(): boolean {
    const state: State = this.#state;
    return state !== "skip-size" && state !== "skip-body" && state !== "magic";
  }

  #expect(state: State, bytes: number): void {
    this.#state = state;
    this.#headFill = 0;
    this.#headNeed = bytes;
  }

  #parseHeader(where: number): void {
    const h = this.#head;
    switch (this.#state) {
      case "magic": {
        const magic = (h[0] | h[1] << 8 | h[2] << 16 | h[3] << 24) >>> 0;
        if (magic === ZSTD_MAGIC) {
          this.#state = "frame-header";
          this.#headNeed = 5; // magic + frame header descriptor
        } else if ((magic & 0xfffffff0) >>> 0 === 0x184d2a50) {
          this.#expect("skip-size", 4);
        } else {
          throw new TypeError(
            `Cannot decompress zstd data: no zstd frame magic at byte ${where - 4} (is it zstd?)`,
          );
        }
        return;
      }
      case "frame-header": {
        if (this.#headNeed === 5) {
          const fhd = h[4];
          if (fhd & 0x08) {
            throw new TypeError(`Cannot decompress zstd data: reserved bit set at byte ${where}`);
          }
          const singleSegment = (fhd >> 5) & 1;
          const fcs = fhd >> 6;
          const rest = (singleSegment ? 0 : 1) + DICT_ID_SIZES[fhd & 3] +
            (fcs === 0 ? singleSegment : FCS_SIZES[fcs]);
          this.#checksum = (fhd & 0x04) !== 0;
          if (rest > 0) {
            this.#headNeed = 5 + rest;
            return;
          }
        }
        this.#expect("block-header", 3);
        return;
      }
      case "block-header": {
        const bh = h[0] | h[1] << 8 | h[2] << 16;
        const type = (bh >> 1) & 3;
        if (type === 3) {
          throw new TypeError(
            `Cannot decompress zstd data: reserved block type at byte ${where - 3}`,
          );
        }
        this.#lastBlock = (bh & 1) === 1;
        this.#state = "block-body";
        this.#remaining = type === 1 ? 1 : bh >>> 3; // an RLE block stores one byte
        return;
      }
      case "skip-size": {
        this.#state = "skip-body";
        this.#remaining = (h[0] | h[1] << 8 | h[2] << 16 | h[3] << 24) >>> 0;
        return;
      }
      default:
        return;
    }
  }
}
