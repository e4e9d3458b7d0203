/**
 * Opens an image for `ls` and `export`: any location `copy` reads (registry,
 * store, layout, archive) through {@linkcode readImage}, one platform of it
 * (`--platform`, else the only one, else the host's).
 *
 * @example
 * ```ts ignore
 * import { openImageReader } from "./image_reader.ts";
 * const { image, close } = await openImageReader("127.0.0.1:5000/app:1", {});
 * console.log(image.layers.length);
 * await close();
 * ```
 * @module
 */
import { openSourceImage } from "./image_location.ts";
import { createDenoEnvironment, hostPlatform } from "../runtime/deno_environment.ts";
import { type ImageReader, readImage } from "../image/read_image.ts";
import { parsePlatform } from "../types/platform.ts";

/** Opens `text` for reading with the command's `--platform`, `--store` and `--insecure`. */
export async function openImageReader(
  text: string,
  flags: { platform?: string; store?: string; insecure?: boolean },
): Promise<{ image: ImageReader; close: () => Promise<void> }> {
  const platform = flags.platform === undefined ? undefined : parsePlatform(flags.platform);
  const env = await createDenoEnvironment({ openStore: false });
  try {
    const found = await openSourceImage(text, {
      env,
      storePath: flags.store,
      insecure: flags.insecure ?? false,
    });
    const image = await readImage(
      { source: found.source, root: found.root, name: text },
      { platform, fallbackPlatform: hostPlatform(), codecs: env.codecs },
    );
    return { image, close: () => env.close() };
  } catch (e) {
    await env.close();
    throw e;
  }
}
