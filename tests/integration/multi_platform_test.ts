/**
 * Multi-platform images (issue 5, SPEC §4): one export, one manifest per
 * platform with per-platform content (CLI `--platform-context`, and the
 * library through examples/multi_platform.ts) on a two-platform base built
 * by ocistream itself; the index carries the right `platform` objects;
 * `skopeo copy --all` and a push to the real registry keep every manifest;
 * umoci and `ocistream unpack --platform` give back each platform's tree.
 */
import assert from "node:assert/strict";
import { run, runCli, runOk } from "../_harness/cli.ts";
import { snapshotTree, type TreeNode, writeTree } from "../_harness/tree.ts";
import { type Json, readBlob, rootOf, runBuild } from "../_harness/store.ts";
import { startRegistry } from "../_harness/registry.ts";

const AMD64: { architecture: string; os: string; variant?: string } = {
  architecture: "amd64",
  os: "linux",
};
const ARM64: { architecture: string; os: string; variant?: string } = {
  architecture: "arm64",
  os: "linux",
};

/** The tree two folders make when the second is laid over the first (no shared files). */
async function overlay(lower: string, upper: string): Promise<Record<string, TreeNode>> {
  const merged = { ...(await snapshotTree(lower)), ...(await snapshotTree(upper)) };
  return Object.fromEntries(Object.entries(merged).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** Folders: a base per architecture and an app per architecture, plus the base layout. */
async function setUp(work: string) {
  const dirs = {
    baseAmd64: `${work}/base-amd64`,
    baseArm64: `${work}/base-arm64`,
    appAmd64: `${work}/app-amd64`,
    appArm64: `${work}/app-arm64`,
    baseLayout: `${work}/base-layout`,
  };
  await writeTree(dirs.baseAmd64, { "etc/os-release": "ID=base\nARCH=x86_64\n" });
  await writeTree(dirs.baseArm64, { "etc/os-release": "ID=base\nARCH=aarch64\n" });
  await writeTree(dirs.appAmd64, { "usr/bin/app": "ELF for x86_64\n", "app/README": "same\n" });
  await writeTree(dirs.appArm64, { "usr/bin/app": "ELF for aarch64!\n", "app/README": "same\n" });
  await Deno.chmod(`${dirs.appAmd64}/usr/bin/app`, 0o755);
  await Deno.chmod(`${dirs.appArm64}/usr/bin/app`, 0o755);
  // The two-platform base, built with our own tool into a layout folder.
  const r = await runBuild(
    dirs.baseAmd64,
    undefined,
    `type=oci,tar=false,dest=${dirs.baseLayout},name=example.com/base:1`,
    {
      progress: "quiet",
      epoch: 1700000000,
      flags: [
        "--platform",
        "linux/amd64,linux/arm64",
        "--platform-context",
        `linux/arm64=${dirs.baseArm64}`,
      ],
    },
  );
  assert.equal(r.code, 0, r.stderr);
  return dirs;
}

Deno.test("build --platform linux/amd64,linux/arm64 with per-platform contexts on a two-platform base: right platforms, base per platform, skopeo copy --all, umoci and ocistream unpack", async (t) => {
  const work = await Deno.makeTempDir({ prefix: "ocistream-multi-" });
  try {
    const dirs = await setUp(work);
    const base = rootOf(dirs.baseLayout);
    assert.deepEqual(base.doc.manifests.map((m: Json) => m.platform), [AMD64, ARM64]);
    const baseLayers = base.doc.manifests.map((m: Json) =>
      readBlob(dirs.baseLayout, m.digest).layers
    );
    // Each base platform has its own content.
    assert.notEqual(baseLayers[0][0].digest, baseLayers[1][0].digest);

    const store = `${work}/store`;
    const name = "example.com/multi:1";
    const r = await runBuild(dirs.appAmd64, store, `type=image,name=${name},oci-mediatypes=true`, {
      progress: "quiet",
      flags: [
        "--from",
        `oci-layout://${dirs.baseLayout}:1`,
        "--platform",
        "linux/amd64",
        "--platform",
        "linux/arm64",
        "--platform-context",
        `linux/arm64=${dirs.appArm64}`,
        "--entrypoint",
        '["/usr/bin/app"]',
      ],
    });
    assert.equal(r.code, 0, r.stderr);

    const index = JSON.parse(
      (await runOk("skopeo", ["inspect", "--raw", `oci:${store}:${name}`])).stdout,
    );
    assert.equal(index.mediaType, "application/vnd.oci.image.index.v1+json");
    assert.deepEqual(index.manifests.map((m: Json) => m.platform), [AMD64, ARM64]);
    const manifests = index.manifests.map((m: Json) => readBlob(store, m.digest));
    for (const [i, platform] of [AMD64, ARM64].entries()) {
      const manifest = manifests[i];
      const config = readBlob(store, manifest.config.digest);
      assert.equal(config.architecture, platform.architecture);
      assert.equal(config.os, platform.os);
      assert.equal(config.variant, platform.variant);
      assert.deepEqual(config.config.Entrypoint, ["/usr/bin/app"]);
      // The base layer of the same platform, then the platform's own new layer.
      assert.equal(manifest.layers.length, 2);
      assert.equal(manifest.layers[0].digest, baseLayers[i][0].digest);
    }
    assert.notEqual(manifests[0].layers[1].digest, manifests[1].layers[1].digest);

    await t.step("skopeo copy --all keeps every manifest", async () => {
      const other = `${work}/copied`;
      await runOk("skopeo", ["copy", "--all", `oci:${store}:${name}`, `oci:${other}:copy`]);
      const copied = rootOf(other);
      assert.equal(copied.digest, rootOf(store).digest);
      assert.deepEqual(
        copied.doc.manifests.map((m: Json) => [m.digest, m.platform]),
        index.manifests.map((m: Json) => [m.digest, m.platform]),
      );
      for (const m of copied.doc.manifests) {
        for (const layer of readBlob(other, m.digest).layers) {
          await Deno.stat(`${other}/blobs/sha256/${layer.digest.slice(7)}`);
        }
      }
    });

    const expected = {
      amd64: await overlay(dirs.baseAmd64, dirs.appAmd64),
      arm64: await overlay(dirs.baseArm64, dirs.appArm64),
    };
    for (const arch of ["amd64", "arm64"] as const) {
      await t.step(`umoci unpacks the ${arch} image picked by skopeo`, async () => {
        const single = `${work}/single-${arch}`;
        await runOk("skopeo", [
          "--override-arch",
          arch,
          "copy",
          `oci:${store}:${name}`,
          `oci:${single}:img`,
        ]);
        const picked = rootOf(single);
        assert.equal(picked.digest, index.manifests[arch === "amd64" ? 0 : 1].digest);
        const bundle = `${work}/bundle-${arch}`;
        await runOk("umoci", ["unpack", "--image", `${single}:img`, bundle]);
        assert.deepEqual(await snapshotTree(`${bundle}/rootfs`), expected[arch]);
      });
      await t.step(`ocistream unpack --platform linux/${arch}`, async () => {
        const dest = `${work}/unpacked-${arch}`;
        const u = await runCli([
          "unpack",
          name,
          dest,
          "--platform",
          `linux/${arch}`,
          "--store",
          store,
        ]);
        assert.equal(u.code, 0, u.stderr);
        assert.deepEqual(await snapshotTree(dest), expected[arch]);
      });
    }
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("build of several platforms with Docker media types writes a manifest list with platforms", async () => {
  const work = await Deno.makeTempDir({ prefix: "ocistream-multi-docker-" });
  try {
    const dirs = await setUp(work);
    const store = `${work}/store`;
    const r = await runBuild(dirs.appAmd64, store, "type=image,name=example.com/docker-multi:1", {
      progress: "quiet",
      flags: [
        "--platform",
        "linux/arm64,linux/amd64,linux/arm/v7",
        "--platform-context",
        `linux/arm64=${dirs.appArm64}`,
      ],
    });
    assert.equal(r.code, 0, r.stderr);
    const index = rootOf(store).doc;
    assert.equal(index.mediaType, "application/vnd.docker.distribution.manifest.list.v2+json");
    // The given order, with each platform's exact object.
    assert.deepEqual(index.manifests.map((m: Json) => m.platform), [
      ARM64,
      AMD64,
      { architecture: "arm", os: "linux", variant: "v7" },
    ]);
    for (const m of index.manifests) {
      assert.equal(m.mediaType, "application/vnd.docker.distribution.manifest.v2+json");
      const config = readBlob(store, readBlob(store, m.digest).config.digest);
      assert.equal(config.architecture, m.platform.architecture);
      assert.equal(config.variant, m.platform.variant);
    }
    // amd64 and arm/v7 share CONTEXT's layer; arm64 has its own.
    const layers = index.manifests.map((m: Json) => readBlob(store, m.digest).layers[0].digest);
    assert.equal(layers[1], layers[2]);
    assert.notEqual(layers[0], layers[1]);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("build --platform-context rejects a platform not being built and a missing folder", async () => {
  const work = await Deno.makeTempDir({ prefix: "ocistream-multi-bad-" });
  try {
    await Deno.mkdir(`${work}/ctx`);
    const cases: [string[], number, RegExp][] = [
      [["--platform-context", `linux/arm64=${work}/ctx`], 1, /linux\/arm64.*not being built/],
      [["--platform-context", "linux/amd64"], 2, /PLATFORM=DIR/],
      [["--platform-context", `linux/amd64=${work}/missing`], 1, /missing does not exist/],
      [
        ["--platform-context", `linux/amd64=${work}/ctx`, "--platform-context", `linux/amd64=.`],
        2,
        /twice/,
      ],
    ];
    for (const [args, code, message] of cases) {
      const r = await runCli([
        "build",
        `${work}/ctx`,
        "--platform",
        "linux/amd64",
        "--store",
        `${work}/store`,
        ...args,
      ]);
      assert.equal(r.code, code, r.stderr);
      assert.match(r.stderr, message);
    }
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("examples/multi_platform.ts builds per-platform content on a two-platform base, reproducibly, and a push keeps every manifest", async () => {
  const work = await Deno.makeTempDir({ prefix: "ocistream-multi-example-" });
  const registry = await startRegistry();
  try {
    const dirs = await setUp(work);
    const example = new URL("../../examples/multi_platform.ts", import.meta.url).pathname;
    const outputs = [];
    for (const out of [`${work}/out-1`, `${work}/out-2`]) {
      const r = await run(Deno.execPath(), [
        "run",
        "-A",
        "--quiet",
        example,
        out,
        `oci-layout://${dirs.baseLayout}:1`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      outputs.push(JSON.parse(r.stdout));
    }
    assert.deepEqual(outputs[0], outputs[1]);
    const [result] = outputs;
    const out = `${work}/out-1`;
    const index = JSON.parse(
      (await runOk("skopeo", ["inspect", "--raw", `oci:${out}:1`])).stdout,
    );
    assert.equal(index.manifests.length, 4); // two images, two attestation manifests
    assert.deepEqual(index.manifests.slice(0, 2).map((m: Json) => m.platform), [AMD64, ARM64]);
    assert.deepEqual(index.annotations, { "org.opencontainers.image.title": "multi" });
    const [amd64, arm64] = result.manifests;
    // base layer of the platform, the shared layer, the platform's own binary.
    const base = rootOf(dirs.baseLayout).doc.manifests.map((m: Json) =>
      readBlob(dirs.baseLayout, m.digest).layers[0].digest
    );
    assert.equal(amd64.layers[0], base[0]);
    assert.equal(arm64.layers[0], base[1]);
    assert.equal(amd64.layers[1], arm64.layers[1]);
    assert.notEqual(amd64.layers[2], arm64.layers[2]);

    // Each platform's binary, as umoci unpacks it.
    for (const [arch, text] of [["amd64", "linux/amd64"], ["arm64", "linux/arm64"]]) {
      const single = `${work}/single-${arch}`;
      await runOk("skopeo", ["--override-arch", arch, "copy", `oci:${out}:1`, `oci:${single}:x`]);
      await runOk("umoci", ["unpack", "--image", `${single}:x`, `${work}/bundle-${arch}`]);
      const rootfs = `${work}/bundle-${arch}/rootfs`;
      assert.equal(
        await Deno.readTextFile(`${rootfs}/usr/local/bin/app`),
        `#!/bin/sh\necho "hello from ${text}"\n`,
      );
      assert.equal((await Deno.stat(`${rootfs}/usr/local/bin/app`)).mode! & 0o777, 0o755);
      assert.match(await Deno.readTextFile(`${rootfs}/etc/os-release`), /ID=base/);
    }

    // Push the two-platform image (with attestations) to the registry: every manifest kept.
    const ref = `${registry.host}/multi:1`;
    await runOk("skopeo", [
      "copy",
      "--all",
      "--dest-tls-verify=false",
      `oci:${out}:1`,
      `docker://${ref}`,
    ]);
    const pushed = JSON.parse(
      (await runOk("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${ref}`])).stdout,
    );
    assert.deepEqual(pushed, index);
    for (const m of index.manifests) {
      const child = await fetch(`${registry.url}/v2/multi/manifests/${m.digest}`, {
        headers: { Accept: m.mediaType },
      });
      assert.equal(child.status, 200);
      assert.equal(child.headers.get("docker-content-digest"), m.digest);
      await child.body?.cancel();
    }
  } finally {
    await registry.stop();
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("build pushes a two-platform image to the registry with every manifest", async () => {
  const work = await Deno.makeTempDir({ prefix: "ocistream-multi-push-" });
  const registry = await startRegistry();
  try {
    const dirs = await setUp(work);
    const ref = `${registry.host}/pushed:1`;
    const r = await runBuild(dirs.appAmd64, `${work}/store`, `type=image,name=${ref},push=true`, {
      progress: "quiet",
      flags: [
        "--from",
        `oci-layout://${dirs.baseLayout}:1`,
        "--platform",
        "linux/amd64,linux/arm64",
        "--platform-context",
        `linux/arm64=${dirs.appArm64}`,
        "--attest",
        "type=provenance",
      ],
    });
    assert.equal(r.code, 0, r.stderr);
    const stored = rootOf(`${work}/store`);
    const pushed = JSON.parse(
      (await runOk("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${ref}`])).stdout,
    );
    assert.deepEqual(pushed, stored.doc);
    const copy = `${work}/from-registry`;
    await runOk("skopeo", [
      "copy",
      "--all",
      "--src-tls-verify=false",
      `docker://${ref}`,
      `oci:${copy}:x`,
    ]);
    assert.equal(rootOf(copy).digest, stored.digest);
    assert.deepEqual(
      rootOf(copy).doc.manifests.map((m: Json) => m.digest),
      stored.doc.manifests.map((m: Json) => m.digest),
    );
  } finally {
    await registry.stop();
    await Deno.remove(work, { recursive: true });
  }
});
