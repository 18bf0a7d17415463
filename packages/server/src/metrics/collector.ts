import os from "node:os";
import type { Logger } from "pino";
import type { PluginHost, PluginView } from "../host/host.js";
import type { RunEngine } from "../runs/engine.js";
import { TERMINAL_STATUSES } from "../store/types.js";
import { ExecutionStats, type Outcome } from "./execution-stats.js";
import { ProcessSampler } from "./process-sampler.js";
import { Ring } from "./ring.js";

/** One sample of one plugin: the reference's shape (M), plus latency percentiles and restarts. Times are seconds. */
export interface PluginMetrics {
  plugin_id: string;
  timestamp: string;
  pid: number | null;
  cpu_percent: number;
  memory_mb: number;
  memory_percent: number;
  num_threads: number;
  total_executions: number;
  successful_executions: number;
  failed_executions: number;
  avg_execution_time: number;
  p50_execution_time: number;
  p95_execution_time: number;
  p99_execution_time: number;
  pending_requests: number;
  queue_size: number;
  restarts: number;
}

export interface GlobalMetrics {
  total_cpu_percent: number;
  total_memory_mb: number;
  total_memory_percent: number;
  total_threads: number;
  active_plugins: number;
}

export interface CollectorOptions {
  intervalMs: number;
  historySize: number;
  latencyWindow: number;
}

export interface HistoryQuery {
  limit: number;
  startMs?: number;
  endMs?: number;
}

export type ExecutionListener = (plugin: string, outcome: Outcome, seconds: number | undefined) => void;

interface Stored {
  metrics: PluginMetrics;
  at: number;
}

const round = (v: number, digits: number) => {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
};

/**
 * Samples every running plugin process on an interval and keeps a bounded history per plugin; counts runs and their
 * latencies from the run engine's terminal events. The HTTP routes read samples; Prometheus reads the same state at
 * scrape time.
 */
export class MetricsCollector {
  private readonly history = new Map<string, Ring<Stored>>();
  private readonly sampler = new ProcessSampler();
  readonly executions: ExecutionStats;
  private readonly executionListeners = new Set<ExecutionListener>();
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private sampling: Promise<void> | undefined;

  constructor(
    private readonly host: PluginHost,
    private readonly engine: RunEngine,
    private readonly opts: CollectorOptions,
    private readonly logger: Logger,
  ) {
    this.executions = new ExecutionStats(opts.latencyWindow);
  }

  start(): void {
    if (this.timer) return;
    this.unsubscribe = this.engine.subscribeAll((ev, run) => {
      if (ev.type !== "status") return;
      const status = (ev.data as { status?: string }).status;
      if (!status || !TERMINAL_STATUSES.has(status as never)) return;
      // Queue time is not execution time: a run that never started (canceled while queued) is counted, not timed.
      const seconds =
        run.started_at !== null && run.finished_at !== null ? Math.max(0, run.finished_at - run.started_at) : undefined;
      this.executions.record(run.plugin_id, status as Outcome, seconds);
      for (const fn of this.executionListeners) fn(run.plugin_id, status as Outcome, seconds);
    });
    void this.sampleNow();
    this.timer = setInterval(() => void this.sampleNow(), this.opts.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    await this.sampling;
  }

  onExecution(fn: ExecutionListener): () => void {
    this.executionListeners.add(fn);
    return () => this.executionListeners.delete(fn);
  }

  /** One sampling round over every plugin with a process. Rounds never overlap: a slow one makes the next wait. */
  sampleNow(): Promise<void> {
    this.sampling ??= this.sampleAll().finally(() => {
      this.sampling = undefined;
    });
    return this.sampling;
  }

  /** The latest sample of every plugin whose process is running now. */
  current(): PluginMetrics[] {
    const out: PluginMetrics[] = [];
    for (const p of this.host.list()) {
      if (p.pid === undefined) continue;
      const last = this.history.get(p.id)?.last();
      if (last && last.metrics.pid === p.pid) out.push(last.metrics);
    }
    return out;
  }

  /** The latest sample of a plugin, even if its process has exited since (pid tells which process it was). */
  latest(id: string): PluginMetrics | undefined {
    return this.history.get(id)?.last()?.metrics;
  }

  /** Oldest first: the newest `limit` samples within the time range. */
  historyOf(id: string, q: HistoryQuery): PluginMetrics[] {
    const all = this.history.get(id)?.toArray() ?? [];
    const inRange = all.filter(
      (s) => (q.startMs === undefined || s.at >= q.startMs) && (q.endMs === undefined || s.at <= q.endMs),
    );
    return inRange.slice(Math.max(0, inRange.length - q.limit)).map((s) => s.metrics);
  }

  global(metrics = this.current()): GlobalMetrics {
    const sum = (f: (m: PluginMetrics) => number) => metrics.reduce((a, m) => a + f(m), 0);
    return {
      total_cpu_percent: round(
        sum((m) => m.cpu_percent),
        2,
      ),
      total_memory_mb: round(
        sum((m) => m.memory_mb),
        2,
      ),
      total_memory_percent: round(
        sum((m) => m.memory_percent),
        2,
      ),
      total_threads: sum((m) => m.num_threads),
      active_plugins: metrics.length,
    };
  }

  private async sampleAll(): Promise<void> {
    const plugins = this.host.list().filter((p) => p.pid !== undefined);
    this.sampler.retain(new Set(plugins.map((p) => p.pid!)));
    await Promise.all(
      plugins.map((p) =>
        this.sampleOne(p).catch((err: unknown) =>
          this.logger.debug({ err, plugin: p.id }, `could not sample plugin ${p.id}`),
        ),
      ),
    );
  }

  private async sampleOne(p: PluginView): Promise<void> {
    const pid = p.pid!;
    const s = await this.sampler.sample(pid);
    if (!s) return; // exited between list() and the read
    const now = Date.now();
    const ex = this.executions.snapshot(p.id);
    const metrics: PluginMetrics = {
      plugin_id: p.id,
      timestamp: new Date(now).toISOString(),
      pid,
      cpu_percent: round(s.cpuPercent, 2),
      memory_mb: round(s.rssBytes / 1024 / 1024, 2),
      memory_percent: round((s.rssBytes / os.totalmem()) * 100, 2),
      num_threads: s.threads,
      total_executions: ex.total,
      successful_executions: ex.successful,
      failed_executions: ex.failed,
      avg_execution_time: round(ex.avg, 3),
      p50_execution_time: round(ex.p50, 3),
      p95_execution_time: round(ex.p95, 3),
      p99_execution_time: round(ex.p99, 3),
      pending_requests: p.inFlight,
      queue_size: p.queued,
      restarts: p.restarts,
    };
    let ring = this.history.get(p.id);
    if (!ring) {
      ring = new Ring(this.opts.historySize);
      this.history.set(p.id, ring);
    }
    ring.push({ metrics, at: now });
  }
}
