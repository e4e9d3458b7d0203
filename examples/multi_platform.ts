/**
 * A two-platform image from the library: one shared layer plus one layer per
 * platform holding that architecture's "prebuilt binary", optionally on top of
 * a multi-platform base, with an SBOM and provenance, written as an OCI
 * layout folder (no store needed). The CLI equivalent is
 * `ocistream build --platform linux/amd64,linux/arm64 --platform-context linux/arm64=DIR ...`.
 *
 *     deno run -A examples/multi_platform.ts OUT_DIR [BASE_REF]
 *
 * `BASE_REF`: `oci-layout://PATH[:TAG|@DIGEST]` or a registry reference; its
 * manifest for each platform is used. With `SOURCE_DATE_EPOCH` set (default
 * here: 1700000000) the result is byte-for-byte reproducible.
 *
 * Prints JSON: `{ digest, manifests: [{ platform, digest, layers }] }`.
 * @module
 */
import {
  exportImage,
  memoryEntries,
  parseOutputSpec,
  parsePlatform,
  type PlatformInput,
} from "@ocistream/ocistream";
import { formatPlatform } from "@ocistream/ocistream/image";
import { createDenoEnvironment, resolveBaseImage } from "@ocistream/ocistream/deno";

/** The "binary" for one platform; a real build would read `dist/<arch>/app` from disk. */
function binaryFor(platform: string): string {
  return `#!/bin/sh\necho "hello from ${platform}"\n`;
}

const [out, baseRef] = Deno.args;
if (!out) {
  console.error("usage: deno run -A examples/multi_platform.ts OUT_DIR [BASE_REF]");
  Deno.exit(2);
}
const epoch = Number(Deno.env.get("SOURCE_DATE_EPOCH") ?? "1700000000");

const env = await createDenoEnvironment({ openStore: false });
try {
  const platforms: PlatformInput[] = [];
  for (const platform of ["linux/amd64", "linux/arm64"].map(parsePlatform)) {
    const name = formatPlatform(platform);
    platforms.push({
      platform,
      base: baseRef ? await resolveBaseImage(baseRef, platform, env) : undefined,
      layers: [
        // The same bytes for every platform: stored once, shared by both manifests.
        {
          entries: () => memoryEntries({ "etc/app.conf": "greeting=hello\n" }, { mtime: epoch }),
          createdBy: "COPY app.conf /etc/",
        },
        // Per-platform content: each architecture gets its own binary.
        {
          entries: () =>
            memoryEntries([{ path: "usr/local/bin/app", content: binaryFor(name), mode: 0o755 }], {
              mtime: epoch,
            }),
          createdBy: `COPY dist/${platform.architecture}/app /usr/local/bin/`,
        },
      ],
    });
  }
  const [result] = await exportImage(
    {
      platforms,
      config: { entrypoint: ["/usr/local/bin/app"] },
      attest: { sbom: true, provenance: true },
      sourceDateEpoch: epoch,
    },
    [
      parseOutputSpec(
        `type=oci,tar=false,dest=${out},name=example.com/multi:1,rewrite-timestamp=true,` +
          "annotation-index.org.opencontainers.image.title=multi",
      ),
    ],
    env,
  );
  console.log(JSON.stringify({
    digest: result!.digest,
    manifests: result!.manifests.map((m) => ({
      platform: formatPlatform(m.platform),
      digest: m.descriptor.digest,
      layers: m.layers.map((l) => l.digest),
    })),
  }));
} finally {
  await env.close();
}
