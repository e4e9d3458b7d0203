/**
 * Real container engines for tests: podman and buildah (daemonless, private storage and
 * config), containerd (`ctr`) and dockerd 20.10, each started once with private folders and
 * sockets, nothing listening beyond loopback, and stopped by PID.
 *
 * What works in this sandbox (issue 18): crun refuses the kernel's hybrid cgroups and there
 * is no CAP_SYS_RESOURCE, so podman and buildah get a `CONTAINERS_CONF` with fixed ulimits,
 * no network namespace, runc, the cgroupfs manager and file events; containerd runs with
 * CRI disabled; dockerd uses that containerd, the vfs driver, no bridge and no iptables.
 *
 * Every engine offers the same few verbs ({@linkcode Engine}) so a test can run one matrix
 * over all of them; what an engine cannot do is reported by the engine itself (its
 * message), never hidden here.
 *
 * @example
 * ```ts ignore
 * import { startContainerd } from "./engines.ts";
 * const ctr = await startContainerd();
 * try {
 *   await ctr.load("oci", "/tmp/image.tar");
 *   console.log((await ctr.run("example.com/x:1", ["/bin/busybox", "echo", "hi"])).stdout);
 * } finally {
 *   await ctr.stop();
 * }
 * ```
 * @module
 */
import { run, type RunResult } from "./cli.ts";

/** The engines the suite runs images in. */
export type EngineName = "podman" | "buildah" | "ctr" | "docker";

/** What {@linkcode Engine.run} takes besides the image. */
export interface RunOptions {
  /** Replaces the image's Cmd (docker, podman) or the whole process (ctr, buildah). */
  args?: string[];
  /**
   * Let the process gain privileges on exec (file capabilities, setuid): ctr sets
   * `no_new_privileges` unless told otherwise; docker, podman and buildah do not set it.
   */
  allowNewPrivileges?: boolean;
}

/** One running engine, reached through its own CLI with private flags. */
export interface Engine {
  /** Which engine. */
  name: EngineName;
  /** Its private folder (storage, sockets, config, logs). */
  dir: string;
  /** Runs the engine's client with its private flags; never throws on a non-zero exit. */
  cli(args: string[]): Promise<RunResult>;
  /** Imports an archive made by `type=docker` (`docker`) or `type=oci` (`oci`). */
  load(kind: "docker" | "oci", path: string): Promise<RunResult>;
  /** Pulls `ref` from a plain-HTTP loopback registry. */
  pull(ref: string): Promise<RunResult>;
  /**
   * Starts a container of image `ref` with the network off, waits for it to end, removes
   * it, and returns what it printed. buildah has no default process: it needs `args`.
   */
  run(ref: string, options?: RunOptions): Promise<RunResult>;
  /**
   * What the engine knows image `ref` by: its ID (the config digest, `sha256:…`; ctr has
   * no image ID) and the manifest digests it recorded (none for podman and docker after a
   * load).
   */
  identify(ref: string): Promise<{ id?: string; digests: string[] }>;
  /** The daemon's log so far (empty for daemonless engines), for failure messages. */
  log(): string;
  /** Stops the daemon by PID (if any) and removes the private folder. */
  stop(): Promise<void>;
}

/** Debian packages that provide the engines (also installed by `.ci/run`). */
export const ENGINE_PACKAGES: readonly string[] = [
  "podman",
  "buildah",
  "containerd",
  "runc",
  "crun",
  "uidmap",
  "fuse-overlayfs",
  "slirp4netns",
  "busybox-static",
  "docker.io",
];

/** Throws (never skips) when a program the engine tests need is not installed. */
export async function requirePrograms(programs: string[]): Promise<void> {
  const missing: string[] = [];
  for (const p of programs) {
    const r = await run("sh", ["-c", `command -v ${p}`]);
    if (r.code !== 0) missing.push(p);
  }
  if (missing.length > 0) {
    throw new Error(
      `engine tests need ${missing.join(", ")}: install the Debian packages ` +
        `${ENGINE_PACKAGES.join(" ")} (.ci/run does)`,
    );
  }
}

let counter = 0;
async function privateDir(name: string): Promise<string> {
  // Short paths: unix socket paths are limited to 108 bytes.
  return await Deno.makeTempDir({ prefix: `ose-${name}${counter++}-` });
}

/** The containers.conf that makes podman and buildah work here (see the module doc). */
function containersConf(dir: string): string {
  return [
    "[containers]",
    'default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]',
    'netns = "none"',
    "[engine]",
    'runtime = "runc"',
    'cgroup_manager = "cgroupfs"',
    'events_logger = "file"',
    `events_logfile_path = "${dir}/events.log"`,
    `tmp_dir = "${dir}/tmp"`,
    "",
  ].join("\n");
}

/** Options of {@linkcode startPodman}. */
export interface PodmanOptions {
  /**
   * `vfs` (default: no mounts, works everywhere) or `overlay` with eStargz partial pulls
   * enabled (`enable_partial_images`), as podman's lazy-pull tests need.
   */
  driver?: "vfs" | "overlay";
}

async function containersStorage(
  name: "podman" | "buildah",
  options: PodmanOptions,
): Promise<{ dir: string; env: Record<string, string> }> {
  const dir = await privateDir(name);
  await guard(dir);
  const driver = options.driver ?? "vfs";
  await Deno.mkdir(`${dir}/tmp`);
  await Deno.writeTextFile(`${dir}/containers.conf`, containersConf(dir));
  const storage = [
    "[storage]",
    `driver = "${driver}"`,
    `graphroot = "${dir}/root"`,
    `runroot = "${dir}/run"`,
    "[storage.options]",
    ...(driver === "overlay"
      ? ['pull_options = {enable_partial_images = "true", use_hard_links = "false"}']
      : []),
    "",
  ].join("\n");
  await Deno.writeTextFile(`${dir}/storage.conf`, storage);
  await Deno.writeTextFile(
    `${dir}/registries.conf`,
    'unqualified-search-registries = []\nshort-name-mode = "disabled"\n',
  );
  return {
    dir,
    env: {
      CONTAINERS_CONF: `${dir}/containers.conf`,
      CONTAINERS_STORAGE_CONF: `${dir}/storage.conf`,
      CONTAINERS_REGISTRIES_CONF: `${dir}/registries.conf`,
      TMPDIR: `${dir}/tmp`,
      XDG_RUNTIME_DIR: `${dir}/tmp`,
      HOME: dir,
      PATH: Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin",
    },
  };
}

/** podman with private storage (`--root`, `--runroot`) and config; nothing to start. */
export async function startPodman(options: PodmanOptions = {}): Promise<Engine> {
  await requirePrograms(["podman", "runc"]);
  const { dir, env } = await containersStorage("podman", options);
  const flags = [
    "--root",
    `${dir}/root`,
    "--runroot",
    `${dir}/run`,
    "--tmpdir",
    `${dir}/tmp`,
    "--storage-driver",
    options.driver ?? "vfs",
  ];
  const cli = (args: string[]) => run("podman", [...flags, ...args], { env });
  let names = 0;
  return {
    name: "podman",
    dir,
    cli,
    load: (_kind, path) => cli(["load", "-i", path]),
    pull: (ref) => cli(["pull", "--tls-verify=false", ref]),
    run: (ref, o = {}) =>
      cli([
        "run",
        "--rm",
        "--network",
        "none",
        "--name",
        `ose-${names++}`,
        ref,
        ...(o.args ?? []),
      ]),
    identify: async (ref) => {
      const r = await cli(["image", "inspect", ref]);
      if (r.code !== 0) throw new Error(`podman image inspect ${ref}: ${r.stderr}`);
      const [image] = JSON.parse(r.stdout);
      const digests: string[] = (image.RepoDigests ?? []).map((d: string) => d.replace(/.*@/, ""));
      return { id: `sha256:${image.Id}`, digests };
    },
    log: () => "",
    stop: async () => {
      await cli(["system", "reset", "--force"]);
      await unmountUnder(dir);
      await Deno.remove(dir, { recursive: true });
      await unguard(dir);
    },
  };
}

/** buildah with private storage and config; `run` makes a working container from the image. */
export async function startBuildah(): Promise<Engine> {
  await requirePrograms(["buildah", "runc"]);
  const { dir, env } = await containersStorage("buildah", {});
  const flags = ["--root", `${dir}/root`, "--runroot", `${dir}/run`, "--storage-driver", "vfs"];
  const cli = (args: string[]) => run("buildah", [...flags, ...args], { env });
  return {
    name: "buildah",
    dir,
    cli,
    load: (kind, path) =>
      cli(["pull", "--quiet", `${kind === "docker" ? "docker-archive" : "oci-archive"}:${path}`]),
    pull: (ref) => cli(["pull", "--quiet", "--tls-verify=false", `docker://${ref}`]),
    run: async (ref, o = {}) => {
      const from = await cli(["from", "--quiet", "--pull-never", ref]);
      if (from.code !== 0) return from;
      const container = from.stdout.trim();
      try {
        return await cli(["run", "--network", "none", container, "--", ...(o.args ?? [])]);
      } finally {
        await cli(["rm", container]);
      }
    },
    identify: async (ref) => {
      const r = await cli(["inspect", "--type", "image", ref]);
      if (r.code !== 0) throw new Error(`buildah inspect ${ref}: ${r.stderr}`);
      const image = JSON.parse(r.stdout);
      return { id: `sha256:${image.FromImageID}`, digests: [image.FromImageDigest] };
    },
    log: () => "",
    stop: async () => {
      await cli(["rm", "--all"]);
      await cli(["rmi", "--all", "--force"]);
      await unmountUnder(dir);
      await Deno.remove(dir, { recursive: true });
      await unguard(dir);
    },
  };
}

/**
 * The reaper's script: waits for the test process (`$1`) to end, then stops every process
 * still listed in `$2` (TERM, KILL ten seconds later, by PID) and the processes the engine
 * started with that private folder in their command line (containerd shims, conmon),
 * unmounts what is mounted under the folder and removes it.
 */
const REAPER = `
test_pid=$1 list=$2
while kill -0 "$test_pid" 2>/dev/null; do sleep 1; done
[ -f "$list" ] || exit 0
while read -r pid dir; do [ "$pid" -gt 0 ] && kill -TERM "$pid" 2>/dev/null; done < "$list"
sleep 10
while read -r pid dir; do
  [ "$pid" -gt 0 ] && kill -KILL "$pid" 2>/dev/null
  # What the engine started with this folder on its command line (shims, conmon), by PID.
  for p in $(grep -lsF "$dir/" /proc/[0-9]*/cmdline | cut -d/ -f3); do kill -KILL "$p"; done
  awk -v d="$dir" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo |
    sort -r | while read -r m; do umount -l "$m"; done
  rm -rf "$dir"
done < "$list"
rm -f "$list"
`;

let reaper: { pid: number; list: string } | undefined;
const guarded = new Map<string, number>();
/** guard/unguard run one at a time (engines start side by side). */
let queue: Promise<void> = Promise.resolve();
function serial(fn: () => Promise<void>): Promise<void> {
  const next = queue.then(fn);
  queue = next.catch(() => {});
  return next;
}

async function writeGuarded(list: string): Promise<void> {
  const text = [...guarded].map(([dir, pid]) => `${pid} ${dir}\n`).join("");
  await Deno.writeTextFile(`${list}.new`, text);
  await Deno.rename(`${list}.new`, list);
}

/**
 * Makes sure `dir` (and the process `pid`, if any) is cleaned up even when the test
 * process is killed (a timeout, a signal: no `finally`, no unload handler runs): a reaper
 * shell in its own session waits for this process to end and then stops and removes
 * whatever is still guarded. {@linkcode unguard} takes an entry back once it was stopped
 * normally, so a PID reused later is never signalled; the reaper ends with the last entry.
 */
export function guard(dir: string, pid = 0): Promise<void> {
  return serial(() => guardNow(dir, pid));
}

async function guardNow(dir: string, pid: number): Promise<void> {
  guarded.set(dir, pid);
  if (!reaper) {
    const list = await Deno.makeTempFile({ prefix: "ose-reaper-" });
    const r = await run("sh", [
      "-c",
      'setsid sh -c "$0" reaper "$1" "$2" </dev/null >/dev/null 2>&1 & echo $!',
      REAPER,
      String(Deno.pid),
      list,
    ]);
    reaper = { pid: Number(r.stdout.trim()), list };
  }
  await writeGuarded(reaper.list);
}

/** Takes `dir` back from the reaper (it was stopped and removed); see {@linkcode guard}. */
export function unguard(dir: string): Promise<void> {
  return serial(() => unguardNow(dir));
}

async function unguardNow(dir: string): Promise<void> {
  guarded.delete(dir);
  if (!reaper) return;
  if (guarded.size > 0) return await writeGuarded(reaper.list);
  try {
    Deno.kill(reaper.pid, "SIGTERM");
  } catch {
    // Already gone.
  }
  await Deno.remove(reaper.list).catch(() => {});
  reaper = undefined;
}

/** A started daemon: its process, its log file, and a stop by PID. */
interface Daemon {
  pid: number;
  logText(): string;
  stop(): Promise<void>;
}

const live = new Set<number>();
let unloadHooked = false;

/** Kills daemons a crashed test left behind (by PID), when the test process ends. */
function hookUnload(): void {
  if (unloadHooked) return;
  unloadHooked = true;
  globalThis.addEventListener("unload", () => {
    for (const pid of live) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
  });
}

/** Spawns `program args` with output to `dir/NAME.log`; resolves when `ready()` holds. */
async function spawnDaemon(
  name: string,
  dir: string,
  program: string,
  args: string[],
  ready: () => Promise<boolean>,
): Promise<Daemon> {
  hookUnload();
  const logPath = `${dir}/${name}.log`;
  const log = await Deno.open(logPath, { write: true, create: true, truncate: true });
  const child = new Deno.Command(program, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { PATH: Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin", HOME: dir },
    clearEnv: true,
  }).spawn();
  live.add(child.pid);
  await guard(dir, child.pid);
  const sink = log.writable.getWriter();
  const pump = (s: ReadableStream<Uint8Array>) =>
    s.pipeTo(new WritableStream({ write: (c) => sink.write(c) })).catch(() => {});
  const pumped = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const logText = () => {
    try {
      return Deno.readTextFileSync(logPath).slice(-4000);
    } catch {
      return "";
    }
  };
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    live.delete(child.pid);
    return s;
  });
  const deadline = Date.now() + 60_000;
  while (!(await ready())) {
    if (exited) {
      throw new Error(
        `${program} exited before it was ready (${(await status).code}):\n${logText()}`,
      );
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      await status;
      throw new Error(`${program} was not ready within 60 s:\n${logText()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    pid: child.pid,
    logText,
    stop: async () => {
      if (!exited) {
        try {
          Deno.kill(child.pid, "SIGTERM");
        } catch {
          // Already gone.
        }
        const timer = setTimeout(() => {
          try {
            Deno.kill(child.pid, "SIGKILL");
          } catch {
            // Already gone.
          }
        }, 20_000);
        await status;
        clearTimeout(timer);
      }
      await pumped;
      await sink.close().catch(() => {});
    },
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** Unmounts whatever an engine left mounted under `dir` (deepest first). */
async function unmountUnder(dir: string): Promise<void> {
  const mounts = (await Deno.readTextFile("/proc/self/mountinfo")).split("\n")
    .map((l) => l.split(" ")[4])
    .filter((p) => p !== undefined && (p === dir || p.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) await run("umount", ["-l", m]);
}

/** A running containerd with a private root, state and socket (CRI off). */
export interface Containerd extends Engine {
  /** The gRPC socket, for dockerd's `--containerd`. */
  socket: string;
  /** The namespace `ctr` works in (unique: runc's state folder is named after it). */
  namespace: string;
}

/** Options of {@linkcode startContainerd}. */
export interface ContainerdOptions {
  /** The snapshotter `ctr` uses (default `overlayfs`). */
  snapshotter?: "overlayfs" | "native";
}

/** Starts containerd; `ctr` talks to it in its own namespace. */
export async function startContainerd(options: ContainerdOptions = {}): Promise<Containerd> {
  await requirePrograms(["containerd", "ctr", "runc", "containerd-shim-runc-v2"]);
  const dir = await privateDir("ctd");
  const socket = `${dir}/c.sock`;
  const config = [
    "version = 2",
    `root = "${dir}/root"`,
    `state = "${dir}/state"`,
    'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
    "[grpc]",
    `  address = "${socket}"`,
    "[ttrpc]",
    `  address = "${socket}.ttrpc"`,
    "[debug]",
    '  address = ""',
    "[metrics]",
    '  address = ""',
    "",
  ].join("\n");
  await Deno.writeTextFile(`${dir}/config.toml`, config);
  const daemon = await spawnDaemon(
    "containerd",
    dir,
    "containerd",
    ["--config", `${dir}/config.toml`],
    async () => (await exists(socket)) && (await run("ctr", ["-a", socket, "version"])).code === 0,
  );
  const snapshotter = options.snapshotter ?? "overlayfs";
  // runc keeps its state under /run/containerd/runc/<namespace> for every containerd on the
  // machine: a namespace of its own keeps concurrent test runs apart.
  const namespace = dir.slice(dir.lastIndexOf("/") + 1);
  const cli = (args: string[]) => run("ctr", ["-a", socket, "-n", namespace, ...args]);
  let names = 0;
  return {
    name: "ctr",
    dir,
    socket,
    namespace,
    cli,
    load: (_kind, path) => cli(["images", "import", "--snapshotter", snapshotter, path]),
    pull: (ref) => cli(["images", "pull", "--plain-http", "--snapshotter", snapshotter, ref]),
    run: (ref, o = {}) =>
      cli([
        "run",
        "--rm",
        "--fifo-dir",
        `${dir}/fifo`,
        "--snapshotter",
        snapshotter,
        ...(o.allowNewPrivileges ? ["--allow-new-privs"] : []),
        ref,
        `ose-${names++}`,
        ...(o.args ?? []),
      ]),
    identify: async (ref) => {
      const r = await cli(["images", "ls", `name==${ref}`]);
      if (r.code !== 0) throw new Error(`ctr images ls: ${r.stderr}`);
      const row = r.stdout.split("\n").find((l) => l.startsWith(`${ref} `));
      return { digests: row ? [row.split(/\s+/)[2]] : [] };
    },
    log: daemon.logText,
    stop: async () => {
      await daemon.stop();
      // runc's state folder of this namespace (empty once every container is gone).
      await Deno.remove(`/run/containerd/runc/${namespace}`).catch(() => {});
      await unmountUnder(dir);
      await Deno.remove(dir, { recursive: true });
      await unguard(dir);
    },
  };
}

/** Options of {@linkcode startDockerd}. */
export interface DockerdOptions {
  /** The containerd it runs containers with. */
  containerd: Containerd;
  /** Registries (`127.0.0.1:PORT`) it may reach over plain HTTP. */
  insecureRegistries?: string[];
}

/** Starts dockerd 20.10 on a private socket over `containerd`, vfs storage, no networking. */
export async function startDockerd(options: DockerdOptions): Promise<Engine> {
  await requirePrograms(["dockerd", "docker"]);
  const dir = await privateDir("dkd");
  const socket = `${dir}/d.sock`;
  await Deno.writeTextFile(`${dir}/daemon.json`, "{}\n");
  const args = [
    "--config-file",
    `${dir}/daemon.json`,
    "--data-root",
    `${dir}/data`,
    "--exec-root",
    `${dir}/exec`,
    "--pidfile",
    `${dir}/docker.pid`,
    "-H",
    `unix://${socket}`,
    "--storage-driver",
    "vfs",
    "--iptables=false",
    "--ip6tables=false",
    "--bridge=none",
    "--ip-masq=false",
    "--containerd",
    options.containerd.socket,
    "--containerd-namespace",
    `${options.containerd.namespace}-moby`,
    "--containerd-plugins-namespace",
    `${options.containerd.namespace}-moby-plugins`,
    "--exec-opt",
    "native.cgroupdriver=cgroupfs",
    ...(options.insecureRegistries ?? []).flatMap((r) => ["--insecure-registry", r]),
  ];
  const env = { DOCKER_CONFIG: `${dir}/client`, PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" };
  const cli = (a: string[]) => run("docker", ["-H", `unix://${socket}`, ...a], { env });
  const daemon = await spawnDaemon(
    "dockerd",
    dir,
    "dockerd",
    args,
    async () => (await exists(socket)) && (await cli(["version"])).code === 0,
  );
  let names = 0;
  return {
    name: "docker",
    dir,
    cli,
    load: (_kind, path) => cli(["load", "-i", path]),
    pull: (ref) => cli(["pull", "--quiet", ref]),
    run: (ref, o = {}) =>
      cli(["run", "--rm", "--network", "none", "--name", `ose-${names++}`, ref, ...(o.args ?? [])]),
    identify: async (ref) => {
      const r = await cli(["image", "inspect", ref]);
      if (r.code !== 0) throw new Error(`docker image inspect ${ref}: ${r.stderr}`);
      const [image] = JSON.parse(r.stdout);
      const digests: string[] = (image.RepoDigests ?? []).map((d: string) => d.replace(/.*@/, ""));
      return { id: image.Id, digests };
    },
    log: daemon.logText,
    stop: async () => {
      await daemon.stop();
      await unmountUnder(dir);
      await Deno.remove(dir, { recursive: true });
      await unguard(dir);
    },
  };
}
