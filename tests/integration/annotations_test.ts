/**
 * Annotations end to end (issue 5, SPEC §2): every form from the output spec
 * and from buildx's `--annotation`, each found by skopeo and in the store's
 * `index.json` and blobs exactly where SPEC §2 puts it and nowhere else;
 * errors exit 1 with one line and write nothing.
 */
import assert from "node:assert/strict";
import { runCli, runOk } from "../_harness/cli.ts";
import { type Json, readBlob, readJson, runBuild, withTempDir } from "../_harness/store.ts";
import { writeTree } from "../_harness/tree.ts";

async function skopeoRaw(store: string, name: string): Promise<Json> {
  return JSON.parse((await runOk("skopeo", ["inspect", "--raw", `oci:${store}:${name}`])).stdout);
}

const NAME_KEYS = ["io.containerd.image.name", "org.opencontainers.image.ref.name"];

/** The root descriptor's annotations in index.json, without the name annotations. */
function rootAnnotations(store: string): Record<string, string> | undefined {
  const [root] = readJson(`${store}/index.json`).manifests;
  const rest = Object.fromEntries(
    Object.entries(root.annotations ?? {}).filter(([k]) => !NAME_KEYS.includes(k)),
  );
  return Object.keys(rest).length > 0 ? rest as Record<string, string> : undefined;
}

/** Every `annotations` object in a document tree, with where it was found. */
function allAnnotationPlaces(doc: Json, at = "$"): string[] {
  if (doc === null || typeof doc !== "object") return [];
  const out: string[] = [];
  for (const [k, v] of Object.entries(doc)) {
    if (k === "annotations") out.push(`${at}.annotations`);
    else out.push(...allAnnotationPlaces(v, `${at}.${k}`));
  }
  return out;
}

function withWork(fn: (work: string, context: string) => Promise<void>): Promise<void> {
  return withTempDir("ocistream-annotations-", async (work) => {
    await writeTree(`${work}/context`, { "hello.txt": "hello\n" });
    await fn(work, `${work}/context`);
  });
}

Deno.test("build places every annotation form of a two-platform export where SPEC §2 says, and nowhere else", async () => {
  await withWork(async (work, context) => {
    const store = `${work}/store`;
    const name = "example.com/annotated:1";
    const r = await runBuild(
      context,
      store,
      [
        "type=image",
        `name=${name}`,
        "annotation.o.manifest=a",
        "annotation-manifest.o.manifest-typed=b",
        "annotation[linux/arm64].o.arm64=c",
        "annotation-manifest[linux/amd64].o.amd64=d",
        "annotation-index.o.index=e",
        "annotation-manifest-descriptor.o.descriptor=f",
        "annotation-manifest-descriptor[linux/amd64].o.descriptor-amd64=g",
        "annotation-index-descriptor.o.root=h",
        // A platform-specific value wins over the general one for that platform.
        "annotation-manifest[linux/arm64].o.manifest=arm",
      ].join(","),
      {
        progress: "plain",
        flags: [
          "--platform",
          "linux/amd64,linux/arm64",
          // buildx's flag: default type, several types, platform-qualified types.
          "--annotation",
          "f.manifest=1",
          "--annotation",
          "index,manifest[linux/amd64]:f.index-and-amd64=2",
          "--annotation",
          "manifest-descriptor:f.descriptor=3",
          "--annotation",
          "manifest-descriptor[linux/arm64]:f.descriptor-arm64=4",
          "--annotation",
          "index-descriptor:f.root=5",
        ],
      },
    );
    assert.equal(r.code, 0, r.stderr);
    // Docker media types cannot carry annotations: OCI was switched on, with a note.
    assert.match(r.stderr, /note: .*oci-mediatypes=true/);

    const index = await skopeoRaw(store, name);
    assert.equal(index.mediaType, "application/vnd.oci.image.index.v1+json");
    assert.deepEqual(index.annotations, { "f.index-and-amd64": "2", "o.index": "e" });
    assert.equal(index.manifests.length, 2);
    const [amd64, arm64] = index.manifests;
    assert.deepEqual(amd64.platform, { architecture: "amd64", os: "linux" });
    assert.deepEqual(arm64.platform, { architecture: "arm64", os: "linux" });
    assert.deepEqual(amd64.annotations, {
      "f.descriptor": "3",
      "o.descriptor": "f",
      "o.descriptor-amd64": "g",
    });
    assert.deepEqual(arm64.annotations, {
      "f.descriptor": "3",
      "f.descriptor-arm64": "4",
      "o.descriptor": "f",
    });

    const amd64Manifest = readBlob(store, amd64.digest);
    const arm64Manifest = readBlob(store, arm64.digest);
    assert.deepEqual(amd64Manifest.annotations, {
      "f.index-and-amd64": "2",
      "f.manifest": "1",
      "o.amd64": "d",
      "o.manifest": "a",
      "o.manifest-typed": "b",
    });
    assert.deepEqual(arm64Manifest.annotations, {
      "f.manifest": "1",
      "o.arm64": "c",
      "o.manifest": "arm",
      "o.manifest-typed": "b",
    });
    // Nowhere else: not on configs or layers.
    assert.deepEqual(allAnnotationPlaces(amd64Manifest), ["$.annotations"]);
    assert.deepEqual(allAnnotationPlaces(arm64Manifest), ["$.annotations"]);
    assert.deepEqual(allAnnotationPlaces(index), [
      "$.manifests.0.annotations",
      "$.manifests.1.annotations",
      "$.annotations",
    ]);
    // index-descriptor: only the root descriptor in index.json (beside the names).
    assert.deepEqual(rootAnnotations(store), { "f.root": "5", "o.root": "h" });
    assert.ok(!JSON.stringify(index).includes("o.root"));
    assert.ok(!JSON.stringify(amd64Manifest).includes("o.root"));
  });
});

Deno.test("build puts a single manifest's manifest-descriptor annotations on its root descriptor and refuses index-descriptor ones", async () => {
  await withWork(async (work, context) => {
    const store = `${work}/store`;
    const name = "example.com/single:1";
    // BuildKit: "index annotations not supported for single platform export".
    const refused = await runBuild(
      context,
      store,
      `type=image,name=${name},annotation-index-descriptor.o.root=b`,
      { progress: "quiet", flags: ["--platform", "linux/arm64"] },
    );
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /annotation-index-descriptor needs a multi-platform/);
    const r = await runBuild(
      context,
      store,
      `type=image,name=${name},annotation.o.manifest=a,annotation-manifest-descriptor.o.root=b`,
      {
        progress: "quiet",
        flags: [
          "--platform",
          "linux/arm64",
          "--annotation",
          "manifest[linux/arm64]:f.manifest=1",
          "--annotation",
          "manifest-descriptor:f.descriptor=2",
        ],
      },
    );
    assert.equal(r.code, 0, r.stderr);
    const manifest = await skopeoRaw(store, name);
    assert.equal(manifest.mediaType, "application/vnd.oci.image.manifest.v1+json");
    assert.deepEqual(manifest.annotations, { "f.manifest": "1", "o.manifest": "a" });
    assert.deepEqual(allAnnotationPlaces(manifest), ["$.annotations"]);
    assert.deepEqual(rootAnnotations(store), { "f.descriptor": "2", "o.root": "b" });
    // skopeo reads the image too (config and layer found through the manifest).
    const inspected = JSON.parse(
      (await runOk("skopeo", ["inspect", `oci:${store}:${name}`])).stdout,
    );
    assert.equal(inspected.Architecture, "arm64");
  });
});

Deno.test("build keeps user annotations off attestation manifests", async () => {
  await withWork(async (work, context) => {
    const store = `${work}/store`;
    const name = "example.com/attested:1";
    const r = await runBuild(context, store, `type=image,name=${name}`, {
      progress: "quiet",
      flags: [
        "--platform",
        "linux/amd64",
        "--attest",
        "type=provenance",
        "--annotation",
        "index,manifest,manifest-descriptor:k=v",
      ],
    });
    assert.equal(r.code, 0, r.stderr);
    const root = await skopeoRaw(store, name);
    // With an attestation the export is an index, so index annotations are allowed.
    assert.deepEqual(root.annotations, { k: "v" });
    const [image, attestation] = root.manifests;
    assert.deepEqual(image.annotations, { k: "v" });
    assert.deepEqual(readBlob(store, image.digest).annotations, { k: "v" });
    assert.equal(attestation.annotations.k, undefined);
    assert.equal(readBlob(store, attestation.digest).annotations, undefined);
  });
});

Deno.test("build rejects bad annotations with exit 1, one line, and nothing written", async (t) => {
  await withWork(async (work, context) => {
    const cases: [string, string[], RegExp][] = [
      ["unknown type in --annotation", ["--annotation", "bogus:k=v"], /bogus/],
      [
        "unknown type in the output spec",
        ["--output", "type=image,annotation-bogus.k=v"],
        /Unknown annotation type "bogus"/,
      ],
      [
        "platform not being built (flag)",
        ["--annotation", "manifest[linux/s390x]:k=v"],
        /linux\/s390x.*not being exported/,
      ],
      [
        "platform not being built (output spec)",
        ["--output", "type=image,annotation-manifest-descriptor[linux/arm64].k=v"],
        /linux\/arm64.*not being exported/,
      ],
      [
        "index annotation on a single manifest (flag)",
        ["--annotation", "index:k=v"],
        /annotation-index.*single manifest/,
      ],
      [
        "index annotation on a single manifest (output spec)",
        ["--output", "type=image,annotation-index.k=v"],
        /annotation-index.*single manifest/,
      ],
      [
        // Manifest annotations fit Docker manifests (BuildKit writes them); descriptor ones do not.
        "Docker media types with a descriptor annotation",
        ["--output", "type=image,oci-mediatypes=false,annotation-manifest-descriptor.k=v"],
        /annotation-manifest-descriptor\.k conflicts with oci-mediatypes=false/,
      ],
      [
        "Docker media types with a flag descriptor annotation",
        ["--annotation", "manifest-descriptor:k=v", "--output", "type=image,oci-mediatypes=false"],
        /conflicts with oci-mediatypes=false/,
      ],
      [
        "a platform on an index annotation",
        ["--annotation", "index[linux/amd64]:k=v"],
        /index annotations apply to the whole index/,
      ],
    ];
    for (const [label, args, message] of cases) {
      await t.step(label, async () => {
        const store = `${work}/store-${label.replaceAll(/\W+/g, "-")}`;
        const r = await runCli([
          "build",
          context,
          "--platform",
          "linux/amd64",
          "--store",
          store,
          "--progress",
          "plain",
          ...args,
        ]);
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, message);
        assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
        assert.equal(r.stdout, "");
        // Nothing written: no image in the store.
        const names = await Deno.readTextFile(`${store}/index.json`).then(
          (t) => JSON.parse(t).manifests.length,
          () => 0,
        );
        assert.equal(names, 0);
      });
    }
  });
});
