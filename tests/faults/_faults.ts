/**
 * Shared checks for the fault tests: push order in a proxy log, tags on the
 * real registry, and a registry + proxy pair that always stops.
 * @module
 */
import assert from "node:assert/strict";
import {
  startRegistry,
  type StartRegistryOptions,
  type TestRegistry,
} from "../_harness/registry.ts";
import {
  type FaultProxy,
  type FaultProxyOptions,
  type FaultRule,
  formatLog,
  type ProxyLogEntry,
  startFaultProxy,
} from "../_harness/fault_proxy.ts";
import { copyImage } from "../../src/image/copy_image.ts";
import type { RegistryClient } from "../../src/registry/registry_client.ts";
import { RegistryRepository } from "../../src/sinks/registry_repository.ts";
import type { Descriptor } from "../../src/types/descriptor.ts";

/** Runs `body` with a fresh registry and a fault proxy in front of it. */
export async function withProxy(
  rules: FaultRule[],
  body: (proxy: FaultProxy, registry: TestRegistry) => Promise<void>,
  options: { registry?: StartRegistryOptions; proxy?: FaultProxyOptions } = {},
): Promise<void> {
  const registry = await startRegistry(options.registry);
  let proxy: FaultProxy | undefined;
  try {
    proxy = await startFaultProxy(registry.url, rules, options.proxy);
    await body(proxy, registry);
  } catch (e) {
    if (proxy && e instanceof Error) e.message += `\nproxy log:\n${formatLog(proxy.log)}`;
    throw e;
  } finally {
    await proxy?.stop();
    await registry.stop();
  }
}

const isManifestPut = (e: ProxyLogEntry) => e.method === "PUT" && e.path.includes("/manifests/");

/**
 * Checks SPEC §8 order in a proxy log: no manifest `PUT` reached the proxy
 * before every blob was confirmed (a final `PUT ?digest=` answered 201, or a
 * `HEAD` answered 200), and no manifest `PUT` follows a blob request that
 * never succeeded.
 */
export function assertBlobsBeforeManifests(log: ProxyLogEntry[]): void {
  const first = log.findIndex(isManifestPut);
  if (first < 0) return;
  const blobs = new Map<string, boolean>();
  for (const e of log.slice(0, first)) {
    const head = e.path.match(/\/blobs\/(sha256:[0-9a-f]{64})$/);
    if (e.method === "HEAD" && head) {
      blobs.set(head[1]!, (blobs.get(head[1]!) ?? false) || e.status === 200);
    }
    const put = e.path.match(/[?&]digest=(sha256(?:%3A|:)[0-9a-f]{64})/);
    if (e.method === "PUT" && put) {
      const d = decodeURIComponent(put[1]!);
      blobs.set(d, (blobs.get(d) ?? false) || e.status === 201);
    }
  }
  for (const e of log.slice(first)) {
    assert.ok(
      !(e.path.includes("/blobs/uploads/") && e.method !== "GET"),
      `blob upload after the first manifest PUT:\n${formatLog(log)}`,
    );
  }
  // Any blob the client asked about must have been confirmed by then, or the registry knew it.
  const manifestsPut = log.filter(isManifestPut);
  if (manifestsPut.some((e) => e.status === 201)) {
    for (const [digest, ok] of blobs) {
      assert.ok(
        ok || log.some((e) => e.method === "HEAD" && e.path.endsWith(digest) && e.status === 200),
        `manifest PUT before blob ${digest} was confirmed:\n${formatLog(log)}`,
      );
    }
  }
}

/** Tags of a repository, asked of the real registry directly (not through the proxy). */
export async function registryTags(
  registry: TestRegistry,
  repository: string,
  authorization?: string,
): Promise<string[]> {
  const res = await fetch(`${registry.url}/v2/${repository}/tags/list`, {
    headers: authorization ? { Authorization: authorization } : {},
  });
  if (res.status === 404) {
    await res.body?.cancel();
    return [];
  }
  assert.equal(res.status, 200);
  const j = await res.json();
  return j.tags ?? [];
}

/** The status of a manifest `HEAD` on the real registry. */
export async function manifestStatus(
  registry: TestRegistry,
  repository: string,
  reference: string,
): Promise<number> {
  const res = await fetch(`${registry.url}/v2/${repository}/manifests/${reference}`, {
    method: "HEAD",
    headers: {
      Accept: [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
      ].join(", "),
    },
  });
  await res.body?.cancel();
  return res.status;
}

/** Fast retries for tests: same attempts as the default, short backoff. */
export const QUICK_RETRIES = { attempts: 4, baseDelayMs: 20, maxDelayMs: 5_000 };

/** Pushes a test image (from `makeImage`/`makeIndex`) through `client` to `repo`, tagged `v1`. */
export function pushV1(
  client: RegistryClient,
  image: { source: Parameters<typeof copyImage>[0]; root: Descriptor },
  repo: string,
): ReturnType<typeof copyImage> {
  return copyImage(image.source, image.root, new RegistryRepository(client, repo), {
    tags: ["v1"],
  });
}
