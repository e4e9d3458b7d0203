/**
 * SBOM bookkeeping of base layers against hostile layers: whiteouts in
 * bulk (linear now), a layer whose bytes do not match its diff_id.
 */
import assert from "node:assert/strict";
import { listLayerFiles } from "../../src/image/layer_files.ts";
import { TarStream } from "../../src/stages/tar_stream.ts";
import { webCodecs } from "../../src/stages/web_codecs.ts";
import type { TarEntry } from "../../src/types/tar_entry.ts";
import type { Descriptor } from "../../src/types/descriptor.ts";
import type { InventoryFile } from "../../src/stages/file_inventory_stream.ts";
import { collect, sha256Digest } from "../fixtures/tar_tools.ts";

type Entry = TarEntry & { data?: string };

async function layer(entries: Entry[]): Promise<{ bytes: Uint8Array; desc: Descriptor }> {
  const enc = new TextEncoder();
  const tar = await collect(
    ReadableStream.from(entries.map(({ data, ...e }) => ({
      ...e,
      ...(e.type === "file"
        ? {
          size: enc.encode(data ?? "").byteLength,
          open: () => ReadableStream.from([enc.encode(data ?? "")]),
        }
        : {}),
    }))).pipeThrough(new TarStream()),
  );
  return {
    bytes: tar,
    desc: {
      mediaType: "application/vnd.oci.image.layer.v1.tar",
      digest: sha256Digest(tar),
      size: tar.byteLength,
    },
  };
}

function source(blobs: { bytes: Uint8Array; desc: Descriptor }[]) {
  return {
    fetch: (d: Descriptor) =>
      Promise.resolve(ReadableStream.from([blobs.find((b) => b.desc.digest === d.digest)!.bytes])),
  };
}

const file = (path: string, data = path): Entry => ({
  path,
  type: "file",
  mode: 0o644,
  uid: 0,
  gid: 0,
  mtime: 0,
  data,
});
const dir = (path: string): Entry => ({
  path,
  type: "directory",
  mode: 0o755,
  uid: 0,
  gid: 0,
  mtime: 0,
});

Deno.test("listLayerFiles() applies whiteouts and opaque folders to lower layers only", async () => {
  const l1 = await layer([
    dir("a"),
    file("a/x"),
    file("a/y"),
    dir("b"),
    file("b/z"),
    file("c"),
    file("keep"),
  ]);
  const l2 = await layer([
    file("a/.wh.x"),
    dir("b"),
    file("b/.wh..wh..opq"),
    file("b/new"),
    file(".wh.c"),
    file("c2"),
  ]);
  const files = new Map<string, InventoryFile & { layerDigest?: string }>();
  const src = source([l1, l2]);
  await listLayerFiles(src, l1.desc, webCodecs, files);
  await listLayerFiles(src, l2.desc, webCodecs, files);
  assert.deepEqual([...files.keys()].sort(), ["a/y", "b/new", "c2", "keep"]);
});

Deno.test("listLayerFiles() handles 5,000 files and 5,000 whiteouts in one pass each", async () => {
  const n = 5_000;
  const l1 = await layer(Array.from({ length: n }, (_, i) => file(`f${i}`, "")));
  const l2 = await layer(Array.from({ length: n }, (_, i) => file(`.wh.f${i}`, "")));
  const files = new Map<string, InventoryFile & { layerDigest?: string }>();
  const src = source([l1, l2]);
  await listLayerFiles(src, l1.desc, webCodecs, files);
  assert.equal(files.size, n);
  await listLayerFiles(src, l2.desc, webCodecs, files);
  assert.equal(files.size, 0);
});

Deno.test("listLayerFiles() refuses a layer whose bytes do not match the config's diff_id", async () => {
  const l1 = await layer([file("etc/passwd", "root:x:0:0")]);
  const lie = `sha256:${"0".repeat(64)}`;
  await assert.rejects(
    listLayerFiles(source([l1]), l1.desc, webCodecs, new Map(), lie),
    new RegExp(
      `Base layer ${l1.desc.digest} decompresses to ${
        sha256Digest(l1.bytes)
      }, but the image config says ${lie}`,
    ),
  );
  // The true diff_id passes.
  await listLayerFiles(source([l1]), l1.desc, webCodecs, new Map(), sha256Digest(l1.bytes));
});
