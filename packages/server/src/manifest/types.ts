/** A plugin's manifest (`plugin.toml`) after parsing, validation and defaulting. Everything inside plugd uses this. */

export interface VersionRanges {
  /** semver ranges; PEP 440 forms such as ">=0.1.0,<0.3.0" are accepted and converted. */
  recommended?: string;
  supported?: string;
  untested?: string;
  conflicts?: string[];
}

export interface StartSpec {
  /** Absolute path or a program name looked up on PATH (e.g. "node"). */
  command: string;
  args: string[];
  /** Absolute working directory (defaults to the plugin folder). */
  cwd: string;
  /** Extra environment given to the plugin; nothing else of the host's env is passed but a short allowlist. */
  env: Record<string, string>;
  /** The runtime shorthand it was built from, if any. */
  runtime?: "node" | "python" | "binary";
}

export interface Limits {
  handshakeTimeoutMs: number;
  rpcTimeoutMs: number;
  shutdownTimeoutMs: number;
  healthIntervalMs: number;
  maxConcurrency: number;
  maxQueue: number;
  maxMessageBytes: number;
}

export type RestartPolicyName = "never" | "on-failure" | "always";

export interface RestartPolicy {
  policy: RestartPolicyName;
  /** Crashes within `windowMs` beyond this count quarantine the plugin. */
  maxRetries: number;
  backoffBaseMs: number;
  backoffCapMs: number;
  windowMs: number;
}

export interface Dependency {
  id: string;
  /** semver range of the dependency's version; undefined = any. */
  range?: string;
  optional: boolean;
}

export interface Permissions {
  /** May the plugin send host/* requests at all. */
  reverseRpc: boolean;
  /** Plugin ids it may call with host/call; "*" = any. */
  call: string[];
}

export interface PluginManifest {
  id: string;
  name: string;
  version: string;
  description: string;
  /** Absolute folder of the plugin and absolute path of its plugin.toml. */
  dir: string;
  file: string;
  start: StartSpec;
  /** N.E.K.O-style Python entry ("module:Class"), when the manifest uses one. */
  pythonEntry?: string;
  enabled: boolean;
  autoStart: boolean;
  protocol: VersionRanges;
  sdk: VersionRanges;
  dependencies: Dependency[];
  limits: Limits;
  restart: RestartPolicy;
  events: { include: string[]; exclude: string[] };
  permissions: Permissions;
  /** Default config: the manifest's business tables (every top-level table but the reserved ones). */
  config: Record<string, unknown>;
  /** The parsed TOML as written, for the config API. */
  raw: Record<string, unknown>;
  /** Non-fatal findings (outside the recommended range, untested version…). */
  warnings: string[];
}

/** The result of discovering one folder: a manifest, or the reason it could not be loaded. */
export type DiscoveredPlugin =
  | { ok: true; manifest: PluginManifest }
  | { ok: false; id: string; dir: string; file: string; error: ManifestErrorInfo };

export interface ManifestErrorInfo {
  code: "MANIFEST_INVALID" | "MANIFEST_NOT_FOUND" | "VERSION_UNSUPPORTED" | "VERSION_CONFLICT" | "DUPLICATE_ID";
  message: string;
  file: string;
  /** Dotted key path the problem is at, e.g. "plugin.limits.max_concurrency". */
  key?: string;
}
