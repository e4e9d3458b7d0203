/**
 * The reference eStargz programs in `../shared/oracles` (built from Debian's packaged
 * `containerd/stargz-snapshotter/estargz`), built once and cached by the hash of their
 * `main.go`, and helpers to run them.
 *
 * `../shared` is found beside the repository root, else at `$OCISTREAM_SHARED`. Binaries are
 * cached in `$OCISTREAM_ORACLE_CACHE`, else `$TMPDIR/ocistream-oracles` (`/tmp` by default).
 *
 * @example
 * ```ts ignore
 * import { estargzVerify } from "./oracles.ts";
 * const { ok, report } = await estargzVerify("/tmp/layer.gz", "sha256:…", "sha256:…");
 * console.log(ok, report.entries);
 * ```
 * @module
 */

import { createHash } from "node:crypto";

/** The oracle programs. */
export type OracleName = "estargz-verify" | "estargz-build" | "containerd-diff";

/** The folder holding SPEC.md and oracles/. */
export function sharedDir(): string {
  const beside = new URL("../../../shared/", import.meta.url);
  try {
    Deno.statSync(new URL("oracles/", beside));
    return decodeURIComponent(beside.pathname);
  } catch {
    const env = Deno.env.get("OCISTREAM_SHARED");
    if (env) return env.endsWith("/") ? env : env + "/";
    throw new Error(
      `Cannot find the shared folder at ${beside.pathname}: check out ../shared beside the ` +
        "repository or set OCISTREAM_SHARED",
    );
  }
}

const builds = new Map<OracleName, Promise<string>>();

/** Path of the built oracle binary (built on first use, then taken from the cache). */
export function oracleBinary(name: OracleName): Promise<string> {
  let build = builds.get(name);
  if (!build) {
    build = buildOracle(name);
    builds.set(name, build);
  }
  return build;
}

async function buildOracle(name: OracleName): Promise<string> {
  const dir = `${sharedDir()}oracles/${name}/`;
  const source = await Deno.readFile(`${dir}main.go`);
  const key = createHash("sha256").update(source).digest("hex").slice(0, 16);
  const cache = Deno.env.get("OCISTREAM_ORACLE_CACHE") ??
    `${Deno.env.get("TMPDIR") ?? "/tmp"}/ocistream-oracles`;
  const binary = `${cache}/${name}-${key}`;
  try {
    await Deno.stat(binary);
    return binary;
  } catch {
    // not built yet
  }
  await Deno.mkdir(cache, { recursive: true });
  // Build beside the final path, then rename: concurrent test processes never see half a file.
  const partial = `${binary}.${Deno.pid}.${crypto.randomUUID()}`;
  const out = await new Deno.Command("sh", {
    args: [`${dir}build.sh`, partial],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    await Deno.remove(partial).catch(() => {});
    throw new Error(
      `Cannot build the ${name} oracle: ${new TextDecoder().decode(out.stderr)}` +
        "install golang-go, golang-github-containerd-stargz-snapshotter-dev and " +
        "golang-github-containerd-containerd-dev",
    );
  }
  await Deno.rename(partial, binary);
  return binary;
}

/** The JSON line `estargz-verify` prints. */
export interface VerifyReport {
  ok: boolean;
  tocDigest: string;
  entries: number;
  files: number;
  chunks: number;
  diffID: string;
  uncompressedSize: number;
  prefetchLandmark: boolean;
  noPrefetchLandmark: boolean;
  error?: string;
}

/** Runs `estargz-verify BLOB [TOC_DIGEST] [DIFF_ID]`; `ok` is its exit status 0. */
export async function estargzVerify(
  blob: string,
  tocDigest = "",
  diffId = "",
): Promise<{ ok: boolean; report: VerifyReport; stderr: string }> {
  const out = await new Deno.Command(await oracleBinary("estargz-verify"), {
    args: [blob, tocDigest, diffId],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  const stderr = new TextDecoder().decode(out.stderr);
  let report: VerifyReport;
  try {
    report = JSON.parse(text);
  } catch {
    throw new Error(`estargz-verify printed no JSON: ${text} ${stderr}`);
  }
  return { ok: out.success, report, stderr };
}

/** The JSON line `estargz-build` prints. */
export interface BuildReport {
  digest: string;
  size: number;
  tocDigest: string;
  diffID: string;
}

/**
 * Runs `estargz-build TAR OUT LEVEL [PRIORITIZED...]`. `cores` sets GOMAXPROCS: the
 * reference splits the layer into that many parts (each restarting its user/group name
 * memory), so 1 gives the single-writer layout.
 */
export async function estargzBuild(
  tar: string,
  out: string,
  level: number,
  prioritized: string[] = [],
  cores = 1,
): Promise<BuildReport> {
  const result = await new Deno.Command(await oracleBinary("estargz-build"), {
    args: [tar, out, String(level), ...prioritized],
    env: { GOMAXPROCS: String(cores) },
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!result.success) {
    throw new Error(`estargz-build failed: ${new TextDecoder().decode(result.stderr)}`);
  }
  return JSON.parse(new TextDecoder().decode(result.stdout));
}

/** The JSON line `containerd-diff` prints. */
export interface DiffReport {
  /** sha256 of the layer tar containerd's `archive.WriteDiff` writes for the folder. */
  diffID: string;
  /** Its size in bytes. */
  size: number;
}

/**
 * Runs `containerd-diff DIR [OUT_TAR]`: the layer tar containerd's differ writes for `dir`
 * added on top of an empty folder (what BuildKit's differ writes for a `COPY`).
 */
export async function containerdDiff(dir: string, outTar?: string): Promise<DiffReport> {
  const result = await new Deno.Command(await oracleBinary("containerd-diff"), {
    args: outTar ? [dir, outTar] : [dir],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!result.success) {
    throw new Error(`containerd-diff failed: ${new TextDecoder().decode(result.stderr)}`);
  }
  return JSON.parse(new TextDecoder().decode(result.stdout));
}
