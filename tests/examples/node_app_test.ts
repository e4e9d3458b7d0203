/**
 * `examples/node_app.ts` (the README's first library example) run as written: a stand-in for
 * node:22-slim kept in the store, pushed to docker-registry, read back by skopeo; an app change
 * pushes a new app layer and keeps the dependencies layer.
 */
import assert from "node:assert/strict";
import { run, runCli, runOk } from "../_harness/cli.ts";
import { startRegistry } from "../_harness/registry.ts";
import { writeTree } from "../_harness/tree.ts";
import { withTempDir } from "../_harness/store.ts";

const EXAMPLE = new URL("../../examples/node_app.ts", import.meta.url).pathname;

Deno.test("examples/node_app.ts builds on a store base and pushes deps and app as two layers under /app", async () => {
  const reg = await startRegistry();
  try {
    await withTempDir("ocistream-node-app-", async (work) => {
      const env = { OCISTREAM_STORE: `${work}/store`, DOCKER_CONFIG: `${work}/docker` };
      await writeTree(`${work}/base`, { "usr/local/bin/node": "#!/bin/sh\n" });
      const base = await runCli([
        "build",
        `${work}/base`,
        "--output",
        "type=image,name=node:22-slim",
      ], {
        env,
      });
      assert.equal(base.code, 0, base.stderr);
      await writeTree(`${work}/app/node_modules`, { "dep/index.js": "dep" });
      await writeTree(`${work}/app/dist`, { "server.js": "v1", "server.js.map": "{}" });
      const name = `${reg.host}/team/app:1`;
      const example = () =>
        run(Deno.execPath(), ["run", "-A", EXAMPLE, `${work}/app`, name], { env });
      const inspect = async () =>
        JSON.parse(
          (await runOk("skopeo", ["inspect", "--tls-verify=false", `docker://${name}`])).stdout,
        );

      const first = await example();
      assert.equal(first.code, 0, first.stderr);
      const pushed = await inspect();
      assert.equal(pushed.Digest, first.stdout.trim());
      assert.equal(pushed.Layers.length, 3, "base, dependencies, app");
      const config = JSON.parse(
        (await runOk("skopeo", ["inspect", "--config", "--tls-verify=false", `docker://${name}`]))
          .stdout,
      );
      assert.equal(config.config.User, "1000");
      assert.equal(config.config.WorkingDir, "/app");
      // One entry per layer (config steps add empty_layer entries of their own).
      const layerHistory = config.history.filter((h: { empty_layer?: boolean }) => !h.empty_layer)
        .map((h: { created_by: string }) => h.created_by);
      assert.deepEqual(layerHistory.slice(1), [
        "COPY --chown=1000:1000 . /app/node_modules # buildkit",
        "COPY --chown=1000:1000 . /app # buildkit",
      ]);

      await Deno.writeTextFile(`${work}/app/dist/server.js`, "v2");
      const second = await example();
      assert.equal(second.code, 0, second.stderr);
      const again = await inspect();
      assert.notEqual(again.Digest, pushed.Digest);
      assert.equal(again.Layers[1], pushed.Layers[1], "dependencies layer unchanged");
      assert.notEqual(again.Layers[2], pushed.Layers[2], "app layer changed");
    });
  } finally {
    await reg.stop();
  }
});
