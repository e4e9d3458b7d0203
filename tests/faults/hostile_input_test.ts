import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { run, runCli } from "../_harness/cli.ts";
import { parseOutputSpec } from "../../src/exporter/output_spec.ts";
import { parseAnnotationFlag } from "../../src/exporter/annotations.ts";
import { formatReference, parseReference } from "../../src/types/reference.ts";
import { exportImage } from "../../src/exporter/export_image.ts";
import { directoryEntries } from "../../src/sources/directory_source.ts";
import { denoFileSystem } from "../../src/runtime/deno_file_system.ts";
import { webCodecs } from "../../src/stages/web_codecs.ts";
import { OciLayout } from "../../src/sinks/oci_layout.ts";
import { RegistryClient } from "../../src/registry/registry_client.ts";
import type { FileSystem } from "../../src/types/file_system.ts";
import type { TarEntry } from "../../src/types/tar_entry.ts";
import { OCI_MANIFEST } from "../../src/types/media_types.ts";

// ---- fuzzing the parsers ----------------------------------------------------

/** mulberry32: a small seeded PRNG, so every run fuzzes the same strings. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TOKENS = [
  "type=",
  "image",
  "registry",
  "oci",
  "docker",
  "local",
  "name=",
  "push",
  "=",
  ",",
  '"',
  "'",
  ":",
  "/",
  "@",
  "[",
  "]",
  ".",
  "-",
  "_",
  "true",
  "false",
  "TRUE",
  "compression=",
  "zstd",
  "estargz",
  "gzip",
  "compression-level=",
  "99",
  "-1",
  "1e3",
  "0x10",
  "annotation.",
  "annotation-index.",
  "annotation-manifest[linux/amd64].",
  "annotation-manifest-descriptor",
  "annotation-index-descriptor[",
  "index,manifest:",
  "manifest[linux/arm/v7]:",
  "sha256:",
  "a".repeat(130),
  "0123456789abcdef".repeat(4),
  "localhost:5000",
  "[::1]:5000",
  "dest=",
  "-",
  "tar=false",
  "registry.insecure=",
  "oci-mediatypes=",
  "source-date-epoch=",
  "\n",
  "\r",
  "\t",
  "\u0000",
  "\u2028",
  "\uFFFD",
  "é",
  "\u{1F600}",
  " ",
  "\\",
  "store=",
  "unpack",
  "rewrite-timestamp",
  "push-by-digest",
  "dangling-name-prefix=",
  "name-canonical",
  "oci-artifact",
  "force-compression",
  "__proto__",
  "constructor",
  "toString",
  "Ⅻ",
];

function fuzzStrings(seed: number, count: number): string[] {
  const r = prng(seed);
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    let s = "";
    const n = Math.floor(r() * 14);
    for (let j = 0; j < n; j++) {
      s += r() < 0.85
        ? TOKENS[Math.floor(r() * TOKENS.length)]
        : String.fromCodePoint(Math.floor(r() * 0x3000));
    }
    out.push(s);
  }
  return out;
}

/**
 * Fuzzes `parse` with 3000 seeded strings: every rejection must be a one-line TypeError or
 * RangeError, every acceptance must pass `accepted` (what the parser returned must follow
 * from the text), and both must happen often (a parser that accepts, or refuses,
 * everything fails).
 */
function fuzz<T>(
  name: string,
  parse: (text: string) => T,
  seed: number,
  options: {
    oneLineAlways: boolean;
    accepted: (text: string, result: T) => void;
    strings?: (seed: number, count: number) => string[];
  },
): void {
  let accepted = 0;
  const strings = (options.strings ?? fuzzStrings)(seed, 3000);
  for (const text of strings) {
    let result: T;
    try {
      result = parse(text);
    } catch (e) {
      const ok = e instanceof TypeError || e instanceof RangeError;
      assert.ok(ok, `${name}(${JSON.stringify(text)}) threw ${(e as Error)?.name}: ${e}`);
      const message = (e as Error).message;
      assert.ok(message.length > 0, `${name}(${JSON.stringify(text)}) threw an empty message`);
      if (options.oneLineAlways || !/[\n\r\u2028\u2029]/.test(text)) {
        assert.ok(
          !/[\n\r\u2028\u2029]/.test(message),
          `${name}(${JSON.stringify(text)}) threw a multi-line message: ${JSON.stringify(message)}`,
        );
      }
      continue;
    }
    accepted++;
    try {
      options.accepted(text, result);
    } catch (e) {
      throw new Error(
        `${name}(${JSON.stringify(text)}) accepted it as ${JSON.stringify(result)}: ${e}`,
      );
    }
  }
  assert.ok(
    accepted >= 30 && accepted <= strings.length - 30,
    `${name} accepted ${accepted} of ${strings.length}: the fuzzing no longer reaches both sides`,
  );
}

/** The keys BuildKit's image, registry, oci and docker exporters know (SPEC §1, §2). */
const KNOWN_OUTPUT_KEYS = new Set([
  "type",
  "name",
  "push",
  "push-by-digest",
  "registry.insecure",
  "dangling-name-prefix",
  "name-canonical",
  "compression",
  "compression-level",
  "force-compression",
  "rewrite-timestamp",
  "oci-mediatypes",
  "oci-artifact",
  "unpack",
  "store",
  "source-date-epoch",
  "dest",
  "tar",
]);

const ANNOTATION_TYPES = ["manifest", "index", "manifest-descriptor", "index-descriptor"];

const SPEC_VALUES = [
  "true",
  "false",
  "TRUE",
  "image",
  "registry",
  "oci",
  "docker",
  "gzip",
  "zstd",
  "estargz",
  "uncompressed",
  "0",
  "5",
  "22",
  "99",
  "-1",
  "example.com/a:1",
  "a:1,b:2",
  "/tmp/out.tar",
  "-",
  "",
  "1700000000",
];

/**
 * Output specs made of fields, mostly known keys with plausible values and sometimes a
 * random token in any place, so about half are valid and the rest wrong in one spot.
 */
function specStrings(seed: number, count: number): string[] {
  const r = prng(seed);
  const pick = <T>(list: readonly T[]) => list[Math.floor(r() * list.length)]!;
  const keys = [
    ...KNOWN_OUTPUT_KEYS,
    "annotation.a",
    "annotation-index.b",
    "annotation[linux/amd64].c",
  ];
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const parts: string[] = [];
    if (r() < 0.9) {
      parts.push(`type=${r() < 0.9 ? pick(["image", "oci", "docker", "registry"]) : pick(TOKENS)}`);
    }
    const n = Math.floor(r() * 4);
    for (let j = 0; j < n; j++) {
      const key = r() < 0.92 ? pick(keys) : pick(TOKENS);
      parts.push(r() < 0.15 ? key : `${key}=${r() < 0.9 ? pick(SPEC_VALUES) : pick(TOKENS)}`);
    }
    if (parts.some((p) => p.startsWith("type=registry") || p.startsWith("type=image"))) {
      if (r() < 0.7) parts.push("name=example.com/x:1");
    }
    out.push(parts.join(","));
  }
  return out;
}

Deno.test("parseOutputSpec() on 3000 seeded random specs throws only one-line TypeError or RangeError, and accepts only specs of known keys", () => {
  fuzz("parseOutputSpec", parseOutputSpec, 8, {
    oneLineAlways: true,
    strings: (seed, count) => [
      ...fuzzStrings(seed, count / 2),
      ...specStrings(seed, count / 2),
    ],
    accepted(text, spec) {
      assert.ok(["image", "registry", "oci", "docker"].includes(spec.type), spec.type);
      if (/["']/.test(text)) return; // quoted fields: the CSV rules are tested on their own
      const last = new Map<string, string | undefined>(); // a repeated key: the later wins
      for (const field of text.split(",")) {
        const eq = field.indexOf("=");
        const key = (eq < 0 ? field : field.slice(0, eq)).trim().toLowerCase();
        if (key === "") continue;
        assert.ok(
          KNOWN_OUTPUT_KEYS.has(key) || /^annotation[-.[]/.test(key),
          `unknown key ${JSON.stringify(key)} accepted`,
        );
        last.set(key, eq < 0 ? undefined : field.slice(eq + 1).trim().toLowerCase());
      }
      assert.equal(spec.type, last.get("type") ?? "image");
      if (last.has("compression")) assert.equal(spec.compression, last.get("compression"));
    },
  });
});

Deno.test("parseReference() on 3000 seeded random names throws only one-line TypeError or RangeError, and what it accepts prints and parses back the same", () => {
  fuzz("parseReference", parseReference, 42, {
    oneLineAlways: true,
    accepted(text, ref) {
      assert.deepEqual(parseReference(formatReference(ref)), ref);
      assert.ok(text.includes(ref.repository.replace(/^library\//, "")), "repository");
      if (ref.tag !== undefined) assert.ok(text.includes(`:${ref.tag}`), "tag from the text");
      if (ref.digest !== undefined) assert.ok(text.endsWith(`@${ref.digest}`), "digest at the end");
    },
  });
});

Deno.test("parseAnnotationFlag() on 3000 seeded random flags throws only one-line TypeError or RangeError, and splits what it accepts at the first =", () => {
  fuzz("parseAnnotationFlag", parseAnnotationFlag, 7, {
    oneLineAlways: true,
    accepted(text, specs) {
      assert.ok(specs.length > 0, "no annotation");
      const eq = text.indexOf("=");
      assert.ok(eq > 0, "accepted without KEY=");
      for (const spec of specs) {
        assert.ok(ANNOTATION_TYPES.includes(spec.type), spec.type);
        assert.equal(spec.value, text.slice(eq + 1));
        assert.ok(spec.key !== "" && !/\s/.test(spec.key), `key ${JSON.stringify(spec.key)}`);
        assert.ok(text.slice(0, eq).endsWith(spec.key), "the key ends the text before =");
        assert.equal(spec.source, text);
      }
    },
  });
});

// ---- hostile folders ----------------------------------------------------------

/** A FileSystem that behaves like `base` except for the methods in `over`. */
function wrapFileSystem(base: FileSystem, over: Partial<FileSystem>): FileSystem {
  return new Proxy(base, {
    get(target, key) {
      if (key in over) return (over as Record<PropertyKey, unknown>)[key];
      const v = (target as unknown as Record<PropertyKey, unknown>)[key];
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

/** Every file under `dir` with its bytes' digest, plus index.json's text: a store's state. */
async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory) await walk(p);
      else {out.push(
          `${p.slice(dir.length)} ${
            createHash("sha256").update(await Deno.readFile(p)).digest("hex")
          }`,
        );}
    }
  };
  await walk(dir);
  return out.sort();
}

const PLATFORM = { os: "linux", architecture: "amd64" };

async function exportFolder(fs: FileSystem, context: string, store: OciLayout, name: string) {
  return await exportImage(
    {
      platforms: [{
        platform: PLATFORM,
        layers: [{ entries: () => directoryEntries(fs, context) }],
      }],
    },
    [parseOutputSpec(`type=image,name=${name}`)],
    { codecs: webCodecs, store },
  );
}

/** A temp folder with a context and a store that already holds one image. */
async function storeWithImage() {
  const dir = await Deno.makeTempDir({ prefix: "ocistream-hostile-" });
  const context = `${dir}/context`;
  await Deno.mkdir(`${context}/etc`, { recursive: true });
  await Deno.writeTextFile(`${context}/etc/motd`, "hello\n");
  await Deno.writeFile(`${context}/data.bin`, new Uint8Array(70_000).fill(7));
  const store = await OciLayout.open(denoFileSystem, `${dir}/store`, webCodecs);
  await exportFolder(denoFileSystem, context, store, "example.com/good:1");
  return { dir, context, store, storePath: `${dir}/store` };
}

Deno.test("directoryEntries() stores symlink loops as symlinks and finishes; the export completes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ocistream-hostile-" });
  try {
    const ctx = `${dir}/context`;
    await Deno.mkdir(`${ctx}/sub`, { recursive: true });
    await Deno.symlink("loop", `${ctx}/loop`);
    await Deno.symlink("b", `${ctx}/a`);
    await Deno.symlink("a", `${ctx}/b`);
    await Deno.symlink(".", `${ctx}/self`);
    await Deno.symlink("..", `${ctx}/sub/up`);
    await Deno.symlink("../sub", `${ctx}/sub/again`);
    const entries: TarEntry[] = [];
    for await (const e of directoryEntries(denoFileSystem, ctx)) entries.push(e);
    assert.deepEqual(
      entries.map((e) => [e.path, e.type, e.linkName ?? ""]),
      [
        ["a", "symlink", "b"],
        ["b", "symlink", "a"],
        ["loop", "symlink", "loop"],
        ["self", "symlink", "."],
        ["sub", "directory", ""],
        ["sub/again", "symlink", "../sub"],
        ["sub/up", "symlink", ".."],
      ],
    );
    const store = await OciLayout.open(denoFileSystem, `${dir}/store`, webCodecs);
    const [result] = await exportFolder(denoFileSystem, ctx, store, "example.com/loops:1");
    assert.equal(result!.manifests[0]!.layers.length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * `over` applied to both ways a file's bytes are read: whole (`readInto`, small files) and
 * streamed (`openRead`, with `readInto` hidden so even small files take that path).
 */
function bothReadPaths(
  wrap: (read: "whole" | "streamed") => Partial<FileSystem>,
): [string, FileSystem][] {
  return [
    ["whole", wrapFileSystem(denoFileSystem, wrap("whole"))],
    ["streamed", wrapFileSystem(denoFileSystem, { readInto: undefined, ...wrap("streamed") })],
  ];
}

for (const change of ["grows", "shrinks"] as const) {
  Deno.test(`exportImage() refuses a file that ${change} while read, names it, and leaves the store unchanged`, async () => {
    const ws = await storeWithImage();
    try {
      const before = await snapshot(ws.storePath);
      // Change the file after the walk took its size and before its bytes are read.
      const alter = async (path: string) => {
        if (!path.endsWith("/data.bin")) return;
        if (change === "grows") await Deno.writeFile(path, new Uint8Array(1000), { append: true });
        else await Deno.truncate(path, 1000);
      };
      const systems = bothReadPaths(() => ({
        openRead: async (path) => {
          await alter(path);
          return await denoFileSystem.openRead(path);
        },
        readInto: async (path, target) => {
          await alter(path);
          return await denoFileSystem.readInto(path, target);
        },
      }));
      const data = await Deno.readFile(`${ws.context}/data.bin`);
      for (const [read, fs] of systems) {
        await Deno.writeFile(`${ws.context}/data.bin`, data);
        await assert.rejects(
          () => exportFolder(fs, ws.context, ws.store, "example.com/changed:1"),
          (e: Error) => {
            assert.match(
              e.message,
              /data\.bin changed size while being read: expected 70000 bytes/,
              read,
            );
            return true;
          },
        );
        assert.deepEqual(await snapshot(ws.storePath), before, read);
      }
    } finally {
      await Deno.remove(ws.dir, { recursive: true });
    }
  });
}

Deno.test("exportImage() stops at an unreadable file or folder, names it, and leaves the store unchanged", async () => {
  const ws = await storeWithImage();
  try {
    const before = await snapshot(ws.storePath);
    // Tests run as root, where chmod 000 does not stop reads: inject EACCES instead.
    const denied = (path: string) =>
      Object.assign(new Error(`Permission denied (os error 13): open '${path}'`), {
        name: "PermissionDenied",
      });
    const unreadableFiles = bothReadPaths(() => ({
      openRead: (path) =>
        path.endsWith("/etc/motd") ? Promise.reject(denied(path)) : denoFileSystem.openRead(path),
      readInto: (path, target) =>
        path.endsWith("/etc/motd")
          ? Promise.reject(denied(path))
          : denoFileSystem.readInto(path, target),
    }));
    for (const [read, unreadableFile] of unreadableFiles) {
      await assert.rejects(
        () => exportFolder(unreadableFile, ws.context, ws.store, "example.com/unreadable:1"),
        (e: Error) => {
          assert.match(
            e.message,
            new RegExp(`Cannot read file ${ws.context}/etc/motd for the layer: Permission denied`),
            read,
          );
          assert.match(e.message, /fix its permissions or exclude it/);
          return true;
        },
      );
    }
    // Both ways of listing a folder: names with their lstat, and names alone.
    const unreadableFolders: [string, FileSystem][] = [
      [
        "readDirInfo",
        wrapFileSystem(denoFileSystem, {
          readDirInfo: (path) =>
            path.endsWith("/etc") ? Promise.reject(denied(path)) : denoFileSystem.readDirInfo(path),
        }),
      ],
      [
        "readDir",
        wrapFileSystem(denoFileSystem, {
          readDirInfo: undefined,
          readDir: (path) =>
            path.endsWith("/etc") ? Promise.reject(denied(path)) : denoFileSystem.readDir(path),
        }),
      ],
    ];
    for (const [listing, unreadableFolder] of unreadableFolders) {
      await assert.rejects(
        () => exportFolder(unreadableFolder, ws.context, ws.store, "example.com/unreadable:1"),
        (e: Error) => {
          assert.match(
            e.message,
            new RegExp(`Cannot read folder ${ws.context}/etc for the layer: Permission denied`),
            listing,
          );
          return true;
        },
      );
    }
    assert.deepEqual(await snapshot(ws.storePath), before);
  } finally {
    await Deno.remove(ws.dir, { recursive: true });
  }
});

Deno.test("ocistream build refuses a file name that is not valid UTF-8, naming its folder, and writes no layer", async () => {
  const ws = await storeWithImage();
  try {
    const before = await snapshot(ws.storePath);
    // Deno's APIs take only valid UTF-8 paths; the shell makes the name from raw bytes.
    await run("sh", ["-c", `printf x > "$1/etc/$(printf 'caf\\351')"`, "sh", ws.context]);
    const r = await runCli(
      [
        "build",
        ws.context,
        "--output",
        "type=image,name=example.com/bytes:1",
        "--store",
        ws.storePath,
      ],
      { env: { DOCKER_CONFIG: ws.dir } },
    );
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `error: Cannot add a name in folder ${ws.context}/etc to the layer: it is not valid UTF-8`,
      ),
    );
    assert.deepEqual(await snapshot(ws.storePath), before);
  } finally {
    await Deno.remove(ws.dir, { recursive: true });
  }
});

// ---- hostile images and registries --------------------------------------------

Deno.test("ocistream build refuses a base image whose layer does not match its digest", async () => {
  const ws = await storeWithImage();
  try {
    const env = { DOCKER_CONFIG: ws.dir };
    const base = `${ws.dir}/base`;
    const made = await runCli(
      ["build", ws.context, "--output", `type=oci,dest=${base},tar=false,name=base:1`],
      { env },
    );
    assert.equal(made.code, 0, made.stderr);
    const index = JSON.parse(await Deno.readTextFile(`${base}/index.json`));
    const manifest = JSON.parse(
      await Deno.readTextFile(`${base}/blobs/sha256/${index.manifests[0].digest.slice(7)}`),
    );
    const layer = manifest.layers[0].digest as string;
    const file = `${base}/blobs/sha256/${layer.slice(7)}`;
    const bytes = await Deno.readFile(file);
    bytes[bytes.length - 100] ^= 0xff; // same size, different content
    await Deno.writeFile(file, bytes);
    const before = await snapshot(ws.storePath);
    const r = await runCli([
      "build",
      ws.context,
      "--from",
      `oci-layout://${base}`,
      "--output",
      "type=image,name=example.com/on-bad-base:1",
      "--store",
      ws.storePath,
    ], { env });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`error: .*${layer}`));
    assert.deepEqual(await snapshot(ws.storePath), before);
  } finally {
    await Deno.remove(ws.dir, { recursive: true });
  }
});

Deno.test("ocistream push refuses an oversized manifest in a layout before contacting the registry", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ocistream-hostile-" });
  try {
    const big = new TextEncoder().encode(
      JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, padding: "x".repeat(5 << 20) }),
    );
    const digest = createHash("sha256").update(big).digest("hex");
    await Deno.mkdir(`${dir}/layout/blobs/sha256`, { recursive: true });
    await Deno.writeFile(`${dir}/layout/blobs/sha256/${digest}`, big);
    await Deno.writeTextFile(`${dir}/layout/oci-layout`, '{"imageLayoutVersion":"1.0.0"}');
    await Deno.writeTextFile(
      `${dir}/layout/index.json`,
      JSON.stringify({
        schemaVersion: 2,
        manifests: [{ mediaType: OCI_MANIFEST, digest: `sha256:${digest}`, size: big.byteLength }],
      }),
    );
    // Port 9 (discard) is never asked: the manifest is refused first.
    const r = await runCli(["push", `oci-layout://${dir}/layout`, "127.0.0.1:9/big/app:1"], {
      env: { DOCKER_CONFIG: dir },
    });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /error: .*sha256:[0-9a-f]{64}.*4194304-byte limit/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("RegistryClient.getManifest() refuses a manifest over 4 MiB, declared or streamed", async () => {
  const chunk = new Uint8Array(1 << 20).fill(0x20);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/v2/") return new Response("{}");
    let sent = 0;
    // Chunked (no length): 5 MiB in 1 MiB pieces, or a declared 5 MiB length.
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent >= 5) return c.close();
        sent++;
        c.enqueue(chunk);
      },
    });
    const headers: Record<string, string> = { "content-type": OCI_MANIFEST };
    if (path.endsWith("/declared")) headers["content-length"] = String(5 << 20);
    return new Response(body, { headers });
  });
  try {
    const host = `127.0.0.1:${(server.addr as Deno.NetAddr).port}`;
    const client = new RegistryClient(host, { scheme: "http", retries: { attempts: 1 } });
    await assert.rejects(
      () => client.getManifest("big/app", "streamed"),
      /Cannot read manifest streamed from .*: it is larger than 4 MiB/,
    );
    await assert.rejects(
      () => client.getManifest("big/app", "declared"),
      /Cannot read manifest declared from .*: it is 5242880 bytes/,
    );
  } finally {
    await server.shutdown();
  }
});
