/**
 * Records every regular file's path, size and sha256 as its body passes by
 * on its way into the tar — the SBOM's file list at no extra read.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { FileInventoryStream, TarStream } from "@ocistream/ocistream/tar";
 * import { webCodecs } from "@ocistream/ocistream/stages";
 * const inventory = new FileInventoryStream(webCodecs);
 * await ReadableStream.from([
 *   { path: "a.txt", type: "file" as const, mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 2,
 *     open: () => new Blob(["hi"]).stream() },
 * ]).pipeThrough(inventory).pipeThrough(new TarStream()).pipeTo(new WritableStream());
 * assertEquals([inventory.files[0]?.path, inventory.files[0]?.size], ["a.txt", 2]);
 * ```
 * @module
 */
import type { Codecs } from "../types/codecs.ts";
import type { TarEntry } from "../types/tar_entry.ts";

const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/** A file seen by {@link FileInventoryStream}. */
export interface InventoryFile {
  /** Path inside the layer. */
  path: string;
  /** Size in bytes. */
  size: number;
  /** Lowercase hex sha256 of the content. */
  sha256: string;
}

/**
 * Passes entries through, hashing each regular file's body as it is read and
 * noting hardlinks (which have no body: they share their target's content).
 */
export class FileInventoryStream extends TransformStream<TarEntry, TarEntry> {
  /** Files whose bodies have been read to the end, in the order they finished. */
  readonly files: InventoryFile[];
  /** Hardlinks seen, as `[path, target path]`. */
  readonly hardlinks: [string, string][];

  /** Hashes with `codecs.sha256()`. */
  constructor(codecs: Codecs) {
    const files: InventoryFile[] = [];
    const hardlinks: [string, string][] = [];
    super({
      transform(entry, controller) {
        if (entry.type === "hardlink" && entry.linkName) {
          hardlinks.push([entry.path, entry.linkName]);
        }
        if (entry.type !== "file") return controller.enqueue(entry);
        if (!entry.open || !entry.size) {
          files.push({ path: entry.path, size: 0, sha256: EMPTY_SHA256 });
          return controller.enqueue(entry);
        }
        const open = entry.open;
        controller.enqueue({
          ...entry,
          open: async () => {
            const hasher = await codecs.sha256();
            let size = 0;
            return (await open()).pipeThrough(
              new TransformStream<Uint8Array, Uint8Array>({
                transform(chunk, c) {
                  hasher.update(chunk);
                  size += chunk.byteLength;
                  c.enqueue(chunk);
                },
                flush() {
                  files.push({ path: entry.path, size, sha256: hasher.digestHex() });
                },
              }),
            );
          },
        });
      },
    });
    this.files = files;
    this.hardlinks = hardlinks;
  }
}
