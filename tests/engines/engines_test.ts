/**
 * ocistream's images run in real engines: podman 4.3, buildah 1.28, containerd 1.6 (`ctr`)
 * and dockerd 20.10 (issue 18). A missing engine fails these tests (`.ci/run` installs the
 * packages); what an engine cannot do is asserted with the engine's own message.
 *
 * One test: each engine is started once, runs its checks (steps) one after the other, and
 * the engines run side by side (concurrent steps, so no sanitizers); at the end every engine
 * is stopped by PID and its folders removed, and the test fails if anything is left
 * mounted or on disk. One test rather than one per check, so that no filter can start the
 * engines and end the process before they are stopped.
 * @module
 */
import assert from "node:assert/strict";
import { startRegistry, type TestRegistry } from "../_harness/registry.ts";
import {
  type Engine,
  guard,
  startBuildah,
  startContainerd,
  startDockerd,
  startPodman,
  unguard,
} from "../_harness/engines.ts";
import type { RunResult } from "../_harness/cli.ts";
import {
  buildEngineImages,
  CAPS_CMD,
  cell,
  type EngineImages,
  type Format,
  FORMATS,
  LIST_SCRIPT,
  MATRIX_CMD,
  normalizeListing,
  type Transport,
  TRANSPORTS,
} from "./_images.ts";

/** Shared by every check: the registry, the images, the started engines. */
interface World {
  registry: TestRegistry;
  images: EngineImages;
}

/** Lazily made once per test file. */
function once<T>(make: () => T): () => T {
  let made: { value: T } | undefined;
  return () => (made ??= { value: make() }).value;
}

const world = once(async (): Promise<World> => {
  const registry = await startRegistry();
  await guard(registry.dir, registry.pid);
  const dir = await Deno.makeTempDir({ prefix: "ocistream-engine-images-" });
  await guard(dir);
  const images = await buildEngineImages(dir, registry.host);
  return { registry, images };
});

/** What an engine printed, for assertion messages. */
function said(r: RunResult): string {
  return `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

/** Asserts the engine's command exited 0 and returns its stdout. */
function ok(engine: Engine, what: string, r: RunResult): string {
  assert.equal(r.code, 0, `${engine.name} ${what} failed: ${said(r)}\n${engine.log()}`);
  return r.stdout;
}

/** The reference an engine knows an image by after `transport`. */
function refAfter(transport: Transport, image: { name: string; registry: string }): string {
  return transport === "registry" ? image.registry : image.name;
}

/** Loads or pulls the image as `transport` says. */
function bring(
  engine: Engine,
  transport: Transport,
  image: { dockerArchive: string; ociArchive: string; registry: string },
): Promise<RunResult> {
  if (transport === "docker-archive") return engine.load("docker", image.dockerArchive);
  if (transport === "oci-archive") return engine.load("oci", image.ociArchive);
  return engine.pull(image.registry);
}

/**
 * Runs the image's default process; buildah has none (`buildah run` needs a command), so it
 * runs `fallback`, the same command spelled out.
 */
function runDefault(engine: Engine, ref: string, fallback: string[]): Promise<RunResult> {
  return engine.run(ref, engine.name === "buildah" ? { args: fallback } : {});
}

/**
 * What dockerd 20.10 refuses, with its message (a Docker < 23 limit, the same for images
 * made by skopeo): OCI archives (it reads only `manifest.json`, which `type=oci` archives
 * do not carry, as BuildKit's), and zstd layers, loaded or pulled: its layer applier takes
 * the zstd stream for a tar.
 */
function dockerRefusal(transport: Transport, format: Format): RegExp | undefined {
  if (transport === "oci-archive") return /open .*\/blobs\/json: no such file or directory/;
  if (format === "zstd-oci") return /ApplyLayer exit status 1 .*archive\/tar: invalid tar header/;
  return undefined;
}

/** The busybox matrix on one engine: every transport × format, three cells at a time. */
async function matrix(engine: Engine, w: World): Promise<void> {
  const cells = TRANSPORTS.flatMap((t) => (Object.keys(FORMATS) as Format[]).map((f) => [t, f]));
  const failures: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < cells.length) {
      const [t, f] = cells[next++] as [Transport, Format];
      try {
        await matrixCell(engine, w, t, f);
      } catch (e) {
        failures.push(`${cell(t, f)}: ${(e as Error).message}`);
      }
    }
  };
  await Promise.all([worker(), worker(), worker()]);
  assert.deepEqual(failures.sort(), [], failures.join("\n\n"));
}

/** One matrix cell: the engine takes the image and runs it, or refuses it as known. */
async function matrixCell(engine: Engine, w: World, t: Transport, f: Format): Promise<void> {
  const image = w.images.matrix[cell(t, f)];
  const brought = await bring(engine, t, image);
  const refusal = engine.name === "docker" ? dockerRefusal(t, f) : undefined;
  if (refusal) {
    assert.notEqual(brought.code, 0, `docker took ${cell(t, f)}: ${said(brought)}`);
    assert.match(brought.stderr, refusal);
    return;
  }
  ok(engine, `${t} ${f}`, brought);
  // The engine knows the image by our digests: the config's as its ID, the manifest's as
  // pulled (and as imported, for ctr, which keeps the archive's manifest).
  const known = await engine.identify(refAfter(t, image));
  if (known.id !== undefined) assert.equal(known.id, image.config, "image ID");
  if (t === "registry" || engine.name === "ctr") {
    assert.ok(known.digests.includes(image.digest), `${image.digest} in ${known.digests}`);
  }
  const out = ok(
    engine,
    `run ${cell(t, f)}`,
    await runDefault(engine, refAfter(t, image), ["/bin/busybox", ...MATRIX_CMD]),
  );
  assert.equal(out, image.expected);
}

/**
 * podman on the overlay driver with partial pulls on fetches the eStargz layer lazily
 * ("Retrieved partial blob", chunk by chunk through the TOC), and the container sees the
 * same files.
 */
async function estargzLazyPull(engine: Engine, w: World): Promise<void> {
  const image = w.images.matrix[cell("registry", "estargz")];
  const [repo, tag] = image.registry.slice(image.registry.indexOf("/") + 1).split(":");
  const res = await fetch(`${w.registry.url}/v2/${repo}/manifests/${tag}`, {
    headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
  });
  const manifest = await res.json();
  const layer: string = manifest.layers[0].digest;
  assert.ok(manifest.layers[0].annotations["containerd.io/snapshot/stargz/toc.digest"]);
  const pulled = await engine.cli([
    "--log-level",
    "debug",
    "pull",
    "--tls-verify=false",
    image.registry,
  ]);
  ok(engine, "pull eStargz", pulled);
  assert.match(pulled.stderr, new RegExp(`Retrieved partial blob ${layer}`), said(pulled));
  const out = ok(engine, "run eStargz", await engine.run(image.registry));
  assert.equal(out, image.expected);
}

/** The layered image, pulled from the registry, listed file by file inside the container. */
async function layered(engine: Engine, w: World): Promise<void> {
  const image = w.images.layered;
  ok(engine, "pull layered", await engine.pull(image.registry));
  const out = ok(
    engine,
    "list layered",
    await engine.run(image.registry, {
      args: ["/bin/busybox", "sh", "-c", LIST_SCRIPT, "sh", "/t"],
    }),
  );
  assert.equal(normalizeListing(out), image.listing);
}

/** The two-platform image with attestations: the engine picks and runs linux/amd64. */
async function multi(engine: Engine, w: World): Promise<void> {
  const image = w.images.multi;
  const args = ["/bin/busybox", "cat", "/etc/platform"];
  ok(engine, "pull multi", await engine.pull(image.registry));
  assert.equal(
    ok(engine, "run multi", await runDefault(engine, image.registry, args)),
    "linux/amd64\n",
  );
  if (engine.name === "ctr") {
    // A known containerd 1.6 limit: --all-platforms also unpacks the attestation manifests.
    const all = await engine.cli([
      "images",
      "pull",
      "--plain-http",
      "--all-platforms",
      image.registry,
    ]);
    assert.notEqual(all.code, 0, said(all));
    assert.match(
      all.stderr,
      /failed to get stream processor for application\/vnd\.in-toto\+json: no processor for media-type/,
    );
  }
  if (engine.name === "docker") {
    return; // dockerd 20.10 does not read OCI archives (see the matrix).
  }
  ok(engine, "load multi OCI archive", await engine.load("oci", image.ociArchive));
  assert.equal(
    ok(engine, "run multi", await runDefault(engine, image.name, args)),
    "linux/amd64\n",
  );
}

/** User, working folder, environment, entrypoint and cmd come from our config. */
async function config(engine: Engine, w: World): Promise<void> {
  const image = w.images.config;
  ok(engine, "pull config", await engine.pull(image.registry));
  const line = (args: string) =>
    `user=1000:1000 cwd=/srv/app greeting=hello world path=/bin args=${args}\n`;
  if (engine.name === "buildah") {
    // buildah run has no default process: user, folder and environment are what it honours.
    const out = ok(
      engine,
      "run config",
      await engine.run(image.registry, { args: ["/bin/busybox", "sh", "/entry.sh", "b"] }),
    );
    assert.equal(out, line("b"));
    const inspect = ok(
      engine,
      "inspect config",
      await engine.cli(["inspect", "--type", "image", image.registry]),
    );
    const c = JSON.parse(inspect).OCIv1.config;
    assert.deepEqual([c.Entrypoint, c.Cmd, c.User, c.WorkingDir], [
      ["/bin/busybox", "sh", "/entry.sh"],
      ["one", "two"],
      "app",
      "/srv/app",
    ]);
    return;
  }
  assert.equal(ok(engine, "run config", await engine.run(image.registry)), line("one two"));
  if (engine.name !== "ctr") {
    // ctr run's arguments replace the whole process; docker and podman replace only Cmd.
    assert.equal(
      ok(engine, "run config", await engine.run(image.registry, { args: ["three"] })),
      line("three"),
    );
  }
}

/**
 * What podman 4.3 (containers/storage 1.43) makes of a listing when it pulls eStargz layers
 * lazily: it creates files from the TOC but leaves every entry owned by root with the time
 * of the pull, and skips fifos and devices (`case tar.TypeFifo: /* Ignore. *\/` in
 * pkg/chunked). A layer made by the reference builder (`oracles/estargz-build`, the
 * stargz-snapshotter library) loses the same in the same podman, so these are the engine's
 * limits, not our TOC's: owners become `0:0`, times `*`, fifos go.
 */
function podmanPartialPullView(listing: string): string {
  return listing.split("\n").filter((line) => line.split("|")[1] !== "o").map((line) => {
    const fields = line.split("|");
    if (fields[1] === "l") fields[3] = "0:0 *"; // path|l|target|owner mtime
    if (fields[1] === "d") fields[2] = fields[2].replace(/ .*/, " 0:0"); // path|d|mode owner
    if (fields[1] === "f") {
      const stat = fields[2].split(" "); // path|f|mode owner size links group mtime|sha256
      stat[1] = "0:0";
      stat[5] = "*";
      fields[2] = stat.join(" ");
    }
    return fields.join("|");
  }).join("\n");
}

/**
 * The layered image with every layer as eStargz (base layers converted too), pulled lazily
 * by podman: each file comes from our TOC (content, modes, links, hardlinks, whiteouts,
 * long and Unicode names), listed file by file and compared with what podman keeps.
 */
async function estargzLazyLayered(engine: Engine, w: World): Promise<void> {
  const image = w.images.layered;
  const pulled = await engine.cli([
    "--log-level",
    "debug",
    "pull",
    "--tls-verify=false",
    image.estargz,
  ]);
  ok(engine, "pull layered eStargz", pulled);
  const partial = pulled.stderr.match(/Retrieved partial blob sha256:[0-9a-f]{64}/g) ?? [];
  assert.equal(new Set(partial).size, 3, `three layers pulled lazily: ${said(pulled)}`);
  const out = ok(
    engine,
    "list layered eStargz",
    await engine.run(image.estargz, {
      args: ["/bin/busybox", "sh", "-c", LIST_SCRIPT, "sh", "/t"],
    }),
  );
  assert.equal(
    podmanPartialPullView(normalizeListing(out)),
    podmanPartialPullView(image.listing),
  );
}

/**
 * A file's capabilities (`security.capability`) are kept: the process exec'd from it, as
 * user 1000, has `CapEff` 0x400 (cap_net_bind_service). umoci's image of the same tree is
 * the control that shows the engine honours them.
 */
async function capabilities(engine: Engine, w: World): Promise<void> {
  const want = "CapEff:\t0000000000000400\n";
  const images = [["umoci's image (control)", w.images.caps.control], [
    "ocistream's image",
    w.images.caps.ours.registry,
  ]];
  for (const [what, ref] of images) {
    ok(engine, `pull ${what}`, await engine.pull(ref));
    const r = await engine.run(ref, {
      allowNewPrivileges: true,
      args: engine.name === "buildah" ? CAPS_CMD : undefined,
    });
    assert.equal(ok(engine, `run ${what}`, r), want, `${engine.name} runs ${what}`);
  }
}

type Check = (engine: Engine, w: World) => Promise<void>;

/** The checks every engine runs, in order. */
const CHECKS: Record<string, Check> = {
  matrix,
  layered,
  "multi-platform": multi,
  config,
  "file capabilities": capabilities,
};

/** One engine started once, and the checks it runs one after the other. */
interface Lane {
  /** The name tests carry. */
  name: string;
  /** Starts the engine (called once). */
  start: () => Promise<Engine>;
  /** Its checks, in order. */
  checks: Record<string, Check>;
}

const containerd = once(() => startContainerd());

/** Every lane runs beside the others. */
const LANES: Lane[] = [
  { name: "podman", start: once(() => startPodman()), checks: CHECKS },
  { name: "buildah", start: once(() => startBuildah()), checks: CHECKS },
  { name: "ctr", start: containerd, checks: CHECKS },
  {
    name: "docker",
    start: once(async () =>
      startDockerd({
        containerd: await containerd(),
        insecureRegistries: [(await world()).registry.host],
      })
    ),
    checks: CHECKS,
  },
  {
    name: "podman (overlay)",
    start: once(() => startPodman({ driver: "overlay" })),
    checks: {
      "eStargz lazy pull": estargzLazyPull,
      "eStargz lazy pull of the layered image, file by file": estargzLazyLayered,
    },
  },
];

/** Steps run side by side only without sanitizers (they share the engines anyway). */
const concurrent = { sanitizeOps: false, sanitizeResources: false, sanitizeExit: false };

/** Stops every engine that started, then the registry; returns what went wrong. */
async function stopAll(): Promise<string[]> {
  const errors: string[] = [];
  const dirs: string[] = [];
  // Reverse order: dockerd stops before the containerd it uses.
  for (const lane of LANES.slice().reverse()) {
    const engine = await lane.start().catch(() => undefined);
    if (!engine) continue; // Its start failed: its step says so.
    dirs.push(engine.dir);
    try {
      await engine.stop();
    } catch (e) {
      errors.push(`${lane.name}: ${(e as Error).message}`);
    }
  }
  const w = await world().catch(() => undefined);
  if (w) {
    await w.registry.stop();
    await unguard(w.registry.dir);
    await Deno.remove(w.images.dir, { recursive: true });
    await unguard(w.images.dir);
    dirs.push(w.images.dir);
  }
  const mounts = await Deno.readTextFile("/proc/self/mountinfo");
  for (const dir of dirs) {
    if (mounts.includes(` ${dir}`)) errors.push(`${dir} is still mounted`);
    if (await Deno.lstat(dir).then(() => true, () => false)) errors.push(`${dir} is left`);
  }
  return errors;
}

Deno.test({
  name: "ocistream's images run in podman, buildah, containerd (ctr) and dockerd 20.10",
  ...concurrent,
  fn: async (t) => {
    try {
      const w = await world();
      // Every lane starts its engine and runs its checks beside the others.
      await Promise.all(LANES.map((lane) =>
        t.step({
          name: lane.name,
          ...concurrent,
          fn: async (t) => {
            const engine = await lane.start();
            for (const [check, fn] of Object.entries(lane.checks)) {
              await t.step({ name: check, ...concurrent, fn: () => fn(engine, w) });
            }
          },
        })
      ));
    } finally {
      const errors = await stopAll();
      assert.deepEqual(errors, [], "engines stop by PID and leave no folder or mount behind");
    }
  },
});
