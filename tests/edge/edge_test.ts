import assert from "node:assert/strict";
import { startRegistry } from "../_harness/registry.ts";
import { createEdgeEnvironment } from "../../src/edge/edge.ts";
import { exportFiles } from "../../src/edge/export_files.ts";
import { run } from "./_tools.ts";

const SITE = { "index.html": "<h1>hello</h1>\n", "css/site.css": "h1 {}\n" };

Deno.test("createEdgeEnvironment() pushes with credentials through the given fetch", async () => {
  const registry = await startRegistry({ auth: "htpasswd" });
  try {
    const urls: string[] = [];
    const env = createEdgeEnvironment({
      credentials: { [registry.host]: { username: "tester", password: "s3cret-pass" } },
      fetch: (input, init) => {
        urls.push(input instanceof Request ? input.url : String(input));
        return fetch(input, init);
      },
    });
    assert.equal(env.store, undefined);
    const ref = `${registry.host}/edge/auth:1`;
    const result = await exportFiles(SITE, `type=registry,name=${ref}`, { environment: env });
    assert.ok(urls.some((u) => u.includes("/v2/edge/auth/manifests/1")), urls.join("\n"));
    const inspect = JSON.parse(
      await run("skopeo", [
        "inspect",
        "--tls-verify=false",
        "--creds",
        "tester:s3cret-pass",
        `docker://${ref}`,
      ]),
    );
    assert.equal(inspect.Digest, result.digest);
  } finally {
    await registry.stop();
  }
});

Deno.test("exportFiles() pushes zstd and OCI media types where wasm is available", async () => {
  const registry = await startRegistry();
  try {
    const ref = `${registry.host}/edge/zstd:1`;
    const result = await exportFiles(
      SITE,
      `type=registry,name=${ref},compression=zstd,oci-mediatypes=true`,
      { config: { labels: { runtime: "deno" } }, prefix: "srv/www" },
    );
    const raw = JSON.parse(
      await run("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${ref}`]),
    );
    assert.equal(raw.mediaType, "application/vnd.oci.image.manifest.v1+json");
    assert.equal(raw.layers[0].mediaType, "application/vnd.oci.image.layer.v1.tar+zstd");
    assert.equal(raw.layers[0].digest, result.manifests[0]!.layers[0]!.digest);
    const config = JSON.parse(
      await run("skopeo", ["inspect", "--config", "--tls-verify=false", `docker://${ref}`]),
    );
    assert.deepEqual(config.config.Labels, { runtime: "deno" });
  } finally {
    await registry.stop();
  }
});

Deno.test("exportFiles() in an edge environment refuses archives and bad files before any request", async () => {
  let requests = 0;
  const env = createEdgeEnvironment({
    fetch: () => {
      requests++;
      return Promise.reject(new Error("no network in this test"));
    },
  });
  await assert.rejects(
    exportFiles(SITE, "type=oci,dest=out.tar", { environment: env }),
    { name: "TypeError", message: /type=oci needs a file system/ },
  );
  await assert.rejects(
    exportFiles({ "../x": "y" }, "type=registry,name=127.0.0.1:9/x:1", { environment: env }),
    { name: "TypeError", message: /must not contain "\.\."/ },
  );
  assert.equal(requests, 0);
});

Deno.test("exportFiles() places files at dest with chown and chmod as COPY does; umoci unpacks them", async () => {
  const registry = await startRegistry();
  const work = await Deno.makeTempDir({ prefix: "ocistream-edge-dest-" });
  try {
    const ref = `${registry.host}/edge/dest:1`;
    await exportFiles(
      [...Object.entries(SITE).map(([path, content]) => ({ path, content, mode: 0o600 })), {
        path: "latest",
        type: "symlink" as const,
        linkName: "index.html",
      }],
      `type=registry,name=${ref},oci-mediatypes=true`,
      { dest: "/usr/share/site", chown: "101", chmod: "0640", sourceDateEpoch: 0 },
    );
    await run("skopeo", ["copy", "--src-tls-verify=false", `docker://${ref}`, `oci:${work}/l:t`]);
    await run("umoci", ["unpack", "--image", `${work}/l:t`, `${work}/b`]);
    const facts = async (path: string) => {
      const info = await Deno.lstat(`${work}/b/rootfs/${path}`);
      return `${((info.mode ?? 0) & 0o7777).toString(8)} ${info.uid}:${info.gid}`;
    };
    assert.equal(await facts("usr"), "640 101:101");
    assert.equal(await facts("usr/share/site"), "640 101:101");
    assert.equal(await facts("usr/share/site/index.html"), "640 101:101");
    assert.equal(await facts("usr/share/site/css"), "640 101:101");
    assert.equal((await facts("usr/share/site/latest")).split(" ")[1], "101:101");
    await assert.rejects(
      exportFiles(SITE, `type=registry,name=${ref}`, { chown: "www-data" }),
      { name: "TypeError", message: /numeric UID/ },
    );
  } finally {
    await registry.stop();
    await Deno.remove(work, { recursive: true });
  }
});
