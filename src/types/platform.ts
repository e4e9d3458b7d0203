/**
 * Parsing and formatting platform strings such as `linux/arm64` or `linux/arm/v7`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parsePlatform } from "@ocistream/ocistream";
 * import { formatPlatform } from "@ocistream/ocistream/image";
 * assertEquals(formatPlatform(parsePlatform("linux/aarch64/v8")), "linux/arm64");
 * ```
 * @module
 */
import type { Platform } from "./descriptor.ts";

/**
 * Parses `os/arch[/variant]` and normalises it as containerd does, so the
 * index says what BuildKit's would: `aarch64` → `arm64` (variant `v8`
 * dropped), `x86_64` → `amd64`, `arm` → `arm/v7`.
 */
export function parsePlatform(text: string): Platform {
  const parts = text.trim().toLowerCase().split("/");
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === "")) {
    throw new TypeError(
      `Invalid platform "${text}": use os/arch or os/arch/variant, e.g. linux/amd64 or linux/arm/v7`,
    );
  }
  const [os, rawArch, rawVariant] = parts as [string, string, string | undefined];
  let architecture = rawArch;
  let variant = rawVariant;
  switch (rawArch) {
    case "x86_64":
    case "x86-64":
    case "amd64":
      architecture = "amd64";
      if (variant === "v1") variant = undefined;
      break;
    case "aarch64":
    case "arm64":
      architecture = "arm64";
      if (variant === "8" || variant === "v8" || variant === "v8.0") variant = undefined;
      else if (variant === "9" || variant === "9.0" || variant === "v9.0") variant = "v9";
      break;
    case "armhf":
      architecture = "arm";
      variant = "v7";
      break;
    case "armel":
      architecture = "arm";
      variant = "v6";
      break;
    case "arm":
      if (variant === undefined) variant = "v7";
      else if (/^[5-8]$/.test(variant)) variant = `v${variant}`;
      break;
  }
  const p: Platform = { architecture, os };
  if (variant) p.variant = variant;
  return p;
}

/** Formats a platform as `os/arch[/variant]`. */
export function formatPlatform(p: Platform): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}

/** Whether two platforms name the same target, treating the default variant as equal to none. */
export function samePlatform(a: Platform, b: Platform): boolean {
  const norm = (p: Platform) => formatPlatform(parsePlatform(formatPlatform(p)));
  return norm(a) === norm(b);
}
