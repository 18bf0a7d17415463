/**
 * Every default limit, timeout and port of plugd, in one place. Each can be overridden by the config file, by env
 * (`PLUGD_…`, see settings.ts) or by a flag; a manifest's own [plugin.limits] override the plugin defaults.
 */
export const Defaults = {
  server: {
    host: "127.0.0.1",
    port: 48912,
    dataDir: ".plugd",
    bodyLimitBytes: 8 * 1024 * 1024,
    shutdownGraceMs: 5_000,
  },
  plugin: {
    handshakeTimeoutMs: 5_000,
    rpcTimeoutMs: 60_000,
    shutdownTimeoutMs: 3_000,
    healthIntervalMs: 10_000,
    maxConcurrency: 16,
    maxQueue: 256,
    maxMessageBytes: 16 * 1024 * 1024,
  },
  restart: {
    policy: "on-failure" as const,
    maxRetries: 5,
    backoffBaseMs: 200,
    backoffCapMs: 30_000,
    windowMs: 60_000,
  },
  logs: {
    /** stderr lines per plugin per second before the rest are summarised as "N lines suppressed". */
    stderrLinesPerSecond: 200,
    /** stderr lines kept per plugin for the UI and quarantine reports. */
    stderrTailLines: 50,
    maxLineBytes: 16 * 1024,
  },
  runs: {
    defaultTimeoutMs: 300_000,
    cancelGraceMs: 3_000,
    runTokenTtlMs: 3_600_000,
    progressMinIntervalMs: 100,
    uploadMaxBytes: 100 * 1024 * 1024,
  },
  ws: {
    authTimeoutMs: 5_000,
    maxAuthFrameBytes: 16 * 1024,
    maxFrameBytes: 256 * 1024,
    pingIntervalMs: 15_000,
    pongTimeoutMs: 45_000,
    /** Frames waiting to be written to one client before it is closed as too slow (1013). */
    maxQueuedFrames: 256,
  },
} as const;

/** Environment variables a plugin process inherits from the host; everything else must be in its manifest's env. */
export const ENV_ALLOWLIST = [
  "PATH",
  "HOME",
  "LANG",
  "LC_ALL",
  "TZ",
  "TMPDIR",
  "USER",
  "LOGNAME",
  "SYSTEMROOT",
] as const;
