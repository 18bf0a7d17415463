import type { Logger } from "pino";
import type { PluginHost, StateChange } from "../host/host.js";
import type { RunEngine } from "../runs/engine.js";

interface TimerState {
  plugin: string;
  entry: string;
  intervalMs: number;
  handle: NodeJS.Timeout;
  inFlight: string | undefined;
  fired: number;
  skipped: number;
}

export interface TimerInfo {
  plugin: string;
  entry: string;
  interval_ms: number;
  fired: number;
  skipped: number;
  running_run_id: string | null;
}

/**
 * Fires the entries plugins declare as timers (`kind: "timer"`, `intervalMs`) while the plugin is ready. Each firing is
 * a run (recorded, cancellable, task_id `timer:<entry>`), so no SDK needs a timer thread of its own. A firing that
 * would overlap the previous one still running is skipped and counted.
 */
export class TimerScheduler {
  private readonly timers = new Map<string, TimerState>();
  private readonly onState: (c: StateChange) => void;

  constructor(
    private readonly host: PluginHost,
    private readonly engine: RunEngine,
    private readonly logger: Logger,
  ) {
    this.onState = (c) => {
      if (c.state === "ready") this.arm(c.plugin);
      else if (c.state !== "degraded") this.disarm(c.plugin);
    };
    host.on("state", this.onState);
    for (const p of host.list()) if (p.state === "ready" || p.state === "degraded") this.arm(p.id);
  }

  list(): TimerInfo[] {
    return [...this.timers.values()].map((t) => ({
      plugin: t.plugin,
      entry: t.entry,
      interval_ms: t.intervalMs,
      fired: t.fired,
      skipped: t.skipped,
      running_run_id: t.inFlight ?? null,
    }));
  }

  close(): void {
    this.host.off("state", this.onState);
    for (const t of this.timers.values()) clearInterval(t.handle);
    this.timers.clear();
  }

  private arm(pluginId: string): void {
    this.disarm(pluginId);
    for (const e of this.host.get(pluginId)?.entries ?? []) {
      if (e.kind !== "timer" || !e.intervalMs) continue;
      const t: TimerState = {
        plugin: pluginId,
        entry: e.id,
        intervalMs: e.intervalMs,
        fired: 0,
        skipped: 0,
        inFlight: undefined,
        handle: setInterval(() => void this.fire(t), e.intervalMs),
      };
      t.handle.unref();
      this.timers.set(`${pluginId}\u0000${e.id}`, t);
    }
  }

  private disarm(pluginId: string): void {
    for (const [key, t] of this.timers) {
      if (t.plugin !== pluginId) continue;
      clearInterval(t.handle);
      this.timers.delete(key);
    }
  }

  private async fire(t: TimerState): Promise<void> {
    if (t.inFlight) {
      t.skipped++;
      this.logger.debug(
        { plugin: t.plugin, entry: t.entry, skipped: t.skipped },
        "timer firing skipped: previous run still running",
      );
      return;
    }
    try {
      const { run } = await this.engine.create({
        plugin_id: t.plugin,
        entry_id: t.entry,
        args: {},
        task_id: `timer:${t.entry}`,
      });
      t.fired++;
      t.inFlight = run.run_id;
      await this.engine.waitFor(run.run_id);
    } catch (e) {
      this.logger.warn(
        { plugin: t.plugin, entry: t.entry, err: e },
        `timer ${t.plugin}.${t.entry} could not fire: ${(e as Error).message}`,
      );
    } finally {
      t.inFlight = undefined;
    }
  }
}
