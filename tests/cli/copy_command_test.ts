/**
 * `ocistream copy` and `ocistream tag` against real registries: every kind of source (store,
 * registry, OCI layout, OCI and docker archives, the older docker save form skopeo writes),
 * mounts within one registry (no blob byte moves), streamed copies between two registries,
 * --platform, --push-by-digest; what they put is read back by skopeo.
 */
import assert from "node:assert/strict";
import { runCli, runOk } from "../_harness/cli.ts";
import { startRegistry } from "../_harness/registry.ts";
import { readJson, runBuild } from "../_harness/store.ts";
import { writeTree } from "../_harness/tree.ts";
import { startRegistryProxy } from "../integration/_registry_proxy.ts";
import { dockerConfig, listTags, verifyPushed } from "../integration/_registry_cli.ts";

async function cli(args: string[], env: Record<string, string>): Promise<string> {
  const r = await runCli(args, { env });
  assert.equal(r.code, 0, `ocistream ${args.join(" ")}: ${r.stderr}`);
  return r.stdout.trim();
}

Deno.test("ocistream copy and tag between the store, registries, layouts and archives", async (t) => {
  const work = await Deno.makeTempDir({ prefix: "ocistream-copy-" });
  const [reg, other] = await Promise.all([startRegistry(), startRegistry()]);
  const proxy = startRegistryProxy(reg.url);
  try {
    const env = { DOCKER_CONFIG: await dockerConfig(work, {}) };
    const store = `${work}/store`;
    await writeTree(`${work}/ctx`, { "app/hello.txt": "hello copy\n", "etc/motd": "two\n" });
    const built = await runBuild(`${work}/ctx`, store, "type=image,name=example.com/app:1", {
      progress: "quiet",
      epoch: 1700000000,
      flags: [
        "--platform",
        "linux/amd64,linux/arm64",
        "--attest",
        "type=provenance",
        "--output",
        `type=oci,dest=${work}/app.oci.tar,name=example.com/app:1`,
        "--output",
        `type=docker,dest=${work}/app.docker.tar,name=example.com/app:1`,
      ],
      env,
    });
    assert.equal(built.code, 0, built.stderr);
    const root: string = readJson(`${store}/index.json`).manifests[0].digest;
    const index = readJson(`${store}/blobs/sha256/${root.slice(7)}`);
    const arm64 = index.manifests.find((m: { platform: { architecture: string } }) =>
      m.platform.architecture === "arm64"
    ).digest;

    await t.step("store → registry: the whole index, attestations too", async () => {
      const out = await cli(
        ["copy", "--store", store, "example.com/app:1", `${reg.host}/a/app:1`],
        env,
      );
      assert.equal(out, root);
      await verifyPushed(`${reg.host}/a/app:1`, root);
    });

    await t.step(
      "registry → registry of the same host: every blob mounted, none sent",
      async () => {
        proxy.reset();
        const out = await cli(["copy", `${proxy.host}/a/app:1`, `${proxy.host}/b/app:1`], env);
        assert.equal(out, root);
        const blobs = proxy.requests.filter((r) =>
          r.path.includes("/blobs/")
        );
        assert.equal(
          blobs.reduce((n, r) => n + r.sent + r.received, 0),
          0,
        );
        assert.ok(blobs.some((r) => r.method === "POST" && r.status === 201));
        assert.ok(!blobs.some((r) => r.method === "PATCH" || r.method === "GET"));
        await verifyPushed(`${reg.host}/b/app:1`, root);
      },
    );

    await t.step("registry → another registry, then by digest with --push-by-digest", async () => {
      assert.equal(
        await cli(["copy", `${reg.host}/a/app:1`, `docker://${other.host}/c/app:1`], env),
        root,
      );
      await verifyPushed(`${other.host}/c/app:1`, root);
      const out = await cli([
        "copy",
        "--push-by-digest",
        `${reg.host}/a/app@${root}`,
        `${other.host}/d/app`,
      ], env);
      assert.equal(out, root);
      assert.deepEqual(await listTags(other.url, "d/app"), []);
      await verifyPushed(`${other.host}/d/app@${root}`, root);
    });

    await t.step("--platform copies one platform's manifest", async () => {
      const out = await cli([
        "copy",
        "--platform",
        "linux/arm64",
        `${reg.host}/a/app:1`,
        `${reg.host}/e/app:arm`,
      ], env);
      assert.equal(out, arm64);
      await verifyPushed(`${reg.host}/e/app:arm`, arm64);
      const none = await runCli([
        "copy",
        "--platform",
        "linux/s390x",
        `${reg.host}/a/app:1`,
        `${reg.host}/e/app:s390x`,
      ], { env });
      assert.equal(none.code, 1);
      assert.match(
        none.stderr,
        /^error: \S+ has no linux\/s390x image \(it has linux\/amd64, linux\/arm64\)/,
      );
    });

    await t.step("--progress json reports each blob and manifest", async () => {
      const r = await runCli([
        "copy",
        "--progress",
        "json",
        `${reg.host}/a/app:1`,
        `${reg.host}/p/app:1`,
      ], { env });
      assert.equal(r.code, 0, r.stderr);
      const events = r.stderr.trim().split("\n").map((l) => JSON.parse(l));
      const blobs = events.filter((e) => e.type === "blob-done");
      const manifests = events.filter((e) => e.type === "manifest");
      // Two images and two attestations: configs, layers, statements; then 4 manifests + index.
      assert.ok(blobs.length >= 4 && blobs.every((e) => e.skipped === true), r.stderr);
      assert.equal(manifests.length, 5);
      assert.equal(manifests.at(-1).digest, root);
      assert.equal(manifests.at(-1).tag, "1");
    });

    await t.step("registry → store:NAME of another store", async () => {
      const other = `${work}/store2`;
      const out = await cli([
        "copy",
        "--store",
        other,
        `docker://${reg.host}/a/app:1`,
        "store:example.com/copied:1",
      ], env);
      assert.equal(out, root);
      const images = await cli(["images", "--store", other], env);
      assert.match(images, /example\.com\/copied:1\s+sha256:/);
      assert.ok(images.includes(root));
    });

    await t.step("registry → OCI layout → registry", async () => {
      assert.equal(
        await cli(["copy", `${reg.host}/a/app:1`, `oci-layout://${work}/layout:v1`], env),
        root,
      );
      const names = readJson(`${work}/layout/index.json`).manifests.map(
        (m: { annotations: Record<string, string> }) =>
          m.annotations["org.opencontainers.image.ref.name"],
      );
      assert.deepEqual(names, ["v1"]);
      await runOk("skopeo", ["inspect", "--raw", `oci:${work}/layout:v1`]);
      assert.equal(
        await cli(["copy", `oci-layout://${work}/layout:v1`, `${reg.host}/f/app:1`], env),
        root,
      );
      await verifyPushed(`${reg.host}/f/app:1`, root);
    });

    await t.step(
      "archives: OCI, docker (with an OCI layout inside), and skopeo's docker save form",
      async () => {
        // Each output has its own provenance, so its own root: read it from the archive.
        const archiveRoot = async (file: string) => {
          const dir = await Deno.makeTempDir({ dir: work });
          await runOk("tar", ["-xf", file, "-C", dir, "index.json"]);
          return readJson(`${dir}/index.json`).manifests[0].digest as string;
        };
        const ociRoot = await archiveRoot(`${work}/app.oci.tar`);
        assert.equal(
          await cli(["copy", `oci-archive:${work}/app.oci.tar`, `${reg.host}/g/app:oci`], env),
          ociRoot,
        );
        await verifyPushed(`${reg.host}/g/app:oci`, ociRoot);
        const dockerRoot = await archiveRoot(`${work}/app.docker.tar`);
        assert.equal(
          await cli([
            "copy",
            `docker-archive:${work}/app.docker.tar:example.com/app:1`,
            `${reg.host}/g/app:docker`,
          ], env),
          dockerRoot,
        );
        await verifyPushed(`${reg.host}/g/app:docker`, dockerRoot);
        // skopeo writes the older form: <id>.json config, <id>.tar layers, manifest.json only.
        await runOk("skopeo", [
          "copy",
          "--src-tls-verify=false",
          `docker://${reg.host}/a/app@${arm64}`,
          `docker-archive:${work}/legacy.tar:legacy/app:1`,
        ]);
        const legacy = await cli([
          "copy",
          `docker-archive:${work}/legacy.tar`,
          `${reg.host}/g/app:legacy`,
        ], env);
        await verifyPushed(`${reg.host}/g/app:legacy`, legacy);
        // docker save links a layer shared by images to one copy: the same archive with its
        // manifest.json naming the symlink instead (and "./" names, as tar -C writes them).
        const unpacked = `${work}/legacy-dir`;
        await Deno.mkdir(unpacked);
        await runOk("tar", ["-xf", `${work}/legacy.tar`, "-C", unpacked]);
        const list = readJson(`${unpacked}/manifest.json`);
        const linkPaths: string[] = [];
        for await (const e of Deno.readDir(unpacked)) {
          if (e.isDirectory) linkPaths.push(`${e.name}/layer.tar`);
        }
        assert.equal(linkPaths.length, list[0].Layers.length);
        list[0].Layers = linkPaths;
        await Deno.writeTextFile(`${unpacked}/manifest.json`, JSON.stringify(list));
        await runOk("tar", ["-cf", `${work}/legacy-link.tar`, "-C", unpacked, "."]);
        assert.equal(
          await cli(
            ["copy", `docker-archive:${work}/legacy-link.tar`, `${reg.host}/g/app:link`],
            env,
          ),
          legacy,
        );
        const pushed = JSON.parse(
          (await runOk("skopeo", [
            "inspect",
            "--tls-verify=false",
            "--config",
            `docker://${reg.host}/g/app:legacy`,
          ])).stdout,
        );
        const original = JSON.parse(
          (await runOk("skopeo", [
            "inspect",
            "--tls-verify=false",
            "--config",
            `docker://${reg.host}/a/app@${arm64}`,
          ])).stdout,
        );
        assert.deepEqual(pushed.rootfs, original.rootfs);
        assert.equal(pushed.architecture, "arm64");
      },
    );

    await t.step(
      "tag :2 puts the root again and moves no blob; a new repository mounts",
      async () => {
        proxy.reset();
        assert.equal(await cli(["tag", `${proxy.host}/a/app:1`, ":2"], env), root);
        assert.deepEqual(proxy.requests.filter((r) => r.path.includes("/blobs/")), []);
        assert.deepEqual(
          proxy.requests.filter((r) => r.path !== "/v2/").map((r) => `${r.method} ${r.path}`),
          ["GET /v2/a/app/manifests/1", "PUT /v2/a/app/manifests/2"],
        );
        assert.deepEqual((await listTags(reg.url, "a/app")).sort(), ["1", "2"]);
        proxy.reset();
        assert.equal(
          await cli(["tag", `${proxy.host}/a/app:1`, `${proxy.host}/h/app:3`], env),
          root,
        );
        const blobs = proxy.requests.filter((r) => r.path.includes("/blobs/"));
        assert.equal(blobs.reduce((n, r) => n + r.sent + r.received, 0), 0);
        await verifyPushed(`${reg.host}/h/app:3`, root);
      },
    );

    await t.step("bad destinations fail with one line, before anything is read", async () => {
      const archive = await runCli(["copy", `${reg.host}/a/app:1`, `oci-archive:${work}/x.tar`], {
        env,
      });
      assert.equal(archive.code, 2);
      assert.match(archive.stderr, /^error: .*sources only/);
      const digest = await runCli(["copy", `${reg.host}/a/app:1`, `${reg.host}/a/app@${root}`], {
        env,
      });
      assert.equal(digest.code, 1);
      assert.equal(digest.stderr.trim().split("\n").length, 1);
      const missing = await runCli(["copy", `${reg.host}/nope/app:1`, `${reg.host}/x/app:1`], {
        env,
      });
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /nope\/app/);
    });
  } finally {
    await proxy.stop();
    await Promise.all([reg.stop(), other.stop()]);
    await Deno.remove(work, { recursive: true });
  }
});
