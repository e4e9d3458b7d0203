/**
 * `ocistream verify`: checks every blob's digest and every reference
 * reachable from the store's `index.json`; prints what is wrong and exits 1
 * if anything is.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { verifyCommand } from "./verify_command.ts";
 * import { OciLayout } from "@ocistream/ocistream/layout";
 * import { denoFileSystem, nativeCodecs } from "@ocistream/ocistream/deno";
 * const store = await Deno.makeTempDir();
 * await OciLayout.open(denoFileSystem, store, nativeCodecs); // an empty store
 * assertEquals(await verifyCommand(["--store", store]), 0);
 * await Deno.remove(store, { recursive: true });
 * ```
 * @module
 */
import { parseFlags } from "./args.ts";
import { UsageError } from "./errors.ts";
import { OciLayout } from "../sinks/oci_layout.ts";
import { verifyStore } from "../image/store_maintenance.ts";
import { denoFileSystem } from "../runtime/deno_file_system.ts";
import { nativeCodecs } from "../runtime/native_codecs.ts";
import { defaultStorePath } from "../runtime/store_location.ts";
import { escapeControls, safeJson } from "../types/quote.ts";

const HELP = `Usage: ocistream verify [--store DIR] [--json]

Hashes every blob in the store and checks every manifest, index, config and
layer that index.json reaches. Prints each problem; exit code 1 if any.
Leftovers of interrupted writes (temp files, a stale lock) are reported as
notes, not problems.

Options:
  --store DIR   the store, or any OCI layout (default $OCISTREAM_STORE or the user data folder)
  --json        print {problems, notes, blobs, images} as JSON`;

/** Runs `ocistream verify`. */
export async function verifyCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, {
    store: { type: "string" },
    json: { type: "boolean" },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`verify takes no arguments: see --help`);
  const path = values.store ?? defaultStorePath();
  const layout = await OciLayout.open(denoFileSystem, path, nativeCodecs, { create: false })
    .catch((e) => {
      throw new TypeError(`Cannot open the store at ${path}: ${(e as Error).message}`);
    });
  const result = await verifyStore(layout, { fs: denoFileSystem, codecs: nativeCodecs });
  if (values.json) {
    console.log(safeJson(JSON.stringify(result)));
  } else {
    for (const n of result.notes) console.error(escapeControls(`note: ${n}`));
    for (const p of result.problems) console.log(escapeControls(`problem: ${p}`));
    console.error(
      `${result.images} image(s), ${result.blobs} blob(s) checked: ${
        result.problems.length === 0 ? "ok" : `${result.problems.length} problem(s)`
      }`,
    );
  }
  return result.problems.length === 0 ? 0 : 1;
}
