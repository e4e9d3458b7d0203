/**
 * The `ocistream` command line (SPEC §10).
 *
 * ```sh
 * deno run -A jsr:@ocistream/ocistream/cli build ./site --output type=image,name=example.com/site:1
 * ```
 *
 * @example Run the CLI from a script
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { main } from "./main.ts";
 * import { OciLayout } from "@ocistream/ocistream/layout";
 * import { denoFileSystem, nativeCodecs } from "@ocistream/ocistream/deno";
 * const store = await Deno.makeTempDir();
 * await OciLayout.open(denoFileSystem, store, nativeCodecs); // an empty store
 * assertEquals(await main(["images", "--store", store]), 0);
 * await Deno.remove(store, { recursive: true });
 * ```
 * @module
 */
import { UsageError } from "./errors.ts";
import { redactSecrets } from "../registry/redact.ts";
import { escapeControls, quote } from "../types/quote.ts";

const USAGE = `ocistream: export container images like BuildKit's image and registry exporters

Usage:
  ocistream build [CONTEXT] [options]   build CONTEXT (a folder) into an image and export it
  ocistream push SRC NAME               copy an image from the store or a layout to a registry
  ocistream copy SRC DST                copy an image between registries, the store, layouts, archives
  ocistream tag SRC NEWNAME             name a registry image again (:TAG or host/repo:tag)
  ocistream index create --tag NAME SRC...  merge manifests and indexes into one index and push it
  ocistream inspect REF                 print an image's manifest or index (--config for its config)
  ocistream ls REF                      list an image's files (--layer N for one layer)
  ocistream export REF -o FILE          write an image's filesystem as one tar
  ocistream digest REF                  print an image's digest
  ocistream unpack REF DIR              unpack an image's rootfs into DIR
  ocistream images                      list the images in the store
  ocistream rm NAME...                  remove names from the store
  ocistream prune                       delete blobs no name reaches
  ocistream verify                      check every blob and reference in the store

Run 'ocistream COMMAND --help' for a command's options.
`;

/** A command: takes its arguments, returns an exit code. */
export type Command = (args: string[]) => Promise<number>;

// Each command loads only its own modules: start-up is most of a small push's time.
const COMMANDS: Record<string, () => Promise<Command>> = {
  build: async () => (await import("./build_command.ts")).buildCommand,
  push: async () => (await import("./push_command.ts")).pushCommand,
  copy: async () => (await import("./copy_command.ts")).copyCommand,
  tag: async () => (await import("./tag_command.ts")).tagCommand,
  index: async () => (await import("./index_command.ts")).indexCommand,
  inspect: async () => (await import("./inspect_command.ts")).inspectCommand,
  ls: async () => (await import("./ls_command.ts")).lsCommand,
  export: async () => (await import("./export_command.ts")).exportCommand,
  digest: async () => (await import("./digest_command.ts")).digestCommand,
  unpack: async () => (await import("./unpack_command.ts")).unpackCommand,
  images: async () => (await import("./images_command.ts")).imagesCommand,
  rm: async () => (await import("./rm_command.ts")).rmCommand,
  prune: async () => (await import("./prune_command.ts")).pruneCommand,
  verify: async () => (await import("./verify_command.ts")).verifyCommand,
};

/** Runs the CLI with `args`; returns the exit code (0 ok, 1 user error, 2 usage error). */
export async function main(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    console.log(USAGE);
    return name === undefined ? 2 : 0;
  }
  if (name === "--version" || name === "version") {
    console.log("ocistream 0.1.0");
    return 0;
  }
  const load = COMMANDS[name];
  if (!load) {
    console.error(`error: unknown command ${quote(name)}: run 'ocistream --help' for the list`);
    return 2;
  }
  try {
    const command = await load();
    return await command(rest);
  } catch (e) {
    // Messages quote registries and layers: secrets are masked and terminal controls escaped.
    const message = clipLine(escapeControls(redactSecrets(describe(e))));
    console.error(`error: ${message}`);
    if (Deno.env.get("OCISTREAM_DEBUG") && e instanceof Error && e.stack) {
      console.error(escapeControls(redactSecrets(e.stack), true));
    }
    return e instanceof UsageError ? 2 : 1;
  }
}

/** The longest error line printed: a 32 MiB path from a hostile layer must not become one. */
const MAX_ERROR_LINE = 4096;

function clipLine(text: string): string {
  return text.length <= MAX_ERROR_LINE
    ? text
    : `${text.slice(0, MAX_ERROR_LINE)}… (${text.length} characters in all)`;
}

/** A one-line description of an error, with its causes. */
function describe(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  let text = e.message;
  let cause = e.cause;
  while (cause instanceof Error && !text.includes(cause.message)) {
    text += `: ${cause.message}`;
    cause = cause.cause;
  }
  return text.replace(/\s*\n\s*/g, " ");
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
