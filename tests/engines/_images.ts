/**
 * The images the engine tests run, each built once by the ocistream CLI from a static
 * busybox (Debian's busybox-static), and the expectations to compare with what the
 * containers print.
 *
 * - the matrix: one image per transport × format cell, each with its own content
 *   (`/etc/cell`), so no engine can reuse a layer another cell already unpacked;
 * - a layered image on a base (made with GNU tar and umoci) whose second layer holds
 *   whiteouts, under a layer of ours with hardlinks, symlinks, setuid/setgid/sticky modes,
 *   a fifo and long and Unicode names;
 * - a two-platform image with SBOM and provenance attestations;
 * - an image whose user, working folder, environment, entrypoint and cmd are set.
 * @module
 */
import { runCli, runOk } from "../_harness/cli.ts";
import { fileSha256 } from "../_harness/store.ts";
import { makeFixtureTree } from "../fixtures/fixture_tree.ts";
import { requirePrograms } from "../_harness/engines.ts";

/** The transports of the matrix. */
export const TRANSPORTS = ["docker-archive", "oci-archive", "registry"] as const;
/** One transport: a `type=docker` archive, a `type=oci` archive, or a push and pull. */
export type Transport = typeof TRANSPORTS[number];

/** The layer formats of the matrix and the output fields that make them. */
export const FORMATS = {
  "gzip-docker": "compression=gzip,oci-mediatypes=false",
  "gzip-oci": "compression=gzip,oci-mediatypes=true",
  "zstd-oci": "compression=zstd,oci-mediatypes=true",
  "estargz": "compression=estargz,oci-mediatypes=true",
  "uncompressed-docker": "compression=uncompressed,oci-mediatypes=false",
  "uncompressed-oci": "compression=uncompressed,oci-mediatypes=true",
} as const;
/** One layer format. */
export type Format = keyof typeof FORMATS;

/** Where an image can be taken from: archives on disk and a registry reference. */
export interface ImageRefs {
  /** The name given to archives (`ocistream.test/NAME:1`), what engines call a loaded image. */
  name: string;
  /** `type=docker` archive path. */
  dockerArchive: string;
  /** `type=oci` archive path. */
  ociArchive: string;
  /** `127.0.0.1:PORT/NAME:1`. */
  registry: string;
}

/** A static busybox, so images need nothing else to run. */
export const BUSYBOX = "/bin/busybox";

/** The epoch every test image is built with. */
const EPOCH = "1700000000";

/** Runs `ocistream build` and throws with its stderr on failure. */
async function build(context: string, flags: string[], outputs: string[]): Promise<Digests> {
  const metadata = `${context}.metadata.json`;
  const r = await runCli([
    "build",
    context,
    "--progress",
    "quiet",
    "--source-date-epoch",
    EPOCH,
    "--metadata-file",
    metadata,
    ...flags,
    ...outputs.flatMap((o) => ["--output", o]),
  ]);
  if (r.code !== 0) throw new Error(`ocistream build ${context} failed:\n${r.stderr}`);
  const m = JSON.parse(await Deno.readTextFile(metadata));
  return { digest: m["containerimage.digest"], config: m["containerimage.config.digest"] };
}

/** The digests a build reported in its metadata file. */
export interface Digests {
  /** The manifest digest (`containerimage.digest`). */
  digest: string;
  /** The config digest (`containerimage.config.digest`), the image ID engines show. */
  config: string;
}

/** Outputs that write both archives and push, all under `name`. */
function outputs(dir: string, registry: string, name: string, fields: string): {
  specs: string[];
  refs: ImageRefs;
} {
  const refs: ImageRefs = {
    name: `ocistream.test/${name}:1`,
    dockerArchive: `${dir}/${name}.docker.tar`,
    ociArchive: `${dir}/${name}.oci.tar`,
    registry: `${registry}/${name}:1`,
  };
  const f = fields ? `,${fields}` : "";
  return {
    refs,
    specs: [
      `type=docker,dest=${refs.dockerArchive},name=${refs.name}${f}`,
      `type=oci,dest=${refs.ociArchive},name=${refs.name}${f}`,
      `type=registry,name=${refs.registry}${f}`,
    ],
  };
}

/** Writes a busybox root: `/bin/busybox`, `/bin/sh` → busybox. */
async function busyboxRoot(dir: string): Promise<void> {
  await Deno.mkdir(`${dir}/bin`, { recursive: true });
  await Deno.copyFile(BUSYBOX, `${dir}/bin/busybox`);
  await Deno.chmod(`${dir}/bin/busybox`, 0o755);
  await Deno.symlink("busybox", `${dir}/bin/sh`);
}

/** Runs `fn` over `items` with at most `limit` at a time. */
async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

/** One matrix cell's image. */
export interface MatrixImage extends ImageRefs, Digests {
  /** What the default process prints: the cell and the sha256 of busybox and the cell file. */
  expected: string;
}

/** The matrix image command: prints the cell and checks two files by their digests. */
export const MATRIX_CMD = ["sh", "-c", "cat /etc/cell && busybox sha256sum /bin/busybox /etc/cell"];

/** Everything the engine tests run. */
export interface EngineImages {
  /** Folder holding the archives. */
  dir: string;
  /** The matrix: `cell(transport, format)` → image. */
  matrix: Record<string, MatrixImage>;
  /** The layered image and the listing its `/t` must give. */
  layered: ImageRefs & {
    listing: string;
    /** The same image with every layer (base ones too) as eStargz, in the registry. */
    estargz: string;
  };
  /** The two-platform image with attestations: each platform prints its name. */
  multi: ImageRefs;
  /** The image with user, workdir, env, entrypoint and cmd. */
  config: ImageRefs;
  /** A file with `cap_net_bind_service+ep`: our image, and the same tree made by umoci. */
  caps: { ours: ImageRefs; control: string };
}

/** The key of a matrix cell. */
export function cell(transport: Transport, format: Format): string {
  return `${transport}.${format}`;
}

/**
 * A shell script (for busybox `sh`, run with the tree's root as `$1`) that lists every
 * entry under it, one line each, sorted by path: type, mode, owner, and for files the size,
 * link count, inode, mtime and sha256; for symlinks the target and mtime. The same busybox
 * runs it on the host over the expected tree and inside the container.
 */
export const LIST_SCRIPT = [
  'cd "$1" || exit 1',
  "busybox find . | LC_ALL=C busybox sort | while IFS= read -r p; do",
  '  if [ -h "$p" ]; then echo "$p|l|$(busybox readlink "$p")|$(busybox stat -c \'%u:%g %Y\' "$p")"',
  '  elif [ -d "$p" ]; then echo "$p|d|$(busybox stat -c \'%a %u:%g\' "$p")"',
  '  elif [ -f "$p" ]; then echo "$p|f|$(busybox stat -c \'%a %u:%g %s %h %i %Y\' "$p")|$(busybox sha256sum < "$p" | busybox cut -d" " -f1)"',
  '  else echo "$p|o|$(busybox stat -c \'%F %a %u:%g\' "$p")"; fi',
  "done",
].join("\n");

/**
 * A listing with inode numbers replaced by the first path of their hardlink group, so a
 * listing from the host and one from a container compare equal.
 */
export function normalizeListing(listing: string): string {
  const groups = new Map<string, string>();
  return listing.trim().split("\n").map((line) => {
    const [path, type, stat, ...rest] = line.split("|");
    if (type !== "f") return line;
    const [mode, owner, size, links, inode, mtime] = stat.split(" ");
    if (!groups.has(inode)) groups.set(inode, path);
    const group = Number(links) > 1 ? groups.get(inode) : "-";
    return [path, type, [mode, owner, size, links, group, mtime].join(" "), ...rest].join("|");
  }).join("\n");
}

/** Lists `root` on the host with {@linkcode LIST_SCRIPT}. */
export async function listTree(root: string): Promise<string> {
  return normalizeListing((await runOk(BUSYBOX, ["sh", "-c", LIST_SCRIPT, "sh", root])).stdout);
}

const MTIME = 1700000000;

async function writeFile(path: string, text: string, mode = 0o644): Promise<void> {
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  await Deno.writeTextFile(path, text);
  await Deno.chmod(path, mode);
  await Deno.utime(path, MTIME, MTIME);
}

/**
 * The layered image: base layer 1 (GNU tar) with files to be deleted, a setuid file, owned
 * files and special folder modes; base layer 2 with whiteouts (`.wh.gone`, `keep/.wh.x`,
 * `opq/.wh..wh..opq`); our layer on top with the fixture tree and more. Returns the image
 * refs and the listing the container's `/t` must give (the host tree with the same layers
 * applied by hand).
 */
async function buildLayered(dir: string, registry: string): Promise<EngineImages["layered"]> {
  const l1 = `${dir}/layered-l1`;
  await busyboxRoot(l1);
  await writeFile(`${l1}/t/gone/a`, "a\n");
  await writeFile(`${l1}/t/gone/b`, "b\n");
  await writeFile(`${l1}/t/keep/x`, "x\n");
  await writeFile(`${l1}/t/keep/y`, "y\n");
  await writeFile(`${l1}/t/opq/old1`, "old1\n");
  await writeFile(`${l1}/t/opq/sub/old2`, "old2\n");
  await writeFile(`${l1}/t/replaced`, "base version\n");
  await writeFile(`${l1}/t/base-setuid`, "#!/bin/sh\n", 0o4755);
  await writeFile(`${l1}/t/owned`, "owned by 1000:1001\n", 0o640);
  await Deno.chown(`${l1}/t/owned`, 1000, 1001);
  await Deno.link(`${l1}/t/keep/y`, `${l1}/t/keep/y-hardlink`);
  await Deno.symlink("keep/y", `${l1}/t/base-symlink`);
  await runOk("tar", [
    "--format=pax",
    "--sort=name",
    "--numeric-owner",
    "-C",
    l1,
    "-cf",
    `${dir}/layered-l1.tar`,
    ".",
  ]);
  const l2 = `${dir}/layered-l2`;
  await writeFile(`${l2}/t/.wh.gone`, "");
  await writeFile(`${l2}/t/keep/.wh.x`, "");
  await writeFile(`${l2}/t/opq/.wh..wh..opq`, "");
  await writeFile(`${l2}/t/opq/from-l2`, "from layer 2\n");
  await runOk("tar", [
    "--format=pax",
    "--sort=name",
    "--numeric-owner",
    "-C",
    l2,
    "-cf",
    `${dir}/layered-l2.tar`,
    "t/.wh.gone",
    "t/keep/.wh.x",
    "t/opq/.wh..wh..opq",
    "t/opq/from-l2",
  ]);
  const base = `${dir}/layered-base`;
  await runOk("umoci", ["init", "--layout", base]);
  await runOk("umoci", ["new", "--image", `${base}:base`]);
  for (const l of ["l1", "l2"]) {
    await runOk("umoci", [
      "raw",
      "add-layer",
      "--image",
      `${base}:base`,
      `${dir}/layered-${l}.tar`,
    ]);
  }
  // Our layer.
  const ctx = `${dir}/layered-ctx`;
  await makeFixtureTree(`${ctx}/t/top`);
  await writeFile(`${ctx}/t/top/setuid`, "setuid\n", 0o4755);
  await writeFile(`${ctx}/t/top/setgid`, "setgid\n", 0o2711);
  await Deno.mkdir(`${ctx}/t/top/sticky`);
  await Deno.chmod(`${ctx}/t/top/sticky`, 0o1777);
  await writeFile(`${ctx}/t/top/ünïcödé/日本語/ファイル.txt`, "unicode\n");
  await writeFile(`${ctx}/t/opq/ours`, "ours\n");
  await writeFile(`${ctx}/t/replaced`, "our version\n", 0o600);
  // The tree the container must show: layer 1, whiteouts applied, layer 2, ours.
  const want = `${dir}/layered-want`;
  await runOk("cp", ["-a", `${l1}/.`, want]);
  await Deno.remove(`${want}/t/gone`, { recursive: true });
  await Deno.remove(`${want}/t/keep/x`);
  for await (const e of Deno.readDir(`${want}/t/opq`)) {
    await Deno.remove(`${want}/t/opq/${e.name}`, { recursive: true });
  }
  await runOk("cp", ["-a", `${l2}/t/opq/from-l2`, `${want}/t/opq/from-l2`]);
  await runOk("cp", ["-a", `${ctx}/.`, want]);
  const listing = await listTree(`${want}/t`);
  // The listing holds what the layers are about (else the comparison proves little).
  for (
    const line of [
      /^\.\/top\/setuid\|f\|4755 0:0 /m,
      /^\.\/top\/setgid\|f\|2711 /m,
      /^\.\/top\/sticky\|d\|1777 /m,
      /^\.\/base-setuid\|f\|4755 /m,
      /^\.\/owned\|f\|640 1000:1001 /m,
      /^\.\/top\/dir\/hard-b\|f\|644 0:0 \d+ 2 \.\/top\/dir\/hard-b /m,
      /^\.\/top\/hard-a\|f\|644 0:0 \d+ 2 \.\/top\/dir\/hard-b /m,
      /^\.\/keep\/y-hardlink\|f\|644 0:0 2 2 \.\/keep\/y /m,
      /^\.\/top\/link-rel\|l\|dir\/sub\/deep\/file.txt\|/m,
      /^\.\/top\/fifo\|o\|fifo /m,
      /^\.\/top\/long\/a{60}\/b{60}\/c{60}\/d{60}\/file.txt\|f/m,
      /^\.\/top\/héllo-世界.txt\|f/m,
      /^\.\/top\/ünïcödé\/日本語\/ファイル.txt\|f/m,
      /^\.\/opq\/from-l2\|f/m,
      /^\.\/opq\/ours\|f/m,
      /^\.\/replaced\|f\|600 0:0 12 /m,
    ]
  ) {
    if (!line.test(listing)) throw new Error(`layered: expected tree lacks ${line}:\n${listing}`);
  }
  for (const gone of ["./gone", "./keep/x", "./opq/old1", "./opq/sub"]) {
    if (listing.includes(`\n${gone}|`)) throw new Error(`layered: ${gone} should be whited out`);
  }
  const { specs, refs } = outputs(dir, registry, "layered", "");
  await build(ctx, ["--from", `oci-layout://${base}:base`], specs);
  const estargz = `${registry}/layered-estargz:1`;
  await build(ctx, ["--from", `oci-layout://${base}:base`], [
    `type=registry,name=${estargz},compression=estargz,force-compression=true,oci-mediatypes=true`,
  ]);
  return { ...refs, listing, estargz };
}

/** The config image: `/entry.sh` prints user, folder, environment and its arguments. */
async function buildConfig(dir: string, registry: string): Promise<ImageRefs> {
  const ctx = `${dir}/config-ctx`;
  await busyboxRoot(ctx);
  await writeFile(
    `${ctx}/etc/passwd`,
    "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/srv/app:/bin/sh\n",
  );
  await writeFile(`${ctx}/etc/group`, "root:x:0:\napp:x:1000:\n");
  await writeFile(
    `${ctx}/entry.sh`,
    'echo "user=$(busybox id -u):$(busybox id -g) cwd=$(busybox pwd) greeting=$GREETING path=$PATH args=$*"\n',
  );
  await Deno.mkdir(`${ctx}/srv/app`, { recursive: true });
  const { specs, refs } = outputs(dir, registry, "config", "");
  await build(ctx, [
    "--user",
    "app",
    "--workdir",
    "/srv/app",
    "--env",
    "GREETING=hello world",
    "--env",
    "PATH=/bin",
    "--entrypoint",
    '["/bin/busybox","sh","/entry.sh"]',
    "--cmd",
    '["one","two"]',
  ], specs);
  return refs;
}

/** linux/amd64 and linux/arm64 (each prints its platform), with SBOM and provenance. */
async function buildMulti(dir: string, registry: string): Promise<ImageRefs> {
  const ctx: Record<string, string> = {};
  for (const arch of ["amd64", "arm64"]) {
    ctx[arch] = `${dir}/multi-${arch}`;
    await busyboxRoot(ctx[arch]);
    await writeFile(`${ctx[arch]}/etc/platform`, `linux/${arch}\n`);
  }
  const { specs, refs } = outputs(dir, registry, "multi", "oci-mediatypes=true");
  await build(ctx.amd64, [
    "--platform",
    "linux/amd64,linux/arm64",
    "--platform-context",
    `linux/arm64=${ctx.arm64}`,
    "--attest",
    "type=sbom",
    "--attest",
    "type=provenance",
    "--cmd",
    '["/bin/busybox","cat","/etc/platform"]',
  ], specs.filter((s) => !s.startsWith("type=docker")));
  return refs;
}

/** The command of the capabilities image: what the process with the file's capabilities has. */
export const CAPS_CMD = ["/bin/busybox-cap", "grep", "CapEff", "/proc/self/status"];

/**
 * `/bin/busybox-cap`, a busybox with the file capability `cap_net_bind_service+ep`, run as
 * user 1000 (root would have every capability anyway): once by ocistream, once (the control)
 * by GNU tar with `--xattrs` and umoci, pushed with skopeo.
 */
async function buildCaps(dir: string, registry: string): Promise<EngineImages["caps"]> {
  const ctx = `${dir}/caps-ctx`;
  await busyboxRoot(ctx);
  await Deno.copyFile(BUSYBOX, `${ctx}/bin/busybox-cap`);
  await runOk("setcap", ["cap_net_bind_service+ep", `${ctx}/bin/busybox-cap`]);
  const { specs, refs } = outputs(dir, registry, "caps", "");
  await build(ctx, ["--user", "1000:1000", "--cmd", JSON.stringify(CAPS_CMD)], specs);
  await runOk("tar", [
    "--format=pax",
    "--xattrs",
    "--xattrs-include=security.capability",
    "--sort=name",
    "--numeric-owner",
    "-C",
    ctx,
    "-cf",
    `${dir}/caps-umoci.tar`,
    ".",
  ]);
  const layout = `${dir}/caps-umoci`;
  await runOk("umoci", ["init", "--layout", layout]);
  await runOk("umoci", ["new", "--image", `${layout}:c`]);
  await runOk("umoci", ["raw", "add-layer", "--image", `${layout}:c`, `${dir}/caps-umoci.tar`]);
  await runOk("umoci", [
    "config",
    "--image",
    `${layout}:c`,
    "--config.user",
    "1000:1000",
    ...CAPS_CMD.flatMap((a) => ["--config.cmd", a]),
  ]);
  const control = `${registry}/caps-umoci:1`;
  await runOk("skopeo", [
    "copy",
    "--quiet",
    "--dest-tls-verify=false",
    `oci:${layout}:c`,
    `docker://${control}`,
  ]);
  return { ours: refs, control };
}

/** Builds every image (four builds at a time) into `dir`, pushing to `registry`. */
export async function buildEngineImages(dir: string, registry: string): Promise<EngineImages> {
  await requirePrograms(["busybox", "tar", "umoci", "skopeo"]);
  // The images hold nothing but busybox: a dynamically linked one would not start.
  const head = new TextDecoder("latin1").decode((await Deno.readFile(BUSYBOX)).subarray(0, 4096));
  if (head.includes("ld-linux")) {
    throw new Error(`${BUSYBOX} is dynamically linked: install the Debian package busybox-static`);
  }
  const busyboxSha = (await fileSha256(BUSYBOX)).slice("sha256:".length);
  const matrix: Record<string, MatrixImage> = {};
  const cells = TRANSPORTS.flatMap((t) =>
    (Object.keys(FORMATS) as Format[]).map((f) => [t, f] as const)
  );
  const jobs: (() => Promise<void>)[] = cells.map(([t, f]) => async () => {
    const key = cell(t, f);
    const name = `m-${t}-${f}`;
    const ctx = `${dir}/${name}`;
    await busyboxRoot(ctx);
    const text = `cell ${key}\n`;
    await writeFile(`${ctx}/etc/cell`, text);
    const { specs, refs } = outputs(dir, registry, name, FORMATS[f]);
    const digests = await build(ctx, [
      "--entrypoint",
      '["/bin/busybox"]',
      "--cmd",
      JSON.stringify(MATRIX_CMD),
    ], [specs[TRANSPORTS.indexOf(t)]]);
    const cellSha = (await fileSha256(`${ctx}/etc/cell`)).slice("sha256:".length);
    matrix[key] = {
      ...refs,
      ...digests,
      expected: `${text}${busyboxSha}  /bin/busybox\n${cellSha}  /etc/cell\n`,
    };
  });
  let layered: EngineImages["layered"] | undefined;
  let config: ImageRefs | undefined;
  let multi: ImageRefs | undefined;
  jobs.push(async () => {
    layered = await buildLayered(dir, registry);
  });
  jobs.push(async () => {
    config = await buildConfig(dir, registry);
  });
  jobs.push(async () => {
    multi = await buildMulti(dir, registry);
  });
  let caps: EngineImages["caps"] | undefined;
  jobs.push(async () => {
    caps = await buildCaps(dir, registry);
  });
  await pool(jobs, 4, (job) => job());
  return { dir, matrix, layered: layered!, config: config!, multi: multi!, caps: caps! };
}
