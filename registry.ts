/**
 * The OCI distribution client: push and pull blobs and manifests over
 * web-standard `fetch`, with Basic and Bearer auth bound to their registry,
 * retries, timeouts and bounded reads; image references; registry
 * repositories as content sinks and sources. Portable: no runtime API.
 *
 * @example Read a manifest from a registry
 * ```ts ignore
 * import { RegistryClient } from "@ocistream/ocistream/registry";
 * const client = new RegistryClient("127.0.0.1:5000");
 * const manifest = await client.getManifest("demo/app", "1");
 * console.log(manifest.digest, manifest.mediaType);
 * ```
 *
 * @module
 */
export * from "./src/registry/registry_client.ts";
export * from "./src/registry/registry_error.ts";
export * from "./src/registry/credentials.ts";
export * from "./src/registry/resolve_image.ts";
export * from "./src/registry/redact.ts";
export * from "./src/registry/retry_options.ts";
export * from "./src/registry/timeouts.ts";
export * from "./src/sinks/registry_repository.ts";
export * from "./src/sinks/registry_repositories.ts";
export * from "./src/types/reference.ts";
