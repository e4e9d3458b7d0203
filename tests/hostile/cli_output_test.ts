/**
 * What the CLI prints when a hostile registry echoes secrets and terminal
 * escapes in its error messages: no form of the password, no raw control
 * character, and still a readable one-line error.
 */
import assert from "node:assert/strict";
import { runCli } from "../_harness/cli.ts";
import { startHostileServer } from "../_harness/hostile_registry.ts";

const USER = "alice";
const PASSWORD = "Echo-me-1f-y0u-can";

function b64(text: string): string {
  return btoa(text);
}

Deno.test("ocistream build: a registry echoing credentials and terminal escapes prints neither", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ocistream-hostile-cli-" });
  const creds = b64(`${USER}:${PASSWORD}`);
  const echoed = [
    `bare ${creds}`,
    `Basic:${creds}`,
    `basic "${creds}"`,
    `nopad ${creds.replace(/=+$/, "")}`,
    `url ${encodeURIComponent(PASSWORD)}`,
    `pw ${PASSWORD}`,
    "title \x1b]0;owned\x07 clipboard \x1b]52;c;cm0gLXJmIH4=\x07",
    "csi \x9b2J c1",
    "\x1b[2K\rpushed sha256:0000 to example.com/app:1 (everything is fine)",
  ].join(" | ");
  const server = await startHostileServer((req) => {
    if (req.headers.get("authorization") !== `Basic ${creds}`) {
      return new Response("", { status: 401, headers: { "www-authenticate": 'Basic realm="x"' } });
    }
    if (req.method === "HEAD") return new Response(null, { status: 404 });
    return Response.json({ errors: [{ code: "DENIED", message: echoed }] }, { status: 403 });
  });
  try {
    await Deno.mkdir(`${dir}/context`);
    await Deno.writeTextFile(`${dir}/context/f`, "hello");
    await Deno.mkdir(`${dir}/docker`);
    await Deno.writeTextFile(
      `${dir}/docker/config.json`,
      JSON.stringify({ auths: { [server.host]: { auth: creds } } }),
    );
    for (const progress of ["plain", "json"]) {
      const r = await runCli([
        "build",
        `${dir}/context`,
        "--output",
        `type=image,name=${server.host}/app:1,push=true`,
        "--store",
        `${dir}/store`,
        "--progress",
        progress,
      ], { env: { DOCKER_CONFIG: `${dir}/docker` } });
      assert.equal(r.code, 1, r.stderr);
      const text = r.stdout + r.stderr;
      for (
        const secret of [
          PASSWORD,
          creds,
          creds.replace(/=+$/, ""),
          encodeURIComponent(PASSWORD),
        ]
      ) {
        assert.ok(!text.includes(secret), `a form of the secret leaked:\n${text}`);
      }
      assert.doesNotMatch(
        text,
        // deno-lint-ignore no-control-regex
        /[\x00-\x08\x0b-\x1f\x7f-\x9f]/,
        `raw control characters:\n${text}`,
      );
      const error = r.stderr.split("\n").find((l) => l.startsWith("error: "))!;
      assert.match(
        error,
        /registry answered 403 DENIED \(bare \*\*\* \| Basic:\*\*\* \| basic "\*\*\*"/,
      );
      assert.match(error, /title \\x1b\]0;owned\\x07/);
      assert.match(error, /\\x1b\[2K\\rpushed sha256:0000/);
    }
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ocistream build: a refused file: realm is named readably, and no request carries credentials", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ocistream-hostile-cli-" });
  const server = await startHostileServer(() =>
    new Response("{}", {
      status: 401,
      headers: { "www-authenticate": `Bearer realm="file://${dir}/auth.json",service="x"` },
    })
  );
  try {
    await Deno.writeTextFile(`${dir}/auth.json`, JSON.stringify({ token: "l0cal-f1le-t0ken" }));
    await Deno.mkdir(`${dir}/context`);
    await Deno.writeTextFile(`${dir}/context/f`, "x");
    const r = await runCli([
      "build",
      `${dir}/context`,
      "--from",
      `${server.host}/base:1`,
      "--output",
      `type=oci,dest=${dir}/out.tar`,
    ], { env: { DOCKER_CONFIG: dir } });
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /error: Cannot authenticate to 127\.0\.0\.1:\d+: its token realm "file:\/\/\/.*\/auth\.json" is not an https URL; a token realm must be https \(or http on a loopback address\)/,
    );
    assert.deepEqual(server.log.filter((e) => e.authorization !== null), []);
    await assert.rejects(Deno.stat(`${dir}/out.tar`));
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
