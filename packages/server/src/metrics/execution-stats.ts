import { Ring } from "./ring.js";

export type Outcome = "succeeded" | "failed" | "canceled" | "timeout";

export interface ExecutionSnapshot {
  total: number;
  successful: number;
  /** Every run that did not succeed: failed, timed out or canceled. */
  failed: number;
  /** Seconds, over every timed run since the server started. */
  avg: number;
  /** Seconds, over the most recent runs (the latency window). */
  p50: number;
  p95: number;
  p99: number;
}

interface PluginStats {
  total: number;
  successful: number;
  timedCount: number;
  timedSum: number;
  recent: Ring<number>;
}

/**
 * Run counts and latencies per plugin, fed by the run engine's terminal events. Averages are lifetime (cheap and
 * stable); percentiles come from a window of recent durations, so they follow the plugin's current behaviour.
 */
export class ExecutionStats {
  private readonly byPlugin = new Map<string, PluginStats>();

  constructor(private readonly window: number) {}

  /** `seconds` is undefined for a run that ended before it started (canceled while queued): counted, not timed. */
  record(plugin: string, outcome: Outcome, seconds: number | undefined): void {
    let s = this.byPlugin.get(plugin);
    if (!s) {
      s = { total: 0, successful: 0, timedCount: 0, timedSum: 0, recent: new Ring(this.window) };
      this.byPlugin.set(plugin, s);
    }
    s.total++;
    if (outcome === "succeeded") s.successful++;
    if (seconds !== undefined && Number.isFinite(seconds) && seconds >= 0) {
      s.timedCount++;
      s.timedSum += seconds;
      s.recent.push(seconds);
    }
  }

  snapshot(plugin: string): ExecutionSnapshot {
    const s = this.byPlugin.get(plugin);
    if (!s) return { total: 0, successful: 0, failed: 0, avg: 0, p50: 0, p95: 0, p99: 0 };
    const sorted = s.recent.toArray().sort((a, b) => a - b);
    return {
      total: s.total,
      successful: s.successful,
      failed: s.total - s.successful,
      avg: s.timedCount ? s.timedSum / s.timedCount : 0,
      p50: percentile(sorted, 50),
      p95: percentile(sorted, 95),
      p99: percentile(sorted, 99),
    };
  }
}

/** Nearest-rank percentile of an ascending list: always one of the observed values. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}
