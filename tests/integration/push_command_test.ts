/**
 * `ocistream push SRC NAME` through the CLI: from the store and from an OCI
 * layout, a multi-platform index with attestations (every manifest pushed,
 * checked by skopeo), a second push that uploads nothing (counted by a
 * proxy), push-by-digest and `--insecure` TLS.
 */
import assert from "node:assert/strict";
import { runCli } from "../_harness/cli.ts";
import { startRegistry } from "../_harness/registry.ts";
import { startRegistryProxy, uploadedDigests } from "./_registry_proxy.ts";
import { listTags, readMetadata, verifyPushed, workspace } from "./_registry_cli.ts";
import { runBuild } from "../_harness/store.ts";

function newWorkspace() {
  return workspace("ocistream-push-", "push me", 100_000);
}

Deno.test("push copies a multi-platform image with attestations from the store; a second push uploads nothing", async () => {
  const reg = await startRegistry();
  const proxy = startRegistryProxy(reg.url);
  const w = await newWorkspace();
  try {
    const store = w.store;
    const built = await runBuild(w.context, store, "type=image,name=example.com/multi:1", {
      metadataFile: w.meta,
      flags: ["--platform", "linux/amd64,linux/arm64", "--attest", "type=sbom"],
      env: w.env,
    });
    assert.equal(built.code, 0, built.stderr);
    const digest = (await readMetadata(w.meta))["containerimage.digest"];

    const first = await runCli(
      ["push", "--store", store, "example.com/multi:1", `${proxy.host}/multi:1`],
      { env: w.env },
    );
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout, "");
    assert.match(first.stderr, new RegExp(`pushed ${digest}`));
    await verifyPushed(`${reg.host}/multi:1`, digest);
    // Every manifest of the index is on the registry by digest.
    const index = JSON.parse(
      await (await fetch(`${reg.url}/v2/multi/manifests/${digest}`, {
        headers: { Accept: "application/vnd.oci.image.index.v1+json" },
      })).text(),
    );
    assert.equal(index.manifests.length, 4); // two platforms, two attestation manifests
    for (const m of index.manifests) {
      const res = await fetch(`${reg.url}/v2/multi/manifests/${m.digest}`, {
        method: "HEAD",
        headers: { Accept: m.mediaType },
      });
      assert.equal(res.status, 200, m.digest);
    }
    const firstUploads = uploadedDigests(proxy.requests);
    assert.ok(firstUploads.length >= 4, firstUploads.join(" "));
    assert.equal(new Set(firstUploads).size, firstUploads.length, "a blob was uploaded twice");

    proxy.reset();
    const second = await runCli(
      ["push", "--store", store, "example.com/multi:1", `${proxy.host}/multi:1`],
      { env: w.env },
    );
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(uploadedDigests(proxy.requests), []);
    assert.deepEqual(
      proxy.requests.filter((q) => q.method === "PATCH" || q.method === "POST"),
      [],
    );
    assert.ok(proxy.requests.every((q) => q.method !== "GET" || !q.path.includes("/blobs/")));
  } finally {
    await proxy.stop();
    await reg.stop();
    await Deno.remove(w.dir, { recursive: true });
  }
});

Deno.test("push copies from an OCI layout folder, by tag and by digest", async () => {
  const reg = await startRegistry();
  const w = await newWorkspace();
  try {
    const layout = `${w.dir}/layout`;
    const built = await runBuild(
      w.context,
      w.store,
      `type=oci,tar=false,dest=${layout},name=example.com/fromlayout:2`,
      {
        metadataFile: w.meta,
        flags: ["--platform", "linux/amd64,linux/arm64"],
        env: w.env,
      },
    );
    assert.equal(built.code, 0, built.stderr);
    const digest = (await readMetadata(w.meta))["containerimage.digest"];

    const r = await runCli(
      ["push", "--progress", "quiet", `oci-layout://${layout}`, `${reg.host}/fromlayout:2`],
      { env: w.env },
    );
    assert.equal(r.code, 0, r.stderr);
    await verifyPushed(`${reg.host}/fromlayout:2`, digest);

    const byDigest = await runCli(
      ["push", "--push-by-digest", `oci-layout://${layout}`, `${reg.host}/bydigest`],
      { env: w.env },
    );
    assert.equal(byDigest.code, 0, byDigest.stderr);
    await verifyPushed(`${reg.host}/bydigest@${digest}`, digest);
    assert.deepEqual(await listTags(reg.url, "bydigest"), []);
  } finally {
    await reg.stop();
    await Deno.remove(w.dir, { recursive: true });
  }
});

Deno.test("push --insecure reaches a TLS registry with an untrusted certificate", async () => {
  const reg = await startRegistry({ tls: true });
  const w = await newWorkspace();
  try {
    const store = w.store;
    const built = await runBuild(w.context, store, "type=image,name=example.com/tls:1", {
      metadataFile: w.meta,
      env: w.env,
    });
    assert.equal(built.code, 0, built.stderr);
    const digest = (await readMetadata(w.meta))["containerimage.digest"];
    const refused = await runCli(
      ["push", "--store", store, "example.com/tls:1", `${reg.host}/tls:1`],
      { env: w.env },
    );
    assert.equal(refused.code, 1);
    assert.equal(refused.stderr.trim().split("\n").filter((l) => l.startsWith("error:")).length, 1);
    const r = await runCli(
      ["push", "--insecure", "--store", store, "example.com/tls:1", `${reg.host}/tls:1`],
      { env: w.env },
    );
    assert.equal(r.code, 0, r.stderr);
    await verifyPushed(`${reg.host}/tls:1`, digest);
  } finally {
    await reg.stop();
    await Deno.remove(w.dir, { recursive: true });
  }
});

Deno.test("push of a store whose layer blob was damaged exits 1 naming the blob, and tags nothing", async () => {
  const reg = await startRegistry();
  const w = await newWorkspace();
  try {
    const built = await runBuild(w.context, w.store, "type=image,name=example.com/bad:1", {
      metadataFile: w.meta,
      env: w.env,
    });
    assert.equal(built.code, 0, built.stderr);
    const digest = (await readMetadata(w.meta))["containerimage.digest"];
    const manifest = JSON.parse(
      await Deno.readTextFile(`${w.store}/blobs/sha256/${digest.slice(7)}`),
    );
    const layer: string = manifest.layers[0].digest;
    // Same size, one byte changed: only hashing the bytes can tell.
    const path = `${w.store}/blobs/sha256/${layer.slice(7)}`;
    const bytes = await Deno.readFile(path);
    bytes[bytes.length >> 1]! ^= 0xff;
    await Deno.writeFile(path, bytes);

    const push = await runCli(
      ["push", "--store", w.store, "example.com/bad:1", `${reg.host}/bad:1`],
      { env: w.env },
    );
    assert.equal(push.code, 1, push.stderr);
    const errors = push.stderr.split("\n").filter((l) => l.startsWith("error:"));
    assert.equal(errors.length, 1, push.stderr);
    assert.match(errors[0]!, new RegExp(`blob ${layer}: the source's copy is damaged`));
    assert.deepEqual(await listTags(reg.url, "bad"), []);
  } finally {
    await reg.stop();
    await Deno.remove(w.dir, { recursive: true });
  }
});
