import assert from "node:assert/strict";
import {
  checkLayer,
  layerCreatedBy,
  layerDestination,
  parseChmod,
  parseChown,
  parseLayerSpec,
} from "../../src/exporter/layer_spec.ts";

Deno.test("parseLayerSpec() reads buildx-style CSV and the DIR[:DEST] shorthand", () => {
  assert.deepEqual(parseLayerSpec("dist"), { src: "dist" });
  assert.deepEqual(parseLayerSpec("./dist:/app/"), { src: "./dist", dest: "/app" });
  assert.deepEqual(parseLayerSpec("a:b:/srv"), { src: "a:b", dest: "/srv" });
  assert.deepEqual(
    parseLayerSpec(
      'src=dist,dest=/app,chown=1000:1000,chmod=0755,exclude=*.map,"exclude=a,b",' +
        "ignore-file=.appignore,created-by=COPY dist /app",
    ),
    {
      src: "dist",
      dest: "/app",
      chown: "1000:1000",
      chmod: "0755",
      exclude: ["*.map", "a,b"],
      ignoreFile: ".appignore",
      createdBy: "COPY dist /app",
    },
  );
  assert.deepEqual(parseLayerSpec("src=dist,dest=public"), { src: "dist", dest: "public" });
  for (
    const [bad, message] of [
      ["src=a,src=b", /src= twice/],
      ["dest=/app", /no src=/],
      ["src=a,size=1", /Invalid --layer field "size=1"/],
      ["src=a,chown=root", /numeric UID/],
      ["src=a,chmod=+x", /octal mode/],
      ["src=", /src must name a folder/],
    ] as const
  ) assert.throws(() => parseLayerSpec(bad), { name: "TypeError", message }, bad);
});

Deno.test("parseChown() and parseChmod() take COPY's forms", () => {
  assert.deepEqual(parseChown("1000"), { uid: 1000, gid: 1000 });
  assert.deepEqual(parseChown("0:50"), { uid: 0, gid: 50 });
  assert.deepEqual(parseChown(33), { uid: 33, gid: 33 });
  assert.throws(() => parseChown("1000:"), TypeError);
  assert.throws(() => parseChown("4294967296"), TypeError);
  assert.equal(parseChmod("755"), 0o755);
  assert.equal(parseChmod("04755"), 0o4755);
  assert.equal(parseChmod("0o640"), 0o640);
  assert.equal(parseChmod(0o600), 0o600);
  for (const bad of ["8", "10000", "u+x", "", -1, 0o10000, 1.5]) {
    assert.throws(() => parseChmod(bad), TypeError, String(bad));
  }
});

Deno.test("layerCreatedBy() writes BuildKit's COPY line; layerDestination() resolves dest", () => {
  assert.equal(layerCreatedBy({ src: "dist", dest: "/app" }), "COPY dist /app # buildkit");
  assert.equal(
    layerCreatedBy({ src: "/abs/dist", dest: "/app", chown: "1000", chmod: 0o755 }),
    "COPY --chown=1000 --chmod=0755 . /app # buildkit",
  );
  assert.equal(layerCreatedBy({ src: "./x/../dist/" }), "COPY dist / # buildkit");
  assert.equal(layerCreatedBy({ src: "dist", createdBy: "mine" }), "mine");
  assert.equal(layerDestination({ src: "d", dest: "public/" }, "/srv"), "/srv/public");
  assert.equal(layerDestination({ src: "d", dest: "/a/../b" }), "/b");
  assert.equal(layerDestination(checkLayer({ src: "d", dest: "../../etc" })), "/etc");
  assert.throws(() => checkLayer({ src: "d", exclude: "x" as unknown as string[] }), TypeError);
});
