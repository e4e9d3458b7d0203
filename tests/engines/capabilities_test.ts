/**
 * File capabilities survive a build (issue 15 item 4): a binary given
 * `cap_net_bind_service+ep` with `setcap` gets that capability when podman runs it as a
 * non-root user, as with a layer BuildKit (containerd's differ) or umoci writes.
 * @module
 */
import assert from "node:assert/strict";
import { run } from "../_harness/cli.ts";
import { startPodman } from "../_harness/engines.ts";
import { runBuild, withTempDir } from "../_harness/store.ts";

Deno.test("podman runs a setcap'd binary of an ocistream image with its file capability (CapEff 0x400)", async () => {
  await withTempDir("ocistream-caps-", async (dir) => {
    const context = `${dir}/context`;
    await Deno.mkdir(`${context}/bin`, { recursive: true });
    await Deno.mkdir(`${context}/cap`);
    await Deno.copyFile("/bin/busybox", `${context}/bin/busybox`);
    // busybox picks its applet by name: /cap/cat is `cat`, carrying the capability.
    await Deno.copyFile("/bin/busybox", `${context}/cap/cat`);
    await Deno.chmod(`${context}/bin/busybox`, 0o755);
    await Deno.chmod(`${context}/cap/cat`, 0o755);
    const setcap = await run("setcap", ["cap_net_bind_service+ep", `${context}/cap/cat`]);
    assert.equal(setcap.code, 0, `setcap (libcap2-bin, as root): ${setcap.stderr}`);

    const archive = `${dir}/image.tar`;
    const b = await runBuild(
      context,
      undefined,
      `type=docker,dest=${archive},name=example.com/caps:1`,
      {
        progress: "quiet",
        epoch: 0,
        flags: ["--platform", "linux/amd64", "--user", "1000:1000"],
      },
    );
    assert.equal(b.code, 0, b.stderr);

    const podman = await startPodman();
    try {
      const load = await podman.load("docker", archive);
      assert.equal(load.code, 0, load.stderr);
      const withCap = await podman.run("example.com/caps:1", {
        args: ["/cap/cat", "/proc/self/status"],
      });
      assert.equal(withCap.code, 0, withCap.stderr);
      assert.match(withCap.stdout, /^CapEff:\s+0000000000000400$/m);
      // The same program without the xattr: no capability for user 1000.
      const without = await podman.run("example.com/caps:1", {
        args: ["/bin/busybox", "cat", "/proc/self/status"],
      });
      assert.equal(without.code, 0, without.stderr);
      assert.match(without.stdout, /^CapEff:\s+0000000000000000$/m);
    } finally {
      await podman.stop();
    }
  });
});
