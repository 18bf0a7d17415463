/** One log line as the API returns it (the reference's shape, plus pid and run_id when the record has them). */
export interface LogEntry {
  /** ISO 8601; "" when the line carries no time. */
  timestamp: string;
  /** TRACE, DEBUG, INFO, WARNING, ERROR, FATAL; UNKNOWN for a line that is not a plugd JSON record. */
  level: string;
  /**
   * The log file the line is in and its 1-based line number there. (In the reference these were the Python source
   * location; plugin records carry none, and the file position is what lets a client find or de-duplicate a line.)
   */
  file: string;
  line: number;
  message: string;
  pid?: number;
  run_id?: string;
}

/** An entry plus its time as a number, for filtering without parsing the ISO string again. */
export interface ParsedEntry {
  entry: LogEntry;
  /** Epoch ms; undefined when the line has no usable time. */
  time: number | undefined;
}

/**
 * pino's numeric levels under the names the reference's clients filter by (Python's: WARNING, not WARN); the two
 * levels Python lacks keep pino's names.
 */
const BY_NUMBER: Record<number, string> = {
  10: "TRACE",
  20: "DEBUG",
  30: "INFO",
  40: "WARNING",
  50: "ERROR",
  60: "FATAL",
};
const ALIASES: Record<string, string> = { WARN: "WARNING", CRITICAL: "FATAL" };
const NAMES = new Set(Object.values(BY_NUMBER));

/** `level=` of a query: case-insensitive, WARN ≡ WARNING, CRITICAL ≡ FATAL. Undefined for an unknown level. */
export function normalizeLevel(level: string): string | undefined {
  const up = level.trim().toUpperCase();
  const name = ALIASES[up] ?? up;
  return NAMES.has(name) ? name : undefined;
}

export const LEVEL_NAMES: readonly string[] = [...NAMES, ...Object.keys(ALIASES)];

function levelOf(v: unknown): string {
  if (typeof v === "number") return BY_NUMBER[v] ?? (v >= 60 ? "FATAL" : v >= 50 ? "ERROR" : "INFO");
  if (typeof v === "string") return normalizeLevel(v) ?? v.toUpperCase();
  return "INFO";
}

/** A line of a plugd log file (pino JSON) as an entry. Lines that are not JSON objects are kept as UNKNOWN text. */
export function parseLogLine(text: string, file: string, line: number): ParsedEntry {
  let rec: Record<string, unknown> | undefined;
  if (text.startsWith("{")) {
    try {
      const v: unknown = JSON.parse(text);
      if (v && typeof v === "object" && !Array.isArray(v)) rec = v as Record<string, unknown>;
    } catch {
      rec = undefined;
    }
  }
  if (!rec) return { entry: { timestamp: "", level: "UNKNOWN", file, line, message: text }, time: undefined };
  const time = typeof rec.time === "number" ? rec.time : typeof rec.time === "string" ? Date.parse(rec.time) : NaN;
  const err = rec.err as { message?: unknown } | undefined;
  const message = typeof rec.msg === "string" ? rec.msg : typeof err?.message === "string" ? err.message : text;
  const entry: LogEntry = {
    timestamp: Number.isFinite(time) ? new Date(time).toISOString() : "",
    level: levelOf(rec.level),
    file,
    line,
    message,
  };
  if (typeof rec.pid === "number" && rec.pid >= 0) entry.pid = rec.pid;
  if (typeof rec.run_id === "string") entry.run_id = rec.run_id;
  return { entry, time: Number.isFinite(time) ? time : undefined };
}
