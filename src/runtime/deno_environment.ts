/**
 * Everything the export orchestrator needs, supplied by Deno: native codecs
 * with worker threads, the store on disk, registry clients with the user's
 * credentials and TLS settings, temporary layouts and archive writers.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { createDenoEnvironment } from "./deno_environment.ts";
 * const dir = await Deno.makeTempDir();
 * const env = await createDenoEnvironment({ storePath: `${dir}/store` });
 * try {
 *   assertEquals(await env.store!.images(), []); // a new store is empty
 * } finally {
 *   await env.close();
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 * @module
 */
import type { ExportEnvironment } from "../exporter/export_image.ts";
import type { ProgressListener } from "../exporter/progress.ts";
import type { Codecs } from "../types/codecs.ts";
import type { Platform } from "../types/descriptor.ts";
import { OciLayout } from "../sinks/oci_layout.ts";
import { RegistryRepositories } from "../sinks/registry_repositories.ts";
import { RegistryClient } from "../registry/registry_client.ts";
import type { CredentialStore } from "../registry/credentials.ts";
import { createNativeCodecs } from "./native_codecs.ts";
import { parseTimeouts, type RegistryTimeouts } from "../registry/timeouts.ts";
import { denoFileSystem } from "./deno_file_system.ts";
import { defaultStorePath } from "./store_location.ts";
import { dockerCredentials } from "./docker_credentials.ts";
import { registryFetch } from "./registry_fetch.ts";

/** Options of {@link createDenoEnvironment}. */
export interface DenoEnvironmentOptions {
  /** Store folder; default `$OCISTREAM_STORE` or the user data folder. */
  storePath?: string;
  /** Open (and create) the store; false for exports that do not keep images. */
  openStore?: boolean;
  /** Compression workers (default: the number of cores). */
  workers?: number;
  /** Progress listener. */
  onProgress?: ProgressListener;
  /** Credentials; default the Docker/Podman config of the user. */
  credentials?: CredentialStore;
  /** A PEM file of CA certificates to trust for registries (`$OCISTREAM_REGISTRY_CA`). */
  caFile?: string;
  /**
   * Registry timeouts; default `$OCISTREAM_REGISTRY_TIMEOUTS`
   * (`connect=30,idle=60,response=600,request=0`, seconds) over the built-in defaults.
   */
  timeouts?: Partial<RegistryTimeouts>;
  /** Reuse layers of unchanged folders from the store's layer cache (default true). */
  layerCache?: boolean;
  /**
   * Bytes of a streamed layer held until the registry acknowledges them: the chunk size of
   * uploads that survive faults. Default `$OCISTREAM_UPLOAD_CHUNK` (`8MiB`, `512KiB` or
   * bytes), else 4 MiB.
   */
  uploadChunkSize?: number;
}

/** An export environment that must be closed (it owns workers and clients). */
export interface DenoEnvironment extends ExportEnvironment {
  /** The codecs in use. */
  codecs: Codecs;
  /** Opens a registry client for a host (cached per host and insecurity). */
  registryClient(host: string, insecure: boolean): RegistryClient;
  /** Releases what the environment holds. */
  close(): Promise<void>;
}

const TIMEOUTS_VARIABLE = "OCISTREAM_REGISTRY_TIMEOUTS";
const CHUNK_VARIABLE = "OCISTREAM_UPLOAD_CHUNK";

/** `8MiB`, `512KiB` or a byte count, as a whole number of bytes of at least 1 KiB. */
function parseChunkSize(text: string): number {
  const m = text.trim().match(/^(\d+)\s*(KiB|MiB)?$/);
  const bytes = m ? Number(m[1]) * (m[2] === "MiB" ? 1 << 20 : m[2] === "KiB" ? 1 << 10 : 1) : NaN;
  if (!Number.isSafeInteger(bytes) || bytes < 1024 || bytes > 1 << 30) {
    throw new RangeError(
      `Invalid $${CHUNK_VARIABLE} "${text}": give a size from 1KiB to 1024MiB, e.g. 8MiB`,
    );
  }
  return bytes;
}

/** The host's Linux platform, the default target. */
export function hostPlatform(): Platform {
  return { os: "linux", architecture: Deno.build.arch === "x86_64" ? "amd64" : "arm64" };
}

/** Creates the Deno environment. */
export async function createDenoEnvironment(
  options: DenoEnvironmentOptions = {},
): Promise<DenoEnvironment> {
  // Checked before anything is opened: a bad setting is an error with nothing done.
  const timeouts = options.timeouts ??
    parseTimeouts(Deno.env.get(TIMEOUTS_VARIABLE) ?? "", `$${TIMEOUTS_VARIABLE}`);
  const chunkText = Deno.env.get(CHUNK_VARIABLE);
  const chunkSize = options.uploadChunkSize ??
    (chunkText ? parseChunkSize(chunkText) : undefined);
  const codecs = createNativeCodecs({ workers: options.workers });
  const store = options.openStore === false
    ? undefined
    : await OciLayout.open(denoFileSystem, options.storePath ?? defaultStorePath(), codecs);
  const credentials = options.credentials ?? dockerCredentials();
  const caFile = options.caFile ?? Deno.env.get("OCISTREAM_REGISTRY_CA");
  const sha256 = () => codecs.sha256();
  const onProgress = options.onProgress;
  // Loaded only for exports into the store: a push need not load the encoders it depends on.
  const layerCache = store && options.layerCache !== false
    ? new (await import("../exporter/layer_cache.ts")).LayerCache(denoFileSystem, store, codecs, {
      onDiscard: (_key, reason) =>
        onProgress?.({ type: "note", message: `layer cache: ${reason}` }),
    })
    : undefined;

  const repositories = new RegistryRepositories((host, insecure) => {
    // The TLS setup is async (it reads the CA file); requests wait for it.
    const ready = registryFetch({ caFile, insecure });
    const fetchWithTls: typeof fetch = async (input, init) => (await ready)(input, init);
    return new RegistryClient(host, {
      insecure,
      credentials,
      fetch: fetchWithTls,
      sha256,
      timeouts,
      chunkSize,
    });
  }, options.onProgress);

  return {
    codecs,
    store,
    layerCache,
    registryClient: (host, insecure) => repositories.client(host, insecure),
    openRepository: (ref, { insecure }) => repositories.open(ref, insecure),
    async makeTempLayout() {
      const dir = await Deno.makeTempDir({ prefix: "ocistream-layout-" });
      const layout = await OciLayout.open(denoFileSystem, dir, codecs);
      return { layout, dispose: () => Deno.remove(dir, { recursive: true }) };
    },
    // Loaded on first use, so commands that never write archives or unpack start faster.
    writeArchive: async (output, source, root, names) =>
      (await import("./write_archive.ts")).writeArchive(output, source, root, names, { codecs }),
    unpack: async (layout, root, platform) =>
      (await import("./unpack_image.ts")).unpackImage(layout, root, platform, { codecs }),
    hostPlatform: hostPlatform(),
    onProgress: options.onProgress,
    close() {
      // Compression workers stop by themselves when idle; nothing else is held.
      return Promise.resolve();
    },
  };
}
