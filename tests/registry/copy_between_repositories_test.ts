/**
 * Copies within one registry through one shared client (the deadlock of issue 17: pushes held
 * every slot while their sources waited for one), with cross-repository mounts and their
 * fallback when a repository answers a mount with 202, and a copy between two registries.
 */
import assert from "node:assert/strict";
import { startRegistry } from "../_harness/registry.ts";
import { makeTar, MemorySource, skopeo, verifyWithSkopeo } from "./_image.ts";
import { startRegistryProxy } from "../integration/_registry_proxy.ts";
import { RegistryClient } from "../../src/registry/registry_client.ts";
import { RegistryRepository } from "../../src/sinks/registry_repository.ts";
import { copyImage } from "../../src/image/copy_image.ts";
import type { Descriptor } from "../../src/types/descriptor.ts";
import { OCI_CONFIG, OCI_LAYER, OCI_MANIFEST } from "../../src/types/media_types.ts";

/** An image of five layers and a config: six blobs. */
function sixBlobImage(): { source: MemorySource; root: Descriptor; blobs: Descriptor[] } {
  const source = new MemorySource();
  const layers = Array.from({ length: 5 }, (_, i) =>
    source.add(
      makeTar(`file${i}.txt`, new TextEncoder().encode(`layer ${i} `.repeat(3000 + i))),
      OCI_LAYER,
    ));
  const config = source.add(
    new TextEncoder().encode(JSON.stringify({
      architecture: "amd64",
      os: "linux",
      rootfs: { type: "layers", diff_ids: layers.map((l) => l.digest) },
    })),
    OCI_CONFIG,
  );
  const root = source.add(
    new TextEncoder().encode(
      JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers }),
    ),
    OCI_MANIFEST,
  );
  return { source, root, blobs: [config, ...layers] };
}

/** `work`, or a failure naming the deadlock when it has not settled after a minute. */
async function settles<T>(work: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stuck = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error("the copy deadlocked (no progress in 60 s)")),
      60_000,
    );
  });
  try {
    return await Promise.race([work, stuck]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("copyImage() between two repositories of one registry through one client: 6 blobs, no deadlock", async () => {
  const reg = await startRegistry();
  try {
    const img = sixBlobImage();
    const client = new RegistryClient(reg.host);
    const from = new RegistryRepository(client, "same/src");
    await copyImage(img.source, img.root, from, { tags: ["v1"] });
    // Mounting off: every blob is read from one repository and uploaded to the other, four at
    // a time through the client's four slots.
    const to = new RegistryRepository(client, "same/dst");
    const result = await settles(copyImage(from, img.root, to, { tags: ["v1"], mount: false }));
    assert.equal(result.blobs.length, 6);
    assert.deepEqual(result.blobs.map((b) => b.result), Array(6).fill("uploaded"));
    await verifyWithSkopeo(`${reg.host}/same/dst:v1`, img.root.digest);
    // One slot only: still no deadlock.
    const narrow = new RegistryClient(reg.host, { concurrency: 1 });
    const one = await settles(copyImage(
      new RegistryRepository(narrow, "same/src"),
      img.root,
      new RegistryRepository(narrow, "same/one"),
      { tags: ["v1"], mount: false, concurrency: 3 },
    ));
    assert.deepEqual(one.blobs.map((b) => b.result), Array(6).fill("uploaded"));
  } finally {
    await reg.stop();
  }
});

Deno.test("copyImage() within one registry mounts every blob: zero bytes uploaded or read", async () => {
  const reg = await startRegistry();
  const proxy = startRegistryProxy(reg.url);
  try {
    const img = sixBlobImage();
    const client = new RegistryClient(proxy.host);
    const from = new RegistryRepository(client, "mount/src");
    await copyImage(img.source, img.root, from, { tags: ["v1"] });
    proxy.reset();
    const to = new RegistryRepository(client, "mount/dst");
    const result = await copyImage(from, img.root, to, { tags: ["v2"] });
    assert.deepEqual(result.blobs.map((b) => b.result), Array(6).fill("mounted"));
    const blobBytes = proxy.requests
      .filter((r) => r.path.includes("/blobs/"))
      .reduce((n, r) => n + r.sent + r.received, 0);
    assert.equal(blobBytes, 0);
    assert.deepEqual(
      proxy.requests.filter((r) => r.method === "PATCH" || r.path.includes("?digest=")),
      [],
    );
    const mounts = proxy.requests.filter((r) => r.method === "POST");
    assert.equal(mounts.length, 6);
    assert.ok(mounts.every((r) => r.status === 201 && r.path.includes("from=mount%2Fsrc")));
    await verifyWithSkopeo(`${reg.host}/mount/dst:v2`, img.root.digest);
  } finally {
    await proxy.stop();
    await reg.stop();
  }
});

Deno.test("copyImage() uploads into the session a repository opens when it answers a mount with 202", async () => {
  const reg = await startRegistry();
  const proxy = startRegistryProxy(reg.url, { refuseMountsInto: ["deny/dst"] });
  try {
    const img = sixBlobImage();
    const client = new RegistryClient(proxy.host);
    const from = new RegistryRepository(client, "deny/src");
    await copyImage(img.source, img.root, from, { tags: ["v1"] });
    proxy.reset();
    const result = await copyImage(from, img.root, new RegistryRepository(client, "deny/dst"), {
      tags: ["v1"],
    });
    assert.deepEqual(result.blobs.map((b) => b.result), Array(6).fill("uploaded"));
    const posts = proxy.requests.filter((r) => r.method === "POST");
    // One POST per blob: the mount attempt, answered 202; its session took the upload.
    assert.equal(posts.length, 6);
    assert.ok(posts.every((r) => r.status === 202 && r.path.includes("mount=")));
    const sent = proxy.requests
      .filter((r) => r.method === "PATCH")
      .reduce((n, r) => n + r.sent, 0);
    assert.equal(sent, img.blobs.reduce((n, b) => n + b.size, 0));
    await verifyWithSkopeo(`${reg.host}/deny/dst:v1`, img.root.digest);
  } finally {
    await proxy.stop();
    await reg.stop();
  }
});

Deno.test("copyImage() between two registries streams every blob; skopeo reads the copy", async () => {
  const [a, b] = await Promise.all([startRegistry(), startRegistry()]);
  try {
    const img = sixBlobImage();
    const from = new RegistryRepository(new RegistryClient(a.host), "cross/app");
    await copyImage(img.source, img.root, from, { tags: ["v1"] });
    const to = new RegistryRepository(new RegistryClient(b.host), "cross/app");
    const result = await copyImage(from, img.root, to, { tags: ["v1"] });
    assert.deepEqual(result.blobs.map((r) => r.result), Array(6).fill("uploaded"));
    await verifyWithSkopeo(`${b.host}/cross/app:v1`, img.root.digest);
    const again = await copyImage(from, img.root, to, { tags: ["v1"] });
    assert.deepEqual(again.blobs.map((r) => r.result), Array(6).fill("exists"));
    assert.match(
      await skopeo(["inspect", "--tls-verify=false", `docker://${b.host}/cross/app:v1`]),
      /amd64/,
    );
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
});
