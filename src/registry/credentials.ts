/**
 * Where registry credentials come from. The core only asks a
 * {@linkcode CredentialStore}; `src/runtime/docker_credentials.ts` reads
 * Docker's and podman's files and helpers, and {@linkcode staticCredentials}
 * passes them directly.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { staticCredentials } from "@ocistream/ocistream/registry";
 * const store = staticCredentials({ "127.0.0.1:5000": { username: "u", password: "p" } });
 * assertEquals(await store.get("127.0.0.1:5000") !== undefined, true);
 * ```
 * @module
 */

/** A username and password (Basic auth, or the password grant of the token flow). */
export interface PasswordCredentials {
  /** User name. */
  username: string;
  /** Password or personal access token. */
  password: string;
}

/** An OAuth2 refresh token (Docker's `identitytoken`), exchanged at the token realm. */
export interface IdentityTokenCredentials {
  /** The refresh token. */
  identityToken: string;
}

/** A bearer token sent to the registry as is (Docker's `registrytoken`). */
export interface RegistryTokenCredentials {
  /** The bearer token. */
  registryToken: string;
}

/** Any kind of registry credentials. */
export type Credentials = PasswordCredentials | IdentityTokenCredentials | RegistryTokenCredentials;

/** Looks up credentials for a registry. */
export interface CredentialStore {
  /**
   * Credentials for `registry` (a host such as `127.0.0.1:5000` or
   * `registry-1.docker.io`), or `undefined` for anonymous access.
   */
  get(registry: string): Promise<Credentials | undefined>;
}

/** The key Docker uses for Docker Hub in `config.json` and credential helpers. */
export const DOCKER_HUB_CREDENTIALS_KEY = "https://index.docker.io/v1/";

/** Whether a host is Docker Hub (whose credentials live under {@linkcode DOCKER_HUB_CREDENTIALS_KEY}). */
export function isDockerHubHost(host: string): boolean {
  return host === "docker.io" || host === "index.docker.io" || host === "registry-1.docker.io";
}

/**
 * A store over a fixed map from registry host to credentials (the library
 * option to pass credentials directly). Docker Hub may be keyed by
 * `docker.io`, `registry-1.docker.io` or `https://index.docker.io/v1/`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { staticCredentials } from "@ocistream/ocistream/registry";
 * const store = staticCredentials({ "docker.io": { registryToken: "t" } });
 * assertEquals(await store.get("registry-1.docker.io") !== undefined, true);
 * ```
 */
export function staticCredentials(map: Record<string, Credentials>): CredentialStore {
  return {
    get(registry: string): Promise<Credentials | undefined> {
      if (map[registry]) return Promise.resolve(map[registry]);
      if (isDockerHubHost(registry)) {
        for (const k of ["docker.io", "registry-1.docker.io", DOCKER_HUB_CREDENTIALS_KEY]) {
          if (map[k]) return Promise.resolve(map[k]);
        }
      }
      return Promise.resolve(undefined);
    },
  };
}

/**
 * Tries several stores in order and returns the first credentials found.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { chainCredentials, staticCredentials } from "@ocistream/ocistream/registry";
 * const store = chainCredentials(staticCredentials({}), staticCredentials({ h: { username: "u", password: "p" } }));
 * assertEquals(await store.get("h") !== undefined, true);
 * ```
 */
export function chainCredentials(...stores: CredentialStore[]): CredentialStore {
  return {
    async get(registry: string): Promise<Credentials | undefined> {
      for (const s of stores) {
        const c = await s.get(registry);
        if (c) return c;
      }
      return undefined;
    },
  };
}
