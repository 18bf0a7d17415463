import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import type {
  BlobRecord,
  ExportItem,
  MessageRecord,
  RunError,
  RunEvent,
  RunQuery,
  RunRecord,
  Storage,
} from "../types.js";
import { MIGRATIONS } from "./migrations.js";

const UNFINISHED = ["queued", "running", "cancel_requested"];

/**
 * The embedded store: one SQLite file in WAL mode. Records are kept as JSON documents beside the few columns that
 * queries filter or sort on, so the record shapes can grow without a migration per field.
 */
export class SqliteStore implements Storage {
  private readonly db: Database.Database;
  private readonly s: ReturnType<SqliteStore["prepare"]>;
  /** Next event seq per run, so appends need no read. Loaded lazily from the table. */
  private readonly nextSeq = new Map<string, number>();

  static open(file: string): SqliteStore {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    return new SqliteStore(new Database(file));
  }

  private constructor(db: Database.Database) {
    this.db = db;
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    db.pragma("foreign_keys = ON");
    db.pragma("busy_timeout = 5000");
    migrate(db);
    this.s = this.prepare();
  }

  private prepare() {
    const db = this.db;
    return {
      insertRun: db.prepare(
        "INSERT INTO runs (run_id, plugin_id, entry_id, status, created_at, updated_at, idempotency_key, doc) VALUES (@run_id, @plugin_id, @entry_id, @status, @created_at, @updated_at, @idempotency_key, @doc)",
      ),
      updateRun: db.prepare(
        "UPDATE runs SET status = @status, updated_at = @updated_at, doc = @doc WHERE run_id = @run_id",
      ),
      getRun: db.prepare("SELECT doc FROM runs WHERE run_id = ?").pluck(),
      runByKey: db.prepare("SELECT doc FROM runs WHERE idempotency_key = ?").pluck(),
      unfinished: db.prepare(`SELECT doc FROM runs WHERE status IN (${UNFINISHED.map(() => "?").join(",")})`).pluck(),
      maxSeq: db.prepare("SELECT COALESCE(MAX(seq), 0) FROM run_events WHERE run_id = ?").pluck(),
      insertEvent: db.prepare("INSERT INTO run_events (run_id, seq, type, time, data) VALUES (?, ?, ?, ?, ?)"),
      listEvents: db.prepare(
        "SELECT run_id, seq, type, time, data FROM run_events WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?",
      ),
      insertExport: db.prepare("INSERT INTO exports (export_item_id, run_id, doc) VALUES (?, ?, ?)"),
      exportSeq: db.prepare("SELECT seq FROM exports WHERE export_item_id = ? AND run_id = ?").pluck(),
      listExports: db.prepare("SELECT seq, doc FROM exports WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?"),
      insertBlob: db.prepare("INSERT INTO blobs (blob_id, run_id, doc) VALUES (?, ?, ?)"),
      updateBlob: db.prepare("UPDATE blobs SET doc = ? WHERE blob_id = ?"),
      getBlob: db.prepare("SELECT doc FROM blobs WHERE blob_id = ?").pluck(),
      insertMessage: db.prepare(
        "INSERT INTO messages (message_id, plugin_id, priority, timestamp, doc) VALUES (?, ?, ?, ?, ?)",
      ),
    };
  }

  async failUnfinishedRuns(error: RunError, now: number): Promise<RunRecord[]> {
    const tx = this.db.transaction(() => {
      const runs = (this.s.unfinished.all(...UNFINISHED) as string[]).map((d) => JSON.parse(d) as RunRecord);
      for (const run of runs) {
        run.status = "failed";
        run.error = error;
        run.finished_at = now;
        run.updated_at = now;
        run.rev++;
        this.writeRun(run);
        this.appendEventSync({ run_id: run.run_id, type: "status", data: { status: "failed", error }, time: now });
      }
      return runs;
    });
    return tx();
  }

  async insertRun(run: RunRecord): Promise<void> {
    this.s.insertRun.run({ ...columns(run), doc: JSON.stringify(run) });
  }

  async updateRun(run: RunRecord): Promise<void> {
    this.writeRun(run);
  }

  private writeRun(run: RunRecord): void {
    this.s.updateRun.run({
      run_id: run.run_id,
      status: run.status,
      updated_at: run.updated_at,
      doc: JSON.stringify(run),
    });
  }

  async getRun(runId: string): Promise<RunRecord | undefined> {
    const d = this.s.getRun.get(runId) as string | undefined;
    return d ? (JSON.parse(d) as RunRecord) : undefined;
  }

  async findRunByIdempotencyKey(key: string): Promise<RunRecord | undefined> {
    const d = this.s.runByKey.get(key) as string | undefined;
    return d ? (JSON.parse(d) as RunRecord) : undefined;
  }

  async listRuns(q: RunQuery): Promise<RunRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (q.plugin_id) {
      where.push("plugin_id = ?");
      params.push(q.plugin_id);
    }
    if (q.status?.length) {
      where.push(`status IN (${q.status.map(() => "?").join(",")})`);
      params.push(...q.status);
    }
    const sql = `SELECT doc FROM runs ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY created_at DESC, rowid DESC LIMIT ?`;
    return (
      this.db
        .prepare(sql)
        .pluck()
        .all(...params, q.limit ?? 100) as string[]
    ).map((d) => JSON.parse(d) as RunRecord);
  }

  async appendRunEvent(ev: Omit<RunEvent, "seq">): Promise<RunEvent> {
    return this.appendEventSync(ev);
  }

  private appendEventSync(ev: Omit<RunEvent, "seq">): RunEvent {
    let seq = this.nextSeq.get(ev.run_id);
    if (seq === undefined) seq = (this.s.maxSeq.get(ev.run_id) as number) + 1;
    this.s.insertEvent.run(ev.run_id, seq, ev.type, ev.time, JSON.stringify(ev.data ?? null));
    this.nextSeq.set(ev.run_id, seq + 1);
    // Finished runs get few new events; forget their counters so the map stays bounded.
    if (ev.type === "status" && isTerminalStatus(ev.data)) this.nextSeq.delete(ev.run_id);
    return { ...ev, seq };
  }

  async listRunEvents(runId: string, afterSeq: number, limit: number): Promise<RunEvent[]> {
    return (
      this.s.listEvents.all(runId, afterSeq, limit) as Array<{
        run_id: string;
        seq: number;
        type: RunEvent["type"];
        time: number;
        data: string;
      }>
    ).map((r) => ({ run_id: r.run_id, seq: r.seq, type: r.type, time: r.time, data: JSON.parse(r.data) }));
  }

  async insertExport(item: Omit<ExportItem, "seq">): Promise<ExportItem> {
    const info = this.s.insertExport.run(item.export_item_id, item.run_id, JSON.stringify(item));
    return { ...item, seq: Number(info.lastInsertRowid) };
  }

  async listExports(runId: string, after: string | undefined, limit: number): Promise<ExportItem[]> {
    let from = 0;
    if (after) {
      const seq = this.s.exportSeq.get(after, runId) as number | undefined;
      if (seq === undefined)
        throw Object.assign(new Error(`no export '${after}' in run ${runId}`), { code: "EXPORT_CURSOR_NOT_FOUND" });
      from = seq;
    }
    return (this.s.listExports.all(runId, from, limit) as Array<{ seq: number; doc: string }>).map((r) => ({
      ...(JSON.parse(r.doc) as ExportItem),
      seq: r.seq,
    }));
  }

  async insertBlob(b: BlobRecord): Promise<void> {
    this.s.insertBlob.run(b.blob_id, b.run_id, JSON.stringify(b));
  }

  async updateBlob(b: BlobRecord): Promise<void> {
    this.s.updateBlob.run(JSON.stringify(b), b.blob_id);
  }

  async getBlob(blobId: string): Promise<BlobRecord | undefined> {
    const d = this.s.getBlob.get(blobId) as string | undefined;
    return d ? (JSON.parse(d) as BlobRecord) : undefined;
  }

  async insertMessage(m: MessageRecord): Promise<void> {
    this.s.insertMessage.run(m.message_id, m.plugin_id, Math.trunc(m.priority), m.timestamp, JSON.stringify(m));
  }

  async listMessages(q: { plugin_id?: string; priority_min?: number; limit: number }): Promise<MessageRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (q.plugin_id) {
      where.push("plugin_id = ?");
      params.push(q.plugin_id);
    }
    if (q.priority_min !== undefined) {
      where.push("priority >= ?");
      params.push(q.priority_min);
    }
    const sql = `SELECT doc FROM messages ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY timestamp DESC, seq DESC LIMIT ?`;
    return (
      this.db
        .prepare(sql)
        .pluck()
        .all(...params, q.limit) as string[]
    ).map((d) => JSON.parse(d) as MessageRecord);
  }

  /** For tests and diagnostics. */
  pragma(name: string): unknown {
    return this.db.pragma(name, { simple: true });
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

function columns(run: RunRecord) {
  return {
    run_id: run.run_id,
    plugin_id: run.plugin_id,
    entry_id: run.entry_id,
    status: run.status,
    created_at: run.created_at,
    updated_at: run.updated_at,
    idempotency_key: run.idempotency_key,
  };
}

function isTerminalStatus(data: unknown): boolean {
  const s = (data as { status?: string } | null)?.status;
  return s === "succeeded" || s === "failed" || s === "canceled" || s === "timeout";
}

function migrate(db: Database.Database): void {
  db.exec(
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
  );
  const current = (db.prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").pluck().get() as number) ?? 0;
  const latest = MIGRATIONS[MIGRATIONS.length - 1]!.version;
  if (current > latest) {
    throw new Error(
      `the database ${db.name} has schema version ${current}, newer than this plugd knows (${latest}); upgrade plugd or use another --data-dir`,
    );
  }
  const pending = MIGRATIONS.filter((m) => m.version > current);
  if (pending.length === 0) return;
  db.transaction(() => {
    for (const m of pending) {
      db.exec(m.up);
      db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)").run(
        m.version,
        m.name,
        new Date().toISOString(),
      );
    }
  })();
}
