import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { buildIndex, buildManifest } from "../../src/image/manifest_builder.ts";
import { buildConfig, encodeConfig } from "../../src/image/config_builder.ts";
import {
  buildAttestationManifest,
  buildStatement,
  encodeStatement,
  imageSubjects,
} from "../../src/image/attestations.ts";
import { hashCodecs, sha256Digest } from "../fixtures/tar_tools.ts";
import type { Descriptor } from "../../src/types/descriptor.ts";

const codecs = hashCodecs;
const sha = sha256Digest;
const text = (b: Uint8Array) => new TextDecoder().decode(b);

const CONFIG: Descriptor = {
  mediaType: "application/vnd.oci.image.config.v1+json",
  digest: `sha256:${"c".repeat(64)}`,
  size: 300,
};
const LAYER: Descriptor = {
  mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
  digest: `sha256:${"1".repeat(64)}`,
  size: 1000,
  annotations: {
    "containerd.io/uncompressed": `sha256:${"2".repeat(64)}`,
    "io.containers.estargz.uncompressed-size": "2048",
    "buildkit/rewritten-timestamp": "0",
  },
};

Deno.test("buildManifest() writes BuildKit's key order, indented, no trailing newline", async () => {
  const built = await buildManifest({
    oci: true,
    config: CONFIG,
    layers: [LAYER],
    annotations: { "z.k": "1", "a.k": "2" },
    codecs,
  });
  const expected = `{
  "schemaVersion": 2,
  "mediaType": "application/vnd.oci.image.manifest.v1+json",
  "config": {
    "mediaType": "application/vnd.oci.image.config.v1+json",
    "digest": "sha256:${"c".repeat(64)}",
    "size": 300
  },
  "layers": [
    {
      "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
      "digest": "sha256:${"1".repeat(64)}",
      "size": 1000,
      "annotations": {
        "buildkit/rewritten-timestamp": "0",
        "io.containers.estargz.uncompressed-size": "2048"
      }
    }
  ],
  "annotations": {
    "a.k": "2",
    "z.k": "1"
  }
}`;
  assert.equal(text(built.bytes), expected);
  assert.deepEqual(built.descriptor, {
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    digest: sha(built.bytes),
    size: built.bytes.byteLength,
  });
  assert.deepEqual(JSON.parse(text(built.bytes)), built.manifest);
});

Deno.test("buildManifest() writes artifactType and subject in place", async () => {
  const subject = {
    ...CONFIG,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    platform: { os: "linux", architecture: "amd64" },
  };
  const built = await buildManifest({
    oci: true,
    config: CONFIG,
    layers: [],
    artifactType: "application/x.test",
    subject,
    descriptorAnnotations: { k: "v" },
    platform: { os: "linux", architecture: "amd64" },
    codecs,
  });
  assert.deepEqual(Object.keys(built.manifest), [
    "schemaVersion",
    "mediaType",
    "artifactType",
    "config",
    "layers",
    "subject",
  ]);
  assert.deepEqual(built.manifest.subject, {
    mediaType: subject.mediaType,
    digest: subject.digest,
    size: subject.size,
  });
  assert.deepEqual(built.descriptor, {
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    digest: sha(built.bytes),
    size: built.bytes.byteLength,
    artifactType: "application/x.test",
    annotations: { k: "v" },
    platform: { architecture: "amd64", os: "linux" },
  });
  assert.match(text(built.bytes), /"layers": \[\]/);
});

Deno.test("buildManifest() with Docker media types drops layer annotations, keeps manifest ones and refuses the rest", async () => {
  const dockerConfig = { ...CONFIG, mediaType: "application/vnd.docker.container.image.v1+json" };
  const dockerLayer = { ...LAYER, mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip" };
  const built = await buildManifest({
    oci: false,
    config: dockerConfig,
    layers: [dockerLayer],
    codecs,
  });
  assert.equal(built.manifest.mediaType, "application/vnd.docker.distribution.manifest.v2+json");
  assert.equal(built.manifest.layers[0]!.annotations, undefined);
  assert.ok(!text(built.bytes).includes("annotations"));
  const refuse = (extra: Record<string, unknown>, what: string) =>
    assert.rejects(
      () => buildManifest({ oci: false, config: dockerConfig, layers: [], codecs, ...extra }),
      (e: unknown) =>
        e instanceof TypeError && e.message.includes(what) &&
        e.message.includes("oci-mediatypes=true"),
    );
  await refuse({ descriptorAnnotations: { k: "v" } }, "descriptor annotations");
  await refuse({ artifactType: "x" }, "artifactType");
  await refuse({ subject: CONFIG }, "subject");
  // Manifest annotations are written into Docker manifests too, as BuildKit does.
  const annotated = await buildManifest({
    oci: false,
    config: dockerConfig,
    layers: [],
    annotations: { "org.opencontainers.image.title": "x" },
    codecs,
  });
  assert.deepEqual(annotated.manifest.annotations, { "org.opencontainers.image.title": "x" });
  // Empty annotation records are not annotations.
  await buildManifest({ oci: false, config: dockerConfig, layers: [], annotations: {}, codecs });
});

Deno.test("buildIndex() writes schemaVersion, mediaType, manifests, annotations", async () => {
  const child: Descriptor = {
    platform: { variant: "v7", os: "linux", architecture: "arm" },
    annotations: { b: "1", a: "2" },
    size: 10,
    digest: `sha256:${"d".repeat(64)}`,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
  };
  const built = await buildIndex({
    oci: true,
    manifests: [child],
    annotations: { k: "v" },
    descriptorAnnotations: { r: "1" },
    codecs,
  });
  assert.deepEqual(Object.keys(built.manifest), [
    "schemaVersion",
    "mediaType",
    "manifests",
    "annotations",
  ]);
  assert.deepEqual(Object.keys(built.manifest.manifests[0]!), [
    "mediaType",
    "digest",
    "size",
    "annotations",
    "platform",
  ]);
  assert.deepEqual(Object.keys(built.manifest.manifests[0]!.annotations!), ["a", "b"]);
  assert.deepEqual(Object.keys(built.manifest.manifests[0]!.platform!), [
    "architecture",
    "os",
    "variant",
  ]);
  assert.deepEqual(built.descriptor, {
    mediaType: "application/vnd.oci.image.index.v1+json",
    digest: sha(built.bytes),
    size: built.bytes.byteLength,
    annotations: { r: "1" },
  });
  assert.ok(
    text(built.bytes).startsWith(
      '{\n  "schemaVersion": 2,\n  "mediaType": "application/vnd.oci.image.index.v1+json",',
    ),
  );
});

Deno.test("buildIndex() with Docker media types refuses annotations", async () => {
  const child: Descriptor = {
    mediaType: "application/vnd.docker.distribution.manifest.v2+json",
    digest: CONFIG.digest,
    size: 1,
  };
  const built = await buildIndex({ oci: false, manifests: [child], codecs });
  assert.equal(
    built.descriptor.mediaType,
    "application/vnd.docker.distribution.manifest.list.v2+json",
  );
  await assert.rejects(
    () => buildIndex({ oci: false, manifests: [child], annotations: { k: "v" }, codecs }),
    /index annotations/,
  );
  await assert.rejects(
    () => buildIndex({ oci: false, manifests: [{ ...child, annotations: { k: "v" } }], codecs }),
    /annotations on the manifest descriptor sha256:c{64}/,
  );
});

Deno.test("buildManifest() and buildIndex() give the same bytes for the same input", async () => {
  const a = await buildManifest({
    oci: true,
    config: CONFIG,
    layers: [LAYER],
    annotations: { x: "1", y: "2" },
    codecs,
  });
  const b = await buildManifest({
    oci: true,
    config: { size: CONFIG.size, digest: CONFIG.digest, mediaType: CONFIG.mediaType },
    layers: [{
      ...LAYER,
      annotations: Object.fromEntries(Object.entries(LAYER.annotations!).reverse()),
    }],
    annotations: { y: "2", x: "1" },
    codecs,
  });
  assert.deepEqual(a.bytes, b.bytes);
  const i1 = await buildIndex({ oci: true, manifests: [a.descriptor], codecs });
  const i2 = await buildIndex({ oci: true, manifests: [b.descriptor], codecs });
  assert.equal(i1.descriptor.digest, i2.descriptor.digest);
});

// ---- Real peers: skopeo and umoci read what we build. ----

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.ok(out.success, `${cmd} ${args.join(" ")} failed: ${stderr}`);
  return new TextDecoder().decode(out.stdout);
}

async function writeBlob(dir: string, bytes: Uint8Array): Promise<string> {
  const digest = sha(bytes);
  await Deno.writeFile(`${dir}/blobs/sha256/${digest.slice(7)}`, bytes);
  return digest;
}

async function makeLayer(tmp: string): Promise<{ tar: Uint8Array; gz: Uint8Array }> {
  const src = `${tmp}/src`;
  await Deno.mkdir(src);
  await Deno.writeTextFile(`${src}/hello.txt`, "hello\n");
  await run("tar", [
    "--sort=name",
    "--mtime=@0",
    "--owner=0",
    "--group=0",
    "--numeric-owner",
    "--format=pax",
    "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime",
    "-cf",
    `${tmp}/layer.tar`,
    "-C",
    src,
    "hello.txt",
  ]);
  const tar = await Deno.readFile(`${tmp}/layer.tar`);
  return { tar, gz: new Uint8Array(gzipSync(tar)) };
}

Deno.test("built images and attestation indexes are read by umoci and skopeo", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const layout = `${tmp}/layout`;
    await Deno.mkdir(`${layout}/blobs/sha256`, { recursive: true });
    await Deno.writeTextFile(`${layout}/oci-layout`, '{"imageLayoutVersion":"1.0.0"}');
    const { tar, gz } = await makeLayer(tmp);
    const layer: Descriptor = {
      mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
      digest: await writeBlob(layout, gz),
      size: gz.byteLength,
    };
    const platform = { os: "linux", architecture: "amd64" };
    const config = buildConfig({
      platform,
      overrides: { entrypoint: ["/hello"], env: ["A=1"], labels: { "com.example": "x" } },
      layers: [{ diffId: sha(tar), createdBy: "COPY . /" }],
      epoch: 1700000000,
    });
    const configBlob = await encodeConfig(config, true, codecs);
    await writeBlob(layout, configBlob.bytes);
    const image = await buildManifest({
      oci: true,
      config: configBlob.descriptor,
      layers: [layer],
      annotations: { "org.opencontainers.image.title": "t" },
      platform,
      codecs,
    });
    await writeBlob(layout, image.bytes);

    const entries: Descriptor[] = [image.descriptor];
    for (const artifact of [false, true]) {
      const statement = buildStatement({
        subjects: imageSubjects(["example.com/app:1"], image.descriptor.digest, platform),
        predicateType: "https://example.com/predicate/v1",
        predicate: { artifact },
      });
      const blob = await encodeStatement(statement, codecs);
      const att = await buildAttestationManifest({
        oci: true,
        artifact,
        imageManifest: image.descriptor,
        statements: [blob],
        codecs,
      });
      await writeBlob(layout, blob.bytes);
      await writeBlob(layout, att.config.bytes);
      await writeBlob(layout, att.bytes);
      entries.push(att.descriptor);
    }
    const index = await buildIndex({ oci: true, manifests: entries, codecs });
    await writeBlob(layout, index.bytes);
    const ref = (d: Descriptor, name: string) => ({
      ...d,
      annotations: { "org.opencontainers.image.ref.name": name },
    });
    await Deno.writeTextFile(
      `${layout}/index.json`,
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.index.v1+json",
        manifests: [
          ref({ ...image.descriptor, platform: undefined }, "img"),
          ref(index.descriptor, "multi"),
        ],
      }),
    );

    // umoci: unpack the image and find the file and the config.
    await run("umoci", ["unpack", "--rootless", "--image", `${layout}:img`, `${tmp}/bundle`]);
    assert.equal(await Deno.readTextFile(`${tmp}/bundle/rootfs/hello.txt`), "hello\n");
    const runtime = JSON.parse(await Deno.readTextFile(`${tmp}/bundle/config.json`));
    assert.deepEqual(runtime.process.args, ["/hello"]);
    assert.ok(runtime.process.env.includes("A=1"));

    // skopeo: inspect the index (picks linux/amd64 past the attestation entries) and copy all of it.
    const inspected = JSON.parse(
      await run("skopeo", [
        "inspect",
        "--override-arch",
        "amd64",
        "--override-os",
        "linux",
        `oci:${layout}:multi`,
      ]),
    );
    assert.equal(inspected.Digest, index.descriptor.digest);
    assert.equal(inspected.Architecture, "amd64");
    assert.deepEqual(inspected.Layers, [layer.digest]);
    assert.equal(inspected.Labels["com.example"], "x");
    assert.equal(inspected.Created, "2023-11-14T22:13:20Z");
    // skopeo 1.9 re-encodes the index (it predates descriptor.artifactType) but must keep
    // every child manifest, config and layer byte for byte.
    await run("skopeo", ["copy", "--all", `oci:${layout}:multi`, `oci:${tmp}/copy:multi`]);
    const copiedRoot = JSON.parse(await Deno.readTextFile(`${tmp}/copy/index.json`));
    const copiedIndex = JSON.parse(
      await Deno.readTextFile(
        `${tmp}/copy/blobs/sha256/${copiedRoot.manifests[0].digest.slice(7)}`,
      ),
    );
    assert.deepEqual(
      copiedIndex.manifests.map((m: Descriptor) => m.digest),
      entries.map((m) => m.digest),
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("buildManifest() keeps a descriptor's data in Go's place (after annotations, before platform)", async () => {
  const empty = {
    mediaType: "application/vnd.oci.empty.v1+json",
    digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
    size: 2,
    data: "e30=",
  };
  const built = await buildManifest({ oci: true, config: empty, layers: [], codecs });
  assert.match(
    text(built.bytes),
    /"config": \{\n {4}"mediaType": "application\/vnd\.oci\.empty\.v1\+json",\n {4}"digest": "sha256:44136fa[0-9a-f]+",\n {4}"size": 2,\n {4}"data": "e30="\n {2}\}/,
  );
});
