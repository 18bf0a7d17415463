import fs from "node:fs";
import path from "node:path";
import pino, { type Level, type Logger, type StreamEntry } from "pino";
import type { LogRecord } from "../host/host.js";
import { LineCounter } from "./line-scanner.js";
import { type LogEntry, parseLogLine } from "./log-entry.js";
import { isValidLogId, type LogFileInfo, listLogFiles, liveFileName, SERVER_LOG_ID } from "./log-files.js";
import { type LogQuery, type LogQueryResult, LogReader } from "./log-reader.js";
import { RegexPool } from "./regex-search.js";
import { RotatingFile } from "./rotating-file.js";

export interface LogServiceOptions {
  /** `<data dir>/logs` */
  dir: string;
  maxBytes: number;
  maxFiles: number;
  /** Regex time boxes: per batch of lines, and per query. */
  regexTimeoutMs: number;
  regexQueryBudgetMs: number;
  regexWorkers: number;
  /** The current pid of a plugin: records that come over the protocol (SDK loggers) do not carry one. */
  pidOf?: (plugin: string) => number | undefined;
}

export type LogListener = (entry: LogEntry) => void;

interface PluginLog {
  file: RotatingFile;
  logger: Logger;
}

/**
 * Plugin and server logs on disk: `<dir>/<plugin>.log` and `<dir>/_server.log`, JSON lines written by pino, rotated
 * by size. Every line written is also published in-process, which is what WS /ws/logs/:id streams: no file polling.
 */
export class LogService {
  readonly dir: string;
  private readonly plugins = new Map<string, PluginLog>();
  private readonly listeners = new Map<string, Set<LogListener>>();
  private readonly serverFile: RotatingFile;
  private readonly reader: LogReader;
  private readonly regex: RegexPool;
  private closed = false;

  constructor(private readonly opts: LogServiceOptions) {
    this.dir = opts.dir;
    fs.mkdirSync(this.dir, { recursive: true });
    this.serverFile = this.openFile(SERVER_LOG_ID);
    this.regex = new RegexPool(opts.regexWorkers);
    this.reader = new LogReader(
      this.dir,
      new LineCounter(),
      this.regex,
      { batchMs: opts.regexTimeoutMs, totalMs: opts.regexQueryBudgetMs },
      (id) => (id === SERVER_LOG_ID ? this.serverFile.position : this.plugins.get(id)?.file.position),
    );
  }

  /**
   * The server's logger: every record goes to `_server.log` and to the console. The console is stdout, or the
   * destination of the logger the caller passed (at that logger's level; "silent" means file only), so tests and
   * embedders keep control of the console without losing the file.
   */
  createServerLogger(level: string, consoleLogger?: Logger): Logger {
    const streams: StreamEntry[] = [];
    if (level !== "silent") streams.push({ level: level as Level, stream: this.serverFile });
    if (!consoleLogger) {
      // Synchronous stdout, pino's own default, so nothing is lost when the process exits right after a line.
      if (level !== "silent") streams.push({ level: level as Level, stream: pino.destination({ fd: 1, sync: true }) });
    } else if (consoleLogger.level !== "silent") {
      // The destination behind the given logger (pino keeps it under a symbol); its own bindings are not carried over.
      const dest = (consoleLogger as unknown as Record<symbol, pino.DestinationStream>)[pino.symbols.streamSym];
      if (dest) streams.push({ level: consoleLogger.level as Level, stream: dest });
    }
    if (streams.length === 0) return pino({ level: "silent" });
    const min = streams.reduce(
      (lo, s) => (pino.levels.values[s.level!]! < pino.levels.values[lo]! ? s.level! : lo),
      streams[0]!.level!,
    );
    return pino({ level: min }, pino.multistream(streams));
  }

  /** A plugin's log record (stderr line, SDK log call, protocol warning) into `<plugin>.log`. */
  record(r: LogRecord): void {
    const log = this.pluginLog(r.plugin);
    if (!log) return;
    const pid = r.pid >= 0 ? r.pid : this.opts.pidOf?.(r.plugin);
    // The host's receive time, not the write time, is the record's time; user fields stay nested so a field named
    // `level`, `time` or `msg` cannot corrupt the line.
    log.logger[r.level](
      {
        time: r.time,
        ...(pid !== undefined ? { pid } : {}),
        plugin: r.plugin,
        source: r.source,
        ...(r.runId ? { run_id: r.runId } : {}),
        ...(r.fields && Object.keys(r.fields).length ? { fields: r.fields } : {}),
      },
      r.msg,
    );
  }

  /** A line the host itself writes into a plugin's log (state changes), so the plugin's log tells its whole story. */
  note(plugin: string, level: Level, msg: string, fields: Record<string, unknown> = {}): void {
    this.pluginLog(plugin)?.logger[level]({ time: Date.now(), plugin, source: "host", ...fields }, msg);
  }

  /** New lines of log `id` as they are written. */
  subscribe(id: string, fn: LogListener): () => void {
    let set = this.listeners.get(id);
    if (!set) {
      set = new Set();
      this.listeners.set(id, set);
    }
    set.add(fn);
    return () => {
      set.delete(fn);
      if (set.size === 0) this.listeners.delete(id);
    };
  }

  query(id: string, q: LogQuery): Promise<LogQueryResult> {
    return this.reader.query(id, q);
  }

  /** Synchronous: call subscribe() right after it, in the same tick, and the two join without a gap. */
  tail(id: string, lines: number, level: string | undefined, maxExamined: number): LogQueryResult {
    return this.reader.tailSync(id, lines, level, maxExamined);
  }

  files(id: string): Promise<LogFileInfo[]> {
    return listLogFiles(this.dir, id);
  }

  /** Whether log `id` has a file (a plugin that was removed keeps its logs readable). */
  exists(id: string): boolean {
    return isValidLogId(id) && fs.existsSync(path.join(this.dir, liveFileName(id)));
  }

  /** Rotates one log now (tests; an operator's signal handler could call it too). */
  rotate(id: string): void {
    (id === SERVER_LOG_ID ? this.serverFile : this.plugins.get(id)?.file)?.rotate();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.plugins.values()) p.file.close();
    this.plugins.clear();
    this.serverFile.close();
    this.listeners.clear();
    await this.regex.close();
  }

  private pluginLog(plugin: string): PluginLog | undefined {
    if (this.closed || plugin === SERVER_LOG_ID || !isValidLogId(plugin)) return undefined;
    let log = this.plugins.get(plugin);
    if (!log) {
      const file = this.openFile(plugin);
      // base: null — the server's pid and hostname would be wrong here; each record carries the plugin's pid.
      log = { file, logger: pino({ level: "trace", base: null, timestamp: false }, file) };
      this.plugins.set(plugin, log);
    }
    return log;
  }

  private openFile(id: string): RotatingFile {
    const name = liveFileName(id);
    return new RotatingFile(
      path.join(this.dir, name),
      { maxBytes: this.opts.maxBytes, maxFiles: this.opts.maxFiles },
      (line, lineNo) => {
        const set = this.listeners.get(id);
        if (!set || set.size === 0) return;
        const { entry } = parseLogLine(line, name, lineNo);
        for (const fn of set) fn(entry);
      },
    );
  }
}
