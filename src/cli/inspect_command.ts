/**
 * `ocistream inspect REF`: prints the manifest or index (`--config` for the
 * config of the chosen platform) of an image in the store, a layout, an
 * archive or a registry.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { inspectCommand } from "./inspect_command.ts";
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
 * assertEquals(await inspectCommand(["example.com/app:1", "--config", "--store", `${dir}/store`]), 0);
 * await Deno.remove(dir, { recursive: true });
 * ```
 * @module
 */
import { parseFlags } from "./args.ts";
import { UsageError } from "./errors.ts";
import { openSourceImage } from "./image_location.ts";
import { createDenoEnvironment, hostPlatform } from "../runtime/deno_environment.ts";
import { selectPlatformImage } from "../image/base_image.ts";
import { parsePlatform } from "../types/platform.ts";
import { readDocumentBytes } from "../image/read_json.ts";
import { safeJson } from "../types/quote.ts";

const HELP = `Usage: ocistream inspect REF [--store DIR] [--config] [--platform P] [--insecure]

Prints the manifest or index of REF: a store name, name@digest, a digest,
oci-layout://PATH[:TAG], an archive, or a registry reference (docker://REF, or a
plain REF that the store does not hold). --config prints the config of one
platform (default: the host's).`;

/** Runs `ocistream inspect`. */
export async function inspectCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, {
    store: { type: "string" },
    config: { type: "boolean" },
    platform: { type: "string" },
    insecure: { type: "boolean" },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError("inspect takes one REF: see --help");
  const platform = values.platform ? parsePlatform(values.platform) : hostPlatform();
  const env = await createDenoEnvironment({ openStore: false });
  try {
    const image = await openSourceImage(positionals[0]!, {
      env,
      storePath: values.store,
      insecure: values.insecure ?? false,
    });
    let bytes: Uint8Array;
    if (values.config) {
      const chosen = await selectPlatformImage(image.source, image.root, platform, image.text);
      bytes = await readDocumentBytes(image.source, chosen.manifest.config);
    } else {
      bytes = await readDocumentBytes(image.source, image.root);
    }
    const text = new TextDecoder().decode(bytes);
    console.log(safeJson(JSON.stringify(JSON.parse(text), null, 2)));
    return 0;
  } finally {
    await env.close();
  }
}
