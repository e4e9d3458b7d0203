/**
 * Small images built in memory for registry tests: a one-file uncompressed
 * tar layer, a config and a manifest (or an index of two), served by a
 * {@linkcode MemorySource}; plus skopeo helpers and a counting fetch.
 * @module
 */
import { createHash } from "node:crypto";
import type { ContentSource } from "../../src/types/content.ts";
import type { Descriptor } from "../../src/types/descriptor.ts";
import { OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST } from "../../src/types/media_types.ts";

/** `sha256:<hex>` of bytes. */
export function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** A content source over a map of digests to bytes; counts fetches. */
export class MemorySource implements ContentSource {
  readonly blobs: Map<string, Uint8Array> = new Map();
  fetches = 0;

  add(bytes: Uint8Array, mediaType: string, extra: Partial<Descriptor> = {}): Descriptor {
    const d: Descriptor = { mediaType, digest: sha256(bytes), size: bytes.byteLength, ...extra };
    this.blobs.set(d.digest, bytes);
    return d;
  }

  fetch(descriptor: Descriptor): Promise<ReadableStream<Uint8Array>> {
    const b = this.blobs.get(descriptor.digest);
    if (!b) return Promise.reject(new Error(`MemorySource has no ${descriptor.digest}`));
    this.fetches++;
    // Several small chunks, so streaming code paths see more than one.
    let i = 0;
    return Promise.resolve(
      new ReadableStream({
        pull(c) {
          if (i >= b.byteLength) return c.close();
          c.enqueue(b.slice(i, i + 1000));
          i += 1000;
        },
      }),
    );
  }
}

/** A one-file tar archive (ustar) with `content` at `name`. */
export function makeTar(name: string, content: Uint8Array): Uint8Array {
  const header = new Uint8Array(512);
  const enc = new TextEncoder();
  const put = (s: string, off: number) => header.set(enc.encode(s), off);
  const octal = (n: number, len: number) => n.toString(8).padStart(len - 1, "0") + "\0";
  put(name, 0);
  put(octal(0o644, 8), 100);
  put(octal(0, 8), 108);
  put(octal(0, 8), 116);
  put(octal(content.byteLength, 12), 124);
  put(octal(1700000000, 12), 136);
  put("        ", 148);
  put("0", 156);
  put("ustar\0", 257);
  put("00", 263);
  let sum = 0;
  for (const b of header) sum += b;
  put(sum.toString(8).padStart(6, "0") + "\0 ", 148);
  const padded = Math.ceil(content.byteLength / 512) * 512;
  const out = new Uint8Array(512 + padded + 1024);
  out.set(header, 0);
  out.set(content, 512);
  return out;
}

/** A test image in a {@linkcode MemorySource}. */
export interface TestImage {
  source: MemorySource;
  root: Descriptor;
  layer: Descriptor;
  config: Descriptor;
  layerBytes: Uint8Array;
}

/** Builds an image whose single layer holds `/hello.txt` with `text`. */
export function makeImage(
  text: string,
  source = new MemorySource(),
  arch = "amd64",
  layerSize = 0,
): TestImage {
  const content = new TextEncoder().encode(text.padEnd(layerSize, "."));
  const layerBytes = makeTar("hello.txt", content);
  const layer = source.add(layerBytes, OCI_LAYER);
  const config = source.add(
    new TextEncoder().encode(JSON.stringify({
      architecture: arch,
      os: "linux",
      config: { Cmd: ["/hello"] },
      rootfs: { type: "layers", diff_ids: [layer.digest] },
      history: [{ created_by: "ocistream test" }],
    })),
    OCI_CONFIG,
  );
  const root = source.add(
    new TextEncoder().encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config,
      layers: [layer],
    })),
    OCI_MANIFEST,
  );
  return { source, root, layer, config, layerBytes };
}

/** An index of two platform images. */
export function makeIndex(
  text: string,
): { source: MemorySource; root: Descriptor; children: Descriptor[] } {
  const source = new MemorySource();
  const a = makeImage(`${text} amd64`, source, "amd64");
  const b = makeImage(`${text} arm64`, source, "arm64");
  const children = [
    { ...a.root, platform: { architecture: "amd64", os: "linux" } },
    { ...b.root, platform: { architecture: "arm64", os: "linux", variant: "v8" } },
  ];
  const root = source.add(
    new TextEncoder().encode(
      JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: children }),
    ),
    OCI_INDEX,
  );
  return { source, root, children };
}

/** A fetch that records `METHOD /path` of every request. */
export function countingFetch(
  inner: typeof fetch = fetch,
): { fetch: typeof fetch; calls: string[] } {
  const calls: string[] = [];
  const f: typeof fetch = (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    calls.push(`${init?.method ?? "GET"} ${url.pathname}${url.search}`);
    return inner(input, init);
  };
  return { fetch: f, calls };
}

/** Runs skopeo; returns stdout, throws with stderr on failure. */
export async function skopeo(args: string[]): Promise<string> {
  const out = await new Deno.Command("skopeo", { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`skopeo ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return text;
}

/**
 * Checks a pushed image with skopeo: `inspect --raw` gives our manifest
 * digest and `copy` to an OCI layout succeeds with the same digest.
 */
export async function verifyWithSkopeo(
  ref: string,
  expectedDigest: string,
  creds?: string,
): Promise<void> {
  const auth = creds ? ["--creds", creds] : [];
  const raw = await skopeo(["inspect", "--raw", "--tls-verify=false", ...auth, `docker://${ref}`]);
  const got = sha256(new TextEncoder().encode(raw));
  if (got !== expectedDigest) {
    throw new Error(`skopeo inspect: digest ${got}, expected ${expectedDigest}`);
  }
  const dir = await Deno.makeTempDir({ prefix: "ocistream-skopeo-" });
  try {
    await skopeo([
      "copy",
      "--all",
      "--preserve-digests",
      "--src-tls-verify=false",
      ...(creds ? ["--src-creds", creds] : []),
      `docker://${ref}`,
      `oci:${dir}/layout:t`,
    ]);
    const index = JSON.parse(await Deno.readTextFile(`${dir}/layout/index.json`));
    const d = index.manifests[0].digest;
    if (d !== expectedDigest) {
      throw new Error(`skopeo copy: digest ${d}, expected ${expectedDigest}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
