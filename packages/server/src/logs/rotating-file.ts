import fs from "node:fs";
import path from "node:path";
import pino, { type DestinationStream } from "pino";
import { countLinesSync } from "./line-scanner.js";
import { rotatedPath } from "./log-files.js";

type SonicBoom = ReturnType<typeof pino.destination>;

export interface RotationOptions {
  /** The live file is rotated when the next line would take it past this size. */
  maxBytes: number;
  /** Files kept, the live one included (`x.log`, `x.log.1` … `x.log.<maxFiles-1>`). */
  maxFiles: number;
}

/** Called for every line written, with its 1-based number in the live file (what a reader of that file would count). */
export type LineListener = (line: string, lineNo: number) => void;

/**
 * A pino destination for one log: JSON lines appended to `<name>.log` through pino's own SonicBoom, with size-based
 * rotation around it (pino-roll is not a dependency; this is the small part of it plugd needs).
 *
 * Writes are synchronous, pino's default for files: a line is on disk when the log call returns, so a query right
 * after it sees the line, a crash loses nothing, and the in-process listeners (WS tail) and the file never disagree
 * about order. Rotation renames `x.log.{i}` → `x.log.{i+1}` (the oldest falls off), `x.log` → `x.log.1`, then
 * reopens `x.log` fresh; the renames are atomic on POSIX and readers holding the old descriptor keep reading it.
 */
export class RotatingFile implements DestinationStream {
  private dest: SonicBoom;
  private size: number;
  private lines: number;
  private failed = false;
  private closed = false;

  constructor(
    readonly file: string,
    private readonly opts: RotationOptions,
    private readonly onLine?: LineListener,
  ) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    this.prune();
    const st = statOrUndefined(file);
    this.size = st?.size ?? 0;
    // Line numbers continue an existing file across server restarts, so `line` stays what `wc -l` would say.
    this.lines = st ? countLinesSync(file) : 0;
    this.dest = this.open();
  }

  write(chunk: string): void {
    if (this.closed) return;
    const bytes = Buffer.byteLength(chunk);
    // A single line larger than maxBytes still goes into one file (it is never split), hence `size > 0`.
    if (this.size > 0 && this.size + bytes > this.opts.maxBytes) this.rotate();
    this.dest.write(chunk);
    this.size += bytes;
    if (!this.onLine) {
      this.lines += countNewlines(chunk);
      return;
    }
    // pino writes exactly one line per call; a destination shared by other writers may not, so split anyway.
    let start = 0;
    for (let i = chunk.indexOf("\n"); i >= 0; i = chunk.indexOf("\n", start)) {
      this.lines++;
      this.onLine(chunk.slice(start, i), this.lines);
      start = i + 1;
    }
  }

  /** Lines and bytes in the live file right now (consistent with each other: writes are synchronous). */
  get position(): { size: number; lines: number } {
    return { size: this.size, lines: this.lines };
  }

  /** Rotates now, whatever the size (tests, `logrotate`-style external triggers). */
  rotate(): void {
    const keep = Math.max(1, this.opts.maxFiles);
    try {
      if (keep === 1) {
        fs.rmSync(this.file, { force: true });
      } else {
        for (let i = keep - 1; i >= 1; i--) {
          const from = i === 1 ? this.file : rotatedPath(this.file, i - 1);
          if (fs.existsSync(from)) fs.renameSync(from, rotatedPath(this.file, i));
        }
      }
      // reopen() on a sync SonicBoom opens the new file before it returns; the old descriptor closes on the next tick.
      this.dest.reopen();
    } catch (err) {
      this.report(err as Error);
      return;
    }
    this.size = 0;
    this.lines = 0;
  }

  /** pino and pino.multistream call this on exit and on logger.flush(). */
  flushSync(): void {
    if (!this.closed) this.dest.flushSync();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.dest.flushSync();
    } catch {
      // Nothing buffered or the descriptor is gone already; closing is best effort.
    }
    this.dest.end();
  }

  private open(): SonicBoom {
    const dest = pino.destination({ dest: this.file, sync: true, mkdir: true });
    // Without a listener an 'error' (disk full, file removed with its directory) would crash the server.
    dest.on("error", (err: Error) => this.report(err));
    return dest;
  }

  /** Rotated files beyond maxFiles (left by an earlier, larger setting) go at startup. */
  private prune(): void {
    const dir = path.dirname(this.file);
    const base = `${path.basename(this.file)}.`;
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      if (!name.startsWith(base)) continue;
      const n = Number(name.slice(base.length));
      if (Number.isInteger(n) && n >= Math.max(1, this.opts.maxFiles)) fs.rmSync(path.join(dir, name), { force: true });
    }
  }

  /** The logger cannot log its own failure; stderr once per file is the honest fallback. */
  private report(err: Error): void {
    if (this.failed) return;
    this.failed = true;
    process.stderr.write(`plugd: cannot write log file ${this.file}: ${err.message}\n`);
  }
}

function statOrUndefined(file: string): fs.Stats | undefined {
  try {
    return fs.statSync(file);
  } catch {
    return undefined;
  }
}

function countNewlines(s: string): number {
  let n = 0;
  for (let i = s.indexOf("\n"); i >= 0; i = s.indexOf("\n", i + 1)) n++;
  return n;
}
