/**
 * Push benchmarks (issue 3), side by side in one run:
 *
 * 1. an image already in the store → an empty loopback registry:
 *    `ocistream push` vs `skopeo copy oci:STORE:NAME docker://…`;
 * 2. a folder → the registry with `store=false` (compress, hash and upload in
 *    one pass) vs the same folder → the store only.
 *
 * Runs alternate between the contenders, each on a fresh registry (and a
 * fresh store for exports); the table shows medians. Targets: push ≤ 1.0×
 * skopeo; store=false ≤ 1.2× the store export.
 *
 * ```sh
 * deno run -A bench/push_bench.ts           # ~200 MiB image, 5 runs each
 * deno run -A bench/push_bench.ts --quick   # ~40 MiB, 3 runs each
 * ```
 * @module
 */
import { startRegistry } from "../tests/_harness/registry.ts";
import { measure, median, q, type Sample } from "./_measure.ts";

const quick = Deno.args.includes("--quick");
const TOTAL_MIB = quick ? 40 : 200;
const RUNS = quick ? 3 : 5;
const MAIN = new URL("../src/cli/main.ts", import.meta.url).pathname;
const MiB = 1024 * 1024;

/** A mixed tree: incompressible blobs, compressible text, many small files. */
async function makeTree(dir: string, totalMiB: number): Promise<number> {
  let bytes = 0;
  const rand = (n: number) => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i += 65536) {
      crypto.getRandomValues(b.subarray(i, Math.min(n, i + 65536)));
    }
    return b;
  };
  // 40 %: random binaries of 1–8 MiB.
  await Deno.mkdir(`${dir}/bin`, { recursive: true });
  for (let i = 0; bytes < totalMiB * MiB * 0.4; i++) {
    const n = (1 + (i % 8)) * MiB;
    await Deno.writeFile(`${dir}/bin/blob-${i}.bin`, rand(n));
    bytes += n;
  }
  // 45 %: text-like files of 256 KiB–2 MiB (compress about 4–6×).
  await Deno.mkdir(`${dir}/text`, { recursive: true });
  const words = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor "
    .split(" ");
  for (let i = 0; bytes < totalMiB * MiB * 0.85; i++) {
    const n = 256 * 1024 * (1 + (i % 8));
    const parts: string[] = [];
    let len = 0;
    for (let j = 0; len < n; j++) {
      const line = `${j} ${words[(j * 7 + i) % words.length]} ${words[(j * 13) % words.length]} ${
        (j * 2654435761 % 1e9).toString(36)
      }\n`;
      parts.push(line);
      len += line.length;
    }
    const text = parts.join("").slice(0, n);
    await Deno.writeTextFile(`${dir}/text/file-${i}.txt`, text);
    bytes += n;
  }
  // 15 %: small files of 1–16 KiB, half random, in nested folders.
  for (let i = 0; bytes < totalMiB * MiB; i++) {
    const sub = `${dir}/small/${i % 50}`;
    if (i < 50) await Deno.mkdir(sub, { recursive: true });
    const n = 1024 * (1 + (i % 16));
    await Deno.writeFile(
      `${sub}/f-${i}.dat`,
      i % 2 ? rand(n) : new TextEncoder().encode("x".repeat(n)),
    );
    bytes += n;
  }
  return bytes;
}

/** Wall and CPU seconds (and peak RSS) of each timed client process, by workload. */
let samples: Record<string, Sample[]> = {};

/** Keeps one run's measurement. */
function record(key: string, sample: Sample): void {
  samples[key]!.push(sample);
}

/** Runs a command under `/usr/bin/time` (see `_measure.ts`). */
function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<Sample> {
  return measure([cmd, ...args].map(q).join(" "), { env });
}

const ocistream = (args: string[], env: Record<string, string> = {}) =>
  run(Deno.execPath(), [
    "run",
    "-A",
    "--quiet",
    "--v8-flags=--max-semi-space-size=4",
    MAIN,
    ...args,
  ], env);

async function onFreshRegistry<T>(fn: (host: string) => Promise<T>): Promise<T> {
  const reg = await startRegistry();
  try {
    return await fn(reg.host);
  } finally {
    await reg.stop();
  }
}

const work = await Deno.makeTempDir({ prefix: "ocistream-push-bench-" });
try {
  const tree = `${work}/tree`;
  const treeBytes = await makeTree(tree, TOTAL_MIB);
  const env = { DOCKER_CONFIG: `${work}/docker` };
  await Deno.mkdir(env.DOCKER_CONFIG);
  await Deno.writeTextFile(`${env.DOCKER_CONFIG}/config.json`, "{}");

  // The image in a store, with OCI media types so skopeo's oci: transport reads it by name.
  const store = `${work}/store`;
  const name = "bench.example/app:1";
  await ocistream([
    "build",
    tree,
    "--store",
    store,
    "--progress",
    "quiet",
    "--source-date-epoch",
    "0",
    "--output",
    `type=image,oci-mediatypes=true,name=${name}`,
  ], env);
  const index = JSON.parse(await Deno.readTextFile(`${store}/index.json`));
  const refName: string = index.manifests[0].annotations["org.opencontainers.image.ref.name"];
  const manifest = JSON.parse(
    await Deno.readTextFile(`${store}/blobs/sha256/${index.manifests[0].digest.slice(7)}`),
  );
  const imageBytes = manifest.layers.reduce((n: number, l: { size: number }) => n + l.size, 0);

  samples = {
    "ocistream push": [],
    "skopeo copy": [],
    "build store=false → registry": [],
    "build → store only": [],
  };
  for (let i = 0; i < RUNS; i++) {
    // Alternate which contender goes first.
    const pushPair = [
      () =>
        onFreshRegistry(async (host) =>
          record(
            "ocistream push",
            await ocistream(
              ["push", "--progress", "quiet", "--store", store, name, `${host}/app:1`],
              env,
            ),
          )
        ),
      () =>
        onFreshRegistry(async (host) =>
          record(
            "skopeo copy",
            await run("skopeo", [
              "copy",
              "--quiet",
              "--dest-tls-verify=false",
              `oci:${store}:${refName}`,
              `docker://${host}/app:1`,
            ]),
          )
        ),
    ];
    const exportPair = [
      () =>
        onFreshRegistry(async (host) =>
          record(
            "build store=false → registry",
            await ocistream([
              "build",
              tree,
              "--progress",
              "quiet",
              "--source-date-epoch",
              "0",
              "--output",
              `type=registry,store=false,oci-mediatypes=true,name=${host}/app:1`,
            ], env),
          )
        ),
      async () => {
        const fresh = `${work}/store-${i}`;
        record(
          "build → store only",
          await ocistream([
            "build",
            tree,
            "--store",
            fresh,
            "--progress",
            "quiet",
            "--source-date-epoch",
            "0",
            "--output",
            `type=image,oci-mediatypes=true,name=${name}`,
          ], env),
        );
        await Deno.remove(fresh, { recursive: true });
      },
    ];
    for (const pair of [pushPair, exportPair]) {
      for (const f of i % 2 ? [...pair].reverse() : pair) await f();
    }
  }

  const m = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]));
  const rows = Object.entries(samples).map(([k, v]) =>
    `| ${k.padEnd(30)} | ${m[k]!.wall.toFixed(2).padStart(7)} s | ${
      m[k]!.cpu.toFixed(2).padStart(7)
    } s | ${v.map((x) => x.wall.toFixed(2)).join(", ")} |`
  );
  console.log(
    `Tree ${(treeBytes / MiB).toFixed(0)} MiB, image layers ${
      (imageBytes / MiB).toFixed(1)
    } MiB (gzip), ${RUNS} runs each, ${navigator.hardwareConcurrency} cores\n`,
  );
  console.log("| workload | median wall | median client CPU | wall of each run (s) |");
  console.log("|---|---|---|---|");
  for (const r of rows) console.log(r);
  const pushRatio = m["ocistream push"]!.wall / m["skopeo copy"]!.wall;
  const exportRatio = m["build store=false → registry"]!.wall / m["build → store only"]!.wall;
  console.log(`\npush / skopeo copy:             ${pushRatio.toFixed(2)}× (target ≤ 1.0×)`);
  console.log(`store=false / store export:     ${exportRatio.toFixed(2)}× (target ≤ 1.2×)`);
  const cpu = (k: string) => m[k]!.cpu;
  console.log(
    `client CPU, push / skopeo:      ${
      (cpu("ocistream push") / cpu("skopeo copy")).toFixed(2)
    }×; ` +
      `store=false / store: ${
        (cpu("build store=false → registry") / cpu("build → store only")).toFixed(2)
      }× (the registry's own CPU is not counted)`,
  );
} finally {
  await Deno.remove(work, { recursive: true });
}
