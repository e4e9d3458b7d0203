/**
 * JSDoc examples marked `ignore` are not run by `deno test --doc`, and `deno check --doc`
 * skips them too. This test type-checks each of them as a module of its own (imports
 * resolved as in the file they document), and keeps `ignore` for examples that need a peer
 * (a registry, the network): a new ignored example must name one and must type-check.
 *
 * `doc_examples_debt.json` beside this file counts, per file, the examples that predate the
 * rule (fragments using variables they never declare, or ignored though they need no peer):
 * a file may have no more of them than that, and files not listed none.
 * `deno run -A tests/tools/doc_examples_test.ts` prints the current counts.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";

const ROOT = decodeURIComponent(new URL("../../", import.meta.url).pathname).replace(/\/$/, "");

/** What an ignored example must mention to be excused from running. */
const NEEDS_A_PEER =
  /registry|push|pull|fetch\(|https?:\/\/|docker\.io|ghcr\.io|quay\.io|:5000|RegistryClient|Deno\.serve/i;

interface Block {
  file: string;
  line: number;
  code: string;
  key: string;
}

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...await sourceFiles(path));
    else if (e.name.endsWith(".ts")) out.push(path);
  }
  return out;
}

/** The `ts ignore` code blocks of a file's JSDoc comments. */
function ignoredBlocks(file: string, text: string): Block[] {
  const lines = text.split("\n");
  const out: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^\s*\*\s?```(ts|typescript)\s+ignore\b/.test(lines[i]!)) continue;
    const line = i + 1;
    const code: string[] = [];
    for (i++; i < lines.length && !/^\s*\*\s?```\s*$/.test(lines[i]!); i++) {
      code.push(lines[i]!.replace(/^\s*\* ?/, ""));
    }
    const text = code.join("\n");
    const hash = createHash("sha256").update(text).digest("hex").slice(0, 12);
    out.push({ file, line, code: text, key: `${file.slice(ROOT.length + 1)}#${hash}` });
  }
  return out;
}

async function allIgnored(): Promise<Block[]> {
  const files = [...await sourceFiles(`${ROOT}/src`), `${ROOT}/mod.ts`, `${ROOT}/deno.ts`];
  const blocks: Block[] = [];
  for (const file of files.sort()) {
    blocks.push(...ignoredBlocks(file, await Deno.readTextFile(file)));
  }
  return blocks;
}

/** Type-checks the blocks together; returns the indexes of those with errors, and the errors. */
async function typeCheck(blocks: Block[]): Promise<{ failed: Set<number>; errors: string }> {
  const work = await Deno.makeTempDir({ prefix: "ocistream-doc-ignored-" });
  try {
    const written: string[] = [];
    for (const [i, b] of blocks.entries()) {
      const dir = b.file.slice(0, b.file.lastIndexOf("/"));
      // Relative imports point at the documented file's folder, as in a doc test.
      const code = b.code.replace(
        /(from\s+|import\s*\(\s*)"(\.\.?\/[^"]+)"/g,
        (_, lead, rel) => `${lead}"${new URL(rel, `file://${dir}/`).href}"`,
      );
      const path = `${work}/example_${i}.ts`;
      await Deno.writeTextFile(path, `${code}\nexport {};\n`);
      written.push(path);
    }
    if (written.length === 0) return { failed: new Set(), errors: "" };
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--quiet", "--config", `${ROOT}/deno.json`, ...written],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const errors = new TextDecoder().decode(out.stderr).replace(/example_(\d+)\.ts/g, (m, n) => {
      const b = blocks[Number(n)]!;
      return `${m} (${b.file.slice(ROOT.length + 1)}:${b.line})`;
    });
    const failed = new Set([...errors.matchAll(/example_(\d+)\.ts/g)].map((m) => Number(m[1])));
    if (!out.success && failed.size === 0) throw new Error(`deno check failed: ${errors}`);
    return { failed, errors };
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

const DEBT_FILE = new URL("./doc_examples_debt.json", import.meta.url);

function countByFile(blocks: Block[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const b of blocks) {
    const file = b.file.slice(ROOT.length + 1);
    out[file] = (out[file] ?? 0) + 1;
  }
  return out;
}

Deno.test("JSDoc examples marked ignore need a registry or network, and still type-check", async () => {
  const debt: { unchecked: Record<string, number>; offline: Record<string, number> } = JSON
    .parse(await Deno.readTextFile(DEBT_FILE));
  const blocks = await allIgnored();
  assert.ok(blocks.length > 0, "no ignored example found: is the pattern still right?");
  const { failed, errors } = await typeCheck(blocks);
  const over = (kind: "unchecked" | "offline", bad: Block[]) => {
    const counts = countByFile(bad);
    return Object.entries(counts)
      .filter(([file, n]) => n > (debt[kind][file] ?? 0))
      .map(([file, n]) => `${file}: ${n} (allowed ${debt[kind][file] ?? 0})`);
  };
  assert.deepEqual(
    over("offline", blocks.filter((b) => !NEEDS_A_PEER.test(b.code))),
    [],
    "more ignored examples that need no registry or network: let them run (and assert)",
  );
  assert.deepEqual(
    over("unchecked", blocks.filter((_, i) => failed.has(i))),
    [],
    `more ignored JSDoc examples that do not type-check:\n${errors}`,
  );
});

if (import.meta.main) {
  const blocks = await allIgnored();
  const { failed } = await typeCheck(blocks);
  console.log(JSON.stringify(
    {
      unchecked: countByFile(blocks.filter((_, i) => failed.has(i))),
      offline: countByFile(blocks.filter((b) => !NEEDS_A_PEER.test(b.code))),
    },
    null,
    2,
  ));
}
