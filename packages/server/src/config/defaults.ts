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
    /** Log files (`<data dir>/logs/<plugin>.log`, `_server.log`) rotate when the next line would pass this size. */
    fileMaxBytes: 10 * 1024 * 1024,
    /** Files kept per log, the live one included: `<name>.log` plus `.log.1` … `.log.<n-1>`. */
    fileMaxCount: 5,
    /** GET /plugin/:id/logs `lines`: default and upper bound. */
    queryDefaultLines: 100,
    queryMaxLines: 10_000,
    /** Lines the WS /ws/logs/:id `initial` frame carries by default. */
    tailInitialLines: 100,
    /** A `search=/…/flags` pattern longer than this is refused (ReDoS guard, with the time box below). */
    regexMaxLength: 200,
    /**
     * Time the worker may spend matching a regex against one batch of 1000 lines before it is killed: a catastrophic
     * pattern answers 400 REGEX_TIMEOUT within this box.
     */
    regexTimeoutMs: 200,
    /** Matching time one query may use in all (a benign regex over 50 MiB of logs needs well under a second). */
    regexQueryBudgetMs: 5_000,
    /** Worker threads kept for regex search; more concurrent searches wait for one. */
    regexWorkers: 2,
    /** WS /ws/logs: a `ping` frame after this long without any other frame. */
    wsIdlePingMs: 30_000,
    /** WS /ws/logs: a client this far behind (bytes not yet sent) is closed (1013) rather than buffered. */
    wsMaxBufferedBytes: 4 * 1024 * 1024,
  },
  metrics: {
    /** How often every plugin process is sampled (CPU, memory, threads, queue). */
    intervalMs: 5_000,
    /** Samples kept per plugin for GET /plugin/metrics/:id/history. */
    historySize: 1_000,
    /** GET /plugin/metrics/:id/history `limit`: default (the upper bound is historySize). */
    historyDefaultLimit: 100,
    /** Recent run durations per plugin the p50/p95/p99 latencies are computed from. */
    latencyWindow: 1_000,
    /** Buckets (seconds) of the plugd_plugin_execution_duration_seconds histogram. */
    latencyBuckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    /** Event-loop watchdog: heartbeat period, and how late a beat may be before "event loop blocked" is logged. */
    heartbeatMs: 500,
    blockedWarnMs: 1_000,
    /** plugd_event_loop_lag_seconds reports the worst lag seen over this rolling window. */
    lagWindowMs: 10_000,
  },
  runs: {
    defaultTimeoutMs: 300_000,
    cancelGraceMs: 3_000,
    runTokenTtlMs: 3_600_000,
    progressMinIntervalMs: 100,
    /**
     * A run whose caller hears of it only when it ends (POST /runs with wait: true, plugin-to-plugin calls) is
     * written when it ends, or this long after it started if still going: one write per short run instead of three.
     */
    holdMs: 50,
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
  bus: {
    /** Records kept per topic (memory and disk); the oldest are evicted and counted in topics(). */
    maxRecordsPerTopic: 10_000,
    maxTopicsPerStore: 2_000,
    maxTopicNameLength: 128,
    /** msgpack size of one payload (the reference's 256 KiB). */
    maxPayloadBytes: 256 * 1024,
    /** Records one recent/since/query call returns at most. */
    maxQueryLimit: 1_000,
    defaultQueryLimit: 200,
    /** Regex filters (reference §5.5): pattern length, subject truncation, time budget of one whole query. */
    regexMaxLength: 128,
    regexMaxSubjectLength: 1_024,
    regexBudgetMs: 50,
    /** Write-behind to <dataDir>/bus.db: one transaction per flush, at this interval or this many records. */
    flushIntervalMs: 50,
    flushMaxRecords: 5_000,
  },
  store: {
    /** How often the checkpoint worker copies plugd.db's WAL into the database file. */
    checkpointIntervalMs: 1_000,
    /** How long a connection waits for another's write lock (a CLI beside the server, the run writer thread). */
    busyTimeoutMs: 5_000,
    /** How long a store worker (run writer, checkpointer) may take to finish and close before it is terminated. */
    workerStopTimeoutMs: 5_000,
  },
  messagePlane: {
    enabled: true,
    host: "127.0.0.1",
    rpcPort: 48913,
    pubPort: 48914,
    ingestPort: 48915,
    /** An encoded RPC reply above this becomes RESULT_TOO_LARGE. */
    maxResultBytes: 8 * 1024 * 1024,
    /** Request frames above this are refused unread (ZMQ_MAXMSGSIZE closes the peer, so it is checked here). */
    maxRequestBytes: 1024 * 1024,
    /** Ingest frames above this are dropped and counted. */
    maxIngestFrameBytes: 64 * 1024 * 1024,
    ingestReceiveHwm: 10_000,
    rpcHwm: 10_000,
    pubSendHwm: 100_000,
    /** PUB payload encoding: msgpack (default) or json. */
    pubEncoding: "msgpack" as "msgpack" | "json",
    /** Envelope validation as in the reference: strict (v required, no extra keys), warn (tolerates both), off. */
    validateMode: "strict" as "strict" | "warn" | "off",
    /** replay plans: maximum depth. */
    maxPlanDepth: 16,
    /** close() waits up to this long for libzmq to let go of each TCP port, so a restart on it does not race. */
    portReleaseWaitMs: 2_000,
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
