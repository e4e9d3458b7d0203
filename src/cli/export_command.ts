/**
 * `ocistream export REF [-o FILE|-]`: writes an image's filesystem (every
 * layer, whiteouts applied) as one tar, like `crane export`, streaming from
 * the layers to the file or standard output. A file is written whole or not
 * at all.
 *
 * @example
 * ```ts ignore
 * import { exportCommand } from "./export_command.ts";
 * await exportCommand(["127.0.0.1:5000/app:1", "-o", "rootfs.tar"]);
 * ```
 * @module
 */
import { parseFlags } from "./args.ts";
import { UsageError } from "./errors.ts";
import { openImageReader } from "./image_reader.ts";

const HELP = `Usage: ocistream export REF [-o FILE|-] [options]

Writes the filesystem of image REF (all layers, whiteouts applied) as one tar
to FILE, or to standard output with '-o -' (the default when it is not a
terminal). REF is any source 'ocistream copy' reads.

Options:
  -o, --output FILE  where to write the tar ('-' for standard output)
  --platform P       the platform of a multi-platform image (default: the host's)
  --store DIR        the store for store names
  --insecure         allow plain HTTP and unverified TLS for the registry`;

/** Runs `ocistream export`. */
export async function exportCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, {
    output: { type: "string", short: "o" },
    platform: { type: "string" },
    store: { type: "string" },
    insecure: { type: "boolean" },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError("export takes one REF: see --help");
  const output = values.output ?? "-";
  if (output === "-" && Deno.stdout.isTerminal()) {
    throw new UsageError("export writes a tar: give -o FILE, or redirect standard output");
  }
  const { image, close } = await openImageReader(positionals[0]!, values);
  try {
    const tar = image.exportTar();
    if (output === "-") {
      await tar.pipeTo(Deno.stdout.writable, { preventClose: true });
      return 0;
    }
    const temp = `${output}.tmp-${crypto.randomUUID().slice(0, 8)}`;
    try {
      await Deno.writeFile(temp, tar);
      await Deno.rename(temp, output);
    } catch (e) {
      await Deno.remove(temp).catch(() => {});
      throw e;
    }
    return 0;
  } finally {
    await close();
  }
}
