/**
 * Registry credentials the way Docker and podman find them: `REGISTRY_AUTH_FILE`
 * (podman/skopeo `auth.json`), then `$DOCKER_CONFIG/config.json` or
 * `~/.docker/config.json` with `credHelpers`, `auths` (`auth`,
 * `identitytoken`, `registrytoken`) and `credsStore`. Helpers are run as
 * `docker-credential-<name> get` with the server URL on stdin.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { dockerCredentials } from "@ocistream/ocistream/deno";
 * const store = dockerCredentials({ env: {} });
 * assertEquals(await store.get("127.0.0.1:5000"), undefined);
 * ```
 * @module
 */
import {
  type Credentials,
  type CredentialStore,
  DOCKER_HUB_CREDENTIALS_KEY,
  isDockerHubHost,
} from "../registry/credentials.ts";

/** Options of {@linkcode dockerCredentials}. */
export interface DockerCredentialsOptions {
  /** Environment to read `DOCKER_CONFIG`, `REGISTRY_AUTH_FILE`, `HOME` and `PATH` from (default `Deno.env`). */
  env?: Record<string, string | undefined>;
  /** Docker config folder (overrides `DOCKER_CONFIG`). */
  configDir?: string;
  /** podman/skopeo auth file (overrides `REGISTRY_AUTH_FILE`). */
  authFile?: string;
}

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  registrytoken?: string;
}

interface ConfigFile {
  auths?: Record<string, AuthEntry>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

/** A {@linkcode CredentialStore} over Docker's and podman's config files and helpers. */
export function dockerCredentials(options: DockerCredentialsOptions = {}): CredentialStore {
  const env = options.env ?? Deno.env.toObject();
  const configDir = options.configDir ?? env.DOCKER_CONFIG ??
    (env.HOME ? `${env.HOME}/.docker` : undefined);
  const authFile = options.authFile ?? env.REGISTRY_AUTH_FILE;
  let files: Promise<{ podman?: ConfigFile; docker?: ConfigFile }> | undefined;
  const load = () =>
    files ??= (async () => ({
      podman: authFile ? await readConfig(authFile) : undefined,
      docker: configDir ? await readConfig(`${configDir}/config.json`) : undefined,
    }))();

  return {
    async get(registry: string): Promise<Credentials | undefined> {
      const keys = candidateKeys(registry);
      const { podman, docker } = await load();
      if (podman) {
        const c = fromEntries(podman.auths, keys, authFile!);
        if (c) return c;
      }
      if (!docker) return undefined;
      const configFile = `${configDir}/config.json`;
      for (const k of keys) {
        const helper = docker.credHelpers?.[k];
        if (helper) return await runHelper(helper, serverUrl(registry, k), env.PATH);
      }
      const c = fromEntries(docker.auths, keys, configFile);
      if (c) return c;
      if (docker.credsStore) {
        // With a store, `auths` entries are placeholders: ask the store for the key it saw.
        const key = keys.find((k) => docker.auths?.[k] !== undefined) ??
          serverUrl(registry, keys[0]!);
        return await runHelper(docker.credsStore, key, env.PATH);
      }
      return undefined;
    },
  };
}

/** The keys Docker may have stored a registry under, most specific first. */
function candidateKeys(registry: string): string[] {
  if (isDockerHubHost(registry)) {
    return [DOCKER_HUB_CREDENTIALS_KEY, "index.docker.io", "docker.io", "registry-1.docker.io"];
  }
  return [
    registry,
    `https://${registry}`,
    `http://${registry}`,
    `https://${registry}/v1/`,
    `https://${registry}/v2/`,
  ];
}

function serverUrl(registry: string, key: string): string {
  return isDockerHubHost(registry) ? DOCKER_HUB_CREDENTIALS_KEY : key;
}

async function readConfig(path: string): Promise<ConfigFile | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new TypeError(`Cannot read registry credentials file ${path}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text) as ConfigFile;
  } catch {
    throw new SyntaxError(`Cannot parse registry credentials file ${path}: it is not valid JSON`);
  }
}

function fromEntries(
  auths: Record<string, AuthEntry> | undefined,
  keys: string[],
  file: string,
): Credentials | undefined {
  if (!auths) return undefined;
  for (const k of keys) {
    const e = auths[k];
    if (!e) continue;
    if (e.identitytoken) return { identityToken: e.identitytoken };
    if (e.registrytoken) return { registryToken: e.registrytoken };
    if (e.auth) {
      let decoded: string;
      try {
        decoded = new TextDecoder().decode(Uint8Array.from(atob(e.auth), (c) => c.charCodeAt(0)));
      } catch {
        throw new TypeError(
          `Invalid "auth" for ${k} in ${file}: it must be base64 of user:password`,
        );
      }
      const colon = decoded.indexOf(":");
      if (colon < 0) {
        throw new TypeError(
          `Invalid "auth" for ${k} in ${file}: it must be base64 of user:password`,
        );
      }
      return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
    }
    if (e.username && e.password) return { username: e.username, password: e.password };
  }
  return undefined;
}

function findExecutable(name: string, path: string | undefined): string {
  for (const dir of (path ?? "").split(":")) {
    if (!dir) continue;
    try {
      const info = Deno.statSync(`${dir}/${name}`);
      if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) return `${dir}/${name}`;
    } catch {
      // Not in this folder.
    }
  }
  return name;
}

/** Runs `docker-credential-<helper> get`; `undefined` when it has no credentials for the server. */
async function runHelper(
  helper: string,
  server: string,
  path: string | undefined,
): Promise<Credentials | undefined> {
  const program = `docker-credential-${helper}`;
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(findExecutable(program, path), {
      args: ["get"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    throw new TypeError(
      `Cannot run credential helper ${program} for ${server}: ${
        (e as Error).message
      }; install it or fix credHelpers/credsStore in the Docker config`,
    );
  }
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(server));
  await writer.close();
  const out = await child.output();
  const stdout = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) {
    if (
      /credentials not found/i.test(stdout) ||
      /credentials not found/i.test(new TextDecoder().decode(out.stderr))
    ) {
      return undefined;
    }
    // The helper's output is not quoted: it could hold secrets.
    throw new TypeError(
      `Credential helper ${program} failed for ${server} (exit code ${out.code})`,
    );
  }
  let j: { Username?: string; Secret?: string };
  try {
    j = JSON.parse(stdout);
  } catch {
    throw new SyntaxError(`Credential helper ${program} answered no JSON for ${server}`);
  }
  if (!j.Secret) return undefined;
  if (j.Username === "<token>") return { identityToken: j.Secret };
  return { username: j.Username ?? "", password: j.Secret };
}
