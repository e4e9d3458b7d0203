/**
 * Progress as people see it: the live terminal view checked for real inside
 * tmux, `plain` lines for CI logs, `json` events for tools, and silence with
 * `quiet` — always on stderr, never on stdout.
 */
import assert from "node:assert/strict";
import { run, runCli } from "../_harness/cli.ts";

const MAIN = new URL("../../src/cli/main.ts", import.meta.url).pathname;

async function makeContext(dir: string) {
  await Deno.mkdir(`${dir}/ctx/sub`, { recursive: true });
  await Deno.writeTextFile(`${dir}/ctx/sub/a.txt`, "hello\n");
  // Enough bytes that the layer takes a moment and reports progress.
  const big = new Uint8Array(24 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4096) big[i] = i % 251;
  await Deno.writeFile(`${dir}/ctx/big.bin`, big);
}

Deno.test("build --progress tty draws a live per-layer view in a real terminal (tmux)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ocistream-tty-" });
  const session = `ocistream-progress-${Date.now()}`;
  try {
    await makeContext(dir);
    const command = [
      Deno.execPath(),
      "run",
      "-A",
      "--quiet",
      MAIN,
      "build",
      `${dir}/ctx`,
      "--store",
      `${dir}/store`,
      "--progress",
      "tty",
      "--output",
      "type=image,name=example.com/tty:1,compression=gzip",
    ].map((a) => `'${a}'`).join(" ");
    const started = await run("tmux", [
      "new-session",
      "-d",
      "-s",
      session,
      "-x",
      "160",
      "-y",
      "40",
      `${command}; echo "EXIT=$?"; sleep 30`,
    ]);
    assert.equal(started.code, 0, started.stderr);
    let screen = "";
    for (let i = 0; i < 200 && !screen.includes("EXIT="); i++) {
      await new Promise((r) => setTimeout(r, 100));
      screen = (await run("tmux", ["capture-pane", "-p", "-t", session])).stdout;
    }
    assert.match(screen, /EXIT=0/, screen);
    // The finished view: one line per layer with a check mark, digest and size, then the total.
    assert.match(
      screen,
      /✔ linux\/amd64#1 COPY .* sha256:[0-9a-f]{12}\S* [0-9.]+ (KiB|MiB)/,
      screen,
    );
    assert.match(screen, /exported sha256:[0-9a-f]{64} in [0-9.]+s/, screen);
    // Redrawn in place: the layer line appears once, not once per update.
    assert.equal(screen.match(/linux\/amd64#1/g)?.length, 1, screen);
    assert.ok(!screen.includes("\x1b["), "no raw escape sequences left on screen");
  } finally {
    await run("tmux", ["kill-session", "-t", session]);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("build --progress plain, json and quiet write to stderr only", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ocistream-progress-" });
  try {
    await makeContext(dir);
    const build = (mode: string, tag: string) =>
      runCli([
        "build",
        `${dir}/ctx`,
        "--store",
        `${dir}/store`,
        "--progress",
        mode,
        "--output",
        `type=image,name=example.com/p:${tag}`,
      ]);

    const plain = await build("plain", "plain");
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(plain.stdout, "");
    assert.match(plain.stderr, /^\[ *[0-9.]+s\] layer linux\/amd64#1: COPY /m);
    assert.match(plain.stderr, /layer linux\/amd64#1: sha256:[0-9a-f]{64} .* uncompressed/);
    assert.match(plain.stderr, /exported sha256:[0-9a-f]{64}/);
    assert.ok(!plain.stderr.includes("\x1b["), "plain mode writes no escape sequences");

    const json = await build("json", "json");
    assert.equal(json.code, 0, json.stderr);
    assert.equal(json.stdout, "");
    const events = json.stderr.trim().split("\n").map((l) => JSON.parse(l));
    const types = events.map((e) => e.type);
    assert.ok(types.includes("layer") && types.includes("layer-done") && types.includes("done"));
    const done = events.find((e) => e.type === "layer-done");
    assert.match(done.digest, /^sha256:/);
    assert.ok(done.uncompressedSize > 24 * 1024 * 1024);

    const quiet = await build("quiet", "quiet");
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.equal(quiet.stdout, "");
    assert.equal(quiet.stderr, "");

    // auto without a terminal (as in CI) falls back to plain lines.
    const auto = await build("auto", "auto");
    assert.equal(auto.code, 0);
    assert.match(auto.stderr, /^\[ *[0-9.]+s\] layer /m);

    // quiet still prints errors.
    const failing = await runCli([
      "build",
      `${dir}/missing`,
      "--progress",
      "quiet",
      "--store",
      `${dir}/store`,
    ]);
    assert.equal(failing.code, 1);
    assert.match(failing.stderr, /^error: /);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
