/**
 * Reproducible images (issue 5, SPEC §5): with an epoch and
 * `rewrite-timestamp=true` the same tree gives the same image digest whatever
 * the copy's creation order and time, its atimes/mtimes, and the number of
 * workers; without `rewrite-timestamp` the epoch still fixes `created`.
 * `buildkit/rewritten-timestamp` marks new layers in OCI mode only, and base
 * layers are never rewritten.
 */
import assert from "node:assert/strict";
import { lutimes } from "node:fs/promises";
import { FIXTURE_MTIME, makeFixtureTree, pseudoRandomBytes } from "../fixtures/fixture_tree.ts";
import { runCli, runOk } from "../_harness/cli.ts";
import { blobPath, type Json, readBlob, readJson, runBuild } from "../_harness/store.ts";

const EPOCH = FIXTURE_MTIME; // 2023-11-14T22:13:20Z
const EPOCH_RFC3339 = "2023-11-14T22:13:20Z";

/** Sets atime and mtime of everything under `dir` (and `dir`), children first. */
async function touchTree(dir: string, atime: number, mtime: number): Promise<void> {
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) await touchTree(p, atime, mtime);
    else await lutimes(p, atime, mtime);
  }
  await lutimes(dir, atime, mtime);
}

/** Runs `ocistream build`, asserts success, returns the metadata file's content. */
async function build(args: string[], env: Record<string, string> = {}) {
  const work = await Deno.makeTempDir({ prefix: "ocistream-meta-" });
  try {
    const r = await runCli([...args, "--progress", "quiet", "--metadata-file", `${work}/m.json`], {
      env,
    });
    assert.equal(r.code, 0, r.stderr);
    return { ...readJson(`${work}/m.json`), stderr: r.stderr } as {
      "containerimage.digest": string;
      "containerimage.config.digest": string;
      stderr: string;
    };
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

/** Every blob file of a store, name → size (blobs are content-addressed). */
async function blobSet(store: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for await (const e of Deno.readDir(`${store}/blobs/sha256`)) {
    out[e.name] = (await Deno.stat(`${store}/blobs/sha256/${e.name}`)).size;
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/**
 * Path → [mtime, atime, ctime] of every entry of a gzip layer, as GNU tar reads them: mtimes
 * from `tar --full-time -tv`; atime and ctime of regular files from the `TAR_ATIME` and
 * `TAR_CTIME` that `--to-command` is given. A layer without those PAX records gets GNU
 * tar's own clock there, which this reports as `undefined`.
 */
async function layerTimes(path: string) {
  const out: Record<string, [number, number | undefined, number | undefined]> = {};
  const listing = await runOk("tar", ["--numeric-owner", "--full-time", "-tvzf", path], {
    env: { TZ: "UTC", LC_ALL: "C.UTF-8" },
  });
  for (const line of listing.stdout.trimEnd().split("\n")) {
    const m = line.match(/^(\S)\S+ +\S+ +\S+ +(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(\.\d+)? (.*)$/);
    assert.ok(m, `unexpected GNU tar line: ${line}`);
    let name = m[5]!;
    if (m[1] === "l") name = name.slice(0, name.indexOf(" -> "));
    if (m[1] === "h") name = name.slice(0, name.indexOf(" link to "));
    const mtime = Date.parse(`${m[2]}T${m[3]}Z`) / 1000 + Number(m[4] ?? 0);
    out[name.replace(/\/$/, "")] = [mtime, undefined, undefined];
  }
  const started = Date.now() / 1000;
  const files = await runOk("tar", [
    "-xzf",
    path,
    "--to-command",
    'printf "%s\\0%s\\0%s\\0" "$TAR_FILENAME" "$TAR_ATIME" "$TAR_CTIME"',
  ], { env: { TZ: "UTC", LC_ALL: "C.UTF-8" } });
  const ended = Date.now() / 1000;
  // GNU tar's clock, not the archive's: no time in these tests is that recent.
  const own = (t: number) => (t >= started - 5 && t <= ended + 5 ? undefined : t);
  const fields = files.stdout.split("\0");
  for (let i = 0; i + 2 < fields.length; i += 3) {
    const entry = out[fields[i]!];
    assert.ok(entry, `GNU tar extracted ${fields[i]} but did not list it`);
    entry[1] = own(Number(fields[i + 1]));
    entry[2] = own(Number(fields[i + 2]));
  }
  return out;
}

/** The manifests of an image: the root itself, or the index's children. */
function manifestsOf(store: string, root: string): { digest: string; doc: Json }[] {
  const doc = readBlob(store, root);
  if (doc.manifests === undefined) return [{ digest: root, doc }];
  return doc.manifests.map((m: { digest: string }) => ({
    digest: m.digest,
    doc: readBlob(store, m.digest),
  }));
}

Deno.test("build with an epoch and rewrite-timestamp gives identical digests for two copies of a tree made differently, with 1 and 4 workers", async (t) => {
  const work = await Deno.makeTempDir({ prefix: "ocistream-repro-" });
  try {
    // Copy A: normal creation order; copy B: reverse order, made later, other times.
    const a = `${work}/a`;
    const b = `${work}/b`;
    // More than two 4 MiB compression blocks, so 1 and 4 workers really split the work.
    const big = pseudoRandomBytes(9 << 20, 7);
    await Deno.mkdir(a);
    await makeFixtureTree(a);
    await Deno.writeFile(`${a}/big.bin`, big);
    await touchTree(a, 1_800_000_000, 1_750_000_000);
    await new Promise((r) => setTimeout(r, 1100)); // another second for ctimes
    await Deno.mkdir(b);
    await Deno.writeFile(`${b}/big.bin`, big);
    await makeFixtureTree(b, { reverse: true });
    await touchTree(b, 1_900_000_123, 1_850_000_000);
    const ctimeA = (await Deno.lstat(`${a}/random.bin`)).ctime!.getTime();
    const ctimeB = (await Deno.lstat(`${b}/random.bin`)).ctime!.getTime();
    assert.notEqual(ctimeA, ctimeB, "the copies should differ in ctime");

    const cases: [string, string[]][] = [
      ["gzip single platform", []],
      ["zstd single platform", []],
      ["gzip two platforms with sbom and provenance", [
        "--platform",
        "linux/amd64,linux/arm64",
        "--attest",
        "type=sbom",
        "--attest",
        "type=provenance",
      ]],
    ];
    for (const [label, extra] of cases) {
      await t.step(label, async () => {
        const compression = label.split(" ")[0];
        const name = `example.com/repro:${compression}`;
        const storeA = `${work}/store-a-${label.replaceAll(" ", "-")}`;
        const storeB = `${work}/store-b-${label.replaceAll(" ", "-")}`;
        // A takes the epoch from the environment, B from the flag.
        const ma = await build(
          [
            "build",
            a,
            ...extra,
            "--workers",
            "1",
            "--store",
            storeA,
            "--output",
            `type=image,name=${name},compression=${compression},rewrite-timestamp=true`,
          ],
          { SOURCE_DATE_EPOCH: String(EPOCH) },
        );
        const mb = await build([
          "build",
          b,
          ...extra,
          "--workers",
          "4",
          "--source-date-epoch",
          String(EPOCH),
          "--store",
          storeB,
          "--output",
          `type=image,name=${name},compression=${compression},rewrite-timestamp=true`,
        ]);
        assert.equal(ma["containerimage.digest"], mb["containerimage.digest"]);
        assert.equal(ma["containerimage.config.digest"], mb["containerimage.config.digest"]);
        // Every blob (layers, configs, manifests, index, statements) is the same.
        assert.deepEqual(await blobSet(storeA), await blobSet(storeB));

        const root = ma["containerimage.digest"];
        for (const { doc } of manifestsOf(storeA, root)) {
          const config = readBlob(storeA, doc.config.digest);
          if (config.architecture === "unknown") {
            // Provenance with an epoch: epoch times and no invocation id.
            for (const layer of doc.layers) {
              const statement = readBlob(storeA, layer.digest);
              if (statement.predicateType !== "https://slsa.dev/provenance/v1") continue;
              const metadata = statement.predicate.runDetails.metadata;
              assert.deepEqual(metadata, { startedOn: EPOCH_RFC3339, finishedOn: EPOCH_RFC3339 });
            }
            continue;
          }
          assert.equal(config.created, EPOCH_RFC3339);
          for (const h of config.history) assert.equal(h.created, EPOCH_RFC3339);
          if (compression === "gzip") {
            // Every time in the new layer is clamped to the epoch; no atime/ctime written.
            const times = await layerTimes(blobPath(storeA, doc.layers[0].digest));
            assert.ok(Object.keys(times).length > 10);
            for (const [path, time] of Object.entries(times)) {
              assert.deepEqual(time, [EPOCH, undefined, undefined], path);
            }
          }
        }
      });
    }

    await t.step(
      "without rewrite-timestamp the copies differ (their times are in the layers)",
      async () => {
        const digests = [];
        for (const dir of [a, b]) {
          const m = await build([
            "build",
            dir,
            "--source-date-epoch",
            String(EPOCH),
            "--store",
            `${work}/store-plain`,
            "--output",
            "type=image,name=example.com/plain:1",
          ]);
          digests.push(m["containerimage.digest"]);
        }
        assert.notEqual(digests[0], digests[1]);
      },
    );
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("build without rewrite-timestamp: the epoch fixes created in config and history, file times stay", async () => {
  const work = await Deno.makeTempDir({ prefix: "ocistream-epoch-" });
  try {
    const context = `${work}/context`;
    await Deno.mkdir(context);
    await makeFixtureTree(context, { fifo: false });
    const late = 1_800_000_000;
    await touchTree(context, late, late);
    const runs = [];
    for (const [i, epochArgs] of [[], ["--source-date-epoch", "1"]].entries()) {
      // The output spec's source-date-epoch wins over the flag and the environment.
      runs.push(
        await build(
          [
            "build",
            context,
            ...epochArgs,
            "--store",
            `${work}/store-${i}`,
            "--output",
            `type=image,name=example.com/epoch:1,source-date-epoch=${EPOCH}`,
          ],
          { SOURCE_DATE_EPOCH: "2" },
        ),
      );
    }
    assert.equal(runs[0]!["containerimage.digest"], runs[1]!["containerimage.digest"]);
    const store = `${work}/store-0`;
    const [{ doc }] = manifestsOf(store, runs[0]!["containerimage.digest"]);
    const config = readBlob(store, doc.config.digest);
    assert.equal(config.created, EPOCH_RFC3339);
    assert.equal(config.history.length, 1);
    assert.equal(config.history[0].created, EPOCH_RFC3339);
    // Not rewritten: the files keep their (later) mtimes; no rewritten-timestamp annotation.
    const times = await layerTimes(blobPath(store, doc.layers[0].digest));
    assert.equal(times["random.bin"]![0], late);
    assert.equal(doc.layers[0].annotations, undefined);

    // Only from the environment, without the output-spec key.
    const env = await build(
      ["build", context, "--store", `${work}/store-env`, "--output", "type=image,name=e:1"],
      { SOURCE_DATE_EPOCH: String(EPOCH) },
    );
    assert.equal(env["containerimage.digest"], runs[0]!["containerimage.digest"]);

    // A malformed epoch is an error (exit 1, one line).
    for (const bad of ["abc", "-5", "1.5"]) {
      const r = await runCli(["build", context, "--store", `${work}/store-bad`], {
        env: { SOURCE_DATE_EPOCH: bad },
      });
      assert.equal(r.code, 1, `${bad}: ${r.stderr}`);
      assert.match(r.stderr, /SOURCE_DATE_EPOCH/);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    }
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("build rewrite-timestamp annotates new layers in OCI mode only and leaves base layers untouched", async () => {
  const work = await Deno.makeTempDir({ prefix: "ocistream-rewrite-" });
  try {
    const late = 1_800_000_000;
    // A base image whose file times are later than the epoch (built without rewrite).
    const baseCtx = `${work}/base`;
    await Deno.mkdir(`${baseCtx}/etc`, { recursive: true });
    await Deno.writeTextFile(`${baseCtx}/etc/base.conf`, "base\n");
    await touchTree(baseCtx, late, late);
    const baseLayout = `${work}/base-layout`;
    const r = await runBuild(
      baseCtx,
      undefined,
      `type=oci,tar=false,dest=${baseLayout},name=base:1`,
      { progress: "quiet", flags: ["--platform", "linux/amd64"] },
    );
    assert.equal(r.code, 0, r.stderr);
    const baseRoot = readJson(`${baseLayout}/index.json`).manifests[0];
    const baseManifest = readBlob(baseLayout, baseRoot.digest);
    const baseLayer = baseManifest.layers[0];
    assert.equal(
      (await layerTimes(blobPath(baseLayout, baseLayer.digest)))["etc/base.conf"]![0],
      late,
    );

    const context = `${work}/context`;
    await Deno.mkdir(context);
    await Deno.writeTextFile(`${context}/app.txt`, "app\n");
    await Deno.writeTextFile(`${context}/old.txt`, "older than the epoch\n");
    await touchTree(context, late, late);
    // Clamped, not set: a time earlier than the epoch stays as it is.
    const old = 1_000_000_000;
    await Deno.utime(`${context}/old.txt`, old, old);

    for (const oci of [true, false]) {
      const store = `${work}/store-${oci}`;
      const m = await build([
        "build",
        context,
        "--from",
        `oci-layout://${baseLayout}:1`,
        "--platform",
        "linux/amd64",
        "--source-date-epoch",
        String(EPOCH),
        "--store",
        store,
        "--output",
        `type=image,name=example.com/rewrite:1,rewrite-timestamp=true,oci-mediatypes=${oci}`,
      ]);
      const [{ doc }] = manifestsOf(store, m["containerimage.digest"]);
      assert.equal(doc.layers.length, 2);
      const [base, added] = doc.layers;
      // The base layer: same bytes, no annotation, its times unchanged.
      assert.equal(base.digest, baseLayer.digest);
      assert.equal(base.size, baseLayer.size);
      assert.equal(base.annotations, undefined);
      assert.equal((await layerTimes(blobPath(store, base.digest)))["etc/base.conf"]![0], late);
      // The new layer: clamped, and annotated only with OCI media types.
      assert.deepEqual(await layerTimes(blobPath(store, added.digest)), {
        "app.txt": [EPOCH, undefined, undefined],
        "old.txt": [old, undefined, undefined],
      });
      if (oci) {
        assert.deepEqual(added.annotations, { "buildkit/rewritten-timestamp": String(EPOCH) });
      } else {
        assert.equal(doc.mediaType, "application/vnd.docker.distribution.manifest.v2+json");
        assert.ok(!JSON.stringify(doc).includes("annotations"));
      }
      // History: the base entry keeps its own time; the new entry gets the epoch.
      const config = readBlob(store, doc.config.digest);
      assert.equal(config.history.length, 2);
      assert.equal(config.history[1].created, EPOCH_RFC3339);
    }
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});
