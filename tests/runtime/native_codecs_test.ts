import assert from "node:assert/strict";
import { createNativeCodecs, nativeCodecs } from "../../src/runtime/native_codecs.ts";
import { CompressPool } from "../../src/runtime/parallel_pool.ts";
import { webCodecs } from "../../src/stages/web_codecs.ts";
import { defineCodecTests } from "./parallel_codec_suite.ts";
import {
  compressWith,
  concat,
  dataBytes,
  decompressWith,
  runCli,
  sha256Hex,
} from "./parallel_helpers.ts";

defineCodecTests("nativeCodecs", nativeCodecs);
defineCodecTests("createNativeCodecs({ workers: 0 })", createNativeCodecs({ workers: 0 }));

Deno.test("createNativeCodecs() output does not depend on the worker count", async () => {
  const data = dataBytes(9 * 1024 * 1024 + 5, 3);
  for (const [algorithm, level] of [["gzip", 6], ["zstd", 3]] as const) {
    const digests = new Set<string>();
    for (const workers of [0, 1, 2, 4]) {
      const out = await compressWith(createNativeCodecs({ workers }), algorithm, level, data);
      digests.add(sha256Hex(out));
    }
    assert.equal(digests.size, 1, `${algorithm}: ${[...digests].join(", ")}`);
  }
});

Deno.test("nativeCodecs.decompress() splits zstd frames with RLE and raw blocks", async () => {
  // Zeros give RLE blocks, random bytes raw blocks; with and without checksums.
  const zeros = new Uint8Array(700_000);
  const random = crypto.getRandomValues(new Uint8Array(60_000));
  const parts = [
    await runCli("zstd", ["-c", "-1"], zeros),
    await runCli("zstd", ["-c", "-1", "--no-check"], random),
    await runCli("zstd", ["-c", "-1", "--no-check"], zeros),
    await runCli("zstd", ["-c", "-1"], random),
  ];
  const expected = sha256Hex(concat(zeros, random, zeros, random));
  for (const chunk of [3, 1000, 1 << 20]) {
    const out = await decompressWith(nativeCodecs, "zstd", concat(...parts), chunk);
    assert.equal(sha256Hex(out), expected, `chunks of ${chunk}`);
  }
});

Deno.test("createNativeCodecs() rejects a bad worker count", () => {
  assert.throws(() => createNativeCodecs({ workers: -1 }), RangeError);
  assert.throws(() => createNativeCodecs({ workers: 1.5 }), RangeError);
});

Deno.test("nativeCodecs and webCodecs read each other's output", async () => {
  const data = dataBytes(2 * 1024 * 1024 + 99, 5);
  const hex = sha256Hex(data);
  for (const algorithm of ["gzip", "zstd"] as const) {
    const fromNative = await compressWith(nativeCodecs, algorithm, 6, data);
    const fromWeb = await compressWith(webCodecs, algorithm, 6, data);
    assert.equal(sha256Hex(await decompressWith(webCodecs, algorithm, fromNative)), hex);
    assert.equal(sha256Hex(await decompressWith(nativeCodecs, algorithm, fromWeb)), hex);
  }
});

Deno.test("nativeCodecs gzip keeps memory flat on a 512 MiB stream (measured in a process of its own)", async () => {
  // In its own process: the RSS of a `--parallel` test runner counts other modules' memory.
  const probe = new URL("./_gzip_memory_probe.ts", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", probe],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const m = JSON.parse(text.trim().split("\n").at(-1)!) as {
    input: number;
    compressed: number;
    before: number;
    growth: number;
    lateGrowth: number;
  };
  console.log(
    `512 MiB -> ${m.compressed.toFixed(1)} MiB gzip-1; RSS ${m.before.toFixed(0)} MiB before, ` +
      `peak growth ${m.growth.toFixed(1)} MiB, after the first 128 MiB ${
        m.lateGrowth.toFixed(1)
      } MiB`,
  );
  assert.equal(m.input, 512);
  assert.ok(m.compressed > 0 && m.compressed < m.input);
  // Holding the stream would take 512 MiB in + ~260 MiB out. Growth here is V8 letting dead
  // ArrayBuffers pile up in each isolate (the calling thread and its workers) before
  // collecting; a 2 GiB run plateaus at the same level.
  assert.ok(m.growth < 400, `RSS grew by ${m.growth.toFixed(1)} MiB`);
});

Deno.test("nativeCodecs gzip output passes gzip -t and pigz -t", async () => {
  const data = dataBytes(5 * 1024 * 1024 + 1, 13);
  const gz = await compressWith(nativeCodecs, "gzip", 6, data);
  await runCli("gzip", ["-t"], gz);
  await runCli("pigz", ["-t"], gz);
  const listed = new TextDecoder().decode(await runCli("gzip", ["-lv"], gz));
  assert.match(listed, new RegExp(`${data.byteLength}`)); // ISIZE is right
});

Deno.test("CompressPool.terminateAll() stops the workers: a job still running fails, and the pool starts fresh ones after", async () => {
  const pool = CompressPool.shared(2);
  // Seconds of work at level 19: still running when the workers are stopped.
  const running = pool.run({
    algorithm: "zstd",
    level: 19,
    input: dataBytes(8 * 1024 * 1024, 21),
    last: true,
  });
  await CompressPool.terminateAll();
  await assert.rejects(running, /Compression worker was terminated/);
  // The same pool spawns new workers for the next job, and its output is right.
  const input = dataBytes(100_000, 22);
  const frame = await pool.run({ algorithm: "zstd", level: 3, input: input.slice(), last: true });
  assert.equal(sha256Hex(await runCli("zstd", ["-dc"], frame)), sha256Hex(input));
  await CompressPool.terminateAll();
});
