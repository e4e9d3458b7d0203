/**
 * `ocistream inspect REF`: prints the manifest or index (`--config` for the
 * config of the chosen platform) as stored, byte for byte.
 *
 * @example
 * ```ts ignore
 * import { inspectCommand } from "./inspect_command.ts";
 * await inspectCommand(["example.com/hello:1", "--config"]);
 * ```
 * @module
 */
import { parseFlags } from "./args.ts";
import { UsageError } from "./errors.ts";
import { openImageSource } from "./image_source.ts";
import { nativeCodecs } from "../runtime/native_codecs.ts";
import { hostPlatform } from "../runtime/deno_environment.ts";
import { selectPlatformImage } from "../image/base_image.ts";
import { parsePlatform } from "../types/platform.ts";
import { readDocumentBytes } from "../image/read_json.ts";

const HELP = `Usage: ocistream inspect REF [--store DIR] [--config] [--platform P]

Prints the stored manifest or index of REF (a store name, name@digest, a digest,
or oci-layout://PATH[:TAG]). --config prints the config of one platform.`;

/** Runs `ocistream inspect`. */
export async function inspectCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, {
    store: { type: "string" },
    config: { type: "boolean" },
    platform: { type: "string" },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError("inspect takes one REF: see --help");
  const { layout, root } = await openImageSource(positionals[0]!, {
    storePath: values.store,
    codecs: nativeCodecs,
  });
  let bytes: Uint8Array;
  if (values.config) {
    const platform = values.platform ? parsePlatform(values.platform) : hostPlatform();
    const image = await selectPlatformImage(layout, root, platform, positionals[0]!);
    bytes = await readDocumentBytes(layout, image.manifest.config);
  } else {
    bytes = await readDocumentBytes(layout, root);
  }
  const text = new TextDecoder().decode(bytes);
  console.log(JSON.stringify(JSON.parse(text), null, 2));
  return 0;
}
