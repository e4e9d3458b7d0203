/**
 * Hand-made OCI layouts for hostile-input tests: any layer bytes, and a
 * config whose diff_ids may lie.
 * @module
 */
import { encodeTarHeader, TAR_END } from "../../src/stages/tar_header.ts";
import type { TarEntry } from "../../src/types/tar_entry.ts";
import { concat, sha256, sha256Digest } from "../fixtures/tar_tools.ts";

/** A tar of `entries` (files get `data`). */
export function tarOf(entries: (TarEntry & { data?: string })[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const { data, ...e } of entries) {
    const bytes = new TextEncoder().encode(data ?? "");
    parts.push(encodeTarHeader({ ...e, ...(e.type === "file" ? { size: bytes.byteLength } : {}) }));
    if (e.type === "file" && bytes.byteLength > 0) {
      parts.push(bytes, new Uint8Array((512 - (bytes.byteLength % 512)) % 512));
    }
  }
  parts.push(TAR_END);
  return concat(parts);
}

/** Writes a layout at `dir` with uncompressed `layers` named `name`; `diffIds` default to the truth. */
export async function writeLayout(
  dir: string,
  layers: Uint8Array[],
  options: { name?: string; diffIds?: string[] } = {},
): Promise<{ manifestDigest: string }> {
  await Deno.mkdir(`${dir}/blobs/sha256`, { recursive: true });
  const put = async (bytes: Uint8Array) => {
    await Deno.writeFile(`${dir}/blobs/sha256/${sha256(bytes)}`, bytes);
    return { digest: sha256Digest(bytes), size: bytes.byteLength };
  };
  const layerDescs = [];
  for (const l of layers) {
    layerDescs.push({ mediaType: "application/vnd.oci.image.layer.v1.tar", ...(await put(l)) });
  }
  const config = new TextEncoder().encode(JSON.stringify({
    architecture: "amd64",
    os: "linux",
    config: {},
    rootfs: { type: "layers", diff_ids: options.diffIds ?? layers.map((l) => sha256Digest(l)) },
  }));
  const manifest = new TextEncoder().encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", ...(await put(config)) },
    layers: layerDescs,
  }));
  const m = await put(manifest);
  await Deno.writeTextFile(`${dir}/oci-layout`, '{"imageLayoutVersion":"1.0.0"}');
  await Deno.writeTextFile(
    `${dir}/index.json`,
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        ...m,
        annotations: { "org.opencontainers.image.ref.name": options.name ?? "1" },
      }],
    }),
  );
  return { manifestDigest: m.digest };
}
