import { type IntervalHistogram, monitorEventLoopDelay } from "node:perf_hooks";
import type { Logger } from "pino";

export interface WatchdogOptions {
  heartbeatMs: number;
  /** A beat later than this logs "event loop blocked for N ms". */
  warnMs: number;
  /** The lag reported is the worst seen over roughly this long. */
  windowMs: number;
}

/**
 * Notices a blocked event loop, as the reference's watchdog does: a heartbeat timer that should fire every
 * `heartbeatMs`; when it fires much later, something held the loop that long and a warning says so (with the time,
 * so it can be matched to the request or plugin output around it). Node's own event-loop delay histogram
 * (perf_hooks.monitorEventLoopDelay) samples far more finely and catches short stalls the heartbeat misses; the
 * exported lag is the worse of the two over a rolling window, so a spike between two scrapes is not lost.
 */
export class EventLoopWatchdog {
  private timer: NodeJS.Timeout | undefined;
  private readonly histogram: IntervalHistogram = monitorEventLoopDelay({ resolution: 20 });
  private last = 0;
  private windowStart = 0;
  private windowMaxMs = 0;
  private previousWindowMaxMs = 0;
  /** How many times a block over `warnMs` was seen. */
  blocked = 0;

  constructor(
    private readonly opts: WatchdogOptions,
    private readonly logger: Logger,
    private readonly onBlocked?: (lagMs: number) => void,
  ) {}

  start(): void {
    if (this.timer) return;
    this.histogram.enable();
    this.last = this.windowStart = performance.now();
    this.timer = setInterval(() => this.beat(), this.opts.heartbeatMs);
    // A watchdog must never be the reason the process stays up.
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.histogram.disable();
  }

  /** The worst event-loop lag over the current and the previous window, in seconds. */
  lagSeconds(): number {
    const histMaxMs = this.histogram.count > 0 ? this.histogram.max / 1e6 : 0;
    return Math.max(this.windowMaxMs, this.previousWindowMaxMs, histMaxMs) / 1000;
  }

  private beat(): void {
    const now = performance.now();
    const late = Math.max(0, now - this.last - this.opts.heartbeatMs);
    this.last = now;
    if (late > this.opts.warnMs) {
      this.blocked++;
      this.logger.warn({ lag_ms: Math.round(late) }, `event loop blocked for ${Math.round(late)} ms`);
      this.onBlocked?.(late);
    }
    this.windowMaxMs = Math.max(this.windowMaxMs, late);
    if (now - this.windowStart >= this.opts.windowMs) {
      const histMaxMs = this.histogram.count > 0 ? this.histogram.max / 1e6 : 0;
      this.previousWindowMaxMs = Math.max(this.windowMaxMs, histMaxMs);
      this.windowMaxMs = 0;
      this.histogram.reset();
      this.windowStart = now;
    }
  }
}
