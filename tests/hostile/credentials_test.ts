/**
 * Hostile registries against credential binding: token realms that are not
 * https (a local file, another host over plain HTTP), upload `Location`s on
 * another host, port or scheme, redirects elsewhere. Each asserts what the
 * other host received (no `Authorization`) and the message.
 */
import assert from "node:assert/strict";
import { RegistryClient } from "../../src/registry/registry_client.ts";
import {
  type HostileServer,
  routedFetch,
  startHostileServer,
} from "../_harness/hostile_registry.ts";
import { sha256Digest } from "../fixtures/tar_tools.ts";

const PASSWORD = "pa55-w0rd-f0r-hostile-tests";
const CREDS = { username: "alice", password: PASSWORD };
const NO_RETRIES = { attempts: 1 };

async function withServers(
  n: number,
  body: (servers: HostileServer[]) => Promise<void>,
  handlers:
    ((req: Request, self: HostileServer, all: HostileServer[]) => Response | Promise<Response>)[],
): Promise<void> {
  const servers: HostileServer[] = [];
  try {
    for (let i = 0; i < n; i++) {
      servers.push(await startHostileServer((req, self) => handlers[i]!(req, self, servers)));
    }
    await body(servers);
  } finally {
    for (const s of servers) await s.stop();
  }
}

Deno.test("a file: token realm is refused: no local file is read and nothing is sent", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ocistream-hostile-" });
  try {
    const file = `${dir}/auth.json`;
    await Deno.writeTextFile(file, JSON.stringify({ token: "st0len-l0cal-t0ken" }));
    await withServers(1, async ([reg]) => {
      const client = new RegistryClient(reg!.host, { retries: NO_RETRIES });
      await assert.rejects(
        client.getManifest("app", "latest"),
        /Cannot authenticate to 127\.0\.0\.1:\d+: its token realm "file:\/\/\/.*auth\.json" is not an https URL/,
      );
      assert.deepEqual(reg!.log.filter((e) => e.authorization !== null), []);
    }, [
      () =>
        new Response("{}", {
          status: 401,
          headers: { "www-authenticate": `Bearer realm="file://${file}",service="x"` },
        }),
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an http token realm on another host gets no request from an https registry", async () => {
  await withServers(2, async ([reg, auth]) => {
    const f = routedFetch({ "https://registry.test": reg!.url, "http://auth.test": auth!.url });
    const client = new RegistryClient("registry.test", {
      fetch: f,
      credentials: CREDS,
      retries: NO_RETRIES,
    });
    await assert.rejects(
      client.getManifest("app", "latest"),
      /its token realm "http:\/\/auth\.test\/token" is plain http on another host/,
    );
    assert.equal(auth!.log.length, 0);
    assert.deepEqual(f.log.filter((e) => e.url.startsWith("http:")), []);
  }, [
    () =>
      new Response("{}", {
        status: 401,
        headers: { "www-authenticate": 'Bearer realm="http://auth.test/token",service="x"' },
      }),
    () => Response.json({ token: "t0ken-from-auth" }),
  ]);
});

Deno.test("an http token realm on an internal address (metadata service) is refused", async () => {
  await withServers(1, async ([reg]) => {
    const f = routedFetch({ "https://registry.test": reg!.url });
    const client = new RegistryClient("registry.test", { fetch: f, retries: NO_RETRIES });
    await assert.rejects(client.getManifest("app", "latest"), /is plain http on another host/);
    assert.deepEqual(f.log.map((e) => new URL(e.url).host), ["registry.test"]);
  }, [
    () =>
      new Response("{}", {
        status: 401,
        headers: { "www-authenticate": 'Bearer realm="http://169.254.169.254/latest/meta-data"' },
      }),
  ]);
});

Deno.test("an http token realm on the registry's own host is used only when it is marked insecure", async () => {
  await withServers(1, async ([reg]) => {
    const f = routedFetch({
      "https://registry.test": reg!.url,
      "http://registry.test": reg!.url,
      "http://registry.test:8080": reg!.url,
    });
    const secure = new RegistryClient("registry.test", {
      fetch: f,
      credentials: CREDS,
      retries: NO_RETRIES,
    });
    await assert.rejects(secure.getManifest("app", "latest"), /plain http on this host/);
    assert.equal(f.log.filter((e) => e.url.includes(":8080")).length, 0);
    const insecure = new RegistryClient("registry.test", {
      fetch: f,
      credentials: CREDS,
      insecure: true,
      retries: NO_RETRIES,
    });
    await assert.rejects(insecure.getManifest("app", "latest"), /404/);
    const token = f.log.find((e) => e.url.includes(":8080"));
    assert.ok(token?.authorization?.startsWith("Basic "), "the insecure realm got the credentials");
  }, [
    (req) => {
      const u = new URL(req.url);
      if (u.pathname === "/token") return Response.json({ token: "t0ken-0f-registry" });
      if (req.headers.get("authorization") === "Bearer t0ken-0f-registry") {
        return new Response("", { status: 404 });
      }
      return new Response("{}", {
        status: 401,
        headers: { "www-authenticate": 'Bearer realm="http://registry.test:8080/token"' },
      });
    },
  ]);
});

/** A registry that asks for Basic auth and sends uploads to `location(servers)`. */
function uploadingRegistry(location: (all: HostileServer[]) => string) {
  return (req: Request, _self: HostileServer, all: HostileServer[]): Response => {
    const u = new URL(req.url);
    if (req.headers.get("authorization") !== `Basic ${btoa(`alice:${PASSWORD}`)}`) {
      return new Response("", {
        status: 401,
        headers: { "www-authenticate": 'Basic realm="hostile"' },
      });
    }
    if (req.method === "HEAD") return new Response(null, { status: 404 });
    if (req.method === "POST" && u.pathname.endsWith("/blobs/uploads/")) {
      return new Response(null, { status: 202, headers: { location: location(all) } });
    }
    return new Response("", { status: 404 });
  };
}

/** The other end of an upload: takes the PATCH and the PUT. */
function uploadTarget(req: Request): Promise<Response> | Response {
  if (req.method === "PATCH") {
    return req.arrayBuffer().then(() =>
      new Response(null, { status: 202, headers: { location: new URL(req.url).pathname } })
    );
  }
  if (req.method === "PUT") return new Response(null, { status: 201 });
  return new Response("", { status: 404 });
}

async function pushOne(client: RegistryClient): Promise<void> {
  const bytes = new TextEncoder().encode("hostile layer bytes");
  const digest = sha256Digest(bytes);
  assert.equal(
    await client.pushBlob("app", {
      digest,
      size: bytes.byteLength,
      open: () => Promise.resolve(new Blob([bytes]).stream()),
    }),
    "uploaded",
  );
}

Deno.test("an upload Location on another port gets no Authorization (Basic)", async () => {
  await withServers(2, async ([reg, other]) => {
    await pushOne(new RegistryClient(reg!.host, { credentials: CREDS, retries: NO_RETRIES }));
    assert.ok(reg!.log.some((e) => e.authorization?.startsWith("Basic ")));
    assert.deepEqual(other!.log.map((e) => [e.method, e.authorization]), [
      ["PATCH", null],
      ["PUT", null],
    ]);
  }, [uploadingRegistry((all) => `${all[1]!.url}/upload/1`), uploadTarget]);
});

Deno.test("an http upload Location from an https registry gets no Authorization", async () => {
  await withServers(2, async ([reg, other]) => {
    const f = routedFetch({
      "https://registry.test": reg!.url,
      "http://registry.test": other!.url,
    });
    await pushOne(
      new RegistryClient("registry.test", { fetch: f, credentials: CREDS, retries: NO_RETRIES }),
    );
    const cleartext = f.log.filter((e) => e.url.startsWith("http:"));
    assert.deepEqual(cleartext.map((e) => [e.method, e.authorization]), [
      ["PATCH", null],
      ["PUT", null],
    ]);
  }, [uploadingRegistry(() => "http://registry.test/upload/1"), uploadTarget]);
});

Deno.test("a Bearer token is not sent to an upload Location on another host", async () => {
  await withServers(2, async ([reg, other]) => {
    const f = routedFetch({ "https://registry.test": reg!.url, "https://evil.test": other!.url });
    await pushOne(
      new RegistryClient("registry.test", { fetch: f, credentials: CREDS, retries: NO_RETRIES }),
    );
    assert.ok(f.log.some((e) => e.authorization === "Bearer t0ken-f0r-registry"));
    assert.deepEqual(
      f.log.filter((e) => e.url.startsWith("https://evil.test")).map((e) => e.authorization),
      [null, null],
    );
  }, [
    (req) => {
      const u = new URL(req.url);
      if (u.pathname === "/token") return Response.json({ token: "t0ken-f0r-registry" });
      if (req.headers.get("authorization") !== "Bearer t0ken-f0r-registry") {
        return new Response("", {
          status: 401,
          headers: { "www-authenticate": 'Bearer realm="https://registry.test/token"' },
        });
      }
      if (req.method === "HEAD") return new Response(null, { status: 404 });
      return new Response(null, {
        status: 202,
        headers: { location: "https://evil.test/upload/1" },
      });
    },
    uploadTarget,
  ]);
});

Deno.test("a 401 challenge from an upload Location elsewhere is not followed", async () => {
  await withServers(2, async ([reg, other]) => {
    const client = new RegistryClient(reg!.host, { credentials: CREDS, retries: NO_RETRIES });
    await assert.rejects(pushOne(client), /401/);
    assert.deepEqual(other!.log.map((e) => e.authorization), [null]);
  }, [
    uploadingRegistry((all) => `${all[1]!.url}/upload/1`),
    () =>
      new Response("", {
        status: 401,
        headers: { "www-authenticate": 'Basic realm="give me the password"' },
      }),
  ]);
});

Deno.test("a blob redirect to another host gets no Authorization", async () => {
  const bytes = new TextEncoder().encode("redirected blob");
  const digest = sha256Digest(bytes);
  await withServers(2, async ([reg, other]) => {
    const client = new RegistryClient(reg!.host, { credentials: CREDS, retries: NO_RETRIES });
    const stream = await client.getBlob("app", {
      mediaType: "application/octet-stream",
      digest,
      size: bytes.byteLength,
    });
    assert.equal(await new Response(stream).text(), "redirected blob");
    assert.ok(reg!.log.some((e) => e.authorization?.startsWith("Basic ")));
    assert.deepEqual(other!.log.map((e) => e.authorization), [null]);
  }, [
    (req, _self, all) => {
      if (req.headers.get("authorization") !== `Basic ${btoa(`alice:${PASSWORD}`)}`) {
        return new Response("", {
          status: 401,
          headers: { "www-authenticate": 'Basic realm="hostile"' },
        });
      }
      return new Response(null, { status: 307, headers: { location: `${all[1]!.url}/blob` } });
    },
    () => new Response(bytes),
  ]);
});
