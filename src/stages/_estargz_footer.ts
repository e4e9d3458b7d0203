/**
 * The 51-byte eStargz footer: an empty gzip member (stored, no compression) whose extra
 * field `SG` holds `%016x` of the TOC member's offset followed by `STARGZ`. Its bytes equal
 * what the reference writer (Go's `compress/gzip` at `NoCompression`) produces.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { ESTARGZ_FOOTER_SIZE, estargzFooter } from "./_estargz_footer.ts";
 * const footer = estargzFooter(0x188e0);
 * assertEquals(footer.length === ESTARGZ_FOOTER_SIZE, true);
 * assertEquals(new TextDecoder().decode(footer.subarray(16, 38)), "00000000000188e0STARGZ");
 * ```
 * @module
 */

/** Size of the footer in bytes. */
export const ESTARGZ_FOOTER_SIZE = 51;

/** Encodes the footer that points at the TOC member starting at `tocOffset`. */
export function estargzFooter(tocOffset: number): Uint8Array {
  if (!Number.isSafeInteger(tocOffset) || tocOffset < 0) {
    throw new RangeError(`Cannot write the eStargz footer: TOC offset ${tocOffset} is invalid`);
  }
  const subfield = tocOffset.toString(16).padStart(16, "0") + "STARGZ";
  const out = new Uint8Array(ESTARGZ_FOOTER_SIZE);
  // gzip header: magic, deflate, FLG=FEXTRA, mtime 0, XFL 0, OS 255 (unknown, as Go writes).
  out.set([0x1f, 0x8b, 0x08, 0x04, 0, 0, 0, 0, 0, 0xff], 0);
  out.set([4 + subfield.length, 0], 10); // XLEN, little-endian
  out.set([0x53, 0x47, subfield.length, 0], 12); // SI1 'S', SI2 'G', LEN
  for (let i = 0; i < subfield.length; i++) out[16 + i] = subfield.charCodeAt(i);
  // An empty final stored block, then CRC32 and ISIZE of nothing (all zero).
  out.set([0x01, 0x00, 0x00, 0xff, 0xff], 38);
  return out;
}
