import { Defaults } from "../config/defaults.js";
import { positiveInt } from "../logs/log-options.js";
import type { MetricsOptions } from "./metrics-service.js";

/** What a caller may override; env `PLUGD_METRICS_INTERVAL_MS` / `PLUGD_METRICS_HISTORY_SIZE` too. */
export type MetricsOverrides = Partial<MetricsOptions>;

/** Metrics options: override > env > Defaults.metrics. */
export function resolveMetricsOptions(
  overrides: MetricsOverrides = {},
  env: NodeJS.ProcessEnv = process.env,
): MetricsOptions {
  const d = Defaults.metrics;
  return {
    intervalMs:
      overrides.intervalMs ?? positiveInt(env.PLUGD_METRICS_INTERVAL_MS, "PLUGD_METRICS_INTERVAL_MS") ?? d.intervalMs,
    historySize:
      overrides.historySize ??
      positiveInt(env.PLUGD_METRICS_HISTORY_SIZE, "PLUGD_METRICS_HISTORY_SIZE") ??
      d.historySize,
    latencyWindow: overrides.latencyWindow ?? d.latencyWindow,
    latencyBuckets: overrides.latencyBuckets ?? d.latencyBuckets,
    heartbeatMs: overrides.heartbeatMs ?? d.heartbeatMs,
    warnMs: overrides.warnMs ?? d.blockedWarnMs,
    windowMs: overrides.windowMs ?? d.lagWindowMs,
  };
}
