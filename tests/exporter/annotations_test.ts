import assert from "node:assert/strict";
import {
  type AnnotationSpec,
  isAnnotationKey,
  parseAnnotationFlag,
  parseAnnotationKey,
  placeAnnotations,
} from "../../src/exporter/annotations.ts";
import { parsePlatform } from "../../src/types/platform.ts";

function throwsWith(fn: () => unknown, ...parts: string[]) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof TypeError, `expected TypeError, got ${String(e)}`);
    for (const p of parts) assert.ok(e.message.includes(p), `"${e.message}" should contain "${p}"`);
    return true;
  });
}

const amd64 = parsePlatform("linux/amd64");
const arm64 = parsePlatform("linux/arm64");
const armv7 = parsePlatform("linux/arm/v7");

Deno.test("isAnnotationKey() recognises the three prefixes only", () => {
  assert.ok(isAnnotationKey("annotation.k"));
  assert.ok(isAnnotationKey("annotation-index.k"));
  assert.ok(isAnnotationKey("annotation[linux/amd64].k"));
  assert.ok(!isAnnotationKey("annotations.k"));
  assert.ok(!isAnnotationKey("name"));
});

Deno.test("parseAnnotationKey() reads every form of SPEC §2", () => {
  const cases: [string, string, string | undefined, string][] = [
    [
      "annotation.org.opencontainers.image.title",
      "manifest",
      undefined,
      "org.opencontainers.image.title",
    ],
    ["annotation-index.com.example.k", "index", undefined, "com.example.k"],
    ["annotation-manifest.k", "manifest", undefined, "k"],
    ["annotation-manifest-descriptor.k", "manifest-descriptor", undefined, "k"],
    ["annotation-index-descriptor.k", "index-descriptor", undefined, "k"],
    ["annotation-manifest[linux/amd64].k", "manifest", "linux/amd64", "k"],
    ["annotation[linux/arm/v7].k", "manifest", "linux/arm/v7", "k"],
    [
      "annotation-manifest-descriptor[linux/arm64].a.b",
      "manifest-descriptor",
      "linux/arm64",
      "a.b",
    ],
  ];
  for (const [key, type, platform, annotationKey] of cases) {
    const spec = parseAnnotationKey(key, "v")!;
    assert.equal(spec.type, type, key);
    assert.equal(spec.key, annotationKey, key);
    assert.equal(spec.value, "v");
    if (platform === undefined) assert.equal(spec.platform, undefined);
    else assert.deepEqual(spec.platform, parsePlatform(platform));
  }
  assert.equal(parseAnnotationKey("name", "x"), undefined);
});

Deno.test("parseAnnotationKey() rejects bad keys with the reason", () => {
  throwsWith(
    () => parseAnnotationKey("annotation-foo.k", "v"),
    'Unknown annotation type "foo"',
    "manifest, index, manifest-descriptor, index-descriptor",
  );
  throwsWith(() => parseAnnotationKey("annotation.", "v"), "Cannot parse annotation key");
  throwsWith(() => parseAnnotationKey("annotation-index", "v"), "Cannot parse annotation key");
  throwsWith(() => parseAnnotationKey("annotation[linux].k", "v"), "Invalid platform");
  throwsWith(
    () => parseAnnotationKey("annotation-index[linux/amd64].k", "v"),
    "whole index",
    "drop [linux/amd64]",
  );
  throwsWith(
    () => parseAnnotationKey("annotation-index-descriptor[linux/amd64].k", "v"),
    "whole index",
  );
});

Deno.test("parseAnnotationFlag() reads buildx's --annotation form", () => {
  const specs = parseAnnotationFlag("index,manifest[linux/amd64]:com.example.k=a=b");
  assert.deepEqual(specs.map((s) => [s.type, s.platform, s.key, s.value]), [
    ["index", undefined, "com.example.k", "a=b"],
    ["manifest", amd64, "com.example.k", "a=b"],
  ]);
  const plain = parseAnnotationFlag("org.opencontainers.image.title=hello world");
  assert.deepEqual(plain.map((s) => [s.type, s.key, s.value]), [
    ["manifest", "org.opencontainers.image.title", "hello world"],
  ]);
  const desc = parseAnnotationFlag("manifest-descriptor[linux/arm/v7]:k=");
  assert.deepEqual(desc[0]!.platform, armv7);
  assert.equal(desc[0]!.value, "");
  // A key with a colon that is not a type list stays whole.
  assert.equal(parseAnnotationFlag("com.example:port=80")[0]!.key, "com.example:port");
});

Deno.test("parseAnnotationFlag() rejects malformed flags", () => {
  throwsWith(() => parseAnnotationFlag("novalue"), "KEY=VALUE");
  throwsWith(() => parseAnnotationFlag("foo:k=v"), 'Unknown annotation type "foo"');
  throwsWith(() => parseAnnotationFlag("index:=v"), "key must be non-empty");
  throwsWith(() => parseAnnotationFlag("index:a b=v"), "without spaces");
  throwsWith(() => parseAnnotationFlag("index[linux/amd64]:k=v"), "whole index");
});

function specs(...texts: string[]): AnnotationSpec[] {
  return texts.flatMap((t) => {
    const eq = t.indexOf("=");
    return [parseAnnotationKey(t.slice(0, eq), t.slice(eq + 1))!];
  });
}

Deno.test("placeAnnotations() puts each type in its place", () => {
  const placed = placeAnnotations(
    specs(
      "annotation.m=1",
      "annotation-index.i=2",
      "annotation-manifest-descriptor.md=3",
      "annotation-index-descriptor.id=4",
    ),
    [amd64, arm64],
    true,
  );
  assert.deepEqual([...placed.manifest.keys()], ["linux/amd64", "linux/arm64"]);
  assert.deepEqual(placed.manifest.get("linux/amd64"), { m: "1" });
  assert.deepEqual(placed.manifest.get("linux/arm64"), { m: "1" });
  assert.deepEqual(placed.index, { i: "2" });
  assert.deepEqual(placed.manifestDescriptor.get("linux/amd64"), { md: "3" });
  assert.deepEqual(placed.indexDescriptor, { id: "4" });
});

Deno.test("placeAnnotations() lets a platform-specific value win and sorts keys", () => {
  const placed = placeAnnotations(
    [
      ...specs("annotation-manifest[linux/arm64].k=arm", "annotation.z=last"),
      ...parseAnnotationFlag("k=all"),
      ...parseAnnotationFlag("manifest-descriptor[linux/amd64]:d=x"),
    ],
    [amd64, arm64],
    true,
  );
  assert.deepEqual(placed.manifest.get("linux/amd64"), { k: "all", z: "last" });
  assert.deepEqual(placed.manifest.get("linux/arm64"), { k: "arm", z: "last" });
  assert.deepEqual(Object.keys(placed.manifest.get("linux/arm64")!), ["k", "z"]);
  assert.deepEqual(placed.manifestDescriptor.get("linux/amd64"), { d: "x" });
  assert.deepEqual(placed.manifestDescriptor.get("linux/arm64"), {});
});

Deno.test("placeAnnotations() matches platforms with default variants", () => {
  // "linux/arm64/v8" normalises to linux/arm64, as containerd does.
  const placed = placeAnnotations(specs("annotation[linux/arm64/v8].k=v"), [{
    os: "linux",
    architecture: "arm64",
  }], false);
  assert.deepEqual(placed.manifest.get("linux/arm64"), { k: "v" });
});

Deno.test("placeAnnotations() rejects a platform that is not exported", () => {
  throwsWith(
    () => placeAnnotations(specs("annotation-manifest[linux/s390x].k=v"), [amd64, arm64], true),
    "linux/s390x",
    "not being exported",
    "linux/amd64, linux/arm64",
  );
});

Deno.test("placeAnnotations() rejects index annotations on a single manifest", () => {
  throwsWith(
    () => placeAnnotations(specs("annotation-index.k=v"), [amd64], false),
    "annotation-index needs a multi-platform or attested export (an index)",
  );
  // index-descriptor too, as BuildKit: "index annotations not supported for single platform export".
  throwsWith(
    () => placeAnnotations(specs("annotation-index-descriptor.k=v"), [amd64], false),
    "annotation-index-descriptor needs a multi-platform or attested export (an index)",
  );
});

Deno.test("placeAnnotations() lets later specs win", () => {
  const placed = placeAnnotations(specs("annotation.k=1", "annotation.k=2"), [amd64], false);
  assert.deepEqual(placed.manifest.get("linux/amd64"), { k: "2" });
});
