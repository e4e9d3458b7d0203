/**
 * Runs the ocistream CLI in this process, and pauses it for good at its Nth JSON progress
 * line (`deno run -A _paused_cli.ts N build ... --progress json`): it prints
 * `paused <event>` on stdout and blocks its main thread, where every store write happens,
 * so a test can kill it at exactly that moment of the export. Without an Nth event it
 * just runs to the end.
 * @module
 */
const pauseAt = Number(Deno.args[0]);
let seen = 0;
const write = console.error;
console.error = (...args: unknown[]) => {
  write(...args);
  const line = args[0];
  if (typeof line === "string" && line.startsWith("{") && ++seen === pauseAt) {
    Deno.stdout.writeSync(new TextEncoder().encode(`paused ${line}\n`));
    // Blocks this thread until the test kills the process.
    for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
  }
};
const { main } = await import("../../src/cli/main.ts");
Deno.exit(await main(Deno.args.slice(1)));
