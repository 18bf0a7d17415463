import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { PluginHost } from "../host/host.js";
import type { RunEngine } from "../runs/engine.js";
import { type CollectorOptions, MetricsCollector } from "./collector.js";
import { EventLoopWatchdog, type WatchdogOptions } from "./event-loop.js";
import { createPrometheusRegistry } from "./prometheus.js";

export interface MetricsOptions extends CollectorOptions, WatchdogOptions {
  latencyBuckets: readonly number[];
}

/** What server.ts starts and stops: the sampler/collector, the event-loop watchdog and the Prometheus registry. */
export class MetricsService {
  readonly collector: MetricsCollector;
  readonly watchdog: EventLoopWatchdog;
  readonly registry: Registry;
  /** Samples kept per plugin: the upper bound of a history query's `limit`. */
  readonly historySize: number;
  private readonly closeRegistry: () => void;

  constructor(host: PluginHost, engine: RunEngine, opts: MetricsOptions, logger: Logger) {
    this.historySize = opts.historySize;
    this.collector = new MetricsCollector(host, engine, opts, logger);
    this.watchdog = new EventLoopWatchdog(opts, logger);
    const prom = createPrometheusRegistry(this.collector, host, this.watchdog, opts);
    this.registry = prom.registry;
    this.closeRegistry = prom.close;
  }

  start(): void {
    this.collector.start();
    this.watchdog.start();
  }

  async stop(): Promise<void> {
    this.watchdog.stop();
    await this.collector.stop();
    this.closeRegistry();
  }
}
