import type { AdminToken } from "../auth/admin-token.js";
import type { LocalBus } from "../bus/index.js";
import type { Settings } from "../config/settings.js";
import type { ConfigService } from "../config-api/service.js";
import type { PluginHost } from "../host/host.js";
import type { LogService } from "../logs/log-service.js";
import type { MetricsService } from "../metrics/metrics-service.js";
import type { RunEngine } from "../runs/engine.js";
import type { RunTokens } from "../runs/tokens.js";
import type { Storage } from "../store/types.js";
import type { TimerScheduler } from "../timers/scheduler.js";

/** What the routes need; built once by server.ts. */
export interface AppContext {
  host: PluginHost;
  engine: RunEngine;
  store: Storage;
  tokens: RunTokens;
  settings: Settings;
  version: string;
  adminToken: AdminToken;
  csrfToken: string;
  /** Plugin and server log files, queries and the live tail. */
  logs: LogService;
  /** Process samples, run statistics and the Prometheus registry. */
  metrics: MetricsService;
  /** The topic stores: GET /plugin/messages reads `messages`. */
  bus: LocalBus;
  /** Plugin config files and profiles; one instance, so HTTP writes and plugins' own updates share its locks. */
  config: ConfigService;
  /** Host-fired interval timers (GET /plugin/timers). */
  timers: TimerScheduler;
}
