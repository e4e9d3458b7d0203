/**
 * Where the local store lives: `--store DIR`, else `$OCISTREAM_STORE`, else the
 * platform's user data folder (SPEC §9).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { defaultStorePath } from "@ocistream/ocistream/deno";
 * // $OCISTREAM_STORE when set, else an ocistream/store folder in the user's data folder.
 * const path = defaultStorePath();
 * assertEquals(path, Deno.env.get("OCISTREAM_STORE") || path.replace(/\/ocistream\/store$/, "") + "/ocistream/store");
 * ```
 * @module
 */

/** The store folder to use when no `--store` was given. */
export function defaultStorePath(): string {
  const fromEnv = Deno.env.get("OCISTREAM_STORE");
  if (fromEnv) return fromEnv;
  const home = Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE") ?? ".";
  switch (Deno.build.os) {
    case "darwin":
      return `${home}/Library/Application Support/ocistream/store`;
    case "windows":
      return `${Deno.env.get("LOCALAPPDATA") ?? `${home}/AppData/Local`}/ocistream/store`;
    default:
      return `${Deno.env.get("XDG_DATA_HOME") || `${home}/.local/share`}/ocistream/store`;
  }
}
