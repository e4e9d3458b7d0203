/**
 * A small mutation check: each entry below breaks one line of `src` on purpose and names the
 * test files that must fail because of it. The script copies the repository (the files git
 * knows, committed or not) to a temp folder once, then for each break: applies it in the
 * copy, runs its test files there, restores the file. It prints a table and exits 1 when a
 * break went unnoticed (MISSED) or no longer applies (STALE: the line it breaks changed).
 *
 * Usage: `deno run -A tests/tools/mutate.ts [--baseline] [NAME_SUBSTRING...]`
 * (`--baseline` first runs every named test file unbroken, so a red test is not taken
 * for a caught break).
 *
 * @module
 */

/** One deliberate bug. */
export interface Mutation {
  /** What the break does, in a few words. */
  name: string;
  /** The file it edits, from the repository root. */
  file: string;
  /** Text that must occur exactly once in `file`. */
  from: string;
  /** What replaces it. */
  to: string;
  /** Test files (from the repository root) of which at least one must fail. */
  tests: string[];
  /** Run the files' JSDoc examples too (`deno test --doc`), e.g. for a break in `src`. */
  doc?: boolean;
}

/** The breaks: each one changed a behaviour some test must notice. */
export const MUTATIONS: Mutation[] = [
  {
    name: "opaque whiteout also deletes entries of its own layer",
    file: "src/sinks/unpack_layers.ts",
    from: "        if (!this.#upper.has(rel)) {",
    to: "        if (rel !== undefined) {",
    tests: ["tests/sinks/unpack_whiteouts_test.ts"],
  },
  {
    name: "whiteout parent: symlinks not resolved inside the root",
    file: "src/sinks/unpack_layers.ts",
    from: "      if (kid.link !== undefined) {",
    to: "      if (kid.link !== undefined && create) {",
    tests: ["tests/sinks/unpack_whiteouts_test.ts"],
  },
  {
    name: "PAX record length not redone when it gains a digit",
    file: "src/stages/tar_header.ts",
    from: "if (String(total).length !== String(size).length) total = size + String(total).length;",
    to: "",
    tests: ["tests/stages/tar_header_property_test.ts"],
  },
  {
    name: "PAX xattr value cut at 100 bytes",
    file: "src/stages/tar_header.ts",
    from: "pax.set(`SCHILY.xattr.${key}`, value);",
    to: "pax.set(`SCHILY.xattr.${key}`, value.slice(0, 100));",
    tests: ["tests/stages/tar_header_property_test.ts"],
  },
  {
    name: "compression-level ignored when force-compression re-compresses a base layer",
    file: "src/exporter/export_image.ts",
    from: `        level: output.compressionLevel,
        codecs: env.codecs,
      });
    const encoded = await streamInto(target, await recompress()`,
    to: `        codecs: env.codecs,
      });
    const encoded = await streamInto(target, await recompress()`,
    tests: ["tests/integration/force_compression_test.ts"],
  },
  {
    name: "Retry-After ignored when a blob upload restarts",
    file: "src/registry/registry_client.ts",
    from: "await sleep(retryDelay(this.#retry, attempt, failure.retryAfter));",
    to: "await sleep(retryDelay(this.#retry, attempt));",
    tests: ["tests/faults/registry_faults_test.ts"],
  },
  {
    name: "CLI error line printed without redaction",
    file: "src/cli/main.ts",
    from: "const message = clipLine(escapeControls(redactSecrets(describe(e))));",
    to: "const message = clipLine(escapeControls(describe(e)));",
    tests: ["tests/faults/secrets_echo_test.ts"],
  },
  {
    name: "CLI debug stack printed without redaction",
    file: "src/cli/main.ts",
    from: "console.error(escapeControls(redactSecrets(e.stack), true));",
    to: "console.error(escapeControls(e.stack, true));",
    tests: ["tests/faults/secrets_echo_test.ts"],
  },
  {
    name: "rewrite-timestamp sets every time to the epoch instead of clamping",
    file: "src/stages/clamp_timestamps_stream.ts",
    from: "mtime: Math.min(entry.mtime, epoch)",
    to: "mtime: epoch",
    tests: [
      "tests/stages/clamp_timestamps_stream_test.ts",
      "tests/integration/reproducible_test.ts",
    ],
  },
  {
    name: "layer-cache hit drops the eStargz TOC annotation",
    file: "src/exporter/layer_cache.ts",
    from: "...(annotations && Object.keys(annotations).length > 0 ? { annotations } : {}),",
    to: "",
    tests: ["tests/integration/layer_cache_test.ts"],
  },
  {
    name: "output spec accepts unknown keys",
    file: "src/exporter/output_spec.ts",
    from: "    if (allowed.includes(key)) continue;",
    to: "    continue;",
    tests: ["tests/faults/hostile_input_test.ts", "tests/exporter/output_spec_test.ts"],
  },
  {
    name: "image reference tag not validated",
    file: "src/types/reference.ts",
    from: "if (!TAG_RE.test(tag)) {",
    to: "if (tag === undefined) {",
    tests: ["tests/types/reference_test.ts", "tests/faults/hostile_input_test.ts"],
  },
  {
    name: "image reference: a bare 64-hex image ID accepted as a name",
    file: "src/types/reference.ts",
    from: "if (/^[a-f0-9]{64}$/.test(text)) {",
    to: "if (text === undefined) {",
    tests: ["tests/types/reference_test.ts"],
  },
  {
    name: "CompressPool.terminate() leaves the workers' jobs pending",
    file: "src/runtime/parallel_pool.ts",
    from: '      this.#fail(w, new Error("Compression worker was terminated"));',
    to: "",
    tests: ["tests/runtime/native_codecs_test.ts"],
  },
  {
    name: "cancelling a compressed stream does not reach its source",
    file: "src/runtime/parallel_compress.ts",
    from:
      "  return new TransformStream(new BlockCompressor(algorithm, level, workers, blockSize));",
    to: `  const t = new TransformStream(new BlockCompressor(algorithm, level, workers, blockSize));
  const reader = t.readable.getReader();
  return {
    writable: t.writable,
    readable: new ReadableStream({
      async pull(c) {
        const r = await reader.read();
        if (r.done) c.close();
        else c.enqueue(r.value);
      },
    }),
  } as TransformStream<Uint8Array, Uint8Array>;`,
    tests: ["tests/runtime/parallel_compress_test.ts"],
  },
  {
    name: "tarPadding pads one byte short",
    file: "src/stages/tar_header.ts",
    from: "return TAR_END.subarray(0, rest === 0 ? 0 : TAR_BLOCK_SIZE - rest);",
    to: "return TAR_END.subarray(0, rest === 0 ? 0 : TAR_BLOCK_SIZE - rest - 1);",
    tests: ["src/stages/tar_header.ts"],
    doc: true,
  },
  {
    name: "redactSecrets masks registered secrets only, not Bearer/Basic values",
    file: "src/registry/redact.ts",
    from: "(?!realm\\b)[A-Za-z0-9._~+/=-]+/gi",
    to: "(?!realm\\b)(?!)/gi",
    tests: ["src/registry/redact.ts"],
    doc: true,
  },
];
const decoder = new TextDecoder();

function repoRoot(): string {
  return decodeURIComponent(new URL("../../", import.meta.url).pathname).replace(/\/$/, "");
}

/** Copies the files git knows (tracked and untracked, not ignored) into a fresh temp folder. */
async function copyRepo(root: string): Promise<string> {
  const out = await new Deno.Command("git", {
    args: ["-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
    stdout: "piped",
  }).output();
  if (!out.success) throw new Error("git ls-files failed: run this from a git checkout");
  const copy = await Deno.makeTempDir({ prefix: "ocistream-mutate-" });
  for (const rel of decoder.decode(out.stdout).split("\0").filter(Boolean)) {
    const dest = `${copy}/${rel}`;
    await Deno.mkdir(dest.slice(0, dest.lastIndexOf("/")), { recursive: true });
    try {
      await Deno.copyFile(`${root}/${rel}`, dest);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e; // deleted but not yet staged
    }
  }
  return copy;
}

/** Runs `deno test` on `files` in `cwd`; returns the failing tests (`file: name`). */
async function runTests(cwd: string, files: string[], shared: string, doc = false): Promise<{
  ok: boolean;
  failed: string[];
  seconds: number;
}> {
  const start = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["test", "-A", ...(doc ? ["--doc"] : []), ...files],
    cwd,
    env: { NO_COLOR: "1", OCISTREAM_SHARED: shared },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = decoder.decode(out.stdout) + "\n" + decoder.decode(out.stderr);
  // The summary after "FAILURES" names each failing test: `NAME => ./FILE:LINE:COL`.
  const summary = text.slice(text.lastIndexOf("FAILURES"));
  const failed = [...summary.matchAll(/^(.+) => \.\/(\S+?):\d+:\d+$/gm)]
    .map((m) =>
      `${m[2]}: ${
        m[1]!.trim().replace(/^file:\/\/\S*\/ocistream-mutate-[^/]+\/\S+$/, "(JSDoc example)")
      }`
    );
  if (!out.success && failed.length === 0) {
    // No test ran: the break does not type-check, or a module failed to load.
    failed.push(`(no test ran) ${text.trim().split("\n").slice(-3).join(" ").slice(0, 200)}`);
  }
  return {
    ok: out.success,
    failed: out.success ? [] : failed,
    seconds: (performance.now() - start) / 1000,
  };
}

function count(text: string, part: string): number {
  return text.split(part).length - 1;
}

async function main(args: string[]): Promise<number> {
  const baseline = args.includes("--baseline");
  const filters = args.filter((a) => !a.startsWith("--"));
  const chosen = MUTATIONS.filter((m) =>
    filters.length === 0 || filters.some((f) => m.name.includes(f))
  );
  const root = repoRoot();
  const shared = Deno.env.get("OCISTREAM_SHARED") ?? `${root}/../shared`;
  const copy = await copyRepo(root);
  const rows: string[][] = [];
  let bad = 0;
  try {
    if (baseline) {
      const files = [...new Set(chosen.flatMap((m) => m.tests))];
      const r = await runTests(copy, files, shared);
      if (!r.ok) {
        console.error(`baseline: these test files fail without any break: ${r.failed.join(" ")}`);
        return 1;
      }
      console.error(`baseline: ${files.length} test files pass (${r.seconds.toFixed(0)} s)`);
    }
    for (const m of chosen) {
      const path = `${copy}/${m.file}`;
      const original = await Deno.readTextFile(path);
      const n = count(original, m.from);
      if (n !== 1) {
        bad++;
        rows.push([m.name, m.file, `STALE (text found ${n}×)`, "", ""]);
        continue;
      }
      await Deno.writeTextFile(path, original.replace(m.from, () => m.to));
      try {
        const r = await runTests(copy, m.tests, shared, m.doc);
        if (r.ok) bad++;
        rows.push([
          m.name,
          m.file,
          r.ok ? "MISSED" : "caught",
          r.ok ? "-" : r.failed.join("; ").replaceAll("|", "\\|"),
          `${r.seconds.toFixed(0)} s`,
        ]);
      } finally {
        await Deno.writeTextFile(path, original);
      }
      console.error(`${rows.at(-1)![2]}: ${m.name}`);
    }
  } finally {
    await Deno.remove(copy, { recursive: true });
  }
  const header = ["break", "file", "result", "failing tests", "time"];
  const lines = [header, header.map(() => "---"), ...rows].map((r) => `| ${r.join(" | ")} |`);
  console.log(lines.join("\n"));
  console.log(`\n${rows.length - bad} of ${rows.length} breaks caught`);
  return bad === 0 ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
