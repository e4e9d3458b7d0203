/**
 * `deno task bench`: ocistream side by side with the tools people use instead, in one run
 * (issue 7). Workloads are built once into `bench/.cache/` (see `_workloads.ts`); every run
 * alternates the contenders (the order rotates each round) and the table quotes medians of
 * wall time, CPU time (user + system) and peak RSS, measured by `/usr/bin/time`.
 *
 * Groups: compression of (a) and (b) into a fresh store vs `tar | sha256sum/gzip/pigz/zstd`,
 * `umoci repack` and `estargz-build`; layer-cache re-export vs first export; push from the
 * store vs `skopeo copy`; unpack of (a) vs `umoci unpack` and `tar -xzf`; end-to-end folder → registry vs `umoci repack` + `skopeo copy` and
 * `containerify`; linear cost at 1×, 2×, 4×; memory on the 1 GiB file. The table and machine go
 * to `bench/RESULTS.md`.
 *
 * ```sh
 * deno task bench              # full, 3 runs each
 * deno task bench --runs 5
 * deno task bench --quick      # small workloads, 1 run (under a minute once prepared)
 * deno task bench --only unpack   # only the groups whose name contains "unpack"
 * ```
 * @example
 * ```ts ignore
 * // deno run -A bench/run.ts --quick
 * ```
 * @module
 */
import { startRegistry, type TestRegistry } from "../tests/_harness/registry.ts";
import { oracleBinary } from "../tests/_harness/oracles.ts";
import { measure, median, output, q, type Sample, treeStats } from "./_measure.ts";
import { prepareWorkloads } from "./_workloads.ts";

const args = Deno.args;
const quick = args.includes("--quick");
const runsFlag = args.indexOf("--runs");
const RUNS = runsFlag >= 0 ? Number(args[runsFlag + 1]) : quick ? 1 : 3;
if (!Number.isInteger(RUNS) || RUNS < 1) throw new RangeError("--runs takes a whole number ≥ 1");
const onlyFlag = args.indexOf("--only");
/** `--only WORD`: only the groups whose name contains WORD (RESULTS.md is left alone). */
const ONLY = onlyFlag >= 0 ? args[onlyFlag + 1] : undefined;
if (onlyFlag >= 0 && !ONLY) throw new RangeError("--only takes a word of a group's name");
const wanted = (group: string) => ONLY === undefined || group.includes(ONLY);
const MAIN = new URL("../src/cli/main.ts", import.meta.url).pathname;
// As installed (README): the V8 flag keeps the young generation small (less memory, no loss).
const OCI = `deno run -A --v8-flags=--max-semi-space-size=4 ${q(MAIN)}`;
const MIB = 1024 * 1024;

/** A contender: an untimed setup, then the timed shell script. */
interface Contender {
  name: string;
  setup?: () => Promise<void>;
  script: () => string;
  teardown?: () => Promise<void>;
}

/** A result row. */
interface Row {
  group: string;
  name: string;
  sample: Sample;
  /** Ratios to peers; a row may have several (end to end: containerify and umoci + skopeo). */
  ratios: { to: string; value: number; target?: string; ok?: boolean }[];
  extra?: string;
}

const rows: Row[] = [];
const misses: string[] = [];

async function runGroup(group: string, contenders: Contender[]): Promise<Map<string, Sample>> {
  const samples = new Map<string, Sample[]>(contenders.map((c) => [c.name, []]));
  for (let round = 0; round < RUNS; round++) {
    const order = contenders.map((_, i) => contenders[(i + round) % contenders.length]!);
    for (const c of order) {
      await c.setup?.();
      try {
        const s = await measure(c.script());
        samples.get(c.name)!.push(s);
        console.error(
          `  ${group} | ${c.name}: ${s.wall.toFixed(2)} s wall, ${s.cpu.toFixed(2)} s cpu, ${
            s.rssMiB.toFixed(0)
          } MiB`,
        );
      } finally {
        await c.teardown?.();
      }
    }
  }
  const medians = new Map<string, Sample>();
  for (const [name, list] of samples) {
    const m = median(list);
    medians.set(name, m);
    rows.push({ group, name, sample: m, ratios: [] });
  }
  return medians;
}

/** Adds the ratio of `name` to `peer` to its row, with a target `≤ max` or `≥ min` (faster). */
function ratio(group: string, name: string, peer: string, target?: { max?: number; min?: number }) {
  const row = rows.find((r) => r.group === group && r.name === name)!;
  const base = rows.find((r) => r.group === group && r.name === peer)!;
  const value = row.sample.wall / base.sample.wall;
  let ok: boolean | undefined;
  let text: string | undefined;
  if (target?.max !== undefined) {
    ok = value <= target.max;
    text = `≤ ${target.max}×`;
  } else if (target?.min !== undefined) {
    // "at least N× faster": peer / ours ≥ N.
    ok = base.sample.wall / row.sample.wall >= target.min;
    text = `${target.min}× faster`;
  }
  row.ratios.push({ to: peer, value, target: text, ok });
  if (ok === false) {
    misses.push(`${group}: ${name} is ${value.toFixed(2)}× ${peer} (target ${text})`);
  }
}

/**
 * `tar | tee >(sha256sum) | COMPRESSOR | tee >(sha256sum) > blob` in POSIX sh (named pipes for
 * the two hashes): every duty of an export, done by C programs in parallel processes.
 */
function sameDuties(tar: string, compressor: string): string {
  const d = q(`${work}/duties`);
  const hashes = compressor === ""
    ? `sha256sum < ${d}/t > ${d}/t.sum & ${tar} | tee ${d}/t > ${d}/blob`
    : `sha256sum < ${d}/t > ${d}/t.sum & sha256sum < ${d}/b > ${d}/b.sum & ` +
      `${tar} | tee ${d}/t | ${compressor} | tee ${d}/b > ${d}/blob`;
  return `rm -rf ${d}; mkdir ${d} && mkfifo ${d}/t ${d}/b || exit 1; ${hashes}; wait`;
}

async function rmrf(path: string): Promise<void> {
  await Deno.remove(path, { recursive: true }).catch(() => {});
}

const work = await Deno.makeTempDir({ prefix: "ocistream-bench-" });
let registry: TestRegistry | undefined;
/** A fresh registry for a timed push (no blob is already there, no mount helps). */
async function freshRegistry(): Promise<string> {
  await registry?.stop();
  registry = await startRegistry();
  return registry.host;
}

try {
  const w = await prepareWorkloads({ quick });
  const env = { DOCKER_CONFIG: `${work}/docker` };
  await Deno.mkdir(env.DOCKER_CONFIG);
  await Deno.writeTextFile(`${env.DOCKER_CONFIG}/config.json`, "{}");
  Deno.env.set("DOCKER_CONFIG", env.DOCKER_CONFIG);
  const estargzBuild = await oracleBinary("estargz-build");
  const stats = {
    a: await treeStats(w.nodeModules),
    b: await treeStats(w.binaries),
    c: await treeStats(w.big),
  };
  const store = `${work}/store`;
  const build = (dir: string, out: string, extra = "") =>
    `${OCI} build ${q(dir)} --progress quiet --store ${
      q(store)
    } --source-date-epoch 0 ${extra} --output ${q(out)}`;

  // 1. Compression into a fresh store vs the usual pipelines.
  for (const [label, dir] of [["(a) node_modules", w.nodeModules], ["(b) binaries", w.binaries]]) {
    const group = `compress ${label}`;
    if (!wanted(group)) continue;
    const tar = `tar -C ${q(dir!)} -cf - .`;
    const tarFile = `${work}/tree.tar`;
    await output("sh", ["-c", `${tar} > ${q(tarFile)}`]);
    const bundle = `${work}/bundle`;
    const layout = `${work}/umoci`;
    const contenders: Contender[] = [
      ...["uncompressed", "gzip", "zstd", "estargz"].map((c) => ({
        name: `ocistream ${c}`,
        setup: () => rmrf(store),
        script: () => build(dir!, `type=image,name=bench/x:1,compression=${c}`),
      })),
      { name: "tar | sha256sum", script: () => `${tar} | sha256sum` },
      // The same duties as an export, in C: the tar, its sha256, the compressor, the blob's
      // sha256 and the blob file (issue 19's physical limit for this work on this machine).
      ...([
        ["uncompressed", ""],
        ["zstd -3 -T0", "zstd -3 -T0 -q"],
        ["pigz -6", "pigz -6"],
      ] as const).map(([label, compressor]) => ({
        name: `C same duties ${label}`,
        script: () => sameDuties(tar, compressor),
        teardown: () => rmrf(`${work}/duties`),
      })),
      { name: "tar | gzip -6", script: () => `${tar} | gzip -6 > /dev/null` },
      { name: "tar | pigz -6", script: () => `${tar} | pigz -6 > /dev/null` },
      { name: "tar | zstd -3 -T0", script: () => `${tar} | zstd -3 -T0 -q > /dev/null` },
      {
        name: "umoci repack",
        setup: async () => {
          await rmrf(layout);
          await rmrf(bundle);
          await output("sh", [
            "-c",
            `umoci init --layout ${q(layout)} && umoci new --image ${q(layout)}:t && ` +
            `umoci unpack --image ${q(layout)}:t ${q(bundle)} && cp -a ${q(dir!)}/. ${
              q(bundle)
            }/rootfs/`,
          ]);
        },
        script: () => `umoci repack --image ${q(layout)}:t ${q(bundle)}`,
      },
      {
        name: "estargz-build (from a tar)",
        script: () => `${q(estargzBuild)} ${q(tarFile)} ${q(`${work}/out.estargz`)} 6`,
        teardown: () => rmrf(`${work}/out.estargz`),
      },
    ];
    await runGroup(group, contenders);
    await rmrf(tarFile);
    await rmrf(bundle);
    await rmrf(layout);
    ratio(group, "ocistream uncompressed", "C same duties uncompressed", { max: 1 });
    ratio(group, "ocistream uncompressed", "tar | sha256sum", { max: 2 });
    ratio(group, "ocistream gzip", "tar | pigz -6", { max: 0.85 });
    ratio(group, "ocistream gzip", "C same duties pigz -6");
    ratio(group, "ocistream zstd", "C same duties zstd -3 -T0", { max: 1.2 });
    ratio(group, "ocistream zstd", "tar | zstd -3 -T0");
    ratio(group, "ocistream estargz", "estargz-build (from a tar)", { max: 0.5 });
    ratio(group, "umoci repack", "tar | pigz -6");
    ratio(group, "tar | gzip -6", "tar | pigz -6");
  }

  // 2. Layer cache: re-export of the unchanged tree vs the first export.
  if (wanted("layer cache (a)")) {
    const group = "layer cache (a)";
    const out = "type=image,name=bench/x:1,compression=gzip";
    await runGroup(group, [
      {
        name: "first export (gzip)",
        setup: () => rmrf(store),
        script: () => build(w.nodeModules, out),
      },
      {
        name: "re-export, unchanged",
        setup: async () => {
          await rmrf(store);
          await output("sh", ["-c", build(w.nodeModules, out)]);
        },
        script: () => build(w.nodeModules, out),
      },
      {
        name: "re-export --no-cache",
        setup: async () => {
          await rmrf(store);
          await output("sh", ["-c", build(w.nodeModules, out)]);
        },
        script: () => build(w.nodeModules, out, "--no-cache"),
      },
    ]);
    ratio(group, "re-export, unchanged", "first export (gzip)", { max: 0.1 });
    ratio(group, "re-export --no-cache", "first export (gzip)");
  }

  // 2b. Unpack (issue 23): the image of (a) into a new folder vs `umoci unpack` and `tar -xzf`
  // of the same gzip layer. Untimed: building the image; the result is compared with umoci's.
  if (wanted("unpack (a), gzip")) {
    const group = "unpack (a), gzip";
    const unpackStore = `${work}/unpack-store`;
    const name = "bench.example/unpack:1";
    await output("sh", [
      "-c",
      `${OCI} build ${q(w.nodeModules)} --progress quiet --store ${
        q(unpackStore)
      } --source-date-epoch 0 ` + `--output type=image,oci-mediatypes=true,name=${name}`,
    ]);
    const index = JSON.parse(await Deno.readTextFile(`${unpackStore}/index.json`));
    const refName: string = index.manifests[0].annotations["org.opencontainers.image.ref.name"];
    const manifest = JSON.parse(
      await Deno.readTextFile(
        `${unpackStore}/blobs/sha256/${index.manifests[0].digest.slice(7)}`,
      ),
    );
    const blob = `${unpackStore}/blobs/sha256/${manifest.layers[0].digest.slice(7)}`;
    const ours = `${work}/unpack-ours`;
    const bundle = `${work}/unpack-umoci`;
    const tarOut = `${work}/unpack-tar`;
    const rootless = Deno.uid() === 0 ? "" : "--rootless ";
    await runGroup(group, [
      {
        name: "ocistream unpack",
        setup: () => rmrf(ours),
        script: () => `${OCI} unpack --store ${q(unpackStore)} ${name} ${q(ours)}`,
      },
      {
        name: "umoci unpack",
        setup: () => rmrf(bundle),
        script: () =>
          `umoci unpack ${rootless}--image ${q(`${unpackStore}:${refName}`)} ${q(bundle)}`,
      },
      {
        name: "tar -xzf",
        setup: () => rmrf(tarOut),
        script: () => `mkdir ${q(tarOut)} && tar -xzf ${q(blob)} -C ${q(tarOut)}`,
      },
    ]);
    ratio(group, "ocistream unpack", "umoci unpack", { max: 0.5 });
    ratio(group, "ocistream unpack", "tar -xzf", { max: 2 });
    // The same tree as umoci's: names, types, modes, owners, mtimes, sizes, link targets, bytes
    // of everything in it (the target folder itself keeps its own mode: 0700 when new).
    const listing = (dir: string) =>
      output("sh", [
        "-c",
        `cd ${
          q(dir)
        } && find . -mindepth 1 -printf '%p %y %m %U:%G %s %l %T@\\n' | LC_ALL=C sort && ` +
        `find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum`,
      ]);
    const same = (await listing(ours)) === (await listing(`${bundle}/rootfs`));
    const row = rows.find((r) => r.group === group && r.name === "ocistream unpack")!;
    row.extra = same ? "tree identical to umoci's" : "tree DIFFERS from umoci's";
    if (!same) misses.push(`${group}: the unpacked tree differs from umoci's`);
    await rmrf(ours);
    await rmrf(bundle);
    await rmrf(tarOut);
    await rmrf(unpackStore);
  }

  // 3. Push from the store vs skopeo copy, each to a fresh registry: a small image, where
  // start-up counts, and a large one, where moving the bytes does.
  for (const [label, dir] of [["(a)", w.nodeModules], ["(b)", w.binaries]] as const) {
    const group = `push ${label}`;
    if (!wanted(group)) continue;
    const pushStore = `${work}/push-store`;
    const name = "bench.example/app:1";
    await output("sh", [
      "-c",
      `${OCI} build ${q(dir)} --progress quiet --store ${q(pushStore)} --source-date-epoch 0 ` +
      `--output type=image,oci-mediatypes=true,name=${name}`,
    ]);
    const index = JSON.parse(await Deno.readTextFile(`${pushStore}/index.json`));
    const refName: string = index.manifests[0].annotations["org.opencontainers.image.ref.name"];
    let host = "";
    await runGroup(group, [
      {
        name: "ocistream push",
        setup: async () => void (host = await freshRegistry()),
        script: () => `${OCI} push --progress quiet --store ${q(pushStore)} ${name} ${host}/app:1`,
      },
      {
        name: "skopeo copy",
        setup: async () => void (host = await freshRegistry()),
        script: () =>
          `skopeo copy --quiet --dest-tls-verify=false ${
            q(`oci:${pushStore}:${refName}`)
          } docker://${host}/app:1`,
      },
    ]);
    ratio(group, "ocistream push", "skopeo copy", { max: 1 });
    await rmrf(pushStore);
  }

  // 4. End to end: the npm project folder → registry, on the same tiny base image.
  if (wanted("end-to-end (a) → registry")) {
    const group = "end-to-end (a) → registry";
    const tiny = `${work}/tiny`;
    await Deno.mkdir(tiny);
    await Deno.writeTextFile(`${tiny}/hello`, "hello\n");
    let host = "";
    const withBase = async () => {
      host = await freshRegistry();
      await output("sh", [
        "-c",
        `${OCI} build ${
          q(tiny)
        } --progress quiet --source-date-epoch 0 --output type=registry,name=${host}/base:1,store=false`,
      ]);
    };
    const bundle = `${work}/bundle`;
    const layout = `${work}/umoci`;
    await runGroup(group, [
      {
        name: "ocistream build store=false",
        setup: withBase,
        script: () =>
          `${OCI} build ${
            q(w.npmProject)
          } --progress quiet --from ${host}/base:1 --output type=registry,name=${host}/app:1,store=false`,
      },
      {
        name: "umoci repack + skopeo copy",
        setup: async () => {
          await withBase();
          await rmrf(layout);
          await rmrf(bundle);
          // Untimed: the base pulled and unpacked, the folder copied into the bundle.
          await output("sh", [
            "-c",
            `skopeo copy --quiet --src-tls-verify=false docker://${host}/base:1 oci:${
              q(layout)
            }:t && ` +
            `umoci unpack --image ${q(layout)}:t ${q(bundle)} && cp -a ${q(w.npmProject)}/. ${
              q(bundle)
            }/rootfs/`,
          ]);
        },
        script: () =>
          `umoci repack --image ${q(layout)}:t ${
            q(bundle)
          } && skopeo copy --quiet --dest-tls-verify=false oci:${
            q(layout)
          }:t docker://${host}/app:1`,
      },
      {
        name: "containerify",
        setup: withBase,
        script: () =>
          `node ${q(w.containerify)} --folder ${
            q(w.npmProject)
          } --fromImage base:1 --toImage app:1 ` +
          `--registry http://${host}/v2/ --allowNoPushAuth --buildFolder ${
            q(`${work}/cfy-${crypto.randomUUID()}`)
          }`,
      },
    ]);
    await rmrf(bundle);
    await rmrf(layout);
    ratio(group, "ocistream build store=false", "containerify", { min: 3 });
    ratio(group, "ocistream build store=false", "umoci repack + skopeo copy", { min: 1 });
  }

  // 5. Linear cost: (a) at 1×, 2×, 4×.
  if (wanted("linear (a), gzip")) {
    const group = "linear (a), gzip";
    const sizes = await Promise.all(w.scaled.map((d) => treeStats(d)));
    const medians = await runGroup(
      group,
      w.scaled.map((dir, i) => ({
        name: `${[1, 2, 4][i]}× (${sizes[i]!.files} files)`,
        setup: () => rmrf(store),
        script: () => build(dir, "type=image,name=bench/x:1,compression=gzip"),
      })),
    );
    for (const [i, [name, s]] of [...medians].entries()) {
      const row = rows.find((r) => r.group === group && r.name === name)!;
      row.extra = `${(s.wall / sizes[i]!.files * 1e6).toFixed(0)} µs/file, ${
        (s.wall / (sizes[i]!.bytes / MIB) * 1e3).toFixed(1)
      } ms/MiB`;
    }
  }

  // 6. Memory: (c) into the store, and streamed to a registry with store=false.
  if (wanted(`memory (c) ${(stats.c.bytes / MIB).toFixed(0)} MiB file`)) {
    const group = `memory (c) ${(stats.c.bytes / MIB).toFixed(0)} MiB file`;
    let host = "";
    await runGroup(group, [
      {
        name: "ocistream gzip → store",
        setup: () => rmrf(store),
        script: () => build(w.big, "type=image,name=bench/x:1,compression=gzip"),
      },
      {
        name: "ocistream gzip → registry, store=false",
        setup: async () => void (host = await freshRegistry()),
        script: () =>
          `${OCI} build ${
            q(w.big)
          } --progress quiet --source-date-epoch 0 --output type=registry,name=${host}/big:1,store=false`,
      },
    ]);
    for (const r of rows.filter((r) => r.group === group)) {
      const ok = r.sample.rssMiB < 200;
      r.extra = `peak RSS ${ok ? "<" : "≥"} 200 MiB`;
      if (!ok) misses.push(`${group}: ${r.name} peaked at ${r.sample.rssMiB.toFixed(0)} MiB RSS`);
    }
  }

  // Every ocistream compression run's memory.
  for (const r of rows.filter((r) => r.name.startsWith("ocistream") && r.sample.rssMiB >= 200)) {
    if (!r.group.startsWith("memory")) {
      misses.push(`${r.group}: ${r.name} peaked at ${r.sample.rssMiB.toFixed(0)} MiB RSS`);
    }
  }

  const report = await renderReport(stats);
  console.log(report);
  if (!quick && ONLY === undefined) {
    await Deno.writeTextFile(new URL("./RESULTS.md", import.meta.url), report);
  } else console.error("(--quick or --only: bench/RESULTS.md not rewritten)");
} finally {
  await registry?.stop();
  await rmrf(work);
}

/** A Markdown table cell (pipes escaped). */
function cell(text: string): string {
  return text.replaceAll("|", "\\|");
}

async function renderReport(
  stats: Record<"a" | "b" | "c", { files: number; bytes: number }>,
): Promise<string> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo");
  const model = /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? "unknown";
  const memTotal = /MemTotal:\s*(\d+)/.exec(await Deno.readTextFile("/proc/meminfo"))?.[1];
  const version = async (cmd: string, a: string[]) =>
    (await output(cmd, a).catch((e) => `${e}`)).split("\n")[0]!.trim();
  const versions = [
    `deno ${Deno.version.deno}`,
    await version("tar", ["--version"]),
    await version("sh", ["-c", "gzip --version"]),
    await version("sh", ["-c", "pigz --version 2>&1"]),
    await version("zstd", ["--version"]),
    `umoci ${await version("umoci", ["--version"])}`,
    await version("skopeo", ["--version"]),
    `docker-registry ${await version("sh", ["-c", "docker-registry --version 2>&1 || true"])}`,
    "containerify 4.1.0",
  ];
  const mib = (b: number) => (b / MIB).toFixed(0);
  const lines = [
    "# ocistream benchmark results",
    "",
    `Generated by \`deno task bench${RUNS !== 3 ? ` --runs ${RUNS}` : ""}\` on ${
      new Date().toISOString().slice(0, 10)
    }. Medians of ${RUNS} alternating runs; wall and CPU (user+sys) seconds and peak RSS ` +
    "from `/usr/bin/time` (for a pipeline, the largest stage). Ratios are wall-time ratios; " +
    "✅/❌ mark the targets of issues 4 and 7.",
    "",
    "## Machine",
    "",
    `- ${Deno.build.os}/${Deno.build.arch}, ${navigator.hardwareConcurrency} cores (nproc), ${model}`,
    `- memory ${memTotal ? (Number(memTotal) / 1024 / 1024).toFixed(1) : "?"} GiB`,
    ...versions.map((v) => `- ${v}`),
    "",
    "## Workloads",
    "",
    `- (a) node_modules of a pinned npm project (bench/workload-package-lock.json): ${stats.a.files} files, ${
      mib(stats.a.bytes)
    } MiB`,
    `- (b) one large binary and one incompressible file: ${stats.b.files} files, ${
      mib(stats.b.bytes)
    } MiB`,
    `- (c) one file of semi-compressible data: ${mib(stats.c.bytes)} MiB`,
    "",
    "## Results",
    "",
    "| group | contender | wall s | CPU s | peak RSS MiB | ratio | target | notes |",
    "|---|---|---:|---:|---:|---|---|---|",
    ...rows.map((r) =>
      `| ${cell(r.group)} | ${cell(r.name)} | ${r.sample.wall.toFixed(2)} | ${
        r.sample.cpu.toFixed(2)
      } | ${r.sample.rssMiB.toFixed(0)} | ${
        r.ratios.map((x) => `${x.value.toFixed(2)}× ${cell(x.to)}`).join("; ")
      } | ${
        r.ratios.filter((x) => x.target).map((x) => `${x.ok ? "✅" : "❌"} ${x.target}`).join("; ")
      } | ${r.extra ?? ""} |`
    ),
    "",
    "## Missed targets",
    "",
    ...(misses.length ? misses.map((m) => `- ${m}`) : ["- none"]),
    "",
    "Notes: every ocistream row is the real CLI as installed (`deno run -A --v8-flags=--max-semi-space-size=4 src/cli/main.ts`), start-up included. " +
    "`estargz-build` reads a tar made beforehand (untimed); ocistream walks the folder. " +
    "For `umoci repack + skopeo copy`, pulling the base, `umoci unpack` and copying the folder into " +
    "the bundle are untimed. Pushes go to a fresh loopback `docker-registry` each run.",
    "",
  ];
  return lines.join("\n");
}
