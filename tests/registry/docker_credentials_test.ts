import assert from "node:assert/strict";
import { dockerCredentials } from "../../src/runtime/docker_credentials.ts";
import { staticCredentials } from "../../src/registry/credentials.ts";

Deno.test("dockerCredentials() reads auths: auth, identitytoken and registrytoken, with Docker Hub's key", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/config.json`,
      JSON.stringify({
        auths: {
          "reg.example:5000": { auth: btoa("alice:pa:ss") },
          "https://index.docker.io/v1/": { identitytoken: "refresh-me" },
          "https://tok.example": { registrytoken: "bearer-me" },
        },
      }),
    );
    const store = dockerCredentials({ env: { DOCKER_CONFIG: dir } });
    assert.deepEqual(await store.get("reg.example:5000"), { username: "alice", password: "pa:ss" });
    assert.deepEqual(await store.get("registry-1.docker.io"), { identityToken: "refresh-me" });
    assert.deepEqual(await store.get("tok.example"), { registryToken: "bearer-me" });
    assert.equal(await store.get("other.example"), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dockerCredentials() prefers REGISTRY_AUTH_FILE and asks credsStore with <token> answers", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/auth.json`,
      JSON.stringify({ auths: { "reg.example": { auth: btoa("podman:pw") } } }),
    );
    await Deno.mkdir(`${dir}/docker`);
    await Deno.writeTextFile(
      `${dir}/docker/config.json`,
      JSON.stringify({
        auths: { "reg.example": { auth: btoa("docker:pw") } },
        credsStore: "store",
      }),
    );
    await Deno.mkdir(`${dir}/bin`);
    await Deno.writeTextFile(
      `${dir}/bin/docker-credential-store`,
      `#!/bin/sh\nread s\nif [ "$s" = "https://index.docker.io/v1/" ]; then printf '{"ServerURL":"%s","Username":"<token>","Secret":"idtok"}' "$s"; else echo "credentials not found in native keychain"; exit 1; fi\n`,
    );
    await Deno.chmod(`${dir}/bin/docker-credential-store`, 0o755);
    const store = dockerCredentials({
      env: {
        REGISTRY_AUTH_FILE: `${dir}/auth.json`,
        DOCKER_CONFIG: `${dir}/docker`,
        PATH: `${dir}/bin`,
      },
    });
    assert.deepEqual(await store.get("reg.example"), { username: "podman", password: "pw" });
    assert.deepEqual(await store.get("docker.io"), { identityToken: "idtok" });
    assert.equal(await store.get("nothing.example"), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("staticCredentials() finds Docker Hub under any of its names", async () => {
  const store = staticCredentials({
    "https://index.docker.io/v1/": { username: "u", password: "p" },
  });
  assert.deepEqual(await store.get("registry-1.docker.io"), { username: "u", password: "p" });
  assert.equal(await store.get("quay.io"), undefined);
});
