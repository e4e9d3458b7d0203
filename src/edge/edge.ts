/**
 * An {@linkcode ExportEnvironment} for edge and serverless runtimes
 * (Cloudflare workerd, Node, Bun, Deno Deploy, browsers): portable codecs and
 * registry access over `fetch`, no file system and no local store.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { createEdgeEnvironment } from "@ocistream/ocistream";
 * const env = createEdgeEnvironment({ credentials: { "ghcr.io": { username: "u", password: "token" } } });
 * assertEquals(env.store === undefined, true); // nothing is kept locally
 * ```
 * @module
 */
import type { Codecs } from "../types/codecs.ts";
import type { ExportEnvironment } from "../exporter/export_image.ts";
import type { ProgressListener } from "../exporter/progress.ts";
import {
  type Credentials,
  type CredentialStore,
  staticCredentials,
} from "../registry/credentials.ts";
import { RegistryClient, type RegistryClientOptions } from "../registry/registry_client.ts";
import { RegistryRepositories } from "../sinks/registry_repositories.ts";
import { edgeCodecs } from "./edge_codecs.ts";

/** Options of {@linkcode createEdgeEnvironment}. */
export interface EdgeEnvironmentOptions {
  /** The fetch for registry requests (a service binding, a mock). Default: the global `fetch`. */
  fetch?: typeof fetch;
  /** Registry credentials: a store, or a map from registry host to credentials. Default: anonymous. */
  credentials?: CredentialStore | Record<string, Credentials>;
  /** Hashing and compression. Default: {@linkcode edgeCodecs}. */
  codecs?: Codecs;
  /** Further registry client settings (retries, concurrency, chunking, user agent). */
  registry?: Omit<RegistryClientOptions, "fetch" | "credentials" | "insecure" | "sha256">;
  /** Progress events of the export. */
  onProgress?: ProgressListener;
  /** The clock for `created` when no epoch is given. */
  now?: () => Date;
}

function isCredentialStore(c: CredentialStore | Record<string, Credentials>): c is CredentialStore {
  return typeof (c as CredentialStore).get === "function";
}

/**
 * Makes the environment `exportImage` needs in a runtime without a file
 * system: `codecs` (portable by default) and `openRepository` (one
 * {@linkcode RegistryClient} per registry host, so tokens and concurrency are
 * shared), and no `store`, `makeTempLayout`, `writeArchive` or `unpack`. So
 * only `type=registry` / `type=image,push=true` outputs work; the store is
 * skipped (SPEC §1: `store` is ignored where no store exists).
 *
 * @example
 * ```ts ignore
 * import { createEdgeEnvironment } from "./edge.ts";
 * import { exportImage } from "../exporter/export_image.ts";
 * import { parseOutputSpec } from "../exporter/output_spec.ts";
 * import { memoryEntries } from "../sources/memory_source.ts";
 * const [result] = await exportImage(
 *   { platforms: [{ platform: { os: "linux", architecture: "amd64" },
 *     layers: [{ entries: () => memoryEntries({ "index.html": "<h1>hi</h1>" }) }] }] },
 *   [parseOutputSpec("type=registry,name=127.0.0.1:5000/site:1")],
 *   createEdgeEnvironment(),
 * );
 * console.log(result!.digest);
 * ```
 */
export function createEdgeEnvironment(options: EdgeEnvironmentOptions = {}): ExportEnvironment {
  const codecs = options.codecs ?? edgeCodecs;
  const credentials = options.credentials === undefined
    ? undefined
    : isCredentialStore(options.credentials)
    ? options.credentials
    : staticCredentials(options.credentials);
  const repositories = new RegistryRepositories(
    (host, insecure) =>
      new RegistryClient(host, {
        ...options.registry,
        insecure,
        credentials,
        sha256: () => codecs.sha256(),
        ...(options.fetch ? { fetch: options.fetch } : {}),
      }),
    options.onProgress,
  );
  const env: ExportEnvironment = {
    codecs,
    openRepository: (ref, { insecure }) => repositories.open(ref, insecure),
  };
  if (options.onProgress) env.onProgress = options.onProgress;
  if (options.now) env.now = options.now;
  return env;
}
