import path from "node:path";
import { fileURLToPath } from "node:url";
import { Defaults } from "./defaults.js";

/** What the server is started with. Resolution order: flag > env (PLUGD_…) > default. */
export interface Settings {
  host: string;
  port: number;
  dataDir: string;
  pluginsDir: string;
  logLevel: string;
  runDefaultTimeoutMs: number;
  runCancelGraceMs: number;
  uploadMaxBytes: number;
  bodyLimitBytes: number;
  autoStart: boolean;
  /** Admin token required on admin routes. Off only on loopback (`--no-auth`, PLUGD_AUTH=off). */
  authEnabled: boolean;
  trustedHosts: string[];
  trustedOrigins: string[];
  /** The ZeroMQ message plane (`--no-message-plane`, PLUGD_MESSAGE_PLANE=off). */
  messagePlane: boolean;
  /**
   * Its RPC port; PUB and INGEST take the next two. Default 48913, or 0 (free ports) when the HTTP port is 0, so
   * servers started on free ports (tests, side-by-side instances) never collide on the plane either.
   */
  messagePlanePort: number;
}

/** The repository's example plugins: what `npm start` serves when no plugins dir is given. */
export const EXAMPLES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../../examples/plugins");

export type SettingsInput = Partial<{ [K in keyof Settings]: Settings[K] | string }>;

export function resolveSettings(flags: SettingsInput = {}, env: NodeJS.ProcessEnv = process.env): Settings {
  const pick = (flag: unknown, envName: string, def: string | number | boolean) =>
    flag !== undefined && flag !== null && flag !== "" ? flag : (env[envName] ?? def);
  const int = (v: unknown, name: string): number => {
    const n = typeof v === "number" ? v : Number(v);
    if (!Number.isInteger(n) || n < 0)
      throw new Error(`${name} must be a non-negative integer (got ${JSON.stringify(v)})`);
    return n;
  };
  const port = int(pick(flags.port, "PLUGD_PORT", Defaults.server.port), "port (--port / PLUGD_PORT)");
  if (port > 65535) throw new Error(`port must be ≤ 65535 (got ${port})`);
  const mpPort = int(
    pick(flags.messagePlanePort, "PLUGD_MESSAGE_PLANE_PORT", port === 0 ? 0 : Defaults.messagePlane.rpcPort),
    "message plane port (--message-plane-port / PLUGD_MESSAGE_PLANE_PORT)",
  );
  if (mpPort > 65533)
    throw new Error(`message plane port must be ≤ 65533: PUB and INGEST take the next two (got ${mpPort})`);
  return {
    host: String(pick(flags.host, "PLUGD_HOST", Defaults.server.host)),
    port,
    dataDir: path.resolve(String(pick(flags.dataDir, "PLUGD_DATA_DIR", Defaults.server.dataDir))),
    pluginsDir: path.resolve(String(pick(flags.pluginsDir, "PLUGD_PLUGINS_DIR", EXAMPLES_DIR))),
    logLevel: String(pick(flags.logLevel, "PLUGD_LOG_LEVEL", "info")),
    runDefaultTimeoutMs: int(
      pick(flags.runDefaultTimeoutMs, "PLUGD_RUN_TIMEOUT_MS", Defaults.runs.defaultTimeoutMs),
      "run timeout",
    ),
    runCancelGraceMs: int(
      pick(flags.runCancelGraceMs, "PLUGD_CANCEL_GRACE_MS", Defaults.runs.cancelGraceMs),
      "cancel grace",
    ),
    uploadMaxBytes: int(
      pick(flags.uploadMaxBytes, "PLUGD_UPLOAD_MAX_BYTES", Defaults.runs.uploadMaxBytes),
      "upload max bytes",
    ),
    bodyLimitBytes: int(
      pick(flags.bodyLimitBytes, "PLUGD_BODY_LIMIT_BYTES", Defaults.server.bodyLimitBytes),
      "body limit",
    ),
    autoStart: String(pick(flags.autoStart, "PLUGD_AUTO_START", true)) !== "false",
    authEnabled: !["off", "false", "0"].includes(String(pick(flags.authEnabled, "PLUGD_AUTH", "on")).toLowerCase()),
    trustedHosts: list(pick(flags.trustedHosts, "PLUGD_TRUSTED_HOSTS", "")),
    trustedOrigins: list(pick(flags.trustedOrigins, "PLUGD_TRUSTED_ORIGINS", "")),
    messagePlane: !["off", "false", "0"].includes(
      String(pick(flags.messagePlane, "PLUGD_MESSAGE_PLANE", "on")).toLowerCase(),
    ),
    messagePlanePort: mpPort,
  };
}

function list(v: unknown): string[] {
  if (Array.isArray(v)) return v.map(String);
  return String(v ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}
