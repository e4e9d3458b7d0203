/**
 * Issue 16 in a real engine: an image built with `--layer` on a base the store holds, files
 * under /app owned by a non-root user, excluded files absent, run by podman.
 */
import assert from "node:assert/strict";
import { runCli } from "../_harness/cli.ts";
import { startPodman } from "../_harness/engines.ts";
import { writeTree } from "../_harness/tree.ts";
import { withTempDir } from "../_harness/store.ts";
import { BUSYBOX } from "./_images.ts";

Deno.test("podman runs an image built with --layer, --chown and .dockerignore as the user, in /app, with only the kept files", async () => {
  await withTempDir("ocistream-layers-engine-", async (work) => {
    const store = `${work}/store`;
    await Deno.mkdir(`${work}/base/bin`, { recursive: true });
    await Deno.copyFile(BUSYBOX, `${work}/base/bin/busybox`);
    await Deno.chmod(`${work}/base/bin/busybox`, 0o755);
    await Deno.symlink("busybox", `${work}/base/bin/sh`);
    const base = await runCli([
      "build",
      `${work}/base`,
      "--store",
      store,
      "--output",
      "type=image,name=example.com/busybox:1",
    ]);
    assert.equal(base.code, 0, base.stderr);
    await writeTree(`${work}/deps`, { "dep/index.js": "dep" });
    await writeTree(`${work}/dist`, {
      ".dockerignore": ".dockerignore\n*.log\nsecrets\n!secrets/public.pem\n",
      "server.sh": "echo served",
      "debug.log": "x",
      "secrets/key.pem": "private",
      "secrets/public.pem": "public",
    });
    const archive = `${work}/app.tar`;
    const r = await runCli([
      "build",
      "--from",
      "example.com/busybox:1",
      "--layer",
      "deps:/app/node_modules",
      "--layer",
      "src=dist,dest=/app,chmod=0750",
      "--chown",
      "1000:1000",
      "--workdir",
      "/app",
      "--user",
      "1000:1000",
      "--cmd",
      '["sh","-c","id -u; pwd; find /app | sort; ls -ln /app/server.sh; sh server.sh"]',
      "--source-date-epoch",
      "0",
      "--store",
      store,
      "--output",
      `type=docker,dest=${archive},name=example.com/layers-app:1`,
    ], { cwd: work });
    assert.equal(r.code, 0, r.stderr);
    const podman = await startPodman();
    try {
      const loaded = await podman.load("docker", archive);
      assert.equal(loaded.code, 0, loaded.stderr);
      const ran = await podman.run("example.com/layers-app:1");
      assert.equal(ran.code, 0, ran.stderr);
      const lines = ran.stdout.trim().split("\n");
      assert.deepEqual(lines.slice(0, 9), [
        "1000",
        "/app",
        "/app",
        "/app/node_modules",
        "/app/node_modules/dep",
        "/app/node_modules/dep/index.js",
        "/app/secrets",
        "/app/secrets/public.pem",
        "/app/server.sh",
      ]);
      assert.match(lines[9]!, /^-rwxr-x---\s+1\s+1000\s+1000\s/);
      assert.equal(lines[10], "served");
    } finally {
      await podman.stop();
    }
  });
});
