import fs from "node:fs";
import path from "node:path";
import { setImmediate as yieldToLoop } from "node:timers/promises";
import { type LineCounter, scanBackward } from "./line-scanner.js";
import { type LogEntry, type ParsedEntry, parseLogLine } from "./log-entry.js";
import { filesInRotationOrder, liveFileName } from "./log-files.js";
import type { RegexPool, SearchSpec } from "./regex-search.js";

export interface LogQuery {
  /** The newest `lines` matching lines are returned (oldest first). */
  lines: number;
  /** Normalised level name (see normalizeLevel); exact match. */
  level?: string;
  /** Epoch ms, inclusive. */
  startMs?: number;
  endMs?: number;
  search?: SearchSpec;
}

export interface LogQueryResult {
  logs: LogEntry[];
  /**
   * Lines read to answer: as in the reference, where it is the size of the window the filters ran over. Without
   * filters it equals returned_lines; with filters it tells how far back the match reached.
   */
  total_lines: number;
  returned_lines: number;
  /** The live file of the log, or null when the log has no file yet. */
  log_file: string | null;
}

/** The live file's size and line count as its writer knows them (exact, since writes are synchronous). */
export type LivePosition = (id: string) => { size: number; lines: number } | undefined;

/** Lines handed to a filter step at once; also how often a long scan yields to the event loop. */
const BATCH = 1000;

interface OpenFile {
  name: string;
  fd: number;
  size: number;
  lines: number | undefined;
  st: fs.Stats;
}

/**
 * Reads a log newest line first across its live and rotated files. Every file is opened when a read starts, so a
 * rotation during a long query neither skips nor repeats lines: the query keeps reading the inodes it opened.
 */
export class LogReader {
  constructor(
    private readonly dir: string,
    private readonly counter: LineCounter,
    private readonly regex: RegexPool,
    private readonly regexLimits: { batchMs: number; totalMs: number },
    private readonly livePosition: LivePosition,
  ) {}

  /** GET /plugin/:id/logs. Reads backwards only as far as it must; yields to the event loop between batches. */
  async query(id: string, q: LogQuery): Promise<LogQueryResult> {
    const files = this.openAll(id);
    try {
      const matcher = q.search?.kind === "regex" ? this.regex.matcher(q.search, this.regexLimits) : undefined;
      const needle = q.search?.kind === "substring" ? q.search.needle : undefined;
      const out: LogEntry[] = [];
      let examined = 0;
      let batch: Array<{ entry: LogEntry; examined: number }> = [];
      let total: number | undefined;

      // Applies the search to a batch; true once `lines` entries are collected.
      const flush = async (): Promise<boolean> => {
        const current = batch;
        batch = [];
        let keep: number[];
        if (matcher) keep = await matcher.filter(current.map((c) => c.entry.message));
        else {
          keep = [];
          for (let i = 0; i < current.length; i++)
            if (needle === undefined || current[i]!.entry.message.toLowerCase().includes(needle)) keep.push(i);
        }
        for (const i of keep) {
          const c = current[i]!;
          out.push(c.entry);
          if (out.length >= q.lines) {
            total = c.examined;
            return true;
          }
        }
        return false;
      };

      let done = false;
      for (const line of this.linesNewestFirst(files)) {
        examined++;
        const p = this.accept(line, q);
        if (p === "stop") break;
        if (p) batch.push({ entry: p.entry, examined });
        if (batch.length >= BATCH && (await flush())) {
          done = true;
          break;
        }
        // Counted in lines read, not lines kept: a rare level or an old start_time must not hold the loop either.
        if (examined % BATCH === 0) await yieldToLoop();
      }
      if (!done) await flush();
      out.reverse();
      return {
        logs: out,
        total_lines: total ?? examined,
        returned_lines: out.length,
        log_file: files.some((f) => f.name === liveFileName(id)) ? liveFileName(id) : (files[0]?.name ?? null),
      };
    } finally {
      for (const f of files) fs.closeSync(f.fd);
    }
  }

  /**
   * The last `lines` lines (optionally of one level), read synchronously. The WS tail uses it so the `initial` frame
   * and the subscription to new lines start at the same instant: nothing is lost or sent twice in between.
   * `maxExamined` bounds the synchronous work when a rare level is asked for.
   */
  tailSync(id: string, lines: number, level: string | undefined, maxExamined: number): LogQueryResult {
    const files = this.openAll(id);
    try {
      const out: LogEntry[] = [];
      let examined = 0;
      for (const line of this.linesNewestFirst(files)) {
        if (++examined > maxExamined) break;
        const p = this.accept(line, level ? { lines, level } : { lines });
        if (p && p !== "stop") out.push(p.entry);
        if (out.length >= lines) break;
      }
      out.reverse();
      return {
        logs: out,
        total_lines: Math.min(examined, maxExamined),
        returned_lines: out.length,
        log_file: files.some((f) => f.name === liveFileName(id)) ? liveFileName(id) : (files[0]?.name ?? null),
      };
    } finally {
      for (const f of files) fs.closeSync(f.fd);
    }
  }

  /** The entry if the line passes the level and time filters, "stop" once the lines are older than start_time. */
  private accept(line: { text: string; file: string; lineNo: number }, q: LogQuery): ParsedEntry | "stop" | undefined {
    if (line.text.trim() === "") return undefined;
    const p = parseLogLine(line.text, line.file, line.lineNo);
    if (q.startMs !== undefined || q.endMs !== undefined) {
      // The reference drops lines without a time when a time filter is set; so do we.
      if (p.time === undefined) return undefined;
      // Files are chronological and read backwards: everything from here on is older still.
      if (q.startMs !== undefined && p.time < q.startMs) return "stop";
      if (q.endMs !== undefined && p.time > q.endMs) return undefined;
    }
    if (q.level !== undefined && p.entry.level !== q.level) return undefined;
    return p;
  }

  private *linesNewestFirst(files: OpenFile[]): Generator<{ text: string; file: string; lineNo: number }> {
    for (const f of files) {
      f.lines ??= this.counter.count(f.fd, f.st, f.size);
      for (const l of scanBackward(f.fd, f.size, f.lines)) yield { text: l.text, file: f.name, lineNo: l.lineNo };
    }
  }

  private openAll(id: string): OpenFile[] {
    const out: OpenFile[] = [];
    const live = liveFileName(id);
    for (const name of filesInRotationOrder(this.dir, id)) {
      let fd: number;
      try {
        fd = fs.openSync(path.join(this.dir, name), "r");
      } catch {
        continue; // rotated away between readdir and open
      }
      const st = fs.fstatSync(fd);
      // For the live file the writer's counters are exact and free; they were read in this same synchronous step,
      // so they describe exactly the bytes this descriptor sees.
      const pos = name === live ? this.livePosition(id) : undefined;
      const size = pos && pos.size <= st.size ? pos.size : st.size;
      out.push({ name, fd, st, size, lines: pos && pos.size === size ? pos.lines : undefined });
    }
    return out;
  }
}
