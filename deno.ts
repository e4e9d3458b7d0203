/**
 * Deno's side of ocistream: the file system, native codecs with worker
 * threads, the local store location, Docker/Podman credentials, TLS options
 * for registries, archives on disk and unpacking — everything the portable
 * core (`@ocistream/ocistream`) asks a runtime for.
 *
 * @example Build an image from folders, as `ocistream build` does
 * ```ts ignore
 * import { buildImage } from "@ocistream/ocistream/deno";
 * // Needs the network: the base image is pulled from its registry (docker.io).
 * const { digest } = await buildImage({
 *   from: "node:22-slim",
 *   layers: ["node_modules:/app/node_modules", { src: "dist", dest: "/app", chown: "1000" }],
 *   config: { workdir: "/app", user: "1000", cmd: ["node", "server.js"] },
 *   outputs: ["type=image,name=example.com/app:1"],
 *   sourceDateEpoch: 0,
 * });
 * console.log(digest);
 * ```
 *
 * @example Export a folder into the local store
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { exportImage, parseOutputSpec } from "@ocistream/ocistream";
 * import { createDenoEnvironment, denoFileSystem, directoryEntries } from "@ocistream/ocistream/deno";
 * const dir = await Deno.makeTempDir();
 * await Deno.mkdir(`${dir}/site`);
 * await Deno.writeTextFile(`${dir}/site/index.html`, "<p>hi</p>\n");
 * const env = await createDenoEnvironment({ storePath: `${dir}/store` });
 * try {
 *   const [result] = await exportImage({
 *     platforms: [{ platform: { os: "linux", architecture: "amd64" },
 *       layers: [{ entries: () => directoryEntries(denoFileSystem, `${dir}/site`) }] }],
 *   }, [parseOutputSpec("type=image,name=example.com/site:1")], env);
 *   const stored = await env.store!.resolve("example.com/site:1");
 *   assertEquals(stored?.digest, result!.digest);
 * } finally {
 *   await env.close();
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 *
 * @module
 */
export * from "./src/runtime/deno_environment.ts";
export * from "./src/runtime/deno_file_system.ts";
export * from "./src/runtime/native_codecs.ts";
export * from "./src/runtime/parallel_compress.ts";
export * from "./src/runtime/store_location.ts";
export * from "./src/runtime/docker_credentials.ts";
export * from "./src/runtime/registry_fetch.ts";
export * from "./src/runtime/resolve_base_image.ts";
export * from "./src/runtime/write_archive.ts";
export * from "./src/runtime/unpack_image.ts";
export { directoryEntries, type DirectorySourceOptions } from "./src/sources/directory_source.ts";
export * from "./src/runtime/archive_source.ts";
export {
  buildImage,
  type BuildImageOptions,
  type BuildImageResult,
  type LayerOptions,
} from "./src/runtime/build_image.ts";
