/**
 * `ocistream build` end to end into archives and the store (SPEC §9):
 * `type=oci`, `type=docker` and `type=oci,tar=false` read by skopeo and
 * umoci, for single- and multi-platform images, and `unpack=true` equal to
 * `umoci unpack`.
 */
import assert from "node:assert/strict";
import { OciLayout } from "../../src/sinks/oci_layout.ts";
import { denoFileSystem } from "../../src/runtime/deno_file_system.ts";
import {
  describeTree,
  dir,
  file,
  run,
  symlink,
  testCodecs,
  writeImage,
} from "../sinks/_image_fixture.ts";

const MAIN = new URL("../../src/cli/main.ts", import.meta.url).pathname;

async function build(args: string[]): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-check", MAIN, "build", "--progress", "quiet", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
}

async function withContext<T>(fn: (tmp: string) => Promise<T>): Promise<T> {
  const tmp = await Deno.makeTempDir({ prefix: "ocistream-archives-" });
  try {
    await Deno.mkdir(`${tmp}/ctx/app`, { recursive: true });
    await Deno.writeTextFile(`${tmp}/ctx/app/main.sh`, "#!/bin/sh\necho hi\n");
    await Deno.chmod(`${tmp}/ctx/app/main.sh`, 0o755);
    await Deno.writeTextFile(`${tmp}/ctx/etc-override`, "from the context\n");
    return await fn(tmp);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

Deno.test("build --output type=oci and type=docker: skopeo reads single- and multi-platform archives", async () => {
  await withContext(async (tmp) => {
    for (const platforms of ["linux/amd64", "linux/amd64,linux/arm64"]) {
      const multi = platforms.includes(",");
      const oci = `${tmp}/oci.tar`;
      const docker = `${tmp}/docker.tar`;
      await build([
        `${tmp}/ctx`,
        "--platform",
        platforms,
        "--store",
        `${tmp}/store`,
        "--output",
        `type=oci,dest=${oci},name=example.com/app:1`,
        "--output",
        `type=docker,dest=${docker},name=example.com/app:1`,
      ]);
      const raw = JSON.parse(await run("skopeo", ["inspect", "--raw", `oci-archive:${oci}`]));
      assert.equal(raw.manifests !== undefined, multi);
      await run("skopeo", ["copy", "-q", "--all", `oci-archive:${oci}`, `oci:${tmp}/copy-oci:x`]);
      await run("skopeo", ["copy", "-q", `docker-archive:${docker}`, `oci:${tmp}/copy-docker:x`]);
      const config = JSON.parse(
        await run("skopeo", ["inspect", "--config", `oci:${tmp}/copy-docker:x`]),
      );
      assert.equal(config.architecture, "amd64");
      const dockerManifest = JSON.parse(await run("tar", ["-xOf", docker, "manifest.json"]));
      assert.deepEqual(dockerManifest[0].RepoTags, ["example.com/app:1"]);
      await Deno.remove(`${tmp}/copy-oci`, { recursive: true });
      await Deno.remove(`${tmp}/copy-docker`, { recursive: true });
    }
  });
});

Deno.test("build with unpack=true gives the same rootfs as umoci unpack, over a multi-layer base", async () => {
  await withContext(async (tmp) => {
    // A base with several layers that delete, replace and opaque-whiteout.
    const base = await OciLayout.open(denoFileSystem, `${tmp}/base`, testCodecs);
    const manifest = await writeImage(base, [
      [
        dir("etc"),
        file("etc/keep", "keep\n"),
        file("etc/gone", "gone\n"),
        dir("var"),
        file("var/old", "old\n"),
        symlink("etc-link", "/etc"),
      ],
      [
        file("etc/.wh.gone", ""),
        dir("var"),
        file("var/.wh..wh..opq", ""),
        file("var/new", "new\n"),
        file("etc-link/through", "via an absolute symlink\n"),
      ],
    ]);
    await base.setNames(manifest, ["base"]);
    await build([
      `${tmp}/ctx`,
      "--from",
      `oci-layout://${tmp}/base:base`,
      "--store",
      `${tmp}/store`,
      "--output",
      "type=image,name=example.com/unpacked:1,oci-mediatypes=true,unpack=true",
      "--output",
      `type=oci,tar=false,dest=${tmp}/layout,name=example.com/unpacked:1,oci-mediatypes=true`,
    ]);
    await run("umoci", ["unpack", "--image", `${tmp}/layout:1`, `${tmp}/bundle`]);
    const unpacked = `${tmp}/store/unpacked`;
    const [hex] = (await Array.fromAsync(Deno.readDir(unpacked))).map((e) => e.name);
    const ours = await describeTree(`${unpacked}/${hex}/rootfs`);
    assert.deepEqual(ours, await describeTree(`${tmp}/bundle/rootfs`));
    assert.ok(ours.some((l) => l.startsWith("etc/through file")));
    assert.ok(!ours.some((l) => l.startsWith("var/old") || l.startsWith("etc/gone")));
    assert.ok(ours.some((l) => l.startsWith("app/main.sh file 755")));
  });
});
