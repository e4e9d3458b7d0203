/**
 * `ocistream prune`: deletes store blobs that no name reaches, leftovers of
 * interrupted writes, and unpacked rootfs folders of removed images.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { pruneCommand } from "./prune_command.ts";
 * import { OciLayout } from "@ocistream/ocistream/layout";
 * import { denoFileSystem, nativeCodecs } from "@ocistream/ocistream/deno";
 * const store = await Deno.makeTempDir();
 * await OciLayout.open(denoFileSystem, store, nativeCodecs); // an empty store
 * assertEquals(await pruneCommand(["--store", store, "--grace", "0"]), 0);
 * await Deno.remove(store, { recursive: true });
 * ```
 * @module
 */
import { parseFlags, single } from "./args.ts";
import { UsageError } from "./errors.ts";
import { OciLayout } from "../sinks/oci_layout.ts";
import { DEFAULT_PRUNE_GRACE_MS, pruneStore } from "../image/store_maintenance.ts";
import { denoFileSystem } from "../runtime/deno_file_system.ts";
import { nativeCodecs } from "../runtime/native_codecs.ts";
import { defaultStorePath } from "../runtime/store_location.ts";
import { escapeControls } from "../types/quote.ts";

const HELP = `Usage: ocistream prune [--store DIR] [--grace MINUTES] [--dry-run]

Deletes blobs that no name in the store reaches (after 'ocistream rm', or
left by interrupted exports), leftover temp files, and unpacked rootfs
folders of images no longer in the store.

Exports running meanwhile are safe: prune holds the store's lock while it
works and keeps unreachable blobs younger than the grace period.

Options:
  --store DIR       the store (default $OCISTREAM_STORE or the user data folder)
  --grace MINUTES   keep unreachable blobs and temp files younger than this (default ${
  DEFAULT_PRUNE_GRACE_MS / 60000
})
  --dry-run         list what would be deleted, delete nothing`;

/** Runs `ocistream prune`. */
export async function pruneCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, {
    store: { type: "string" },
    grace: { type: "string" },
    "dry-run": { type: "boolean" },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`prune takes no arguments: see --help`);
  const graceText = single(values.grace, "grace");
  let graceMs = DEFAULT_PRUNE_GRACE_MS;
  if (graceText !== undefined) {
    const minutes = Number(graceText);
    if (graceText.trim() === "" || !Number.isFinite(minutes) || minutes < 0) {
      throw new UsageError(`--grace "${graceText}" is not a number of minutes (e.g. --grace 0)`);
    }
    graceMs = minutes * 60_000;
  }
  const path = values.store ?? defaultStorePath();
  const layout = await OciLayout.open(denoFileSystem, path, nativeCodecs, { create: false })
    .catch((e) => {
      throw new TypeError(`Cannot open the store at ${path}: ${(e as Error).message}`);
    });
  const dryRun = values["dry-run"] ?? false;
  const result = await pruneStore(layout, { fs: denoFileSystem, graceMs, dryRun });
  const verb = dryRun ? "would delete" : "deleted";
  for (const d of result.removed) console.log(escapeControls(`${verb} ${d}`));
  for (const p of [...result.tempRemoved, ...result.unpackedRemoved]) {
    console.log(escapeControls(`${verb} ${p}`));
  }
  console.error(
    `${verb} ${result.removed.length} blob(s), ${result.freedBytes} bytes` +
      (result.keptRecent.length > 0
        ? `; kept ${result.keptRecent.length} unreferenced blob(s) younger than the grace period`
        : ""),
  );
  return 0;
}
