/**
 * `buildImage()` from `@ocistream/ocistream/deno` (issue 16): stable per-layer digests with
 * an epoch, the layer cache, pushes of changed layers only, and store names as bases, checked
 * against a real registry (docker-registry) and skopeo.
 */
import assert from "node:assert/strict";
import { buildImage } from "../../deno.ts";
import type { ProgressEvent } from "../../src/exporter/progress.ts";
import { startRegistry } from "../_harness/registry.ts";
import { writeTree } from "../_harness/tree.ts";
import { withTempDir } from "../_harness/store.ts";
import { runCli, runOk } from "../_harness/cli.ts";
import { UntarStream } from "../../src/stages/untar_stream.ts";

/** `path mode uid:gid mtime` of each entry of a gzip layer blob in `store`. */
async function layerEntries(store: string, digest: string): Promise<string[]> {
  const file = await Deno.open(`${store}/blobs/${digest.replace(":", "/")}`);
  const out: string[] = [];
  const tar = file.readable.pipeThrough(new DecompressionStream("gzip"));
  for await (const e of tar.pipeThrough(new UntarStream())) {
    out.push(`${e.path} ${e.mode.toString(8)} ${e.uid}:${e.gid} ${e.mtime}`);
    await e.body.cancel();
  }
  return out;
}

/** Sets every file's and folder's times under `root` (and `root`) to `seconds`. */
async function ageTree(root: string, seconds: number): Promise<void> {
  for await (const e of Deno.readDir(root)) {
    const path = `${root}/${e.name}`;
    if (e.isDirectory) await ageTree(path, seconds);
    else if (!e.isSymlink) await Deno.utime(path, seconds, seconds);
  }
  await Deno.utime(root, seconds, seconds);
}

Deno.test("buildImage() keeps the dependencies layer's digest after an app change, takes it from the layer cache and pushes only the app layer", async () => {
  const reg = await startRegistry();
  try {
    await withTempDir("ocistream-build-image-", async (work) => {
      await writeTree(`${work}/node_modules`, { "left-pad/index.js": "pad", "x/y.js": "y" });
      await writeTree(`${work}/dist`, { "server.js": "v1", "debug.log": "x" });
      await ageTree(work, 1_600_000_000);
      const events: ProgressEvent[] = [];
      const name = `${reg.host}/team/app:1`;
      const build = () =>
        buildImage({
          layers: [
            { src: `${work}/node_modules`, dest: "/app/node_modules", chown: "1000:1000" },
            { src: `${work}/dist`, dest: "/app", chown: 1000, exclude: ["*.log"] },
          ],
          config: { workdir: "/app", user: "1000", cmd: ["node", "server.js"] },
          outputs: [`type=registry,name=${name},registry.insecure=true,oci-mediatypes=true`],
          store: `${work}/store`,
          sourceDateEpoch: 0,
          progress: (e) => events.push(e),
        });
      const first = await build();
      const [deps1, app1] = first.manifests[0]!.layers;

      await Deno.writeTextFile(`${work}/dist/server.js`, "v2");
      await ageTree(`${work}/dist`, 1_600_000_100);
      events.length = 0;
      const second = await build();
      const [deps2, app2] = second.manifests[0]!.layers;
      assert.equal(deps2!.digest, deps1!.digest, "the dependencies layer is unchanged");
      assert.notEqual(app2!.digest, app1!.digest, "the app layer changed");
      assert.notEqual(second.digest, first.digest);
      const done = events.filter((e) => e.type === "layer-done");
      assert.deepEqual(
        done.map((e) => [e.digest, e.cached === true]),
        [[deps1!.digest, true], [app2!.digest, false]],
        "the dependencies layer comes from the layer cache, not re-compressed",
      );
      const uploaded = events.filter((e) => e.type === "blob-upload").map((e) => e.digest);
      assert.ok(uploaded.includes(app2!.digest), "the new app layer is pushed");
      assert.ok(!uploaded.includes(deps1!.digest), "the dependencies layer is not pushed again");

      // The registry serves the image; skopeo reads its config.
      const config = JSON.parse(
        (await runOk("skopeo", ["inspect", "--tls-verify=false", "--config", `docker://${name}`]))
          .stdout,
      );
      assert.equal(config.config.User, "1000");
      assert.equal(config.config.WorkingDir, "/app");
      assert.equal(config.rootfs.diff_ids.length, 2);
    });
  } finally {
    await reg.stop();
  }
});

Deno.test("buildImage() takes a base the store holds by name, offline; pull: true goes to the registry", async () => {
  const reg = await startRegistry();
  try {
    await withTempDir("ocistream-build-image-base-", async (work) => {
      const store = `${work}/store`;
      await writeTree(`${work}/base-local`, { "etc/base": "local" });
      await writeTree(`${work}/base-remote`, { "etc/base": "remote" });
      await writeTree(`${work}/app`, { "app.js": "app" });
      const local = await buildImage({
        layers: [`${work}/base-local`],
        outputs: ["type=image,name=demo/deps:1", `type=image,name=${reg.host}/base:1`],
        store,
        sourceDateEpoch: 0,
      });
      const remote = await buildImage({
        layers: [`${work}/base-remote`],
        outputs: [`type=registry,name=${reg.host}/base:1,registry.insecure=true,store=false`],
        store,
        sourceDateEpoch: 0,
      });
      const localLayer = local.manifests[0]!.layers[0]!.digest;
      const remoteLayer = remote.manifests[0]!.layers[0]!.digest;
      assert.notEqual(localLayer, remoteLayer);

      // A short name (docker.io/demo/deps:1 in full) the store holds: no registry is asked.
      const onLocal = await buildImage({
        from: "demo/deps:1",
        layers: [{ src: `${work}/app`, dest: "/app" }],
        outputs: ["type=image,name=example.com/app:1"],
        store,
        sourceDateEpoch: 0,
      });
      assert.deepEqual(onLocal.manifests[0]!.layers.map((l) => l.digest).slice(0, 1), [
        localLayer,
      ]);
      const fromStore = await buildImage({
        from: `${reg.host}/base:1`,
        layers: [`${work}/app`],
        outputs: ["type=image,name=example.com/app:2"],
        store,
        sourceDateEpoch: 0,
      });
      assert.equal(fromStore.manifests[0]!.layers[0]!.digest, localLayer);
      // A relative dest is under the config's workdir, as COPY resolves it against WORKDIR.
      const relative = await buildImage({
        layers: [{ src: `${work}/app`, dest: "public", chmod: "0700", chown: 7 }],
        config: { workdir: "/srv/site" },
        outputs: ["type=image,name=example.com/rel:1"],
        store,
        sourceDateEpoch: 50,
      });
      const entries = await layerEntries(store, relative.manifests[0]!.layers[0]!.digest);
      assert.deepEqual(entries.slice(0, 3), [
        "srv 700 7:7 50",
        "srv/site 700 7:7 50",
        "srv/site/public 700 7:7 50",
      ]);
      assert.match(entries[3]!, /^srv\/site\/public\/app\.js 700 7:7 /);
      assert.equal(entries.length, 4);
      const pulled = await buildImage({
        from: `${reg.host}/base:1`,
        pull: true,
        layers: [`${work}/app`],
        outputs: [`type=image,name=example.com/app:3,registry.insecure=true`],
        store,
        sourceDateEpoch: 0,
      });
      assert.equal(pulled.manifests[0]!.layers[0]!.digest, remoteLayer);

      // The CLI: a store name as --from with the registry stopped, and a bare path refused.
      await reg.stop();
      const r = await runCli([
        "build",
        `${work}/app`,
        "--from",
        `${reg.host}/base:1`,
        "--store",
        store,
        "--output",
        "type=image,name=example.com/app:4",
      ]);
      assert.equal(r.code, 0, r.stderr);
      for (const path of ["./base", "/tmp/base", `${work}/base-local`]) {
        const bad = await runCli(["build", `${work}/app`, "--from", path, "--store", store]);
        assert.equal(bad.code, 1, bad.stderr);
        assert.match(bad.stderr, /oci-layout:\/\//);
      }
    });
  } finally {
    await reg.stop();
  }
});
