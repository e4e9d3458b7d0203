/**
 * Linux `dev_t` encoding (glibc's `major`/`minor`/`makedev`), used to turn `rdev` into the
 * tar `devmajor`/`devminor` fields and back.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { joinDevice, splitDevice } from "./_tar_device.ts";
 * assertEquals(splitDevice(259), { major: 1, minor: 3 });
 * assertEquals(joinDevice(1, 3), 259);
 * ```
 * @module
 */

/** Splits a `dev_t` into major and minor numbers. */
export function splitDevice(dev: number): { major: number; minor: number } {
  const lo = dev % 2 ** 32;
  const hi = Math.floor(dev / 2 ** 32);
  const major = ((lo >>> 8) & 0xfff) | (hi & 0xfffff000);
  const minor = (lo & 0xff) | ((lo >>> 12) & 0xfff00);
  return { major: major >>> 0, minor: minor >>> 0 };
}

/** Joins major and minor numbers into a `dev_t`. */
export function joinDevice(major: number, minor: number): number {
  const lo = ((minor & 0xff) | ((major & 0xfff) << 8) | ((minor & 0xfff00) << 12)) >>> 0;
  const hi = (major & 0xfffff000) >>> 0;
  return hi * 2 ** 32 + lo;
}
