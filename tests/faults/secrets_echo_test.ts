/**
 * A hostile registry of our own (loopback) that echoes the credentials it was sent into its
 * error answers: the CLI's error line, its debug stack and the progress output must still
 * show none of them.
 */
import assert from "node:assert/strict";
import { runCli } from "../_harness/cli.ts";
import { withTempDir } from "../_harness/store.ts";

const USER = "echo-user";
const PASSWORD = "Ech0ed-Passw0rd-8c1f";
const BASIC = btoa(`${USER}:${PASSWORD}`);

/** Starts the echoing registry; every authenticated request but a ping or HEAD gets a 403. */
function startEchoRegistry(): { host: string; stop: () => Promise<void>; seen: string[] } {
  const seen: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const auth = req.headers.get("authorization");
    const url = new URL(req.url);
    seen.push(`${req.method} ${url.pathname} ${auth ? "auth" : "anonymous"}`);
    if (!auth) {
      return new Response(null, {
        status: 401,
        headers: { "www-authenticate": 'Basic realm="echo"' },
      });
    }
    if (url.pathname === "/v2/") return new Response("{}", { status: 200 });
    if (req.method === "HEAD") return new Response(null, { status: 404 });
    const decoded = atob(auth.replace(/^Basic /, ""));
    const message = `access denied for the credentials you sent: Authorization: ${auth}; ` +
      `decoded ${decoded}; password ${decoded.split(":")[1]}`;
    return Response.json({ errors: [{ code: "DENIED", message, detail: { auth } }] }, {
      status: 403,
    });
  });
  const { port } = server.addr as Deno.NetAddr;
  return { host: `127.0.0.1:${port}`, stop: () => server.shutdown(), seen };
}

Deno.test("ocistream build: a registry echoing the credentials into its error leaks none of them to the error line, the debug stack or the progress", async () => {
  await withTempDir("ocistream-echo-", async (dir) => {
    const registry = startEchoRegistry();
    try {
      await Deno.mkdir(`${dir}/context`);
      await Deno.writeTextFile(`${dir}/context/a.txt`, "echo\n");
      await Deno.mkdir(`${dir}/docker`);
      await Deno.writeTextFile(
        `${dir}/docker/config.json`,
        JSON.stringify({ auths: { [registry.host]: { auth: BASIC } } }),
      );
      const runs: [string, Record<string, string>][] = [
        ["plain", {}],
        ["plain", { OCISTREAM_DEBUG: "1" }],
        ["json", { OCISTREAM_DEBUG: "1" }],
      ];
      for (const [progress, extra] of runs) {
        const r = await runCli([
          "build",
          `${dir}/context`,
          "--store",
          `${dir}/store`,
          "--progress",
          progress,
          "--output",
          `type=image,name=${registry.host}/echo/app:v1,push=true`,
        ], { env: { DOCKER_CONFIG: `${dir}/docker`, ...extra } });
        const what = `--progress ${progress} ${JSON.stringify(extra)}:\n${r.stderr}`;
        assert.equal(r.code, 1, what);
        // It failed for the intended reason: the registry's echoing 403 reached the error line.
        const error = r.stderr.split("\n").find((l) => l.startsWith("error: ")) ?? "";
        assert.match(error, /403 DENIED \(access denied for the credentials you sent/, what);
        if (extra.OCISTREAM_DEBUG) assert.match(r.stderr, /\n\s+at /, `a stack trace: ${what}`);
        for (const secret of [PASSWORD, BASIC, `${USER}:${PASSWORD}`]) {
          for (const [name, text] of [["stderr", r.stderr], ["stdout", r.stdout]]) {
            assert.ok(!text.includes(secret), `${name} leaks ${secret.slice(0, 4)}…: ${what}`);
          }
        }
      }
      // The registry did see the credentials (so there was something to leak).
      assert.ok(registry.seen.some((l) => l.endsWith(" auth")), registry.seen.join("\n"));
    } finally {
      await registry.stop();
    }
  });
});
