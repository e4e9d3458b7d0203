/**
 * Hostile registries against bounded reads: endless error bodies, endless
 * token answers, a manifest trickled a byte at a time. Each asserts how much
 * the server managed to hand out (the client stopped reading) and the message.
 */
import assert from "node:assert/strict";
import { RegistryClient } from "../../src/registry/registry_client.ts";
import {
  endlessBody,
  type HostileServer,
  startHostileServer,
  trickleBody,
} from "../_harness/hostile_registry.ts";

const NO_RETRIES = { attempts: 1 };
const MiB = 1024 * 1024;

async function withServer(
  handler: (req: Request, self: HostileServer) => Response | Promise<Response>,
  body: (server: HostileServer) => Promise<void>,
): Promise<void> {
  const server = await startHostileServer(handler);
  try {
    await body(server);
  } finally {
    await server.stop();
  }
}

for (const status of [404, 500]) {
  Deno.test(`an endless ${status} error body is read only for its message`, async () => {
    await withServer(
      (req, self) =>
        new URL(req.url).pathname === "/v2/"
          ? new Response("{}")
          : new Response(endlessBody(self.sent), { status }),
      async (server) => {
        const client = new RegistryClient(server.host, { retries: NO_RETRIES });
        await assert.rejects(
          client.getManifest("app", "latest"),
          new RegExp(
            `Cannot read manifest latest from ${server.host}/app: registry answered ${status}`,
          ),
        );
        // 8 KiB are read; what else left the server sits in socket buffers.
        assert.ok(server.sent.bytes < 16 * MiB, `the server handed out ${server.sent.bytes} bytes`);
      },
    );
  });
}

Deno.test("an endless token answer is refused past 1 MiB", async () => {
  await withServer(
    (req, self) => {
      const u = new URL(req.url);
      if (u.pathname === "/token") return new Response(endlessBody(self.sent));
      return new Response("{}", {
        status: 401,
        headers: { "www-authenticate": `Bearer realm="${self.url}/token"` },
      });
    },
    async (server) => {
      const client = new RegistryClient(server.host, { retries: NO_RETRIES });
      await assert.rejects(
        client.getManifest("app", "latest"),
        /Cannot get a token for 127\.0\.0\.1:\d+ from 127\.0\.0\.1:\d+: its answer is larger than 1 MiB/,
      );
      assert.ok(server.sent.bytes < 16 * MiB, `the server handed out ${server.sent.bytes} bytes`);
    },
  );
});

Deno.test("an endless tag list is refused past 16 MiB", async () => {
  await withServer(
    (req, self) =>
      new URL(req.url).pathname === "/v2/"
        ? new Response("{}")
        : new Response(endlessBody(self.sent)),
    async (server) => {
      const client = new RegistryClient(server.host, { retries: NO_RETRIES });
      await assert.rejects(client.listTags("app"), /the tag list is larger than 16 MiB/);
      assert.ok(server.sent.bytes < 48 * MiB, `the server handed out ${server.sent.bytes} bytes`);
    },
  );
});

Deno.test("a manifest trickled a byte at a time ends at the document deadline", async () => {
  const manifest = JSON.stringify({ schemaVersion: 2, mediaType: "x", layers: [] });
  await withServer(
    (req) =>
      new URL(req.url).pathname === "/v2/"
        ? new Response("{}")
        : new Response(trickleBody(manifest, 50), {
          headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" },
        }),
    async (server) => {
      // Each byte comes well within the idle timeout; the whole answer takes 3+ s.
      const client = new RegistryClient(server.host, {
        retries: NO_RETRIES,
        timeouts: { idleMs: 10_000, documentMs: 1_000 },
      });
      await assert.rejects(
        client.getManifest("app", "latest"),
        /Cannot read manifest latest from .*: the answer did not arrive whole within 1 s \(document timeout\)/,
      );
    },
  );
});
