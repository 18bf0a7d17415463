import type { LogLevel } from "@plugd/protocol";

export interface StderrRecord {
  level: LogLevel;
  msg: string;
  fields?: Record<string, unknown>;
}

/**
 * Turns a plugin's stderr into log records: splits lines across chunks, keeps a tail for quarantine reports and
 * the UI, and rate-limits what is logged so one chatty plugin cannot flood the host's log. Suppressed lines are
 * counted and reported once per window, never dropped silently.
 */
export class StderrLines {
  private partial = "";
  private readonly tail: string[] = [];
  private windowStart = 0;
  private inWindow = 0;
  private suppressed = 0;

  constructor(
    private readonly emit: (r: StderrRecord) => void,
    private readonly opts: { linesPerSecond: number; tailLines: number; maxLineBytes: number },
    private readonly now: () => number = Date.now,
  ) {}

  push(chunk: Buffer | string): void {
    const text = this.partial + chunk.toString();
    const lines = text.split("\n");
    this.partial = lines.pop() ?? "";
    if (this.partial.length > this.opts.maxLineBytes) {
      lines.push(this.partial);
      this.partial = "";
    }
    for (const line of lines) this.line(line.endsWith("\r") ? line.slice(0, -1) : line);
  }

  /** Flushes a last line without newline and the suppression count (the process ended). */
  end(): void {
    if (this.partial) this.line(this.partial);
    this.partial = "";
    this.reportSuppressed();
  }

  lastLines(): string[] {
    return [...this.tail];
  }

  private line(raw: string): void {
    if (raw.length === 0) return;
    const line = raw.length > this.opts.maxLineBytes ? `${raw.slice(0, this.opts.maxLineBytes)}… (truncated)` : raw;
    this.tail.push(line);
    if (this.tail.length > this.opts.tailLines) this.tail.shift();

    const t = this.now();
    if (t - this.windowStart >= 1000) {
      this.reportSuppressed();
      this.windowStart = t;
      this.inWindow = 0;
    }
    if (this.inWindow >= this.opts.linesPerSecond) {
      this.suppressed++;
      return;
    }
    this.inWindow++;
    this.emit(parseLine(line));
  }

  private reportSuppressed(): void {
    if (this.suppressed === 0) return;
    this.emit({ level: "warn", msg: `${this.suppressed} lines suppressed (over ${this.opts.linesPerSecond} lines/s)` });
    this.suppressed = 0;
  }
}

const LEVELS: Record<string, LogLevel> = {
  trace: "trace",
  debug: "debug",
  info: "info",
  warn: "warn",
  warning: "warn",
  error: "error",
  err: "error",
  critical: "fatal",
  fatal: "fatal",
};
const PINO_LEVELS: Record<number, LogLevel> = {
  10: "trace",
  20: "debug",
  30: "info",
  40: "warn",
  50: "error",
  60: "fatal",
};

/** Reads a level from JSON log lines (pino, structlog…) or a leading "ERROR:"/"[warn]" word; plain text is info. */
export function parseLine(line: string): StderrRecord {
  if (line.startsWith("{")) {
    try {
      const o = JSON.parse(line) as Record<string, unknown>;
      const lv = o.level;
      const level =
        typeof lv === "number" ? PINO_LEVELS[lv] : typeof lv === "string" ? LEVELS[lv.toLowerCase()] : undefined;
      const msg = o.msg ?? o.message ?? o.event;
      if (typeof msg === "string") {
        const { level: _l, msg: _m, message: _mm, time: _t, pid: _p, hostname: _h, ...fields } = o;
        return { level: level ?? "info", msg, fields };
      }
    } catch {
      // not JSON after all; treat as text
    }
  }
  const m = /^\s*\[?([A-Za-z]+)\]?[:\s]/.exec(line);
  const level = m ? LEVELS[m[1]!.toLowerCase()] : undefined;
  return { level: level ?? "info", msg: line };
}
