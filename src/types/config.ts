/**
 * The image configuration (OCI image-spec `config.md`, Docker's image JSON).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import type { ImageConfig } from "@ocistream/ocistream/image";
 * const c: ImageConfig = { architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } };
 * assertEquals(c.rootfs.diff_ids.length, 0);
 * ```
 * @module
 */

/** Runtime settings of a container. */
export interface ContainerConfig {
  /** User to run as. */
  User?: string;
  /** Ports as `80/tcp` keys. */
  ExposedPorts?: Record<string, Record<string, never>>;
  /** `KEY=VALUE` entries. */
  Env?: string[];
  /** Entrypoint argv. */
  Entrypoint?: string[];
  /** Default arguments. */
  Cmd?: string[];
  /** Volumes as keys. */
  Volumes?: Record<string, Record<string, never>>;
  /** Working directory. */
  WorkingDir?: string;
  /** Labels. */
  Labels?: Record<string, string>;
  /** Stop signal. */
  StopSignal?: string;
  /** Anything else a base image carried (kept as is). */
  [key: string]: unknown;
}

/** One history entry. */
export interface HistoryEntry {
  /** RFC 3339 creation time. */
  created?: string;
  /** Command that made it. */
  created_by?: string;
  /** Author. */
  author?: string;
  /** Comment. */
  comment?: string;
  /** True for steps that made no layer. */
  empty_layer?: boolean;
}

/** The image config document. */
export interface ImageConfig {
  /** RFC 3339 creation time. */
  created?: string;
  /** Author. */
  author?: string;
  /** CPU architecture. */
  architecture: string;
  /** Operating system. */
  os: string;
  /** CPU variant. */
  variant?: string;
  /** OS version. */
  "os.version"?: string;
  /** Container settings. */
  config?: ContainerConfig;
  /** Layer diffIDs. */
  rootfs: { type: "layers"; diff_ids: string[] };
  /** History, one non-empty entry per layer. */
  history?: HistoryEntry[];
  /** Anything else a base image carried (kept as is). */
  [key: string]: unknown;
}
