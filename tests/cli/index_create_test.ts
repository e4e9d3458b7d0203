/**
 * `ocistream index create` in the two-machine workflow: two stores build one platform each
 * and push it by digest, one last step merges the digests into a multi-platform tag; skopeo
 * resolves each architecture from it. Plus sources in another repository, annotations,
 * --dry-run, and the Docker list type.
 */
import assert from "node:assert/strict";
import { runCli, runOk } from "../_harness/cli.ts";
import { startRegistry } from "../_harness/registry.ts";
import { runBuild } from "../_harness/store.ts";
import { writeTree } from "../_harness/tree.ts";
import { dockerConfig, readMetadata, sha256, verifyPushed } from "../integration/_registry_cli.ts";

const REF_DIGEST = "vnd.docker.reference.digest";

interface Entry {
  mediaType: string;
  digest: string;
  platform: { architecture: string; os: string };
  annotations?: Record<string, string>;
}

Deno.test("index create merges two machines' push-by-digest builds; skopeo resolves each arch", async (t) => {
  const work = await Deno.makeTempDir({ prefix: "ocistream-index-" });
  const reg = await startRegistry();
  try {
    const env = { DOCKER_CONFIG: await dockerConfig(work, {}) };
    const cli = async (args: string[]) => {
      const r = await runCli(args, { env });
      assert.equal(r.code, 0, `ocistream ${args.join(" ")}: ${r.stderr}`);
      return r.stdout;
    };
    /** One CI machine: its own store, one platform, pushed untagged; returns the root digest. */
    const machine = async (arch: string, extra: string[] = [], repo = "app") => {
      await writeTree(`${work}/ctx-${arch}`, { "bin/tool": `tool for ${arch}\n` });
      const meta = `${work}/meta-${arch}-${repo}.json`;
      const r = await runBuild(
        `${work}/ctx-${arch}`,
        `${work}/store-${arch}`,
        `type=image,name=${reg.host}/${repo},push=true,push-by-digest=true${extra.join("")}`,
        {
          progress: "quiet",
          epoch: 1700000000,
          metadataFile: meta,
          flags: [
            "--platform",
            `linux/${arch}`,
            ...(extra.length ? [] : ["--attest", "type=provenance"]),
          ],
          env,
        },
      );
      assert.equal(r.code, 0, r.stderr);
      return (await readMetadata(meta))["containerimage.digest"];
    };
    const amd64 = await machine("amd64");
    const arm64 = await machine("arm64");
    const childOf = async (digest: string) => {
      const raw = (await runOk("skopeo", [
        "inspect",
        "--raw",
        "--tls-verify=false",
        `docker://${reg.host}/app@${digest}`,
      ])).stdout;
      return JSON.parse(raw).manifests.find((m: Entry) => m.platform.os !== "unknown") as Entry;
    };
    const amd64Image = await childOf(amd64);
    const arm64Image = await childOf(arm64);

    let indexDigest = "";
    await t.step(
      "index create --tag pushes the flattened index; attestations follow their image",
      async () => {
        indexDigest = (await cli([
          "index",
          "create",
          "--tag",
          `${reg.host}/app:1`,
          `${reg.host}/app@${amd64}`,
          `${reg.host}/app@${arm64}`,
        ])).trim();
        await verifyPushed(`${reg.host}/app:1`, indexDigest);
        const raw = (await runOk("skopeo", [
          "inspect",
          "--raw",
          "--tls-verify=false",
          `docker://${reg.host}/app:1`,
        ])).stdout;
        assert.equal(sha256(raw), indexDigest);
        const index = JSON.parse(raw);
        assert.equal(index.mediaType, "application/vnd.oci.image.index.v1+json");
        assert.equal(index.manifests.length, 4);
        const images = index.manifests.filter((m: Entry) => m.platform.os !== "unknown");
        assert.deepEqual(images.map((m: Entry) => m.digest), [
          amd64Image.digest,
          arm64Image.digest,
        ]);
        const attestations = index.manifests.filter((m: Entry) => m.platform.os === "unknown");
        assert.deepEqual(
          attestations.map((m: Entry) => m.annotations?.[REF_DIGEST]).sort(),
          [amd64Image.digest, arm64Image.digest].sort(),
        );
        // Indented as buildx writes it.
        assert.ok(raw.startsWith('{\n  "schemaVersion": 2,\n  "mediaType": '), raw);
      },
    );

    await t.step("skopeo --override-arch resolves each platform's image from the tag", async () => {
      for (const [arch, image] of [["amd64", amd64Image], ["arm64", arm64Image]] as const) {
        const over = ["--override-arch", arch, "--override-os", "linux"];
        const out = JSON.parse(
          (await runOk("skopeo", [
            ...over,
            "inspect",
            "--tls-verify=false",
            `docker://${reg.host}/app:1`,
          ])).stdout,
        );
        assert.equal(out.Architecture, arch);
        // Copying the tag without --all takes the platform's manifest: it is this machine's.
        await runOk("skopeo", [
          ...over,
          "copy",
          "--preserve-digests",
          "--src-tls-verify=false",
          `docker://${reg.host}/app:1`,
          `oci:${work}/pick-${arch}:t`,
        ]);
        const picked = JSON.parse(await Deno.readTextFile(`${work}/pick-${arch}/index.json`));
        assert.equal(picked.manifests[0].digest, image.digest, arch);
      }
    });

    await t.step(
      "--dry-run prints the same index; bare digests and a tag source work",
      async () => {
        const dry = await cli([
          "index",
          "create",
          "--dry-run",
          "--tag",
          `${reg.host}/app:1`,
          amd64,
          `${reg.host}/app@${arm64}`,
        ]);
        assert.equal(sha256(dry.replace(/\n$/, "")), indexDigest);
        const again = await cli(["index", "create", "--dry-run", `${reg.host}/app:1`]);
        assert.equal(sha256(again.replace(/\n$/, "")), indexDigest);
      },
    );

    await t.step(
      "a source in another repository of the registry: its blobs are mounted",
      async () => {
        const other = await cli([
          "copy",
          "--push-by-digest",
          `${reg.host}/app@${arm64}`,
          `${reg.host}/other`,
        ]);
        assert.equal(other.trim(), arm64);
        const digest = (await cli([
          "index",
          "create",
          "-t",
          `${reg.host}/merged:1`,
          `${reg.host}/app@${amd64}`,
          `${reg.host}/other@${arm64}`,
        ])).trim();
        assert.equal(digest, indexDigest);
        await verifyPushed(`${reg.host}/merged:1`, digest);
      },
    );

    await t.step("--platform keeps one platform's image and its attestation", async () => {
      const dry = JSON.parse(
        await cli([
          "index",
          "create",
          "--dry-run",
          "--platform",
          "linux/arm64",
          `${reg.host}/app:1`,
        ]),
      );
      assert.equal(dry.manifests.length, 2);
      assert.equal(dry.manifests[0].digest, arm64Image.digest);
      assert.equal(dry.manifests[1].platform.os, "unknown");
      assert.equal(dry.manifests[1].annotations[REF_DIGEST], arm64Image.digest);
      const none = await runCli(
        ["index", "create", "--dry-run", "-p", "linux/s390x", `${reg.host}/app:1`],
        { env },
      );
      assert.equal(none.code, 1);
      assert.match(none.stderr, /linux\/s390x/);
    });

    await t.step("annotations in buildx's forms", async () => {
      const dry = JSON.parse(
        await cli([
          "index",
          "create",
          "--dry-run",
          "--annotation",
          "index:org.opencontainers.image.title=both",
          "--annotation",
          "manifest-descriptor[linux/arm64]:com.example.arch=arm",
          `${reg.host}/app@${amd64}`,
          `${reg.host}/app@${arm64}`,
        ]),
      );
      assert.deepEqual(dry.annotations, { "org.opencontainers.image.title": "both" });
      const arm = dry.manifests.find((m: Entry) => m.digest === arm64Image.digest);
      const amd = dry.manifests.find((m: Entry) => m.digest === amd64Image.digest);
      assert.equal(arm.annotations["com.example.arch"], "arm");
      assert.equal(amd.annotations?.["com.example.arch"], undefined);
      const bad = await runCli([
        "index",
        "create",
        "--dry-run",
        "--annotation",
        "manifest:k=v",
        amd64,
      ], { env });
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /^error: .*(index:|digest)/);
    });

    await t.step(
      "Docker manifests make a Docker list; mixed with OCI they need --oci-mediatypes",
      async () => {
        const d1 = await machine("amd64", [",oci-mediatypes=false"], "docker");
        const d2 = await machine("arm64", [",oci-mediatypes=false"], "docker");
        const list = (await cli([
          "index",
          "create",
          "-t",
          `${reg.host}/docker:1`,
          `${reg.host}/docker@${d1}`,
          `${reg.host}/docker@${d2}`,
        ])).trim();
        await verifyPushed(`${reg.host}/docker:1`, list);
        const raw = JSON.parse(
          (await runOk("skopeo", [
            "inspect",
            "--raw",
            "--tls-verify=false",
            `docker://${reg.host}/docker:1`,
          ])).stdout,
        );
        assert.equal(raw.mediaType, "application/vnd.docker.distribution.manifest.list.v2+json");
        assert.deepEqual(raw.manifests.map((m: Entry) => m.platform.architecture), [
          "amd64",
          "arm64",
        ]);
        const mixed = await runCli([
          "index",
          "create",
          "--dry-run",
          `${reg.host}/docker@${d1}`,
          `${reg.host}/app@${arm64}`,
        ], { env });
        assert.equal(mixed.code, 1);
        assert.match(mixed.stderr, /--oci-mediatypes/);
        assert.equal(mixed.stderr.trim().split("\n").length, 1);
        const forced = JSON.parse(
          await cli([
            "index",
            "create",
            "--dry-run",
            "--oci-mediatypes",
            `${reg.host}/docker@${d1}`,
            `${reg.host}/app@${arm64}`,
          ]),
        );
        assert.equal(forced.mediaType, "application/vnd.oci.image.index.v1+json");
      },
    );
  } finally {
    await reg.stop();
    await Deno.remove(work, { recursive: true });
  }
});
