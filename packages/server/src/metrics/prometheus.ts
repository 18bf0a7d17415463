import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { HostPluginState, PluginHost } from "../host/host.js";
import type { MetricsCollector, PluginMetrics } from "./collector.js";
import type { EventLoopWatchdog } from "./event-loop.js";

/** Every state a plugin can be in, so `plugd_plugin_state` is a complete state set (one 1, the rest 0). */
const STATES: readonly HostPluginState[] = [
  "stopped",
  "starting",
  "ready",
  "degraded",
  "stopping",
  "crashed",
  "quarantined",
  "unavailable",
  "load_failed",
];

export interface PrometheusOptions {
  latencyBuckets: readonly number[];
}

/**
 * GET /metrics in the Prometheus text format. plugd's own registry, never prom-client's global one: several servers
 * in one process (tests, embedders) must not share or collide on metrics. Per-plugin gauges are filled at scrape
 * time from the collector's latest samples (and reset first, so a plugin that stopped drops out instead of showing
 * its last value forever); run counts and the latency histogram are fed as runs finish.
 */
export function createPrometheusRegistry(
  collector: MetricsCollector,
  host: PluginHost,
  watchdog: EventLoopWatchdog,
  opts: PrometheusOptions,
): { registry: Registry; close(): void } {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const running = (): PluginMetrics[] => collector.current();
  const sampleGauge = (name: string, help: string, pick: (m: PluginMetrics) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ["plugin"],
      registers: [registry],
      collect() {
        this.reset();
        for (const m of running()) this.set({ plugin: m.plugin_id }, pick(m));
      },
    });

  sampleGauge(
    "plugd_plugin_cpu_percent",
    "CPU use of the plugin process over the last sample interval (100 = one core)",
    (m) => m.cpu_percent,
  );
  sampleGauge("plugd_plugin_memory_bytes", "Resident memory (RSS) of the plugin process", (m) =>
    Math.round(m.memory_mb * 1024 * 1024),
  );
  sampleGauge(
    "plugd_plugin_memory_percent",
    "Resident memory of the plugin process as a percentage of the machine's",
    (m) => m.memory_percent,
  );
  sampleGauge("plugd_plugin_threads", "Threads of the plugin process", (m) => m.num_threads);

  const hostGauge = (name: string, help: string, pick: (p: ReturnType<PluginHost["list"]>[number]) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ["plugin"],
      registers: [registry],
      collect() {
        this.reset();
        for (const p of host.list()) this.set({ plugin: p.id }, pick(p));
      },
    });
  // Read from the host at scrape time: these change between samples and are free to read.
  hostGauge("plugd_plugin_pending_requests", "Calls sent to the plugin and not answered yet", (p) => p.inFlight);
  hostGauge(
    "plugd_plugin_queue_size",
    "Calls waiting for a free slot of the plugin (its max concurrency)",
    (p) => p.queued,
  );
  hostGauge(
    "plugd_plugin_restarts",
    "Times the plugin's process was restarted since the server started",
    (p) => p.restarts,
  );

  new Gauge({
    name: "plugd_plugin_state",
    help: "The plugin's state: 1 for the current one, 0 for the others",
    labelNames: ["plugin", "state"],
    registers: [registry],
    collect() {
      this.reset();
      for (const p of host.list()) for (const s of STATES) this.set({ plugin: p.id, state: s }, p.state === s ? 1 : 0);
    },
  });

  const executions = new Counter({
    name: "plugd_plugin_executions_total",
    help: "Runs that ended, by outcome (succeeded, failed, canceled, timeout)",
    labelNames: ["plugin", "outcome"],
    registers: [registry],
  });
  const duration = new Histogram({
    name: "plugd_plugin_execution_duration_seconds",
    help: "Time from a run's start (sent to the plugin) to its end",
    labelNames: ["plugin"],
    buckets: [...opts.latencyBuckets],
    registers: [registry],
  });
  const offExecution = collector.onExecution((plugin, outcome, seconds) => {
    executions.inc({ plugin, outcome });
    if (seconds !== undefined) duration.observe({ plugin }, seconds);
  });

  new Gauge({
    name: "plugd_event_loop_lag_seconds",
    help: "Worst event-loop lag of the server over the last one to two lag windows (heartbeat watchdog and perf_hooks histogram)",
    registers: [registry],
    collect() {
      this.set(watchdog.lagSeconds());
    },
  });
  new Counter({
    name: "plugd_event_loop_blocked_total",
    help: "Times the watchdog saw the event loop blocked longer than its warning threshold",
    registers: [registry],
    collect() {
      // The watchdog owns the count; the counter mirrors it at scrape time.
      this.reset();
      this.inc(watchdog.blocked);
    },
  });

  return {
    registry,
    close: () => {
      offExecution();
      registry.clear();
    },
  };
}
