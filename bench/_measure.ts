/**
 * Measurement helpers for `bench/run.ts`: every command runs under GNU `/usr/bin/time`, which
 * reports wall seconds, user and system CPU seconds and the peak RSS (KiB) of the largest process
 * it waited for (for a shell pipeline, the biggest stage, not the sum).
 *
 * @example
 * ```ts ignore
 * import { measure } from "./_measure.ts";
 * console.log(await measure("tar -c . | gzip -6 > /dev/null"));
 * ```
 * @module
 */

/** One timed run. */
export interface Sample {
  /** Wall seconds. */
  wall: number;
  /** User + system CPU seconds. */
  cpu: number;
  /** Peak RSS in MiB. */
  rssMiB: number;
}

/** Runs `script` with `sh -c` under `/usr/bin/time`; throws with its stderr when it fails. */
export async function measure(
  script: string,
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<Sample> {
  const out = await Deno.makeTempFile({ prefix: "ocistream-bench-time-" });
  try {
    const result = await new Deno.Command("/usr/bin/time", {
      args: ["-f", "%e %U %S %M", "-o", out, "sh", "-c", script],
      cwd: options.cwd,
      env: options.env,
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!result.success) {
      const err = new TextDecoder().decode(result.stderr).slice(-2000);
      throw new Error(`Benchmark command failed (${result.code}): ${script}\n${err}`);
    }
    const [wall, user, sys, rss] = (await Deno.readTextFile(out)).trim().split("\n").at(-1)!
      .split(/\s+/).map(Number);
    return { wall: wall!, cpu: user! + sys!, rssMiB: rss! / 1024 };
  } finally {
    await Deno.remove(out).catch(() => {});
  }
}

/** The median of each field. */
export function median(samples: Sample[]): Sample {
  const mid = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    const n = s.length;
    return n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
  };
  return {
    wall: mid(samples.map((s) => s.wall)),
    cpu: mid(samples.map((s) => s.cpu)),
    rssMiB: mid(samples.map((s) => s.rssMiB)),
  };
}

/** Quotes a path for `sh`. */
export function q(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/** Runs a command and returns its stdout; throws with stderr on failure. */
export async function output(cmd: string, args: string[], cwd?: string): Promise<string> {
  const r = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).output();
  if (!r.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(r.stderr)}`);
  }
  return new TextDecoder().decode(r.stdout);
}

/** Size in bytes and number of entries of a tree (`du`-like, apparent sizes). */
export async function treeStats(dir: string): Promise<{ files: number; bytes: number }> {
  const text = await output("sh", ["-c", `find ${q(dir)} -type f -printf '%s\\n'`]);
  const sizes = text.trim().split("\n").filter((l) => l !== "").map(Number);
  return { files: sizes.length, bytes: sizes.reduce((a, b) => a + b, 0) };
}
