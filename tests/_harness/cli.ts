/**
 * Runs the ocistream CLI (or any command) in a subprocess for tests.
 * @module
 */

/** What a finished command printed and returned. */
export interface RunResult {
  /** Exit code. */
  code: number;
  /** Standard output as text. */
  stdout: string;
  /** Standard error as text. */
  stderr: string;
}

const MAIN = new URL("../../src/cli/main.ts", import.meta.url).pathname;

/** Runs `ocistream ARGS` with Deno, from the repository root. */
export async function runCli(
  args: string[],
  options: { env?: Record<string, string>; stdin?: Uint8Array; cwd?: string } = {},
): Promise<RunResult> {
  return await run(Deno.execPath(), ["run", "-A", "--quiet", MAIN, ...args], options);
}

/** Runs a program and collects its output. */
export async function run(
  program: string,
  args: string[],
  options: { env?: Record<string, string>; stdin?: Uint8Array; cwd?: string } = {},
): Promise<RunResult> {
  const child = new Deno.Command(program, {
    args,
    env: { NO_COLOR: "1", ...options.env },
    cwd: options.cwd,
    stdin: options.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin) {
    const w = child.stdin.getWriter();
    await w.write(options.stdin);
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Runs a program and throws with its stderr unless it exits 0. */
export async function runOk(
  program: string,
  args: string[],
  options: { env?: Record<string, string>; stdin?: Uint8Array; cwd?: string } = {},
): Promise<RunResult> {
  const r = await run(program, args, options);
  if (r.code !== 0) {
    throw new Error(`${program} ${args.join(" ")} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  }
  return r;
}
