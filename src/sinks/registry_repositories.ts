/**
 * Opens registry repositories for an export: one {@link RegistryClient} per
 * registry host (so tokens, scheme probing and the concurrency limit are shared
 * by every repository on it), and upload progress reported as `blob-upload`
 * events, throttled so logs stay readable. Every runtime's environment uses it.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseReference } from "@ocistream/ocistream";
 * import { RegistryClient, RegistryRepositories } from "@ocistream/ocistream/registry";
 * const repositories = new RegistryRepositories((host, insecure) => new RegistryClient(host, { insecure }));
 * const a = repositories.open(parseReference("127.0.0.1:5000/a:1"), false);
 * const b = repositories.open(parseReference("127.0.0.1:5000/b:1"), false);
 * assertEquals(a.client === b.client, true);
 * ```
 * @module
 */
import { type Reference, registryHost } from "../types/reference.ts";
import type { ProgressListener } from "../exporter/progress.ts";
import type { RegistryClient } from "../registry/registry_client.ts";
import { type BlobProgress, RegistryRepository } from "./registry_repository.ts";

/** Makes the client for a registry host. */
export type RegistryClientFactory = (host: string, insecure: boolean) => RegistryClient;

/** Repositories opened over clients shared per registry host. */
export class RegistryRepositories {
  readonly #create: RegistryClientFactory;
  readonly #onProgress?: ProgressListener;
  readonly #clients = new Map<string, RegistryClient>();

  /** Clients come from `create`; uploads report to `onProgress`. */
  constructor(create: RegistryClientFactory, onProgress?: ProgressListener) {
    this.#create = create;
    this.#onProgress = onProgress;
  }

  /** The client for `host` (one per host and insecurity). */
  client(host: string, insecure: boolean): RegistryClient {
    const key = `${insecure ? "insecure" : "secure"} ${host}`;
    let client = this.#clients.get(key);
    if (!client) {
      client = this.#create(host, insecure);
      this.#clients.set(key, client);
    }
    return client;
  }

  /** The repository `ref` names. */
  open(ref: Reference, insecure: boolean): RegistryRepository {
    const client = this.client(registryHost(ref), insecure);
    return new RegistryRepository(client, ref.repository, {
      onProgress: this.#onProgress
        ? throttledUploads(this.#onProgress, `${ref.registry}/${ref.repository}`)
        : undefined,
    });
  }
}

/**
 * Blob upload events at most every 200 ms per blob (reads come in 64 KiB
 * pieces: a JSON line each would swamp the log), always the first and the last.
 */
function throttledUploads(
  listener: ProgressListener,
  target: string,
): (p: BlobProgress) => void {
  const last = new Map<string, number>();
  return (p) => {
    const id = p.digest ?? "layer";
    const t = performance.now();
    const done = p.total !== undefined && p.sent >= p.total;
    const previous = last.get(id);
    if (!done && previous !== undefined && t - previous < 200) return;
    if (done) last.delete(id);
    else last.set(id, t);
    listener({
      type: "blob-upload",
      id,
      target,
      digest: p.digest ?? "",
      sent: p.sent,
      total: p.total,
    });
  };
}
