import fs from "node:fs";
import { RpcError } from "@plugd/protocol";
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import { AdminToken, loadOrCreateAdminToken } from "./auth/admin-token.js";
import { newCsrfToken } from "./auth/guard.js";
import { busHostServices } from "./bridge/host-services.js";
import { mirrorIntoBus } from "./bridge/mirror.js";
import { PluginEventDelivery } from "./bridge/plugin-delivery.js";
import { createBus, type LocalBus } from "./bus/index.js";
import { Defaults } from "./config/defaults.js";
import { loadOrCreateSecret } from "./config/secrets.js";
import type { Settings } from "./config/settings.js";
import { makeConfigFor } from "./config-api/effective.js";
import { ConfigService } from "./config-api/service.js";
import { PluginHost } from "./host/host.js";
import { buildApp } from "./http/app.js";
import { ApiError } from "./http/errors.js";
import { type LogOverrides, resolveLogOptions } from "./logs/log-options.js";
import { LogService } from "./logs/log-service.js";
import { type MessagePlane, startMessagePlane } from "./message-plane/index.js";
import { type MetricsOverrides, resolveMetricsOptions } from "./metrics/metrics-options.js";
import { MetricsService } from "./metrics/metrics-service.js";
import { RunEngine } from "./runs/engine.js";
import { RunTokens } from "./runs/tokens.js";
import { openStore } from "./store/sqlite/index.js";
import type { Storage } from "./store/types.js";
import { TimerScheduler } from "./timers/scheduler.js";

export const VERSION = "0.1.0";

export interface RunningServer {
  app: FastifyInstance;
  host: PluginHost;
  engine: RunEngine;
  store: Storage;
  /** The topic stores (messages, events, lifecycle, runs, export, memory). */
  bus: LocalBus;
  /** Null when switched off (`--no-message-plane`). */
  messagePlane: MessagePlane | null;
  timers: TimerScheduler;
  settings: Settings;
  logs: LogService;
  metrics: MetricsService;
  url: string;
  /** Stops accepting requests, fails runs in flight, stops every plugin, closes the store. Idempotent. */
  close(reason?: string): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  /** Install SIGINT/SIGTERM handlers that close the server (the CLI does; tests do not). */
  handleSignals?: boolean;
  /** Log file rotation and regex search limits (default Defaults.logs, env PLUGD_LOG_FILE_*). */
  logs?: LogOverrides;
  /** Sampling interval, history size, watchdog (default Defaults.metrics, env PLUGD_METRICS_*). */
  metrics?: MetricsOverrides;
}

/** Wires store → host → run engine → HTTP, and starts listening. */
export async function startServer(settings: Settings, opts: StartOptions = {}): Promise<RunningServer> {
  assertSafeBinding(settings);
  // <data dir>/logs: the server's own log (also on the console, or on opts.logger's destination) and one per plugin.
  const logs = new LogService({ ...resolveLogOptions(settings.dataDir, opts.logs), pidOf: (id) => host.get(id)?.pid });
  const logger = logs.createServerLogger(settings.logLevel, opts.logger);
  fs.mkdirSync(settings.dataDir, { recursive: true });
  if (!fs.existsSync(settings.pluginsDir)) {
    throw new Error(`plugins directory ${settings.pluginsDir} does not exist (set --plugins-dir or PLUGD_PLUGINS_DIR)`);
  }
  const store = openStore(settings.dataDir, { onWarning: (msg) => logger.warn(msg) });
  const tokens = new RunTokens(loadOrCreateSecret(settings.dataDir, "run-token.secret"), Defaults.runs.runTokenTtlMs);
  const host = new PluginHost({
    pluginsDir: settings.pluginsDir,
    exitHandlers: opts.handleSignals ?? false,
    host: { dataDir: settings.dataDir },
    configFor: makeConfigFor({ warn: (plugin, msg) => logger.warn({ plugin }, msg) }),
  });
  host.on("log", (r) => logs.record(r));
  host.on("state", (c) =>
    logs.note(c.plugin, c.state === "crashed" || c.state === "quarantined" ? "warn" : "info", `plugin is ${c.state}`, {
      state: c.state,
      previous: c.previous,
      ...(c.reason ? { reason: c.reason } : {}),
    }),
  );
  host.on("log", (r) =>
    logger[r.level === "fatal" ? "fatal" : r.level](
      // pino's own `pid` is the server's; the plugin's process goes under plugin_pid.
      {
        ...r.fields,
        plugin: r.plugin,
        ...(r.pid > 0 ? { plugin_pid: r.pid } : {}),
        ...(r.runId ? { run_id: r.runId } : {}),
      },
      r.msg,
    ),
  );
  host.on("state", (c) =>
    logger.info(
      { plugin: c.plugin, state: c.state, previous: c.previous, reason: c.reason },
      `plugin ${c.plugin} is ${c.state}`,
    ),
  );
  const bus = createBus({
    dataDir: settings.dataDir,
    log: { warn: (o, m) => logger.warn(o, m), error: (o, m) => logger.error(o, m) },
  });

  const engine = new RunEngine(store, host, tokens, {
    defaultTimeoutMs: settings.runDefaultTimeoutMs,
    cancelGraceMs: settings.runCancelGraceMs,
    progressMinIntervalMs: Defaults.runs.progressMinIntervalMs,
    holdMs: Defaults.runs.holdMs,
    logger,
  });
  const config = new ConfigService(host);
  host.setServices({
    ...busHostServices(bus, engine),
    updateConfig: (plugin, p) => updateOwnConfig(config, plugin, p),
  });
  const unmirror = mirrorIntoBus(bus, host, engine);
  const delivery = new PluginEventDelivery(host, bus);
  const metrics = new MetricsService(host, engine, resolveMetricsOptions(opts.metrics), logger);
  metrics.start();
  const recovered = await engine.recover();
  if (recovered > 0)
    logger.warn(`${recovered} runs left in flight by a previous process were marked failed (server_restarted)`);

  const loaded = host.load(settings.pluginsDir);
  for (const p of loaded.filter((v) => v.state === "load_failed"))
    logger.warn({ plugin: p.id }, `plugin ${p.id} failed to load: ${p.reason}`);
  if (settings.autoStart) {
    for (const r of await host.startAuto())
      if (!r.ok) logger.warn({ plugin: r.id }, `plugin ${r.id} did not start: ${r.error}`);
  }

  const admin = loadOrCreateAdminToken(settings.dataDir);
  if (admin.created && settings.authEnabled) {
    // Printed once, at creation; afterwards it is only in the file (mode 0600).
    process.stderr.write(`plugd: admin token created in ${admin.file}:\n  ${admin.token}\n`);
  }
  const timers = new TimerScheduler(host, engine, logger);
  const messagePlane = settings.messagePlane
    ? await startMessagePlane(bus, {
        host: settings.host === "localhost" ? "127.0.0.1" : settings.host,
        rpcPort: settings.messagePlanePort,
        pubPort: settings.messagePlanePort && settings.messagePlanePort + 1,
        ingestPort: settings.messagePlanePort && settings.messagePlanePort + 2,
        log: logger,
      })
    : null;
  const app = await buildApp(
    {
      host,
      engine,
      store,
      tokens,
      settings,
      version: VERSION,
      adminToken: new AdminToken(admin.file),
      csrfToken: newCsrfToken(),
      logs,
      metrics,
      bus,
      config,
      timers,
    },
    logger,
  );
  await app.listen({ host: settings.host, port: settings.port });
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : settings.port;
  const url = `http://${settings.host.includes(":") ? `[${settings.host}]` : settings.host}:${port}`;

  let closing: Promise<void> | undefined;
  const close = (reason = "the server shut down while this run was in flight") =>
    (closing ??= (async () => {
      timers.close();
      await metrics.stop();
      await messagePlane?.close();
      await engine.shutdown(reason);
      await app.close();
      await host.close();
      // After the plugins: their last runs and lifecycle transitions are still mirrored and flushed.
      delivery.close();
      unmirror();
      await bus.close();
      await store.close();
      // Last: the plugins' shutdown lines above still reach their files.
      await logs.close();
    })());

  if (opts.handleSignals) {
    const onSignal = (sig: NodeJS.Signals) => {
      logger.info(`${sig} received: failing runs in flight, stopping plugins`);
      const force = setTimeout(() => {
        logger.error("shutdown took too long; killing plugins");
        host.killAll();
        process.exit(1);
      }, Defaults.server.shutdownGraceMs + 5_000);
      force.unref();
      void close(`the server received ${sig} while this run was in flight`).then(() => process.exit(0));
    };
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
  }
  return {
    app,
    host,
    engine,
    store,
    bus,
    messagePlane,
    timers,
    settings: { ...settings, port },
    logs,
    metrics,
    url,
    close,
  };
}

/**
 * `host/updateConfig {patch | config, mode?}` from a plugin (N.E.K.O's `self.config.update`): the same checks,
 * lock and atomic write as POST /plugin/{id}/config/hot-update; permanent unless the plugin asks for "temporary".
 */
async function updateOwnConfig(config: ConfigService, plugin: string, raw: unknown): Promise<unknown> {
  const p = (typeof raw === "object" && raw !== null ? raw : {}) as Record<string, unknown>;
  const patch = p.patch ?? p.config;
  if (typeof patch !== "object" || patch === null || Array.isArray(patch)) {
    throw RpcError.of("INVALID_INPUT", "host/updateConfig needs {patch: {...}} (a table to merge into the config)");
  }
  const mode = p.mode === "temporary" ? "temporary" : "permanent";
  try {
    return await config.hotUpdate(plugin, patch as Record<string, unknown>, mode, undefined);
  } catch (err) {
    if (err instanceof ApiError) throw RpcError.of("INVALID_INPUT", err.message, { api_code: err.code });
    throw err;
  }
}

/** Serving beyond loopback without the admin token would hand plugin control to the network: refused. */
function assertSafeBinding(settings: Settings): void {
  const loopback = ["127.0.0.1", "::1", "localhost"].includes(settings.host) || settings.host.startsWith("127.");
  if (!loopback && !settings.authEnabled) {
    throw new Error(
      `refusing to serve on ${settings.host} without authentication: drop --no-auth / PLUGD_AUTH=off, or bind to 127.0.0.1`,
    );
  }
}
