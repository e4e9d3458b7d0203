import assert from "node:assert/strict";
import { archiveStream } from "../../src/sinks/archive_stream.ts";
import { OciLayout } from "../../src/sinks/oci_layout.ts";
import { denoFileSystem } from "../../src/runtime/deno_file_system.ts";
import { writeArchive } from "../../src/runtime/write_archive.ts";
import { parseOutputSpec } from "../../src/exporter/output_spec.ts";
import type { Descriptor } from "../../src/types/descriptor.ts";
import { dir, file, run, testCodecs, writeImage, writeIndex } from "./_image_fixture.ts";

const codecs = testCodecs;

async function withImages<T>(
  fn: (tmp: string, layout: OciLayout, single: Descriptor, index: Descriptor) => Promise<T>,
): Promise<T> {
  const tmp = await Deno.makeTempDir({ prefix: "ocistream-archive-test-" });
  try {
    const layout = await OciLayout.open(denoFileSystem, `${tmp}/store`, codecs);
    const big = new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 7919) & 0xff);
    const amd = await writeImage(layout, [
      [dir("etc"), file("etc/os", "amd64\n")],
      [file("big.bin", big)],
    ]);
    const arm = await writeImage(layout, [[dir("etc"), file("etc/os", "arm64\n")]], {
      platform: { os: "linux", architecture: "arm64", variant: "v8" },
    });
    const index = await writeIndex(layout, [amd, arm]);
    const { platform: _p, ...single } = amd;
    return await fn(tmp, layout, single, index);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

async function readTarFile(path: string, member: string): Promise<string> {
  return await run("tar", ["-xOf", path, member]);
}

Deno.test("archiveStream() writes an OCI layout tar sorted like BuildKit's, read by GNU tar", async () => {
  await withImages(async (tmp, layout, single) => {
    const path = `${tmp}/oci.tar`;
    await archiveStream(layout, single, { format: "oci", names: ["example.com/app:1"] })
      .pipeTo((await Deno.create(path)).writable);
    const listing = (await run("tar", ["-tvf", path])).trim().split("\n");
    const names = listing.map((l) => l.split(/\s+/).at(-1)!);
    assert.deepEqual(names.slice(0, 2), ["blobs/", "blobs/sha256/"]);
    assert.deepEqual(names.slice(-2), ["index.json", "oci-layout"]);
    assert.deepEqual([...names].sort(), names);
    assert.equal(names.length, 2 + 4 + 2); // folders, 2 layers + config + manifest, 2 files
    for (const line of listing) {
      const name = line.split(/\s+/).at(-1)!;
      const mode = line.split(/\s+/)[0];
      const owner = line.split(/\s+/)[1];
      assert.equal(owner, "0/0");
      if (name.endsWith("/")) assert.equal(mode, "drwxr-xr-x");
      else if (name.startsWith("blobs/") || name === "oci-layout") assert.equal(mode, "-r--r--r--");
      else assert.equal(mode, "-rw-r--r--");
    }
    const index = JSON.parse(await readTarFile(path, "index.json"));
    assert.deepEqual(index, {
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [{
        ...single,
        annotations: {
          "io.containerd.image.name": "example.com/app:1",
          "org.opencontainers.image.ref.name": "1",
        },
      }],
    });
    assert.equal(await readTarFile(path, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
    const inspected = JSON.parse(await run("skopeo", ["inspect", `oci-archive:${path}`]));
    assert.equal(inspected.Digest, single.digest);
    assert.equal(inspected.Layers.length, 2);
  });
});

Deno.test("writeArchive() type=oci: skopeo reads single- and multi-platform archives", async () => {
  await withImages(async (tmp, layout, single, index) => {
    const one = `${tmp}/one.tar`;
    await writeArchive(
      parseOutputSpec(`type=oci,dest=${one}`),
      layout,
      single,
      ["app:1", "app:2"],
      {
        codecs,
      },
    );
    const entries = JSON.parse(await readTarFile(one, "index.json")).manifests;
    assert.deepEqual(entries.map((e: Descriptor) => e.annotations), [
      {
        "io.containerd.image.name": "docker.io/library/app:1",
        "org.opencontainers.image.ref.name": "1",
      },
      {
        "io.containerd.image.name": "docker.io/library/app:2",
        "org.opencontainers.image.ref.name": "2",
      },
    ]);
    await run("skopeo", ["copy", "-q", `oci-archive:${one}:2`, `oci:${tmp}/copy1:x`]);
    assert.equal(
      JSON.parse(await run("skopeo", ["inspect", `oci:${tmp}/copy1:x`])).Digest,
      single.digest,
    );

    const multi = `${tmp}/multi.tar`;
    await writeArchive(parseOutputSpec(`type=oci,dest=${multi}`), layout, index, ["app:multi"], {
      codecs,
    });
    const raw = JSON.parse(await run("skopeo", ["inspect", "--raw", `oci-archive:${multi}`]));
    assert.equal(raw.manifests.length, 2);
    await run("skopeo", ["copy", "-q", "--all", `oci-archive:${multi}`, `oci:${tmp}/copy2:x`]);
    const arm = JSON.parse(
      await run("skopeo", [
        "--override-arch",
        "arm64",
        "inspect",
        "--config",
        `oci:${tmp}/copy2:x`,
      ]),
    );
    assert.equal(arm.architecture, "arm64");
    assert.deepEqual((await Array.fromAsync(Deno.readDir(tmp))).map((e) => e.name).sort(), [
      "copy1",
      "copy2",
      "multi.tar",
      "one.tar",
      "store",
    ]);
  });
});

Deno.test("writeArchive() type=docker: manifest.json for docker load, skopeo copies it", async () => {
  await withImages(async (tmp, layout, single, index) => {
    const one = `${tmp}/docker.tar`;
    await writeArchive(
      parseOutputSpec(`type=docker,dest=${one}`),
      layout,
      single,
      ["example.com/team/app:1", "app"],
      { codecs },
    );
    const manifest = JSON.parse(
      await layout.readBlob(single).then((b) => new TextDecoder().decode(b)),
    );
    const dockerManifest = JSON.parse(await readTarFile(one, "manifest.json"));
    assert.deepEqual(dockerManifest, [{
      Config: `blobs/sha256/${manifest.config.digest.slice(7)}`,
      RepoTags: ["example.com/team/app:1", "app:latest"],
      Layers: manifest.layers.map((l: Descriptor) => `blobs/sha256/${l.digest.slice(7)}`),
    }]);
    await run("skopeo", ["copy", "-q", `docker-archive:${one}`, `oci:${tmp}/copy1:x`]);
    const config = JSON.parse(await run("skopeo", ["inspect", "--config", `oci:${tmp}/copy1:x`]));
    assert.equal(config.architecture, "amd64");
    assert.equal(config.rootfs.diff_ids.length, 2);

    // A multi-platform image: all platforms in the layout, manifest.json for the first one.
    const multi = `${tmp}/docker-multi.tar`;
    await writeArchive(parseOutputSpec(`type=docker,dest=${multi}`), layout, index, ["app:m"], {
      codecs,
    });
    const listed = JSON.parse(await readTarFile(multi, "manifest.json"));
    assert.equal(listed.length, 1);
    assert.deepEqual(listed[0].RepoTags, ["app:m"]);
    assert.equal(listed[0].Config, `blobs/sha256/${manifest.config.digest.slice(7)}`);
    await run("skopeo", ["copy", "-q", `docker-archive:${multi}`, `oci:${tmp}/copy2:x`]);
    await run("skopeo", ["inspect", "--raw", `oci-archive:${multi}`]);
  });
});

Deno.test("writeArchive() type=oci,tar=false writes a layout folder skopeo reads", async () => {
  await withImages(async (tmp, layout, _single, index) => {
    const out = `${tmp}/layout-out`;
    await writeArchive(
      parseOutputSpec(`type=oci,tar=false,dest=${out}`),
      layout,
      index,
      ["app:1"],
      {
        codecs,
      },
    );
    const raw = JSON.parse(await run("skopeo", ["inspect", "--raw", `oci:${out}:1`]));
    assert.equal(raw.manifests.length, 2);
    // Again with the same name: replaced, not duplicated.
    await writeArchive(
      parseOutputSpec(`type=oci,tar=false,dest=${out}`),
      layout,
      index,
      ["app:1"],
      {
        codecs,
      },
    );
    const entries = JSON.parse(await Deno.readTextFile(`${out}/index.json`)).manifests;
    assert.equal(entries.length, 1);
  });
});

Deno.test("writeArchive() leaves nothing at dest when a blob is missing", async () => {
  await withImages(async (tmp, layout, single) => {
    const manifest = JSON.parse(new TextDecoder().decode(await layout.readBlob(single)));
    await Deno.remove(layout.blobPath(manifest.layers[1].digest));
    await assert.rejects(
      writeArchive(parseOutputSpec(`type=oci,dest=${tmp}/x.tar`), layout, single, [], { codecs }),
      /Cannot write oci archive .*x\.tar: .*No such file or folder/,
    );
    assert.deepEqual((await Array.fromAsync(Deno.readDir(tmp))).map((e) => e.name), ["store"]);
  });
});

Deno.test("writeArchive() with dest=- streams the tar to stdout", async () => {
  await withImages(async (tmp, layout, single) => {
    const script = `
      import { OciLayout } from "${new URL("../../src/sinks/oci_layout.ts", import.meta.url)}";
      import { denoFileSystem } from "${new URL(
      "../../src/runtime/deno_file_system.ts",
      import.meta.url,
    )}";
      import { nativeCodecs } from "${new URL(
      "../../src/runtime/native_codecs.ts",
      import.meta.url,
    )}";
      import { writeArchive } from "${new URL(
      "../../src/runtime/write_archive.ts",
      import.meta.url,
    )}";
      import { parseOutputSpec } from "${new URL(
      "../../src/exporter/output_spec.ts",
      import.meta.url,
    )}";
      const layout = await OciLayout.open(denoFileSystem, ${
      JSON.stringify(layout.root)
    }, nativeCodecs);
      await writeArchive(parseOutputSpec("type=docker,dest=-"), layout, ${
      JSON.stringify(single)
    }, ["app:1"], { codecs: nativeCodecs });
    `;
    await Deno.writeTextFile(`${tmp}/script.ts`, script);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-check", `${tmp}/script.ts`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.success, true, new TextDecoder().decode(out.stderr));
    await Deno.writeFile(`${tmp}/stdout.tar`, out.stdout);
    await run("skopeo", ["copy", "-q", `docker-archive:${tmp}/stdout.tar`, `oci:${tmp}/copy:x`]);
  });
});
