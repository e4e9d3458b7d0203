/**
 * The README's main command, as written: `deno task demo` builds
 * examples/hello into the local store; the image it makes really runs —
 * unpacked, its entrypoint prints the greeting — and `skopeo inspect oci:…`,
 * the README's look at it, reads it.
 */
import assert from "node:assert/strict";
import { run, runCli, runOk } from "../_harness/cli.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test("deno task demo stores example.com/hello:1, whose entrypoint runs", async () => {
  const store = await Deno.makeTempDir({ prefix: "ocistream-demo-" });
  try {
    const demo = await run(Deno.execPath(), ["task", "demo"], {
      cwd: ROOT,
      env: { OCISTREAM_STORE: store, CI: "true" },
    });
    assert.equal(demo.code, 0, demo.stderr);
    assert.match(demo.stderr, /exported sha256:[0-9a-f]{64}/);
    // OCI media types, so no warning about Docker's zstd type.
    assert.doesNotMatch(demo.stderr, /note:/);

    const images = await runCli(["images"], { env: { OCISTREAM_STORE: store } });
    const listed = /^example\.com\/hello:1\s+(sha256:[0-9a-f]{64})\s+image$/m.exec(images.stdout);
    assert.ok(listed, images.stdout);

    const config = JSON.parse(
      (await runCli(["inspect", "example.com/hello:1", "--config"], {
        env: { OCISTREAM_STORE: store },
      })).stdout,
    );
    assert.deepEqual(config.config.Entrypoint, ["/hello"]);
    const manifest = JSON.parse(
      (await runCli(["inspect", "example.com/hello:1"], { env: { OCISTREAM_STORE: store } }))
        .stdout,
    );
    assert.equal(
      manifest.layers[0].mediaType,
      "application/vnd.oci.image.layer.v1.tar+zstd",
    );
    const inspected = JSON.parse(
      (await runOk("skopeo", ["inspect", `oci:${store}:example.com/hello:1`])).stdout,
    );
    assert.equal(inspected.Digest, listed[1]);

    const rootfs = `${store}/rootfs`;
    const unpacked = await runCli(["unpack", "example.com/hello:1", rootfs], {
      env: { OCISTREAM_STORE: store },
    });
    assert.equal(unpacked.code, 0, unpacked.stderr);
    // The entrypoint is a static x86-64 Linux binary (ELF, e_machine 62): run it, which
    // needs such a host; elsewhere this fails saying so rather than passing unchecked.
    const entrypoint = `${rootfs}${config.config.Entrypoint[0]}`;
    const elf = (await Deno.readFile(entrypoint)).subarray(0, 20);
    assert.deepEqual([...elf.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46]);
    assert.equal(elf[18]! | (elf[19]! << 8), 62, "an x86-64 binary");
    assert.ok(
      Deno.build.os === "linux" && Deno.build.arch === "x86_64",
      `this test runs the x86-64 entrypoint, so it needs a linux x86_64 host, not ${Deno.build.os} ${Deno.build.arch}`,
    );
    const hello = await run(entrypoint, []);
    assert.equal(hello.code, 0, hello.stderr);
    assert.equal(hello.stdout, "Hello from ocistream!\n");
    assert.equal(
      await Deno.readTextFile(`${rootfs}/etc/motd`),
      "hello-world image built by ocistream\n",
    );
  } finally {
    await Deno.remove(store, { recursive: true });
  }
});
