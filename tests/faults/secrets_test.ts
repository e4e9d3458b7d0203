import assert from "node:assert/strict";
import { runCli } from "../_harness/cli.ts";
import { startTokenServer, type TokenServer } from "../_harness/token_server.ts";
import type { FaultRule } from "../_harness/fault_proxy.ts";
import { registryTags, withProxy } from "./_faults.ts";

const USER = "tester";
const PASSWORD = "Sup3r-s3cret-Passw0rd";
const WRONG_PASSWORD = "Wr0ng-but-still-s3cret";
const IDENTITY_TOKEN = "id-t0ken-f0r-refresh-9f8e7d6c5b4a";

interface Scenario {
  name: string;
  /** The auth entry for config.json. */
  auth: { auth?: string; identitytoken?: string };
  tokenServer: { denied?: string[]; expiredTokens?: number[] };
  repository: string;
  rules: FaultRule[];
  /** What the error line must say (so the test knows the push failed for the intended reason). */
  expect: RegExp;
}

const basic = (user: string, password: string) => btoa(`${user}:${password}`);

const SCENARIOS: Scenario[] = [
  {
    name: "wrong password",
    auth: { auth: basic(USER, WRONG_PASSWORD) },
    tokenServer: {},
    repository: "secret/app",
    rules: [],
    expect: /Cannot get a token for .*401/,
  },
  {
    name: "expired tokens",
    auth: { auth: basic(USER, PASSWORD) },
    tokenServer: { expiredTokens: Array.from({ length: 50 }, (_, i) => i + 1) },
    repository: "secret/app",
    rules: [],
    expect: /401 UNAUTHORIZED/,
  },
  {
    name: "denied repository",
    auth: { auth: basic(USER, PASSWORD) },
    tokenServer: { denied: ["secret/denied"] },
    repository: "secret/denied",
    rules: [],
    expect: /401 UNAUTHORIZED/,
  },
  {
    name: "server error mid-upload",
    auth: { auth: basic(USER, PASSWORD) },
    tokenServer: {},
    repository: "secret/app",
    rules: [{ match: { method: "PATCH" }, fault: { status: 503 } }],
    expect: /registry answered 503/,
  },
  {
    name: "refused identity token",
    auth: { identitytoken: IDENTITY_TOKEN },
    tokenServer: {},
    repository: "secret/app",
    rules: [],
    expect: /Cannot get a token for .*401/,
  },
];

/** Every secret that could leak: passwords, Basic strings, the identity token, issued tokens. */
function secretsOf(tokens: TokenServer): string[] {
  const out = [
    PASSWORD,
    WRONG_PASSWORD,
    basic(USER, PASSWORD),
    basic(USER, WRONG_PASSWORD),
    IDENTITY_TOKEN,
  ];
  for (const t of tokens.issued) {
    out.push(t);
    out.push(t.split(".").at(-1)!); // the signature alone
  }
  return out;
}

for (const scenario of SCENARIOS) {
  Deno.test(`ocistream build pushing with ${scenario.name} fails without printing any secret`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "ocistream-secrets-" });
    const tokens = await startTokenServer({
      dir,
      users: { [USER]: PASSWORD },
      refreshTokens: ["another-refresh-token"],
      ...scenario.tokenServer,
    });
    try {
      await Deno.mkdir(`${dir}/context`);
      await Deno.writeFile(`${dir}/context/blob.bin`, new Uint8Array(100_000).fill(3));
      await withProxy(scenario.rules, async (proxy, registry) => {
        await Deno.mkdir(`${dir}/docker`, { recursive: true });
        await Deno.writeTextFile(
          `${dir}/docker/config.json`,
          JSON.stringify({ auths: { [proxy.host]: { ...scenario.auth } } }),
        );
        const outputs: string[] = [];
        const runs: [string, Record<string, string>][] = [
          ["plain", {}],
          ["plain", { OCISTREAM_DEBUG: "1" }],
          ["json", { OCISTREAM_DEBUG: "1" }],
        ];
        for (const [i, [progress, extra]] of runs.entries()) {
          const metadata = `${dir}/metadata-${i}.json`;
          const r = await runCli([
            "build",
            `${dir}/context`,
            "--output",
            `type=image,name=${proxy.host}/${scenario.repository}:v1,push=true`,
            "--store",
            `${dir}/store`,
            "--progress",
            progress,
            "--metadata-file",
            metadata,
          ], { env: { DOCKER_CONFIG: `${dir}/docker`, ...extra } });
          assert.equal(r.code, 1, r.stderr);
          const error = r.stderr.split("\n").find((l) => l.startsWith("error: ")) ?? "";
          assert.match(error, scenario.expect, r.stderr);
          if (extra.OCISTREAM_DEBUG) assert.match(r.stderr, /\n\s+at /, "a stack trace is printed");
          outputs.push(r.stdout, r.stderr);
          const written = await Deno.readTextFile(metadata).catch(() => "");
          outputs.push(written);
        }
        const secrets = secretsOf(tokens);
        for (const text of outputs) {
          for (const secret of secrets) {
            assert.ok(
              !text.includes(secret),
              `output leaks a secret (${secret.slice(0, 4)}…):\n${text}`,
            );
          }
        }
        if (!scenario.tokenServer.denied && !scenario.tokenServer.expiredTokens) {
          // No tag was created (asked with a fresh pull token, after the secrets were checked).
          const url = new URL(tokens.realm);
          url.searchParams.set("service", tokens.service);
          url.searchParams.set("scope", `repository:${scenario.repository}:pull`);
          const res = await fetch(url, {
            headers: { Authorization: `Basic ${basic(USER, PASSWORD)}` },
          });
          const { token } = await res.json();
          assert.deepEqual(
            await registryTags(registry, scenario.repository, `Bearer ${token}`),
            [],
          );
        }
      }, { registry: { auth: "token", tokenServer: tokens, users: { [USER]: PASSWORD } } });
    } finally {
      await tokens.stop();
      await Deno.remove(dir, { recursive: true });
    }
  });
}
