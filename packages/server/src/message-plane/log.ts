/** pino-compatible; the message plane logs binds, malformed traffic (rate-limited) and internal errors. */
export interface PlaneLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export const silentLogger: PlaneLogger = { info() {}, warn() {}, error() {} };

/**
 * Warnings about bad traffic, at most one per interval: a misbehaving publisher sending thousands of bad frames a
 * second must not turn the log into the bottleneck. The counts of what was not logged go with the next line.
 */
export class RateLimitedWarn {
  private last = 0;
  private suppressed = 0;
  constructor(
    private readonly log: PlaneLogger,
    private readonly intervalMs = 1000,
  ) {}

  warn(obj: Record<string, unknown>, msg: string): void {
    const now = Date.now();
    if (now - this.last < this.intervalMs) {
      this.suppressed++;
      return;
    }
    this.last = now;
    const extra = this.suppressed ? { suppressed: this.suppressed } : {};
    this.suppressed = 0;
    this.log.warn({ ...obj, ...extra }, msg);
  }
}
