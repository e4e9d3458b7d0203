/**
 * The library's boundary (issue 21): typed output objects, run-time checks
 * of what JavaScript callers pass, and environments that refuse outputs they
 * cannot serve. Pushes go to the real registry and are read back by skopeo.
 */
import assert from "node:assert/strict";
import { startRegistry } from "../_harness/registry.ts";
import { run } from "../edge/_tools.ts";
import {
  createEdgeEnvironment,
  exportFiles,
  exportImage,
  memoryEntries,
  outputSpec,
  parseOutputSpec,
} from "../../mod.ts";
import type { ImageSpec } from "../../mod.ts";

const SITE = { "index.html": "<h1>hello</h1>\n" };
const EPOCH = 1700000000;

Deno.test("outputSpec() reads an object exactly as the spec string with the same keys", () => {
  const fromObject = outputSpec({
    type: "image",
    name: ["example.com/a:1", "example.com/a:latest"],
    push: true,
    pushByDigest: false,
    registryInsecure: true,
    compression: "zstd",
    compressionLevel: 5,
    forceCompression: true,
    ociMediatypes: true,
    store: false,
    sourceDateEpoch: 0,
    annotations: {
      "org.opencontainers.image.title": "a, b",
      "annotation-index.com.example.x": 'say "hi"',
    },
  });
  const fromString = parseOutputSpec(
    'type=image,"name=example.com/a:1,example.com/a:latest",push=true,push-by-digest=false,' +
      "registry.insecure=true,compression=zstd,compression-level=5,force-compression=true," +
      'oci-mediatypes=true,store=false,source-date-epoch=0,"annotation.org.opencontainers.image.title=a, b",' +
      '"annotation-index.com.example.x=say ""hi"""',
  );
  // `source` keeps each annotation as typed; everything else must be equal.
  const strip = (s: typeof fromString) => ({
    ...s,
    annotations: s.annotations.map(({ source: _source, ...a }) => a),
  });
  assert.deepEqual(strip(fromObject), strip(fromString));
});

Deno.test("outputSpec() keeps a value a value: no key can be spliced in through a name", () => {
  // The README's old edge example built `type=registry,name=${image}` from user input.
  assert.throws(
    () => outputSpec({ type: "registry", name: "a/b:1,name=other/repo:pwned" }),
    {
      name: "TypeError",
      message: /Output option name "a\/b:1,name=other\/repo:pwned" holds a comma/,
    },
  );
  assert.throws(
    () => outputSpec({ type: "registry", name: 'a/b:1"\npush-by-digest=true' }),
    { name: "TypeError", message: /Invalid image name/ },
  );
  // And in a string, a key given twice is an error, not "the last wins".
  assert.throws(() => parseOutputSpec("type=registry,name=a/b:1,name=other/repo:pwned"), {
    name: "TypeError",
    message: /Output key "name" is given twice/,
  });
});

Deno.test("outputSpec() names wrong types and unknown options in the object's own terms", () => {
  const cases: [unknown, RegExp][] = [
    [
      { type: "registry", name: "a/b:1", push: "yes" },
      /Output option push is "yes": give true or false/,
    ],
    [
      { type: "image", compressionLevel: "9" },
      /Output option compressionLevel is "9": give a whole number/,
    ],
    [
      { type: "image", pushBydigest: true },
      /Unknown output option "pushBydigest" \(did you mean "pushByDigest"\?\)/,
    ],
    [{ type: "image", annotations: ["a"] }, /Output option annotations is a list: give an object/],
    [{ name: "a/b:1" }, /Output option type is missing/],
    ["", /Empty output spec/],
    [null, /Invalid output null/],
  ];
  for (const [input, message] of cases) {
    assert.throws(() => outputSpec(input as never), { name: "TypeError", message }, String(input));
  }
});

Deno.test("exportImage() checks JavaScript callers' input field by field before any work", async () => {
  let walked = 0;
  const layer = {
    entries: () => {
      walked++;
      return memoryEntries(SITE);
    },
  };
  const env = createEdgeEnvironment();
  const out = { type: "image", store: false } as const;
  const cases: [unknown, RegExp][] = [
    [
      {
        platforms: [{ platform: "linux/amd64", layers: [layer] }],
        config: { cmd: "node server.js" },
      },
      /ImageSpec\.config\.cmd is "node server\.js": give a list of strings \(a command is a list: \["node","server\.js"\]\)/,
    ],
    [
      { platforms: [{ platform: "linux/amd64", layers: [layer] }], config: { workDir: "/app" } },
      /Unknown field ImageSpec\.config\.workDir \(did you mean "workdir"\?\)/,
    ],
    [
      { platforms: [{ platform: { os: "linux" }, layers: [layer] }] },
      /ImageSpec\.platforms\[0\]\.platform\.architecture is missing/,
    ],
    [
      { platforms: [{ platform: "linux/amd64", layers: [{ entries: memoryEntries(SITE) }] }] },
      /ImageSpec\.platforms\[0\]\.layers\[0\]\.entries is an object: give a function/,
    ],
    [
      { platforms: [{ platform: "linux", layers: [layer] }] },
      /ImageSpec\.platforms\[0\]\.platform: /,
    ],
    [{ platforms: [], sourceDateEpoch: -1 }, /ImageSpec\.sourceDateEpoch is number -1/],
  ];
  for (const [spec, message] of cases) {
    await assert.rejects(exportImage(spec as ImageSpec, [out], env), {
      name: "TypeError",
      message,
    });
  }
  assert.equal(walked, 0, "nothing was read");
});

Deno.test("exportImage() parses a platform given as a string: the config says linux/arm/v7", async () => {
  const registry = await startRegistry();
  try {
    const ref = `${registry.host}/boundary/platform:1`;
    const [result] = await exportImage(
      {
        platforms: [{
          platform: "linux/arm/v7" as never,
          layers: [{ entries: () => memoryEntries(SITE) }],
        }],
        sourceDateEpoch: EPOCH,
      },
      [{ type: "registry", name: ref }],
      createEdgeEnvironment(),
    );
    const config = JSON.parse(
      await run("skopeo", ["inspect", "--config", "--tls-verify=false", `docker://${ref}`]),
    );
    assert.deepEqual([config.os, config.architecture, config.variant], ["linux", "arm", "v7"]);
    assert.deepEqual(result!.manifests[0]!.platform, {
      os: "linux",
      architecture: "arm",
      variant: "v7",
    });
  } finally {
    await registry.stop();
  }
});

Deno.test("an environment refuses outputs it cannot serve instead of dropping them", async () => {
  let requests = 0;
  const env = createEdgeEnvironment({
    fetch: () => {
      requests++;
      return Promise.reject(new Error("no network in this test"));
    },
  });
  await assert.rejects(
    exportFiles(SITE, "type=image,name=example.com/site:1", { environment: env }),
    {
      name: "TypeError",
      message:
        /type=image keeps the image in a local store, and this environment has none: push it \(type=registry\), or set store=false/,
    },
  );
  await assert.rejects(
    exportFiles(SITE, { type: "image", name: "127.0.0.1:9/x:1", push: true, unpack: true }, {
      environment: env,
    }),
    { name: "TypeError", message: /unpack=true needs a local store and a file system/ },
  );
  assert.equal(requests, 0);
  // Asked for explicitly, "compute the digest and keep nothing" still works, the same for both forms.
  const a = await exportFiles(SITE, { type: "image", store: false, sourceDateEpoch: EPOCH }, {
    environment: env,
  });
  const b = await exportFiles(SITE, `type=image,store=false,source-date-epoch=${EPOCH}`, {
    environment: env,
  });
  assert.equal(a.digest, b.digest);
  assert.equal(requests, 0);
});

Deno.test("exportFiles() with an output object pushes what skopeo reads back", async () => {
  const registry = await startRegistry();
  try {
    const ref = `${registry.host}/boundary/object:1`;
    const result = await exportFiles(SITE, {
      type: "registry",
      name: ref,
      ociMediatypes: true,
      annotations: { "org.opencontainers.image.title": "boundary" },
    }, { sourceDateEpoch: EPOCH });
    const raw = await run("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${ref}`]);
    const digest = `sha256:${
      Array.from(
        new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(raw))),
        (b) => b.toString(16).padStart(2, "0"),
      ).join("")
    }`;
    assert.equal(digest, result.digest);
    const manifest = JSON.parse(raw);
    assert.equal(manifest.mediaType, "application/vnd.oci.image.manifest.v1+json");
    assert.equal(manifest.annotations["org.opencontainers.image.title"], "boundary");
  } finally {
    await registry.stop();
  }
});
