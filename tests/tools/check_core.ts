/**
 * Keeps the core portable (DESIGN.md): nothing outside src/runtime/ and
 * src/cli/ may use `Deno.*` or `node:` modules, and every core entry (mod.ts, registry.ts, ...) must type-check
 * with only the web (DOM) library, as an edge runtime sees it.
 *
 *     deno run -A tests/tools/check_core.ts
 *
 * @module
 */
const root = new URL("../../", import.meta.url);
const problems: string[] = [];

async function* walk(dir: URL): AsyncGenerator<URL> {
  for await (const e of Deno.readDir(dir)) {
    const url = new URL(e.name + (e.isDirectory ? "/" : ""), dir);
    if (e.isDirectory) yield* walk(url);
    else if (e.name.endsWith(".ts")) yield url;
  }
}

const forbidden = /\bDeno\.|from\s+["']node:|import\(\s*["']node:/;
for await (const file of walk(new URL("src/", root))) {
  const rel = file.pathname.slice(root.pathname.length);
  if (rel.startsWith("src/runtime/") || rel.startsWith("src/cli/")) continue;
  const lines = (await Deno.readTextFile(file)).split("\n");
  lines.forEach((line, i) => {
    const code = line.replace(/\/\/.*$/, "");
    if (!code.trimStart().startsWith("*") && forbidden.test(code)) {
      problems.push(`${rel}:${i + 1}: runtime-specific code in the core: ${line.trim()}`);
    }
  });
}

const denoJson = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));
// Every published entry but Deno's own (./deno, ./cli) is the portable core.
const CORE_ENTRIES = Object.entries(denoJson.exports as Record<string, string>)
  .filter(([name]) => name !== "./deno" && name !== "./cli")
  .map(([, path]) => path);
const config = {
  imports: denoJson.imports,
  compilerOptions: { ...denoJson.compilerOptions, lib: ["esnext", "dom", "dom.iterable"] },
};
const tmp = await Deno.makeTempFile({
  dir: root.pathname,
  prefix: ".check-core-",
  suffix: ".json",
});
try {
  await Deno.writeTextFile(tmp, JSON.stringify(config));
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["check", "--quiet", "--config", tmp, ...CORE_ENTRIES],
    cwd: root.pathname,
  }).output();
  if (!out.success) {
    problems.push(
      `${CORE_ENTRIES.join(", ")} do not type-check with only the web library:\n${
        new TextDecoder().decode(out.stderr)
      }`,
    );
  }
} finally {
  await Deno.remove(tmp);
}

if (problems.length > 0) {
  console.error(problems.join("\n"));
  Deno.exit(1);
}
console.log(
  `core is portable: no Deno.* or node: outside src/runtime and src/cli; ${
    CORE_ENTRIES.join(", ")
  } check with lib dom`,
);
