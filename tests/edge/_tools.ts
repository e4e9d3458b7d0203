/**
 * Helpers for the edge-runtime tests: the pinned workerd and Bun from npm
 * (installed once into a cache folder), `deno bundle`, child processes and
 * skopeo.
 *
 * The npm cache is `$OCISTREAM_TEST_NPM_CACHE`, else `$HOME/.cache/ocistream-test-npm`.
 * @module
 */

/** Exact versions, so CI runs what was tested. */
export const WORKERD_VERSION = "1.20261117.1";
/** Exact Bun version. */
export const BUN_VERSION = "1.4.4";

/** The repository root, with a trailing slash. */
export const ROOT: string = decodeURIComponent(new URL("../../", import.meta.url).pathname);

/** Paths of the npm-installed runtimes. */
export interface NpmTools {
  /** The workerd binary. */
  workerd: string;
  /** The bun binary. */
  bun: string;
}

function npmCache(): string {
  const env = Deno.env.get("OCISTREAM_TEST_NPM_CACHE");
  if (env) return env;
  const home = Deno.env.get("HOME");
  if (!home) throw new Error("Set HOME or OCISTREAM_TEST_NPM_CACHE for the npm-installed runtimes");
  return `${home}/.cache/ocistream-test-npm`;
}

async function installedVersion(dir: string, name: string): Promise<string | undefined> {
  try {
    const pkg = JSON.parse(await Deno.readTextFile(`${dir}/node_modules/${name}/package.json`));
    return pkg.version;
  } catch {
    return undefined;
  }
}

/** Runs a command; throws with its output if it fails. Returns stdout. */
export async function run(
  cmd: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<string> {
  const out = await new Deno.Command(cmd, {
    args,
    cwd: options.cwd,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed (exit ${out.code}):\n${dec.decode(out.stdout)}\n${
        dec.decode(out.stderr)
      }`,
    );
  }
  return dec.decode(out.stdout);
}

let tools: Promise<NpmTools> | undefined;

/**
 * Installs workerd and bun at the pinned versions with npm, once: a second
 * call (or a second test run) finds them and only checks the versions.
 * Both ship their binary in a platform package (an optional dependency);
 * bun's postinstall links it into place, and is rerun here if npm skipped it.
 */
export function ensureNpmTools(): Promise<NpmTools> {
  tools ??= (async () => {
    const dir = npmCache();
    await Deno.mkdir(dir, { recursive: true });
    const want = { workerd: WORKERD_VERSION, bun: BUN_VERSION };
    const current = {
      workerd: await installedVersion(dir, "workerd"),
      bun: await installedVersion(dir, "bun"),
    };
    if (current.workerd !== want.workerd || current.bun !== want.bun) {
      await Deno.writeTextFile(
        `${dir}/package.json`,
        JSON.stringify({ private: true, dependencies: want }, null, 2) + "\n",
      );
      await run("npm", [
        "install",
        "--no-audit",
        "--no-fund",
        "--save-exact",
        `workerd@${WORKERD_VERSION}`,
        `bun@${BUN_VERSION}`,
      ], { cwd: dir });
    }
    const found = {
      workerd: `${dir}/node_modules/.bin/workerd`,
      bun: `${dir}/node_modules/.bin/bun`,
    };
    const bunVersion = await run(found.bun, ["--version"]).catch(async () => {
      // npm ran with ignore-scripts: do bun's postinstall ourselves, as its error says.
      await run("node", ["install.js"], { cwd: `${dir}/node_modules/bun` });
      return await run(found.bun, ["--version"]);
    }).then((v) => v.trim());
    if (bunVersion !== BUN_VERSION) {
      throw new Error(`bun --version says ${bunVersion}, want ${BUN_VERSION}`);
    }
    await run(found.workerd, ["--version"]);
    return found;
  })();
  return tools;
}

/** Bundles `entry` (relative to the repository root) into one ESM file at `out`, as the README says. */
export async function bundle(entry: string, out: string): Promise<void> {
  await run(Deno.execPath(), ["bundle", "--quiet", "--platform", "browser", "-o", out, entry], {
    cwd: ROOT,
  });
}

/** A background process with its output collected. */
export interface Background {
  /** Output so far (stdout and stderr). */
  log(): string;
  /** Stops it and waits for it to exit. */
  stop(): Promise<void>;
}

/** Starts `cmd` in the background, collecting its output. */
export function spawn(cmd: string, args: string[], cwd: string): Background {
  const child = new Deno.Command(cmd, {
    args,
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const chunks: string[] = [];
  const collect = (s: ReadableStream<Uint8Array>) =>
    s.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({
        write(t) {
          if (chunks.length < 500) chunks.push(t);
        },
      }),
    ).catch(() => {});
  const drained = Promise.all([collect(child.stdout), collect(child.stderr)]);
  let stopped = false;
  return {
    log: () => chunks.join(""),
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        child.kill("SIGTERM");
      } catch {
        // Already gone.
      }
      await child.status;
      await drained;
    },
  };
}

/** The manifest digest skopeo sees for `ref` (`127.0.0.1:PORT/repo:tag`) and the layer digests. */
export async function skopeoInspect(ref: string): Promise<{ digest: string; layers: string[] }> {
  const out = JSON.parse(await run("skopeo", ["inspect", "--tls-verify=false", `docker://${ref}`]));
  return { digest: out.Digest, layers: out.Layers };
}
