/**
 * `ocistream images`: lists the store's names with digest, type and size.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { imagesCommand } from "./images_command.ts";
 * import { OciLayout } from "@ocistream/ocistream/layout";
 * import { denoFileSystem, nativeCodecs } from "@ocistream/ocistream/deno";
 * const store = await Deno.makeTempDir();
 * await OciLayout.open(denoFileSystem, store, nativeCodecs); // an empty store
 * assertEquals(await imagesCommand(["--store", store]), 0);
 * await Deno.remove(store, { recursive: true });
 * ```
 * @module
 */
import { parseFlags } from "./args.ts";
import { OciLayout } from "../sinks/oci_layout.ts";
import { denoFileSystem } from "../runtime/deno_file_system.ts";
import { nativeCodecs } from "../runtime/native_codecs.ts";
import { defaultStorePath } from "../runtime/store_location.ts";
import { isIndexMediaType } from "../types/media_types.ts";
import { escapeControls, printable, safeJson } from "../types/quote.ts";

const HELP = `Usage: ocistream images [--store DIR] [--json]

Lists the images in the store: name, digest, kind (image or index).`;

/** Runs `ocistream images`. */
export async function imagesCommand(args: string[]): Promise<number> {
  const { values } = parseFlags(args, { store: { type: "string" }, json: { type: "boolean" } });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const path = values.store ?? defaultStorePath();
  // No store yet lists nothing; a path that is something else (a file, a folder that is not a
  // store) is an error, not an empty list.
  const layout = await OciLayout.open(denoFileSystem, path, nativeCodecs, { create: false })
    .catch(async (e) => {
      const missing = await Deno.lstat(path).then(
        () => false,
        (s) => s instanceof Deno.errors.NotFound,
      );
      if (missing) return undefined;
      throw new TypeError(
        `Cannot open the store at ${printable(path)}: ${
          (e as Error).message
        }; pass --store a folder made by ocistream (or a path that does not exist yet)`,
      );
    });
  const images = layout ? await layout.images() : [];
  if (values.json) {
    console.log(
      safeJson(JSON.stringify(images.map((i) => ({ name: i.name ?? null, ...i.descriptor })))),
    );
    return 0;
  }
  const rows = images.map((i) => [
    i.name === undefined ? "<none>" : escapeControls(i.name),
    i.descriptor.digest,
    isIndexMediaType(i.descriptor.mediaType) ? "index" : "image",
  ]);
  const widths = [4, 6].map((w, c) => Math.max(w, ...rows.map((r) => r[c]!.length)));
  console.log(`${"NAME".padEnd(widths[0]!)}  ${"DIGEST".padEnd(widths[1]!)}  KIND`);
  for (const r of rows) {
    console.log(`${r[0]!.padEnd(widths[0]!)}  ${r[1]!.padEnd(widths[1]!)}  ${r[2]}`);
  }
  return 0;
}
