import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { Defaults } from "../../config/defaults.js";
import type {
  BlobRecord,
  ExportItem,
  RunError,
  RunEvent,
  RunQuery,
  RunRecord,
  RunStatus,
  RunWrite,
  Storage,
} from "../types.js";
import { Checkpointer } from "./checkpointer.js";
import { MIGRATIONS, SCHEMA_VERSION } from "./migrations.js";
import { type PreparedRunWrite, RunWriter } from "./run-writer.js";

/** SQLite's default `wal_autocheckpoint` (pages), restored if the checkpoint worker dies. */
const SQLITE_DEFAULT_AUTOCHECKPOINT = 1000;

const UNFINISHED: readonly RunStatus[] = ["queued", "running", "cancel_requested"];
const DEFAULT_RUN_LIMIT = 100;

/** An error callers can tell apart by `code` without importing this module (the Postgres store throws the same). */
export class StoreError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "StoreError";
  }
}

type Row = Record<string, unknown>;

interface RunRow {
  run_id: string;
  plugin_id: string;
  entry_id: string;
  status: string;
  created_at: number;
  updated_at: number;
  started_at: number | null;
  finished_at: number | null;
  task_id: string | null;
  trace_id: string | null;
  idempotency_key: string | null;
  parent_run_id: string | null;
  args: string;
  timeout_ms: number | null;
  progress: number | null;
  stage: string | null;
  message: string | null;
  step: number | null;
  step_total: number | null;
  eta_seconds: number | null;
  metrics: string;
  cancel_requested: number;
  cancel_reason: string | null;
  cancel_requested_at: number | null;
  error: string | null;
  result_refs: string;
  result: string | null;
  rev: number;
}

/** One element of a chunk's `events` array. */
type EventTuple = [seq: number, type: string, time: number, data: unknown];

interface ExportRow {
  seq: number;
  export_item_id: string;
  run_id: string;
  type: string;
  category: string;
  created_at: number;
  label: string | null;
  description: string | null;
  text: string | null;
  json: string | null;
  url: string | null;
  binary_url: string | null;
  binary: string | null;
  mime: string | null;
  metadata: string;
}

type BlobRow = BlobRecord;

/**
 * Fixed when a run is created, in the order insertValues() gives them. An update leaves these columns (and the
 * indexes built on them) alone: setting every column made SQLite rewrite all four indexes of `runs` on each state
 * change, and stringify the args again.
 */
const RUN_CREATION_COLUMNS = [
  "run_id",
  "plugin_id",
  "entry_id",
  "created_at",
  "task_id",
  "trace_id",
  "idempotency_key",
  "parent_run_id",
  "args",
  "timeout_ms",
] as const satisfies readonly (keyof RunRow)[];

/** What an update may change, in the order runStateValues() gives them (after the creation columns, on insert). */
const RUN_STATE_COLUMNS = [
  "status",
  "updated_at",
  "started_at",
  "finished_at",
  "progress",
  "stage",
  "message",
  "step",
  "step_total",
  "eta_seconds",
  "metrics",
  "cancel_requested",
  "cancel_reason",
  "cancel_requested_at",
  "error",
  "result_refs",
  "result",
  "rev",
] as const satisfies readonly (keyof RunRow)[];

const RUN_COLUMNS = [...RUN_CREATION_COLUMNS, ...RUN_STATE_COLUMNS];

const EXPORT_COLUMNS = [
  "export_item_id",
  "run_id",
  "type",
  "category",
  "created_at",
  "label",
  "description",
  "text",
  "json",
  "url",
  "binary_url",
  "binary",
  "mime",
  "metadata",
] as const satisfies readonly (keyof ExportRow)[];

const BLOB_COLUMNS = [
  "blob_id",
  "run_id",
  "filename",
  "mime",
  "size",
  "path",
  "max_bytes",
  "created_at",
  "completed_at",
] as const satisfies readonly (keyof BlobRow)[];

const params = (cols: readonly string[]) => cols.map((c) => `@${c}`).join(", ");
const sets = (cols: readonly string[]) => cols.map((c) => `${c} = @${c}`).join(", ");
// Positional parameters for the statements of every run: binding 28 named parameters cost twice as much.
const placeholders = (cols: readonly string[]) => cols.map(() => "?").join(", ");

export interface SqliteStoreOptions {
  /** How often the worker copies the WAL into the database file (default Defaults.store.checkpointIntervalMs). */
  checkpointIntervalMs?: number;
  /**
   * Write the run engine's batches (saveRuns) on a worker thread (default true for a file; an in-memory database
   * is always written on the event loop).
   */
  runWriter?: boolean;
  /** Told what went wrong beside the writes themselves (the checkpoint worker or the run writer dying). */
  onWarning?: (message: string) => void;
}

/** A write waiting for the commit of the batch it is in. */
interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * The embedded store: one SQLite file in WAL mode, so HTTP readers never wait for the run engine's writes.
 * better-sqlite3 is synchronous; the methods are async only because the interface is shared with the Postgres store.
 *
 * The run engine's writes come batched already (saveRuns, one call per event-loop turn) and go to the writer thread
 * (RunWriter). The other writes (idempotent inserts, blobs, recovery) are group-committed here: the writes made in
 * one event-loop turn share one transaction, committed in the next check phase (setImmediate). Either way a write's
 * promise resolves only once its commit is done, so a caller that awaits a write (the engine before it answers a
 * client) knows it is on disk. With `synchronous = NORMAL` a commit costs no fsync (a power cut may lose the last
 * commits, never corrupt the file).
 */
export class SqliteStore implements Storage {
  private readonly db: Database.Database;
  private readonly s: Statements;
  /** Writes of the open batch transaction, resolved or rejected by its commit. */
  private waiters: Waiter[] = [];
  private readonly commitLater = () => this.commit();
  /** Writes the run engine's batches off the event loop; undefined for an in-memory database or once it died. */
  private writer: RunWriter | undefined;

  /** Opens (creating it and its directory if needed) and migrates the database file. */
  static open(file: string, opts: SqliteStoreOptions = {}): SqliteStore {
    if (file !== ":memory:") fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    const db = new Database(file);
    try {
      // busy_timeout first: a second process (a CLI command beside the server) may hold the lock while we migrate.
      db.pragma(`busy_timeout = ${Defaults.store.busyTimeoutMs}`);
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = NORMAL");
      db.pragma("foreign_keys = ON");
      migrate(db, file);
      const onDisk = file !== ":memory:" && file !== "";
      // Checkpoints move to a worker (see Checkpointer); an in-memory database has no WAL.
      if (onDisk) db.pragma("wal_autocheckpoint = 0");
      const checkpointer = onDisk
        ? new Checkpointer(file, opts.checkpointIntervalMs ?? Defaults.store.checkpointIntervalMs, (reason) => {
            // Back to SQLite's own checkpoints (in commits, on the event loop): slower, but the WAL stays bounded.
            if (db.open) db.pragma(`wal_autocheckpoint = ${SQLITE_DEFAULT_AUTOCHECKPOINT}`);
            opts.onWarning?.(`the WAL checkpoint worker stopped (${reason}); checkpoints run in commits again`);
          })
        : undefined;
      const store = new SqliteStore(db, checkpointer);
      if (onDisk && opts.runWriter !== false) {
        store.writer = new RunWriter(file, RUN_WRITER_SQL, SQLITE_DEFAULT_AUTOCHECKPOINT, (reason) => {
          store.writer = undefined;
          opts.onWarning?.(`the run writer thread stopped (${reason}); runs are written on the event loop again`);
        });
      }
      return store;
    } catch (e) {
      db.close();
      throw e;
    }
  }

  private constructor(
    db: Database.Database,
    /** @internal Undefined for an in-memory database. */
    readonly checkpointer: Checkpointer | undefined,
  ) {
    this.db = db;
    this.s = prepareStatements(db);
  }

  /**
   * Runs `fn` (synchronous SQL) inside the open batch transaction, opening one if needed; resolves with its result
   * once the batch is committed. A statement that fails rejects at once and leaves the rest of the batch alone
   * (SQLite undoes just that statement).
   */
  private write<T>(fn: () => T): Promise<T> {
    if (!this.db.open) return Promise.reject(new StoreError("STORE_CLOSED", "the store is closed"));
    if (!this.db.inTransaction) {
      // Writes still waiting here lost their transaction (SQLite rolls it back on an I/O error or a full disk):
      // settle them as lost before this write opens the next one.
      if (this.waiters.length > 0) this.commit();
      this.db.exec("BEGIN IMMEDIATE");
      setImmediate(this.commitLater);
    }
    let value: T;
    try {
      value = fn();
    } catch (e) {
      if (this.waiters.length === 0) this.commit();
      return Promise.reject(e);
    }
    return new Promise<T>((resolve, reject) => {
      this.waiters.push({ resolve: () => resolve(value), reject });
    });
  }

  /** Commits the open batch and settles its writes. */
  private commit(): void {
    const waiters = this.waiters;
    this.waiters = [];
    if (!this.db.open || !this.db.inTransaction) {
      // Closed under us, or SQLite already rolled the transaction back (an I/O error, a full disk).
      const err = new StoreError("STORE_WRITE_LOST", "the batch transaction ended before its commit (rolled back)");
      for (const w of waiters) w.reject(err);
      return;
    }
    try {
      this.db.exec("COMMIT");
    } catch (e) {
      if (this.db.inTransaction) this.db.exec("ROLLBACK");
      for (const w of waiters) w.reject(e);
      return;
    }
    for (const w of waiters) w.resolve();
  }

  async failUnfinishedRuns(error: RunError, now: number): Promise<RunRecord[]> {
    return this.write(() => {
      const runs = this.s.unfinishedRuns.all(JSON.stringify(UNFINISHED)).map(toRun);
      for (const run of runs) {
        run.status = "failed";
        run.error = error;
        run.finished_at = now;
        run.updated_at = now;
        run.rev++;
        this.s.updateRun.run(updateValues(run));
        // Same shape as the engine's own terminal status event, so SSE/WS clients need no special case.
        this.appendEventSync({ run_id: run.run_id, type: "status", data: { status: "failed", error }, time: now });
      }
      return runs;
    });
  }

  insertRun(run: RunRecord): Promise<void> {
    // A duplicate idempotency key fails here with SQLITE_CONSTRAINT_UNIQUE: the engine relies on it to settle races.
    return this.write(() => {
      this.s.insertRun.run(insertValues(run));
    });
  }

  updateRun(run: RunRecord): Promise<void> {
    return this.write(() => {
      const info = this.s.updateRun.run(updateValues(run));
      // An update of a run that was never inserted would otherwise vanish silently.
      if (info.changes === 0)
        throw new StoreError("RUN_NOT_FOUND", `cannot update run ${run.run_id}: it is not stored`);
    });
  }

  saveRuns(writes: readonly RunWrite[]): Promise<void> {
    let prepared: PreparedRunWrite[];
    try {
      prepared = writes.map(prepareRunWrite);
    } catch (e) {
      return Promise.reject(e);
    }
    if (this.writer?.usable && this.db.open) return this.writer.write(prepared);
    const apply = () => {
      for (const w of prepared) {
        if (w.insert) this.s.insertRun.run(w.insert);
        else if (w.update && this.s.updateRun.run(w.update).changes === 0)
          throw new StoreError("RUN_NOT_FOUND", `cannot update run ${w.update.at(-1)}: it is not stored`);
        for (const e of w.exports) this.s.insertExport.get(e);
        if (w.events) this.s.insertEventChunk.run(w.events);
      }
    };
    // The caller batches already: its own transaction, committed now, unless a group-commit batch is open (then
    // it joins that one as a savepoint, to keep the writes of this turn in order and still all-or-none).
    if (this.db.inTransaction || !this.db.open) return this.write(() => this.s.saveRunsTx(apply));
    try {
      this.s.saveRunsTx.immediate(apply);
    } catch (e) {
      return Promise.reject(e);
    }
    return Promise.resolve();
  }

  async getRun(runId: string): Promise<RunRecord | undefined> {
    const row = this.s.getRun.get(runId);
    return row && toRun(row);
  }

  async findRunByIdempotencyKey(key: string): Promise<RunRecord | undefined> {
    const row = this.s.runByIdempotencyKey.get(key);
    return row && toRun(row);
  }

  async listRuns(q: RunQuery): Promise<RunRecord[]> {
    const limit = clampLimit(q.limit, DEFAULT_RUN_LIMIT);
    const statuses = q.status?.length ? JSON.stringify(q.status) : undefined;
    const rows =
      q.plugin_id !== undefined
        ? statuses !== undefined
          ? this.s.runsByPluginStatus.all(q.plugin_id, statuses, limit)
          : this.s.runsByPlugin.all(q.plugin_id, limit)
        : statuses !== undefined
          ? this.s.runsByStatus.all(statuses, limit)
          : this.s.runs.all(limit);
    return rows.map(toRun);
  }

  appendRunEvent(ev: Omit<RunEvent, "seq">): Promise<RunEvent> {
    return this.write(() => this.appendEventSync(ev));
  }

  private appendEventSync(ev: Omit<RunEvent, "seq">): RunEvent {
    // The way in for events outside the run engine (which numbers its own and writes them in chunks): one
    // INSERT … SELECT last+1 statement, atomic on its own and correct across processes sharing the file. The last
    // seq is one seek into the (run_id, first_seq) primary key.
    const seq = this.s.insertEvent.get({
      run_id: ev.run_id,
      type: ev.type,
      time: ev.time,
      data: toJson(ev.data),
    });
    if (seq === undefined) throw new StoreError("RUN_EVENT_NOT_STORED", `no seq returned for run ${ev.run_id}`);
    return { seq, run_id: ev.run_id, type: ev.type, data: ev.data ?? null, time: ev.time };
  }

  async listRunEvents(runId: string, afterSeq: number, limit: number): Promise<RunEvent[]> {
    const max = clampLimit(limit, 0);
    const out: RunEvent[] = [];
    if (max === 0) return out;
    // Every chunk holds at least one event: `max` chunks are enough.
    for (const text of this.s.listEventChunks.all(runId, afterSeq, max)) {
      for (const [seq, type, time, data] of JSON.parse(text) as EventTuple[]) {
        if (seq <= afterSeq) continue;
        out.push({ seq, run_id: runId, type: type as RunEvent["type"], data: data ?? null, time });
        if (out.length === max) return out;
      }
    }
    return out;
  }

  insertExport(item: Omit<ExportItem, "seq">): Promise<ExportItem> {
    return this.write(() => {
      const seq = this.s.insertExport.get(exportValues(item));
      if (seq === undefined)
        throw new StoreError("EXPORT_NOT_STORED", `no seq returned for export ${item.export_item_id}`);
      return { ...item, seq };
    });
  }

  async listExports(runId: string, after: string | undefined, limit: number): Promise<ExportItem[]> {
    let afterSeq = 0;
    // An empty cursor means "from the start": clients build `?after=${next_after ?? ""}` for the first page.
    if (after !== undefined && after !== "") {
      // An item of another run is as unknown as a made-up id: the cursor is only meaningful within its run.
      const seq = this.s.exportSeq.get(after, runId);
      if (seq === undefined)
        throw new StoreError("EXPORT_CURSOR_NOT_FOUND", `'${after}' is not an export item of run ${runId}`);
      afterSeq = seq;
    }
    return this.s.listExports.all(runId, afterSeq, clampLimit(limit, 0)).map(toExport);
  }

  insertBlob(b: BlobRecord): Promise<void> {
    return this.write(() => {
      this.s.insertBlob.run(pick(b, BLOB_COLUMNS));
    });
  }

  updateBlob(b: BlobRecord): Promise<void> {
    return this.write(() => {
      const info = this.s.updateBlob.run(pick(b, BLOB_COLUMNS));
      if (info.changes === 0)
        throw new StoreError("BLOB_NOT_FOUND", `cannot update blob ${b.blob_id}: it is not stored`);
    });
  }

  async getBlob(blobId: string): Promise<BlobRecord | undefined> {
    return this.s.getBlob.get(blobId);
  }

  /** One pragma's value, for tests and diagnostics (`journal_mode`, `user_version`, …). */
  pragma(name: string): unknown {
    return this.db.pragma(name, { simple: true });
  }

  /** Idempotent: the server's shutdown path and a test's cleanup may both call it. */
  async close(): Promise<void> {
    if (!this.db.open) return;
    // What was written before close() is committed, not lost with the connection.
    if (this.waiters.length > 0 || this.db.inTransaction) this.commit();
    // The writer finishes what it was sent before it stops.
    await this.writer?.close();
    await this.checkpointer?.close();
    if (!this.db.open) return;
    // Recommended by SQLite before closing a long-lived connection: refreshes planner statistics where useful.
    this.db.pragma("optimize");
    this.db.close();
  }
}

type Statements = ReturnType<typeof prepareStatements>;

/** The run engine's statements: prepared on the event loop's connection and in the writer thread alike. */
const RUN_WRITER_SQL = {
  insertRun: `INSERT INTO runs (${RUN_COLUMNS.join(", ")}) VALUES (${placeholders(RUN_COLUMNS)})`,
  updateRun: `UPDATE runs SET ${RUN_STATE_COLUMNS.map((c) => `${c} = ?`).join(", ")} WHERE run_id = ?`,
  insertExport: `INSERT INTO exports (${EXPORT_COLUMNS.join(", ")}) VALUES (${placeholders(EXPORT_COLUMNS)}) RETURNING seq`,
  insertEventChunk: "INSERT INTO run_event_chunks (run_id, first_seq, last_seq, events) VALUES (?, ?, ?, ?)",
};

/** A run's changes as statement parameters: what the writer thread (or the event loop, without one) applies. */
function prepareRunWrite(w: RunWrite): PreparedRunWrite {
  const prepared: PreparedRunWrite = { exports: w.exports.map(exportValues) };
  if (w.run) {
    if (w.insert) prepared.insert = insertValues(w.run);
    else prepared.update = updateValues(w.run);
  }
  const n = w.events.length;
  if (n > 0) {
    const tuples: EventTuple[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const ev = w.events[i]!;
      tuples[i] = [ev.seq, ev.type, ev.time, ev.data ?? null];
    }
    prepared.events = [w.events[0]!.run_id, w.events[0]!.seq, w.events[n - 1]!.seq, JSON.stringify(tuples)];
  }
  return prepared;
}

/** Every statement prepared once at open; the list filters are separate statements so each one can use an index. */
function prepareStatements(db: Database.Database) {
  const runSelect = `SELECT ${RUN_COLUMNS.join(", ")} FROM runs`;
  // Newest first; rowid breaks ties between runs created in the same instant, in insertion order.
  const runOrder = "ORDER BY created_at DESC, rowid DESC LIMIT ?";
  // A status list binds as one JSON array, so one statement serves any number of statuses.
  const inStatuses = "status IN (SELECT value FROM json_each(?))";
  return {
    insertRun: db.prepare<[unknown[]], void>(RUN_WRITER_SQL.insertRun),
    updateRun: db.prepare<[unknown[]], void>(RUN_WRITER_SQL.updateRun),
    getRun: db.prepare<[string], RunRow>(`${runSelect} WHERE run_id = ?`),
    runByIdempotencyKey: db.prepare<[string], RunRow>(`${runSelect} WHERE idempotency_key = ?`),
    unfinishedRuns: db.prepare<[string], RunRow>(`${runSelect} WHERE ${inStatuses} ORDER BY created_at, rowid`),
    runs: db.prepare<[number], RunRow>(`${runSelect} ${runOrder}`),
    runsByPlugin: db.prepare<[string, number], RunRow>(`${runSelect} WHERE plugin_id = ? ${runOrder}`),
    runsByStatus: db.prepare<[string, number], RunRow>(`${runSelect} WHERE ${inStatuses} ${runOrder}`),
    runsByPluginStatus: db.prepare<[string, string, number], RunRow>(
      `${runSelect} WHERE plugin_id = ? AND ${inStatuses} ${runOrder}`,
    ),

    insertEvent: db
      .prepare<[Row], number>(
        `INSERT INTO run_event_chunks (run_id, first_seq, last_seq, events)
         SELECT @run_id, n, n, json_array(json_array(n, @type, @time, json(@data)))
         FROM (SELECT COALESCE((SELECT last_seq FROM run_event_chunks WHERE run_id = @run_id
                                ORDER BY first_seq DESC LIMIT 1), 0) + 1 AS n)
         RETURNING first_seq`,
      )
      .pluck(),
    insertEventChunk: db.prepare<[[string, number, number, string]], void>(RUN_WRITER_SQL.insertEventChunk),
    saveRunsTx: db.transaction((apply: () => void) => apply()),
    listEventChunks: db
      .prepare<[string, number, number], string>(
        "SELECT events FROM run_event_chunks WHERE run_id = ? AND last_seq > ? ORDER BY first_seq LIMIT ?",
      )
      .pluck(),

    insertExport: db.prepare<[unknown[]], number>(RUN_WRITER_SQL.insertExport).pluck(),
    exportSeq: db
      .prepare<[string, string], number>("SELECT seq FROM exports WHERE export_item_id = ? AND run_id = ?")
      .pluck(),
    listExports: db.prepare<[string, number, number], ExportRow>(
      `SELECT seq, ${EXPORT_COLUMNS.join(", ")} FROM exports WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
    ),

    insertBlob: db.prepare<[Row], void>(
      `INSERT INTO blobs (${BLOB_COLUMNS.join(", ")}) VALUES (${params(BLOB_COLUMNS)})`,
    ),
    updateBlob: db.prepare<[Row], void>(`UPDATE blobs SET ${sets(BLOB_COLUMNS.slice(1))} WHERE blob_id = @blob_id`),
    getBlob: db.prepare<[string], BlobRow>(`SELECT ${BLOB_COLUMNS.join(", ")} FROM blobs WHERE blob_id = ?`),
  };
}

// ---- row mapping ----------------------------------------------------------------------------------------------

/** JSON for a nullable column: null and undefined both become SQL NULL, so `IS NULL` means "none". */
function toJson(v: unknown): string | null {
  return v === null || v === undefined ? null : JSON.stringify(v);
}

function fromJson<T>(s: string | null, fallback: T): T {
  return s === null ? fallback : (JSON.parse(s) as T);
}

/** Only the named keys: better-sqlite3 refuses booleans and undefined, and extra keys hide typos in the SQL. */
function pick<T extends object>(o: T, cols: readonly (keyof T & string)[]): Row {
  const row: Row = {};
  for (const c of cols) row[c] = o[c] ?? null;
  return row;
}

/** Values of RUN_STATE_COLUMNS, in order. */
function runStateValues(r: RunRecord): unknown[] {
  return [
    r.status,
    r.updated_at,
    r.started_at ?? null,
    r.finished_at ?? null,
    r.progress ?? null,
    r.stage ?? null,
    r.message ?? null,
    r.step ?? null,
    r.step_total ?? null,
    r.eta_seconds ?? null,
    JSON.stringify(r.metrics ?? {}),
    r.cancel_requested ? 1 : 0,
    r.cancel_reason ?? null,
    r.cancel_requested_at ?? null,
    toJson(r.error),
    JSON.stringify(r.result_refs ?? []),
    toJson(r.result),
    r.rev,
  ];
}

/** The parameters of insertRun: RUN_CREATION_COLUMNS, then RUN_STATE_COLUMNS. */
function insertValues(r: RunRecord): unknown[] {
  const values: unknown[] = [
    r.run_id,
    r.plugin_id,
    r.entry_id,
    r.created_at,
    r.task_id ?? null,
    r.trace_id ?? null,
    r.idempotency_key ?? null,
    r.parent_run_id ?? null,
    JSON.stringify(r.args ?? {}),
    r.timeout_ms ?? null,
  ];
  for (const v of runStateValues(r)) values.push(v);
  return values;
}

/** The parameters of updateRun: RUN_STATE_COLUMNS, then the run_id. */
function updateValues(r: RunRecord): unknown[] {
  const values = runStateValues(r);
  values.push(r.run_id);
  return values;
}

function toRun(r: RunRow): RunRecord {
  return {
    run_id: r.run_id,
    plugin_id: r.plugin_id,
    entry_id: r.entry_id,
    status: r.status as RunStatus,
    created_at: r.created_at,
    updated_at: r.updated_at,
    started_at: r.started_at,
    finished_at: r.finished_at,
    task_id: r.task_id,
    trace_id: r.trace_id,
    idempotency_key: r.idempotency_key,
    parent_run_id: r.parent_run_id,
    args: fromJson(r.args, {}),
    timeout_ms: r.timeout_ms,
    progress: r.progress,
    stage: r.stage,
    message: r.message,
    step: r.step,
    step_total: r.step_total,
    eta_seconds: r.eta_seconds,
    metrics: fromJson(r.metrics, {}),
    cancel_requested: r.cancel_requested !== 0,
    cancel_reason: r.cancel_reason,
    cancel_requested_at: r.cancel_requested_at,
    error: fromJson<RunError | null>(r.error, null),
    result_refs: fromJson(r.result_refs, []),
    result: fromJson<unknown>(r.result, null),
    rev: r.rev,
  };
}

/** Values of EXPORT_COLUMNS, in order. */
function exportValues(e: Omit<ExportItem, "seq">): unknown[] {
  return [
    e.export_item_id,
    e.run_id,
    e.type,
    e.category,
    e.created_at,
    e.label ?? null,
    e.description ?? null,
    e.text ?? null,
    toJson(e.json),
    e.url ?? null,
    e.binary_url ?? null,
    e.binary ?? null,
    e.mime ?? null,
    JSON.stringify(e.metadata ?? {}),
  ];
}

function toExport(r: ExportRow): ExportItem {
  return {
    export_item_id: r.export_item_id,
    run_id: r.run_id,
    seq: r.seq,
    type: r.type as ExportItem["type"],
    category: r.category as ExportItem["category"],
    created_at: r.created_at,
    label: r.label,
    description: r.description,
    text: r.text,
    json: fromJson<unknown>(r.json, null),
    url: r.url,
    binary_url: r.binary_url,
    binary: r.binary,
    mime: r.mime,
    metadata: fromJson(r.metadata, {}),
  };
}

/** SQLite reads a negative LIMIT as "no limit"; a bad value from a caller must not turn into an unbounded scan. */
function clampLimit(n: number | undefined, fallback: number): number {
  return n === undefined || !Number.isFinite(n) ? fallback : Math.max(0, Math.trunc(n));
}

// ---- migrations -----------------------------------------------------------------------------------------------

/**
 * Applies the pending migrations in one IMMEDIATE transaction: two processes opening a fresh file at once queue on
 * the write lock instead of both running migration 1, and a failing migration leaves the file as it was.
 */
function migrate(db: Database.Database, file: string): void {
  db.transaction(() => {
    db.exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
    );
    const current = db.prepare<[], number | null>("SELECT MAX(version) FROM schema_migrations").pluck().get() ?? 0;
    if (current > SCHEMA_VERSION) {
      throw new StoreError(
        "SCHEMA_TOO_NEW",
        `the database ${file} has schema version ${current}, but this plugd only knows versions up to ` +
          `${SCHEMA_VERSION}: it was written by a newer plugd. Run that newer plugd, or point --data-dir ` +
          "(PLUGD_DATA_DIR) at another directory. Downgrading a database is not supported.",
      );
    }
    const record = db.prepare<[number, string, string], void>(
      "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
    );
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      db.exec(m.up);
      record.run(m.version, m.name, new Date().toISOString());
    }
  }).immediate();
}
