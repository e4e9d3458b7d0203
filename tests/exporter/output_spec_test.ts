import assert from "node:assert/strict";
import { splitCsvLine } from "../../src/exporter/_csv.ts";
import {
  type OutputSpec,
  parseOutputSpec,
  resolveOciMediaTypes,
  VALID_OUTPUT_KEYS,
} from "../../src/exporter/output_spec.ts";

function throwsWith(fn: () => unknown, type: ErrorConstructor, ...parts: string[]) {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof type, `expected ${type.name}, got ${String(error)}`);
  const message = (error as Error).message;
  assert.ok(!message.includes("\n"), `message is one line: ${message}`);
  for (const p of parts) assert.ok(message.includes(p), `"${message}" should contain "${p}"`);
}

Deno.test("splitCsvLine() splits at commas and keeps quoted commas", () => {
  assert.deepEqual(splitCsvLine("a=1,b=2"), ["a=1", "b=2"]);
  assert.deepEqual(splitCsvLine('type=image,"name=a/b:1,a/b:2"'), [
    "type=image",
    "name=a/b:1,a/b:2",
  ]);
  assert.deepEqual(splitCsvLine('"a=x""y",b'), ['a=x"y', "b"]);
  assert.deepEqual(splitCsvLine('name="a,b",push'), ["name=a,b", "push"]);
  assert.deepEqual(splitCsvLine('k="say ""hi"""'), ['k=say "hi"']);
  assert.deepEqual(splitCsvLine("a,,b,"), ["a", "", "b", ""]);
  assert.deepEqual(splitCsvLine(""), [""]);
});

Deno.test("splitCsvLine() rejects bare and unterminated quotes like Go's encoding/csv", () => {
  throwsWith(() => splitCsvLine('a=b"c'), SyntaxError, "bare", "character 4");
  throwsWith(() => splitCsvLine('"a=b'), SyntaxError, "no closing quote");
  throwsWith(() => splitCsvLine('"a=b"x,c'), SyntaxError, "only a comma");
  throwsWith(() => splitCsvLine('k=v="x"'), SyntaxError, "bare");
});

Deno.test("parseOutputSpec() fills in defaults for type=image", () => {
  const spec = parseOutputSpec("type=image");
  const expected: OutputSpec = {
    type: "image",
    names: [],
    push: false,
    pushByDigest: false,
    insecureRegistry: false,
    danglingNameEmptyOnly: false,
    nameCanonical: false,
    compression: "gzip",
    forceCompression: false,
    rewriteTimestamp: false,
    compatibilityVersion: 20,
    ociArtifact: false,
    unpack: false,
    store: true,
    annotations: [],
    tar: true,
    warnings: [],
  };
  assert.deepEqual(spec, expected);
  assert.equal(spec.ociMediaTypes, undefined);
  assert.equal(spec.compressionLevel, undefined);
});

Deno.test("parseOutputSpec() reads every image key", () => {
  const spec = parseOutputSpec(
    'type=image,"name=example.com/a:1,example.com/a:2",push=true,registry.insecure=true,' +
      "dangling-name-prefix=example.com/anon,name-canonical=true,compression=zstd," +
      "compression-level=19,force-compression=true,oci-mediatypes=true,oci-artifact=true," +
      "store=false,source-date-epoch=1700000000,annotation.org.opencontainers.image.title=hi",
  );
  assert.deepEqual(spec.names, ["example.com/a:1", "example.com/a:2"]);
  assert.equal(spec.push, true);
  assert.equal(spec.insecureRegistry, true);
  assert.equal(spec.danglingNamePrefix, "example.com/anon");
  assert.equal(spec.nameCanonical, true);
  assert.equal(spec.compression, "zstd");
  assert.equal(spec.compressionLevel, 19);
  assert.equal(spec.forceCompression, true);
  assert.equal(spec.ociMediaTypes, true);
  assert.equal(spec.ociArtifact, true);
  assert.equal(spec.store, false);
  assert.equal(spec.sourceDateEpoch, 1700000000);
  assert.equal(spec.annotations.length, 1);
  assert.equal(spec.annotations[0]!.type, "manifest");
  assert.equal(spec.annotations[0]!.key, "org.opencontainers.image.title");
  assert.equal(spec.annotations[0]!.value, "hi");
  assert.deepEqual(spec.warnings, []);
});

Deno.test("parseOutputSpec() accepts a value-quoted name list", () => {
  const spec = parseOutputSpec('type=image,name="a:1,b:2"');
  assert.deepEqual(spec.names, ["a:1", "b:2"]);
});

Deno.test("parseOutputSpec() treats type=registry as image with push", () => {
  const spec = parseOutputSpec("type=registry,name=localhost:5000/a:1");
  assert.equal(spec.type, "registry");
  assert.equal(spec.push, true);
  throwsWith(
    () => parseOutputSpec("type=registry,name=a,push=false"),
    TypeError,
    "type=registry always pushes",
  );
});

Deno.test("parseOutputSpec() reads bare keys and case-insensitive booleans", () => {
  const spec = parseOutputSpec(
    "type=image,name=a,push,unpack,force-compression=TRUE,oci-mediatypes=False",
  );
  assert.equal(spec.push, true);
  assert.equal(spec.unpack, true);
  assert.equal(spec.forceCompression, true);
  assert.equal(spec.ociMediaTypes, false);
});

Deno.test("parseOutputSpec() rejects invalid booleans naming key and value", () => {
  throwsWith(
    () => parseOutputSpec("type=image,push=yes"),
    TypeError,
    "push",
    '"yes"',
    "true",
    "false",
  );
  throwsWith(
    () => parseOutputSpec("type=image,oci-mediatypes=yes"),
    TypeError,
    "oci-mediatypes",
    '"yes"',
  );
  // Go's strconv.ParseBool is case-sensitive beyond its listed spellings.
  throwsWith(() => parseOutputSpec("type=image,push=tRUE"), TypeError, "push", '"tRUE"');
  // An empty value is true, as BuildKit reads `key=` (issue 15).
  assert.equal(parseOutputSpec("type=image,store=").store, true);
});

Deno.test("parseOutputSpec() rejects a missing or unknown type", () => {
  throwsWith(() => parseOutputSpec("name=a"), TypeError, "no type", "type=image");
  throwsWith(
    () => parseOutputSpec("type=foo"),
    TypeError,
    'Unknown output type "foo"',
    "image, registry, oci, docker",
  );
  throwsWith(() => parseOutputSpec("type=local,dest=out"), TypeError, '"local"', "images only");
  throwsWith(() => parseOutputSpec("type,name=a"), TypeError, "type", "needs a value");
  throwsWith(() => parseOutputSpec(""), TypeError, "Empty output spec");
});

Deno.test("parseOutputSpec() explains that the path shorthand is not supported", () => {
  throwsWith(
    () => parseOutputSpec("./out"),
    TypeError,
    "looks like a path",
    "type=oci,dest=./out,tar=false",
  );
  throwsWith(() => parseOutputSpec("-"), TypeError, "looks like a path");
});

Deno.test("parseOutputSpec() rejects unknown keys and lists the valid ones", () => {
  throwsWith(
    () => parseOutputSpec("type=image,compresion=zstd"),
    TypeError,
    'Unknown output key "compresion"',
    '(did you mean "compression"?)',
    "push-by-digest",
  );
  assert.throws(
    () => parseOutputSpec("type=image,bogus=1"),
    (e: Error) => e instanceof TypeError && !e.message.includes("did you mean"),
    "no hint when nothing is close",
  );
  throwsWith(
    () => parseOutputSpec("type=image,dest=x"),
    TypeError,
    '"dest"',
    "type=oci and type=docker",
  );
  throwsWith(
    () => parseOutputSpec("type=oci,dest=x,push=true"),
    TypeError,
    '"push"',
    "type=image and type=registry",
  );
  assert.ok(VALID_OUTPUT_KEYS.includes("compression-level"));
  assert.ok(VALID_OUTPUT_KEYS.includes("registry.insecure"));
});

Deno.test("parseOutputSpec() rejects an unknown compression", () => {
  throwsWith(
    () => parseOutputSpec("type=image,compression=brotli"),
    TypeError,
    '"brotli"',
    "uncompressed, gzip, estargz, zstd",
  );
});

Deno.test("parseOutputSpec() checks compression-level per algorithm", () => {
  assert.equal(parseOutputSpec("type=image,compression-level=0").compressionLevel, 0);
  assert.equal(parseOutputSpec("type=image,compression-level=9").compressionLevel, 9);
  assert.equal(
    parseOutputSpec("type=image,compression=estargz,compression-level=9").compressionLevel,
    9,
  );
  assert.equal(
    parseOutputSpec("type=image,compression=zstd,compression-level=22").compressionLevel,
    22,
  );
  throwsWith(
    () => parseOutputSpec("type=image,compression-level=10"),
    RangeError,
    "compression=gzip",
    "0 to 9",
  );
  throwsWith(
    () => parseOutputSpec("type=image,compression=estargz,compression-level=10"),
    RangeError,
    "0 to 9",
  );
  throwsWith(
    () => parseOutputSpec("type=image,compression=zstd,compression-level=23"),
    RangeError,
    "0 to 22",
  );
  throwsWith(() => parseOutputSpec("type=image,compression-level=-1"), RangeError, "0 to 9");
  throwsWith(
    () => parseOutputSpec("type=image,compression-level=1.5"),
    TypeError,
    '"1.5"',
    "integer",
  );
  throwsWith(() => parseOutputSpec("type=image,compression-level=fast"), TypeError, '"fast"');
  throwsWith(() => parseOutputSpec("type=image,compression-level"), TypeError, "needs a value");
  // Order of keys does not matter: the level is checked against the final compression.
  assert.equal(
    parseOutputSpec("type=image,compression-level=15,compression=zstd").compressionLevel,
    15,
  );
});

Deno.test("parseOutputSpec() ignores a level for uncompressed with a warning", () => {
  const spec = parseOutputSpec("type=image,compression=uncompressed,compression-level=5");
  assert.equal(spec.compressionLevel, undefined);
  assert.equal(spec.warnings.length, 1);
  assert.match(spec.warnings[0]!, /no effect with compression=uncompressed/);
});

Deno.test("parseOutputSpec() validates names and names the bad one", () => {
  throwsWith(() => parseOutputSpec("type=image,name=Bad/Name"), TypeError, '"Bad/Name"');
  throwsWith(() => parseOutputSpec('type=image,"name=ok:1,no:tag:"'), TypeError, '"no:tag:"');
  throwsWith(() => parseOutputSpec("type=image,name"), TypeError, "name", "needs a value");
  assert.deepEqual(parseOutputSpec('type=image,"name=a, b,"').names, ["a", "b"]);
});

Deno.test("parseOutputSpec() requires a name to push", () => {
  throwsWith(() => parseOutputSpec("type=image,push=true"), TypeError, "push=true needs a name");
  throwsWith(() => parseOutputSpec("type=registry"), TypeError, "push=true needs a name");
});

Deno.test("parseOutputSpec() rejects a tagged name with push-by-digest", () => {
  throwsWith(
    () => parseOutputSpec("type=registry,name=example.com/a:1,push-by-digest=true"),
    TypeError,
    "push-by-digest",
    '"example.com/a:1"',
  );
  const spec = parseOutputSpec("type=registry,name=example.com/a,push-by-digest=true");
  assert.equal(spec.pushByDigest, true);
  const idle = parseOutputSpec("type=image,name=example.com/a,push-by-digest=true");
  assert.match(idle.warnings[0]!, /push-by-digest has no effect without push=true/);
});

Deno.test("parseOutputSpec() rejects rewrite-timestamp with unpack when a name is given and the store is on", () => {
  throwsWith(
    () => parseOutputSpec("type=image,name=example.com/a,rewrite-timestamp=true,unpack=true"),
    TypeError,
    "rewrite-timestamp=true conflicts with unpack=true",
  );
  throwsWith(
    () => parseOutputSpec("type=image,dangling-name-prefix=x,rewrite-timestamp=true,unpack=true"),
    TypeError,
    "rewrite-timestamp=true conflicts with unpack=true",
  );
  // BuildKit unpacks only while naming: without a name there is no conflict.
  const unnamed = parseOutputSpec("type=image,rewrite-timestamp=true,unpack=true");
  assert.equal(unnamed.unpack && unnamed.rewriteTimestamp, true);
  assert.equal(parseOutputSpec("type=image,rewrite-timestamp=true").rewriteTimestamp, true);
  throwsWith(
    () => parseOutputSpec("type=image,unpack=true,store=false"),
    TypeError,
    "unpack=true needs store=true",
  );
});

Deno.test("parseOutputSpec() checks source-date-epoch", () => {
  assert.equal(parseOutputSpec("type=image,source-date-epoch=0").sourceDateEpoch, 0);
  throwsWith(() => parseOutputSpec("type=image,source-date-epoch=-1"), RangeError, "out of range");
  throwsWith(
    () => parseOutputSpec("type=image,source-date-epoch=1.5"),
    TypeError,
    "non-negative integer",
  );
  throwsWith(() => parseOutputSpec("type=image,source-date-epoch=now"), TypeError, '"now"');
  throwsWith(
    () => parseOutputSpec("type=image,source-date-epoch=99999999999999"),
    RangeError,
    "out of range",
  );
});

Deno.test("parseOutputSpec() checks dangling-name-prefix", () => {
  throwsWith(
    () => parseOutputSpec("type=image,dangling-name-prefix=Bad"),
    TypeError,
    "dangling-name-prefix",
    '"Bad"',
  );
  throwsWith(() => parseOutputSpec("type=image,dangling-name-prefix="), TypeError, "needs a value");
});

Deno.test("parseOutputSpec() reads archive outputs", () => {
  const oci = parseOutputSpec("type=oci,dest=out.tar,name=a:1");
  assert.equal(oci.dest, "out.tar");
  assert.equal(oci.tar, true);
  assert.deepEqual(oci.names, ["a:1"]);
  assert.equal(oci.store, true);
  const folder = parseOutputSpec("type=oci,dest=layout,tar=false");
  assert.equal(folder.tar, false);
  assert.equal(parseOutputSpec("type=docker,dest=-").dest, "-");
  throwsWith(() => parseOutputSpec("type=oci"), TypeError, "type=oci needs dest=PATH");
  throwsWith(
    () => parseOutputSpec("type=docker,dest=x,tar=false"),
    TypeError,
    "tar=false is only for type=oci",
  );
  throwsWith(() => parseOutputSpec("type=oci,dest=-,tar=false"), TypeError, "cannot go to stdout");
});

Deno.test("parseOutputSpec() validates annotations before any work", () => {
  const spec = parseOutputSpec(
    "type=image,annotation-index.k1=v1,annotation-manifest[linux/arm64].k2=v2,annotation-manifest-descriptor.k3=a=b",
  );
  assert.deepEqual(
    spec.annotations.map((a) => [a.type, a.key, a.value, a.platform?.architecture]),
    [
      ["index", "k1", "v1", undefined],
      ["manifest", "k2", "v2", "arm64"],
      ["manifest-descriptor", "k3", "a=b", undefined],
    ],
  );
  throwsWith(
    () => parseOutputSpec("type=image,annotation-foo.k=v"),
    TypeError,
    'Unknown annotation type "foo"',
  );
  throwsWith(() => parseOutputSpec("type=image,annotation.k"), TypeError, "needs a value");
  throwsWith(
    () => parseOutputSpec("type=image,annotation[linux].k=v"),
    TypeError,
    "Invalid platform",
  );
});

Deno.test("parseOutputSpec() keeps annotation key case and lowercases option keys", () => {
  const spec = parseOutputSpec("Type=image,Push=false,annotation.Com.Example.Key=Value");
  assert.equal(spec.type, "image");
  assert.equal(spec.annotations[0]!.key, "Com.Example.Key");
  assert.equal(spec.annotations[0]!.value, "Value");
});

Deno.test("parseOutputSpec() refuses a key given twice (a spliced name= cannot win)", () => {
  assert.throws(
    () => parseOutputSpec("type=image,compression=zstd,compression=gzip"),
    /Output key "compression" is given twice: give each key once$/,
  );
  assert.throws(
    () => parseOutputSpec("type=registry,name=a/b:1,name=other/repo:pwned"),
    /Output key "name" is given twice: give each key once \(several names go in one quoted field/,
  );
});

Deno.test("resolveOciMediaTypes() defaults to Docker for image and OCI for oci", () => {
  assert.deepEqual(
    resolveOciMediaTypes(parseOutputSpec("type=image"), { hasAttestations: false }),
    {
      oci: false,
      notes: [],
    },
  );
  assert.deepEqual(
    resolveOciMediaTypes(parseOutputSpec("type=oci,dest=x"), { hasAttestations: false }),
    { oci: true, notes: [] },
  );
  assert.deepEqual(
    resolveOciMediaTypes(parseOutputSpec("type=oci,dest=x,oci-mediatypes=false"), {
      hasAttestations: false,
    }),
    { oci: false, notes: [] },
  );
});

Deno.test("resolveOciMediaTypes() switches OCI on for features that need it, with a note", () => {
  const cases: [string, boolean, string][] = [
    [
      "type=image,compression=estargz",
      false,
      "compression=estargz needs OCI media types: using oci-mediatypes=true",
    ],
    [
      "type=image,annotation-manifest-descriptor.k=v",
      false,
      "annotation-manifest-descriptor.k needs OCI media types",
    ],
    ["type=image,oci-artifact=true", false, "oci-artifact=true needs OCI media types"],
    ["type=image", true, "attestations need OCI media types"],
  ];
  for (const [text, hasAttestations, note] of cases) {
    const got = resolveOciMediaTypes(parseOutputSpec(text), { hasAttestations });
    assert.equal(got.oci, true, text);
    assert.equal(got.notes.length, 1, text);
    assert.ok(got.notes[0]!.startsWith(note), got.notes[0]);
  }
  const both = resolveOciMediaTypes(parseOutputSpec("type=image,compression=estargz"), {
    hasAttestations: true,
  });
  assert.equal(
    both.notes[0],
    "compression=estargz and attestations need OCI media types: using oci-mediatypes=true",
  );
});

Deno.test("resolveOciMediaTypes() errors when oci-mediatypes=false conflicts, naming both", () => {
  const cases: [string, boolean, string][] = [
    [
      "type=image,compression=estargz,oci-mediatypes=false",
      false,
      "compression=estargz conflicts with oci-mediatypes=false",
    ],
    [
      "type=image,annotation-index.k=v,oci-mediatypes=false",
      false,
      "annotation-index.k conflicts with oci-mediatypes=false",
    ],
    [
      "type=image,oci-artifact=true,oci-mediatypes=false",
      false,
      "oci-artifact=true conflicts with oci-mediatypes=false",
    ],
    ["type=image,oci-mediatypes=false", true, "attestations conflict with oci-mediatypes=false"],
  ];
  for (const [text, hasAttestations, message] of cases) {
    throwsWith(
      () => resolveOciMediaTypes(parseOutputSpec(text), { hasAttestations }),
      TypeError,
      message,
    );
  }
});

Deno.test("resolveOciMediaTypes() warns about zstd with Docker media types", () => {
  const got = resolveOciMediaTypes(parseOutputSpec("type=image,compression=zstd"), {
    hasAttestations: false,
  });
  assert.equal(got.oci, false);
  assert.match(got.notes[0]!, /application\/vnd\.docker\.image\.rootfs\.diff\.tar\.zstd/);
  assert.match(got.notes[0]!, /many clients reject/);
  const oci = resolveOciMediaTypes(
    parseOutputSpec("type=image,compression=zstd,oci-mediatypes=true"),
    {
      hasAttestations: false,
    },
  );
  assert.deepEqual(oci, { oci: true, notes: [] });
});

Deno.test("parseOutputSpec() reads booleans as Go's strconv.ParseBool; an empty value is true", () => {
  for (const word of ["1", "t", "T", "TRUE", "true", "True", ""]) {
    assert.equal(parseOutputSpec(`type=image,push=${word},name=a`).push, true, word);
    assert.equal(parseOutputSpec(`type=image,unpack=${word}`).unpack, true, word);
  }
  for (const word of ["0", "f", "F", "FALSE", "false", "False"]) {
    assert.equal(parseOutputSpec(`type=image,oci-mediatypes=${word}`).ociMediaTypes, false, word);
  }
  // compression values are case-sensitive, as BuildKit's compression.Parse.
  throwsWith(
    () => parseOutputSpec("type=image,compression=GZIP"),
    TypeError,
    'Unknown compression "GZIP"',
    "compression=gzip",
  );
});

Deno.test("parseOutputSpec() reads compatibility-version: 20 default, 30 turns on OCI and OCI artifacts, 10 and others refused", () => {
  assert.equal(parseOutputSpec("type=image").compatibilityVersion, 20);
  const v30 = parseOutputSpec("type=image,compatibility-version=30");
  assert.equal(v30.compatibilityVersion, 30);
  assert.equal(v30.ociArtifact, true);
  assert.equal(resolveOciMediaTypes(v30, { hasAttestations: false }).oci, true);
  const v20 = parseOutputSpec("type=image,compatibility-version=20");
  assert.equal(v20.ociArtifact, false);
  assert.equal(resolveOciMediaTypes(v20, { hasAttestations: false }).oci, false);
  // An explicit choice wins over the version's defaults.
  const docker30 = parseOutputSpec("type=image,compatibility-version=30,oci-mediatypes=false");
  assert.equal(docker30.ociArtifact, false);
  assert.equal(resolveOciMediaTypes(docker30, { hasAttestations: false }).oci, false);
  assert.equal(
    parseOutputSpec("type=image,compatibility-version=30,oci-artifact=false").ociArtifact,
    false,
  );
  throwsWith(
    () => parseOutputSpec("type=image,compatibility-version=10"),
    RangeError,
    "compatibility-version=10",
    "use compatibility-version=20",
  );
  for (const bad of ["31", "2", "abc", ""]) {
    assert.throws(() => parseOutputSpec(`type=image,compatibility-version=${bad}`), Error, bad);
  }
});

Deno.test("parseOutputSpec() reads danging-name-empty-only (BuildKit's spelling)", () => {
  const spec = parseOutputSpec("type=image,dangling-name-prefix=p,danging-name-empty-only=true");
  assert.equal(spec.danglingNamePrefix, "p");
  assert.equal(spec.danglingNameEmptyOnly, true);
  assert.equal(parseOutputSpec("type=image").danglingNameEmptyOnly, false);
});
