/**
 * `ocistream digest REF`: prints the digest REF names (the index's, or with
 * `--platform` that platform's manifest), from a registry, the store, a layout
 * or an archive, like `crane digest`.
 *
 * @example
 * ```ts ignore
 * import { digestCommand } from "./digest_command.ts";
 * await digestCommand(["127.0.0.1:5000/app:1"]);
 * ```
 * @module
 */
import { parseFlags } from "./args.ts";
import { UsageError } from "./errors.ts";
import { openSourceImage, selectPlatform } from "./image_location.ts";
import { createDenoEnvironment } from "../runtime/deno_environment.ts";
import { parsePlatform } from "../types/platform.ts";
import { escapeControls } from "../types/quote.ts";

const HELP = `Usage: ocistream digest REF [--platform P] [options]

Prints the digest of image REF: its index's or manifest's, or with --platform
the manifest of that platform. REF is any source 'ocistream copy' reads.

Options:
  --platform P     print the digest of this platform's manifest
  --store DIR      the store for store names
  --insecure       allow plain HTTP and unverified TLS for the registry`;

/** Runs `ocistream digest`. */
export async function digestCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, {
    platform: { type: "string" },
    store: { type: "string" },
    insecure: { type: "boolean" },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError("digest takes one REF: see --help");
  const platform = values.platform === undefined ? undefined : parsePlatform(values.platform);
  const env = await createDenoEnvironment({ openStore: false });
  try {
    const image = await openSourceImage(positionals[0]!, {
      env,
      storePath: values.store,
      insecure: values.insecure ?? false,
    });
    const d = platform ? await selectPlatform(image, platform) : image.root;
    console.log(escapeControls(d.digest));
    return 0;
  } finally {
    await env.close();
  }
}
