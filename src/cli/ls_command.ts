/**
 * `ocistream ls REF`: lists the files of an image as a container sees them
 * (whiteouts applied), or with `--layer N` the entries of one layer, from a
 * registry, the store, a layout or an archive, streaming its layers.
 *
 * @example
 * ```ts ignore
 * import { lsCommand } from "./ls_command.ts";
 * await lsCommand(["127.0.0.1:5000/app:1", "--platform", "linux/arm64"]);
 * ```
 * @module
 */
import { parseFlags } from "./args.ts";
import { UsageError } from "./errors.ts";
import { openImageReader } from "./image_reader.ts";
import type { ImageFile } from "../image/read_image.ts";
import { escapeControls } from "../types/quote.ts";

const HELP = `Usage: ocistream ls REF [--platform P] [--layer N] [options]

Lists the files of image REF (whiteouts applied): type and mode, owner, size,
path. REF is a registry reference, a store name, oci-layout://PATH[:TAG],
oci-archive:FILE or docker-archive:FILE (see 'ocistream copy --help').

Options:
  --platform P     the platform of a multi-platform image (default: the host's)
  --layer N        list layer N's entries as they are (0 is the bottom layer)
  --store DIR      the store for store names
  --insecure       allow plain HTTP and unverified TLS for the registry`;

/** Runs `ocistream ls`. */
export async function lsCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, {
    platform: { type: "string" },
    layer: { type: "string" },
    store: { type: "string" },
    insecure: { type: "boolean" },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError("ls takes one REF: see --help");
  let layer: number | undefined;
  if (values.layer !== undefined) {
    if (!/^\d+$/.test(values.layer)) {
      throw new UsageError(
        `--layer takes a layer number (0 is the bottom one), got "${values.layer}"`,
      );
    }
    layer = Number(values.layer);
  }
  const { image, close } = await openImageReader(positionals[0]!, values);
  try {
    const files: ImageFile[] = [];
    for await (const f of image.files({ layer })) files.push(f);
    if (layer === undefined) files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    // Paths come from layers: terminal controls in them are escaped.
    const lines = files.map((f) => escapeControls(formatFile(f)));
    const out = new TextEncoder().encode(lines.length ? lines.join("\n") + "\n" : "");
    for (let off = 0; off < out.byteLength;) off += await Deno.stdout.write(out.subarray(off));
    return 0;
  } finally {
    await close();
  }
}

const TYPE_CHAR: Record<string, string> = {
  file: "-",
  directory: "d",
  symlink: "l",
  hardlink: "h",
  fifo: "p",
  char: "c",
  block: "b",
};

/** One `ls` line: `drwxr-xr-x 0/0 0 path`, with `-> target` for symlinks, `link to` for hardlinks. */
export function formatFile(f: ImageFile): string {
  const bits = "rwxrwxrwx".split("").map((c, i) => (f.mode & (0o400 >> i) ? c : "-"));
  if (f.mode & 0o4000) bits[2] = bits[2] === "x" ? "s" : "S";
  if (f.mode & 0o2000) bits[5] = bits[5] === "x" ? "s" : "S";
  if (f.mode & 0o1000) bits[8] = bits[8] === "x" ? "t" : "T";
  let line = `${TYPE_CHAR[f.type] ?? "?"}${bits.join("")} ${f.uid}/${f.gid} ${f.size} ${f.path}`;
  if (f.type === "symlink") line += ` -> ${f.linkName}`;
  if (f.type === "hardlink") line += ` link to ${f.linkName}`;
  return line;
}
