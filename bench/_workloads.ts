/**
 * The benchmark workloads, built once and cached under `bench/.cache/` (gitignored):
 *
 * - (a) `nodemodules`: the installed `node_modules` of a small pinned npm project
 *   (`bench/workload-package-lock.json`, installed with `npm ci --ignore-scripts`): about
 *   12,300 files and 103 MiB of real-world JavaScript. `--quick` uses its `@babel` folder.
 * - (a×2, a×4): the same tree copied 2 and 4 times into subfolders (linear-cost runs).
 * - (b) `binaries`: one large binary (the `deno` executable) and one 64 MiB incompressible file
 *   (`--quick`: the `tar` binary and 16 MiB).
 * - (c) `big`: one 1 GiB file of deterministic semi-compressible data (32 MiB with `--quick`).
 *
 * Every file's mtime is set in the past, so the layer cache's racy-file rule never applies.
 *
 * @example
 * ```ts ignore
 * import { prepareWorkloads } from "./_workloads.ts";
 * const w = await prepareWorkloads({ quick: true });
 * console.log(w.nodeModules);
 * ```
 * @module
 */
import { dataStream } from "../tests/runtime/parallel_helpers.ts";
import { output, q } from "./_measure.ts";

const MIB = 1024 * 1024;
const OLD = "2020-01-01 00:00:00";

/** Paths of the prepared workloads. */
export interface Workloads {
  /** The cache folder. */
  cache: string;
  /** The npm project folder (package.json + node_modules), for containerify. */
  npmProject: string;
  /** (a): the tree measured. */
  nodeModules: string;
  /** (a) at 1×, 2× and 4×. */
  scaled: [string, string, string];
  /** (b). */
  binaries: string;
  /** (c): the folder holding the one big file. */
  big: string;
  /** The containerify binary. */
  containerify: string;
}

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

async function sh(script: string, cwd?: string): Promise<void> {
  await output("sh", ["-c", script], cwd);
}

/** Builds what is missing; returns the workload paths. */
export async function prepareWorkloads(options: { quick: boolean }): Promise<Workloads> {
  const cache = new URL("./.cache/", import.meta.url).pathname.replace(/\/$/, "");
  await Deno.mkdir(cache, { recursive: true });

  // (a) node_modules of a pinned project; prepared again (with its copies) when the lock changes.
  const lockText = await Deno.readTextFile(
    new URL("./workload-package-lock.json", import.meta.url),
  );
  const stamp = await sha256Text(lockText);
  const prepared = (dir: string) => readStamp(`${dir}/.complete`).then((s) => s === stamp);
  const npmProject = `${cache}/nodemodules`;
  if (!(await prepared(npmProject))) {
    console.error("preparing (a): npm ci of the pinned project (once)...");
    await Deno.remove(npmProject, { recursive: true }).catch(() => {});
    await Deno.mkdir(npmProject, { recursive: true });
    const lock = JSON.parse(lockText);
    const root = lock.packages[""];
    await Deno.writeTextFile(
      `${npmProject}/package.json`,
      JSON.stringify(
        { name: lock.name, version: lock.version, private: true, dependencies: root.dependencies },
        null,
        2,
      ) + "\n",
    );
    await Deno.copyFile(
      new URL("./workload-package-lock.json", import.meta.url),
      `${npmProject}/package-lock.json`,
    );
    await sh("npm ci --ignore-scripts --no-audit --no-fund --loglevel=error", npmProject);
    await sh(`find . -exec touch -h -d ${q(OLD)} {} +`, npmProject);
    await Deno.writeTextFile(`${npmProject}/.complete`, stamp);
  }
  const full = `${npmProject}/node_modules`;
  const nodeModules = options.quick ? `${full}/@babel` : full;
  // --quick: a project holding only node_modules/@babel, for the end-to-end runs.
  let project = npmProject;
  if (options.quick) {
    project = `${cache}/quick-project`;
    if (!(await prepared(project))) {
      await Deno.remove(project, { recursive: true }).catch(() => {});
      await Deno.mkdir(`${project}/node_modules`, { recursive: true });
      await Deno.copyFile(`${npmProject}/package.json`, `${project}/package.json`);
      await sh(`cp -a ${q(nodeModules)} ${q(`${project}/node_modules/`)}`);
      await sh(`find . -exec touch -h -d ${q(OLD)} {} +`, project);
      await Deno.writeTextFile(`${project}/.complete`, stamp);
    }
  }

  // (a×2), (a×4): real copies (not hardlinks, which would become hardlink entries).
  const scaledRoot = `${cache}/scaled${options.quick ? "-quick" : ""}`;
  const scaled: [string, string, string] = [nodeModules, `${scaledRoot}/x2`, `${scaledRoot}/x4`];
  for (const [i, n] of [[1, 2], [2, 4]] as const) {
    const dir = scaled[i];
    if (await prepared(dir)) continue;
    console.error(`preparing (a×${n})...`);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    await Deno.mkdir(dir, { recursive: true });
    for (let k = 0; k < n; k++) await sh(`cp -a ${q(nodeModules)} ${q(`${dir}/copy${k}`)}`);
    await sh(`find . -exec touch -h -d ${q(OLD)} {} +`, dir);
    await Deno.writeTextFile(`${dir}/.complete`, stamp);
  }

  // (b) one large binary and 64 MiB incompressible.
  // --quick: the `tar` binary and 16 MiB instead.
  const binaries = `${cache}/binaries${options.quick ? "-quick" : ""}`;
  if (!(await exists(`${binaries}/.complete`))) {
    console.error("preparing (b)...");
    await Deno.mkdir(binaries, { recursive: true });
    const binary = options.quick
      ? (await output("sh", ["-c", "command -v tar"])).trim()
      : Deno.execPath();
    await Deno.copyFile(binary, `${binaries}/${binary.split("/").at(-1)}`);
    await writeRandom(`${binaries}/random.bin`, (options.quick ? 16 : 64) * MIB, 0x1234567);
    await sh(`find . -exec touch -h -d ${q(OLD)} {} +`, binaries);
    await Deno.writeTextFile(`${binaries}/.complete`, "");
  }

  // (c) one big semi-compressible file.
  const big = `${cache}/big${options.quick ? "-quick" : ""}`;
  if (!(await exists(`${big}/.complete`))) {
    console.error("preparing (c)...");
    await Deno.mkdir(big, { recursive: true });
    const file = await Deno.open(`${big}/data.bin`, { write: true, create: true, truncate: true });
    await dataStream((options.quick ? 32 : 1024) * MIB, { chunkSize: MIB }).pipeTo(file.writable);
    await sh(`find . -exec touch -h -d ${q(OLD)} {} +`, big);
    await Deno.writeTextFile(`${big}/.complete`, "");
  }

  // containerify, pinned.
  const containerifyDir = `${cache}/containerify`;
  const containerify = `${containerifyDir}/node_modules/.bin/containerify`;
  if (!(await exists(containerify))) {
    console.error("preparing containerify@4.1.0...");
    await Deno.mkdir(containerifyDir, { recursive: true });
    await Deno.writeTextFile(
      `${containerifyDir}/package.json`,
      JSON.stringify({
        name: "c",
        version: "1.0.0",
        private: true,
        dependencies: { containerify: "4.1.0" },
      }),
    );
    await sh("npm install --ignore-scripts --no-audit --no-fund --loglevel=error", containerifyDir);
  }
  return { cache, npmProject: project, nodeModules, scaled, binaries, big, containerify };
}

/** Writes `size` bytes of xorshift output (incompressible, the same every time). */
async function writeRandom(path: string, size: number, seed: number): Promise<void> {
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  const writer = file.writable.getWriter();
  let s = seed >>> 0;
  const chunk = new Uint8Array(MIB);
  const words = new Uint32Array(chunk.buffer);
  for (let done = 0; done < size; done += MIB) {
    for (let i = 0; i < words.length; i++) {
      s ^= s << 13;
      s >>>= 0;
      s ^= s >>> 17;
      s ^= s << 5;
      s >>>= 0;
      words[i] = s;
    }
    await writer.write(chunk.slice());
  }
  await writer.close();
}

async function sha256Text(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The stamp a prepared workload folder records, or undefined when it is not complete. */
function readStamp(path: string): Promise<string | undefined> {
  return Deno.readTextFile(path).catch(() => undefined);
}
