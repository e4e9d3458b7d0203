/**
 * `ocistream rm NAME...`: removes names from the store's `index.json`.
 * Blobs stay until `ocistream prune`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { rmCommand } from "./rm_command.ts";
 * import { OciLayout } from "@ocistream/ocistream/layout";
 * import { denoFileSystem, nativeCodecs } from "@ocistream/ocistream/deno";
 * const dir = await Deno.makeTempDir();
 * // A store holding a small image named example.com/app:1.
 * const store = await OciLayout.open(denoFileSystem, `${dir}/store`, nativeCodecs);
 * const put = async (mediaType: string, value: unknown) => {
 *   const bytes = new TextEncoder().encode(JSON.stringify(value));
 *   const hasher = await nativeCodecs.sha256();
 *   hasher.update(bytes);
 *   const d = { mediaType, digest: `sha256:${hasher.digestHex()}`, size: bytes.length };
 *   await store.putBytes(bytes, d);
 *   return d;
 * };
 * const manifest = await put("application/vnd.oci.image.manifest.v1+json", {
 *   schemaVersion: 2,
 *   mediaType: "application/vnd.oci.image.manifest.v1+json",
 *   config: await put("application/vnd.oci.image.config.v1+json", {
 *     architecture: "amd64",
 *     os: "linux",
 *     rootfs: { type: "layers", diff_ids: [] },
 *   }),
 *   layers: [],
 * });
 * await store.setNames(manifest, ["example.com/app:1"]);
 * assertEquals(await rmCommand(["--store", `${dir}/store`, "example.com/app:1"]), 0);
 * assertEquals(await store.images(), []);
 * await Deno.remove(dir, { recursive: true });
 * ```
 * @module
 */
import { parseFlags } from "./args.ts";
import { UsageError } from "./errors.ts";
import { OciLayout } from "../sinks/oci_layout.ts";
import { denoFileSystem } from "../runtime/deno_file_system.ts";
import { nativeCodecs } from "../runtime/native_codecs.ts";
import { defaultStorePath } from "../runtime/store_location.ts";
import { formatReference, parseReference } from "../types/reference.ts";
import { escapeControls } from "../types/quote.ts";

const HELP = `Usage: ocistream rm NAME... [--store DIR]

Removes names from the store (as listed by 'ocistream images'; short forms
such as app:1 for docker.io/library/app:1 work). The blobs stay until
'ocistream prune'.

Options:
  --store DIR   the store (default $OCISTREAM_STORE or the user data folder)`;

/** Runs `ocistream rm`. */
export async function rmCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, { store: { type: "string" } });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length === 0) throw new UsageError("rm needs at least one NAME: see --help");
  const path = values.store ?? defaultStorePath();
  const layout = await OciLayout.open(denoFileSystem, path, nativeCodecs, { create: false })
    .catch((e) => {
      throw new TypeError(`Cannot open the store at ${path}: ${(e as Error).message}`);
    });
  const wanted = new Map<string, string>();
  for (const name of positionals) {
    wanted.set(name, name);
    try {
      const ref = parseReference(name);
      const full = formatReference(
        ref.tag === undefined && ref.digest === undefined ? { ...ref, tag: "latest" } : ref,
      );
      wanted.set(full, name);
    } catch {
      // Not a reference (e.g. a dangling-name-prefix name): match it as written.
    }
  }
  const removed = await layout.removeNames([...wanted.keys()]);
  for (const name of removed) console.log(escapeControls(`removed ${name}`));
  const found = new Set(removed.map((n) => wanted.get(n)));
  const missing = positionals.filter((n) => !found.has(n));
  for (const name of missing) {
    console.error(
      escapeControls(
        `error: no image named "${name}" in ${path}: run 'ocistream images' to list them`,
      ),
    );
  }
  return missing.length > 0 ? 1 : 0;
}
