import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  buildConfig,
  encodeConfig,
  formatRfc3339,
  parseEntrypointArg,
  parseExposedPort,
} from "../../src/image/config_builder.ts";
import { encodeJsonText } from "../../src/image/canonical_json.ts";
import { hashCodecs } from "../fixtures/tar_tools.ts";
import type { HistoryEntry, ImageConfig } from "../../src/types/config.ts";

const codecs = hashCodecs;

const D1 = `sha256:${"1".repeat(64)}`;
const D2 = `sha256:${"2".repeat(64)}`;
const D3 = `sha256:${"3".repeat(64)}`;
const amd64 = { os: "linux", architecture: "amd64" };

// A base config as a registry might serve it (Go-ordered keys, Docker-style extras).
const base: ImageConfig = {
  created: "2030-01-01T00:00:00.123456789Z",
  architecture: "arm",
  variant: "v7",
  os: "linux",
  config: {
    Env: ["PATH=/usr/bin:/bin", "LANG=C"],
    Cmd: ["/bin/sh"],
    WorkingDir: "/",
    Labels: { "z.label": "1", "a.label": "2" },
    OnBuild: null,
    ExposedPorts: { "22/tcp": {} },
  },
  rootfs: { type: "layers", diff_ids: [D1] },
  history: [
    { created: "2020-01-01T00:00:00Z", created_by: "ADD rootfs.tar /" },
    { created: "2030-01-01T00:00:00Z", created_by: 'CMD ["/bin/sh"]', empty_layer: true },
    { created_by: "no time", empty_layer: true },
  ],
  "moby.buildkit.cache.v0": "kept",
};

Deno.test("formatRfc3339() writes Go's time.Time JSON form", () => {
  assert.equal(formatRfc3339(0), "1970-01-01T00:00:00Z");
  assert.equal(formatRfc3339(1704164645), "2024-01-02T03:04:05Z");
  assert.equal(formatRfc3339(new Date(1500)), "1970-01-01T00:00:01.5Z");
  assert.equal(
    formatRfc3339(new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 120))),
    "2024-01-02T03:04:05.12Z",
  );
  assert.throws(() => formatRfc3339(NaN), RangeError);
});

Deno.test("parseEntrypointArg() takes JSON arrays and shell strings", () => {
  assert.deepEqual(parseEntrypointArg('["/hello","a b"]'), ["/hello", "a b"]);
  assert.deepEqual(parseEntrypointArg("  [ ]  "), []);
  assert.deepEqual(parseEntrypointArg("echo $HOME"), ["/bin/sh", "-c", "echo $HOME"]);
  assert.deepEqual(parseEntrypointArg(""), []);
  assert.throws(
    () => parseEntrypointArg("[/hello]"),
    (e: unknown) => e instanceof TypeError && /JSON array/.test(e.message),
  );
  assert.throws(
    () => parseEntrypointArg("[1, 2]"),
    (e: unknown) => e instanceof TypeError && /array of strings/.test(e.message),
  );
});

Deno.test("parseExposedPort() normalises ports like Docker", () => {
  assert.deepEqual(parseExposedPort("80"), ["80/tcp"]);
  assert.deepEqual(parseExposedPort("80/tcp"), ["80/tcp"]);
  assert.deepEqual(parseExposedPort("53/UDP"), ["53/udp"]);
  assert.deepEqual(parseExposedPort("9000-9002/sctp"), ["9000/sctp", "9001/sctp", "9002/sctp"]);
  for (const bad of ["0", "65536", "http", "80/foo", "90-80", ""]) {
    assert.throws(() => parseExposedPort(bad), TypeError, bad);
  }
});

Deno.test("buildConfig() on scratch starts from the Dockerfile frontend's emptyImage, sorted top-level keys, no history", () => {
  const c = buildConfig({ platform: amd64, epoch: 0 });
  assert.equal(
    encodeJsonText(c),
    '{"architecture":"amd64","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"WorkingDir":"/"},"created":"1970-01-01T00:00:00Z","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}',
  );
  // Windows gets no PATH (BuildKit #5445).
  const w = buildConfig({ platform: { os: "windows", architecture: "amd64" }, epoch: 0 });
  assert.deepEqual(w.config, { WorkingDir: "/" });
  // A base without PATH gets the default one appended, as the frontend does.
  const noPath = buildConfig({
    base: { ...base, config: { Env: ["A=1"] } },
    platform: amd64,
    epoch: 0,
  });
  assert.deepEqual(noPath.config!.Env, [
    "A=1",
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  ]);
});

Deno.test("buildConfig() keeps the base and merges settings in Docker's field order", () => {
  const c = buildConfig({
    base,
    platform: { os: "linux", architecture: "amd64" },
    overrides: {
      entrypoint: ["/app"],
      env: ["LANG=C.UTF-8", "NEW=1"],
      workdir: "/srv",
      user: "1000:1000",
      labels: { "m.label": "3", "a.label": "override" },
      exposedPorts: ["80", "53/udp"],
      volumes: ["/data", "/cache"],
      stopSignal: "SIGINT",
    },
    layers: [{ diffId: D2, createdBy: "COPY . /", comment: "ocistream" }],
    epoch: 1700000000,
  });
  assert.deepEqual(Object.keys(c), [
    "architecture",
    "config",
    "created",
    "history",
    "os",
    "rootfs",
  ]);
  assert.equal(c.variant, undefined, "the base's variant is dropped for amd64");
  assert.deepEqual(Object.keys(c.config!), [
    "User",
    "ExposedPorts",
    "Env",
    "Entrypoint",
    "Volumes",
    "WorkingDir",
    "Labels",
    "StopSignal",
  ]);
  assert.deepEqual(c.config!.Env, ["PATH=/usr/bin:/bin", "LANG=C.UTF-8", "NEW=1"]);
  assert.equal(c.config!.Cmd, undefined, "a new entrypoint clears the inherited Cmd");
  assert.deepEqual(c.config!.Entrypoint, ["/app"]);
  assert.deepEqual(c.config!.ExposedPorts, { "22/tcp": {}, "53/udp": {}, "80/tcp": {} });
  assert.deepEqual(Object.keys(c.config!.Volumes!), ["/cache", "/data"]);
  assert.deepEqual(c.config!.Labels, { "a.label": "override", "m.label": "3", "z.label": "1" });
  assert.deepEqual(Object.keys(c.config!.Labels!), ["a.label", "m.label", "z.label"]);
  // Go's struct: a null OnBuild is omitted, a key it does not know is dropped.
  assert.equal(c.config!.OnBuild, undefined);
  assert.deepEqual(c.rootfs, { type: "layers", diff_ids: [D1, D2] });
  assert.equal(c["moby.buildkit.cache.v0"], undefined);
});

Deno.test("buildConfig() keeps base Cmd when entrypoint and cmd are both given, and [] removes", () => {
  const both = buildConfig({
    base,
    platform: amd64,
    overrides: { entrypoint: ["/a"], cmd: ["x"] },
    epoch: 0,
  });
  assert.deepEqual(both.config!.Cmd, ["x"]);
  const none = buildConfig({ base, platform: amd64, overrides: { cmd: [] }, epoch: 0 });
  assert.equal(none.config!.Cmd, undefined);
  const keep = buildConfig({ base, platform: amd64, overrides: { env: ["A=1"] }, epoch: 0 });
  assert.deepEqual(keep.config!.Cmd, ["/bin/sh"]);
});

Deno.test("buildConfig() keeps base history verbatim under an epoch and stamps what it adds", () => {
  const c = buildConfig({ base, platform: amd64, layers: [{ diffId: D2 }], epoch: 1700000000 });
  const epochText = "2023-11-14T22:13:20Z";
  assert.equal(c.created, epochText);
  // BuildKit clamps only what this build creates (moby/buildkit#4614).
  assert.deepEqual(c.history, [
    { created: "2020-01-01T00:00:00Z", created_by: "ADD rootfs.tar /" },
    { created: "2030-01-01T00:00:00Z", created_by: 'CMD ["/bin/sh"]', empty_layer: true },
    { created_by: "no time", empty_layer: true },
    { created: epochText },
  ]);
  // History entries keep Go's field order.
  const h = buildConfig({
    platform: amd64,
    layers: [{ diffId: D2, createdBy: "b", comment: "c" }],
    author: "me",
    epoch: 0,
  }).history!;
  assert.deepEqual(Object.keys(h[0]!), ["created", "created_by", "author", "comment"]);
});

Deno.test("buildConfig() compares sub-second and offset times exactly against the epoch", () => {
  // A base without history gets an entry per layer, dated by the base's `created` (clamped).
  const at = (created: string) =>
    buildConfig({
      base: { ...base, created, history: [] },
      platform: amd64,
      epoch: 100,
    }).history![0]!.created;
  assert.equal(at("1970-01-01T00:01:40Z"), "1970-01-01T00:01:40Z"); // equal: kept
  assert.equal(at("1970-01-01T00:01:40.000000001Z"), "1970-01-01T00:01:40Z"); // 1 ns later: clamped
  assert.equal(at("1970-01-01T00:01:39.999999999Z"), "1970-01-01T00:01:39.999999999Z"); // earlier: kept
  assert.equal(at("1970-01-01T01:01:40+01:00"), "1970-01-01T01:01:40+01:00"); // same instant: kept
  assert.equal(at("1970-01-01T00:01:40-01:00"), "1970-01-01T00:01:40Z"); // an hour later: clamped
  assert.equal(at("garbage"), "1970-01-01T00:01:40Z"); // unreadable: treated as missing
});

Deno.test("buildConfig() uses now without an epoch and keeps base history times", () => {
  const now = new Date(Date.UTC(2024, 0, 2, 3, 4, 5));
  const c = buildConfig({
    base,
    platform: amd64,
    layers: [{ diffId: D2, createdBy: "RUN x" }],
    now,
  });
  assert.equal(c.created, "2024-01-02T03:04:05Z");
  assert.equal(c.history![1]!.created, "2030-01-01T00:00:00Z");
  assert.equal(c.history![2]!.created, undefined);
  assert.deepEqual(c.history![3], { created: "2024-01-02T03:04:05Z", created_by: "RUN x" });
});

Deno.test("buildConfig() sets the platform fields from the platform", () => {
  const c = buildConfig({
    platform: { os: "linux", architecture: "arm64", variant: "v8" },
    base: { ...base, architecture: "amd64" },
    epoch: 0,
  });
  assert.equal(c.architecture, "arm64");
  assert.equal(c.variant, "v8");
  const w = buildConfig({
    platform: { os: "windows", architecture: "amd64", "os.version": "10.0.17763.1" },
    epoch: 0,
  });
  assert.equal(w["os.version"], "10.0.17763.1");
  assert.deepEqual(Object.keys(w), [
    "architecture",
    "config",
    "created",
    "os",
    "os.version",
    "rootfs",
  ]);
});

Deno.test("buildConfig() records metadata steps as empty_layer history when asked", () => {
  const c = buildConfig({
    platform: amd64,
    overrides: { entrypoint: ["/hello"], env: ["A=1"], exposedPorts: ["80"], labels: { k: "v" } },
    layers: [{ diffId: D2, createdBy: "COPY . /" }],
    recordMetadataHistory: true,
    epoch: 0,
  });
  assert.deepEqual(c.history!.map((h) => [h.created_by, h.empty_layer ?? false]), [
    ["COPY . /", false],
    ["EXPOSE [80/tcp]", true],
    ["ENV A=1", true],
    ['ENTRYPOINT ["/hello"]', true],
    ["LABEL k=v", true],
  ]);
  // One non-empty history entry per layer.
  assert.equal(c.history!.filter((h) => !h.empty_layer).length, c.rootfs.diff_ids.length);
});

Deno.test("buildConfig() rejects bad input with clear errors", () => {
  assert.throws(
    () => buildConfig({ platform: amd64, layers: [{ diffId: "sha256:xyz" }] }),
    TypeError,
  );
  assert.throws(
    () => buildConfig({ platform: amd64, overrides: { env: ["NOVALUE"] } }),
    /KEY=VALUE/,
  );
  assert.throws(() => buildConfig({ platform: amd64, overrides: { env: ["=x"] } }), /KEY=VALUE/);
  assert.throws(() => buildConfig({ platform: amd64, epoch: -1 }), RangeError);
  assert.throws(() => buildConfig({ platform: amd64, epoch: 1.5 }), RangeError);
});

Deno.test("buildConfig() gives the same bytes for the same input", async () => {
  const make = () =>
    buildConfig({
      base: structuredClone(base),
      platform: amd64,
      overrides: { env: ["B=2", "A=1"], labels: { y: "1", x: "2" }, exposedPorts: ["443", "80"] },
      layers: [{ diffId: D2 }, { diffId: D3 }],
      epoch: 1234,
    });
  const a = await encodeConfig(make(), true, codecs);
  const b = await encodeConfig(make(), true, codecs);
  assert.deepEqual(a.bytes, b.bytes);
  assert.equal(a.descriptor.digest, b.descriptor.digest);
  assert.equal(a.descriptor.mediaType, "application/vnd.oci.image.config.v1+json");
  assert.equal(a.descriptor.size, a.bytes.byteLength);
  assert.equal(
    a.descriptor.digest,
    `sha256:${createHash("sha256").update(a.bytes).digest("hex")}`,
  );
  const docker = await encodeConfig(make(), false, codecs);
  assert.equal(docker.descriptor.mediaType, "application/vnd.docker.container.image.v1+json");
  // Label order in the input does not change the bytes.
  const swapped = buildConfig({
    base: structuredClone(base),
    platform: amd64,
    overrides: { env: ["B=2", "A=1"], labels: { x: "2", y: "1" }, exposedPorts: ["80", "443"] },
    layers: [{ diffId: D2 }, { diffId: D3 }],
    epoch: 1234,
  });
  assert.deepEqual((await encodeConfig(swapped, true, codecs)).bytes, a.bytes);
});

Deno.test("buildConfig() fills in history for a base with fewer entries than layers, as normalizeLayersAndHistory", () => {
  const noHistory: ImageConfig = {
    architecture: "amd64",
    os: "linux",
    created: "2021-01-01T00:00:00Z",
    rootfs: { type: "layers", diff_ids: [D1, D2] },
  };
  const c = buildConfig({
    base: noHistory,
    baseName: "example.com/base:1",
    platform: amd64,
    layers: [{ diffId: D3, createdBy: "COPY . / # buildkit" }],
    historyComment: "buildkit.dockerfile.v0",
    epoch: 1700000000,
  });
  assert.deepEqual(c.history, [
    {
      created: "2021-01-01T00:00:00Z",
      created_by: "pulled from example.com/base:1",
      comment: "buildkit.exporter.image.v0",
    },
    {
      created: "2021-01-01T00:00:00Z",
      created_by: "pulled from example.com/base:1",
      comment: "buildkit.exporter.image.v0",
    },
    {
      created: "2023-11-14T22:13:20Z",
      created_by: "COPY . / # buildkit",
      comment: "buildkit.dockerfile.v0",
    },
  ]);
  // Each layer has its own non-empty entry: the new layer is credited to the COPY.
  const nonEmpty = c.history!.filter((h: HistoryEntry) => !h.empty_layer);
  assert.equal(nonEmpty.length, c.rootfs.diff_ids.length);
  assert.equal(nonEmpty[2]!.created_by, "COPY . / # buildkit");
  // More non-empty entries than layers: the extra ones become empty from the bottom.
  const extra = buildConfig({
    base: {
      ...noHistory,
      rootfs: { type: "layers", diff_ids: [D1] },
      history: [{ created_by: "a" }, { created_by: "b" }],
    },
    platform: amd64,
    epoch: 0,
  });
  assert.deepEqual(extra.history, [{ created_by: "a" }, { created_by: "b", empty_layer: true }]);
});

Deno.test("buildConfig() words metadata history as the Dockerfile frontend, with its comment", () => {
  const c = buildConfig({
    platform: amd64,
    overrides: {
      entrypoint: ["/app", "a b"],
      cmd: ["x"],
      volumes: ["/data", "/c"],
      exposedPorts: ["80", "53/udp"],
      user: "app",
      workdir: "/srv",
    },
    layers: [{ diffId: D2, createdBy: "COPY . / # buildkit" }],
    recordMetadataHistory: true,
    historyComment: "buildkit.dockerfile.v0",
    epoch: 0,
  });
  assert.deepEqual(c.history!.map((h) => h.created_by), [
    "COPY . / # buildkit",
    "USER app",
    "EXPOSE [80/tcp 53/udp]",
    'ENTRYPOINT ["/app" "a b"]',
    'CMD ["x"]',
    "VOLUME [/data /c]",
    "WORKDIR /srv",
  ]);
  assert.ok(c.history!.every((h) => h.comment === "buildkit.dockerfile.v0"));
  assert.deepEqual(c.history!.map((h) => h.empty_layer ?? false), [
    false,
    true,
    true,
    true,
    true,
    true,
    true,
  ]);
});
