import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import { Defaults } from "../../config/defaults.js";
import { stopWorker } from "./stop-worker.js";

/** One run's changes as statement parameters, built on the event loop (see SqliteStore.saveRuns). */
export interface PreparedRunWrite {
  insert?: unknown[];
  update?: unknown[];
  exports: unknown[][];
  /** The run's new events as one chunk row: run_id, first_seq, last_seq, events JSON. */
  events?: [string, number, number, string];
}

/** The statements, written once by the store (it owns the schema) and prepared in the worker. */
export interface RunWriterSql {
  insertRun: string;
  updateRun: string;
  insertExport: string;
  insertEventChunk: string;
}

/**
 * The worker's code, evaluated (not loaded from a file) so the same module works from `dist/` and under vitest,
 * as the checkpointer's. It applies every batch waiting for it in one transaction (the slower a commit, the more
 * it carries), and a failing combined transaction again batch by batch, so one bad batch fails alone.
 */
const WORKER_SOURCE = `
const { parentPort, workerData, receiveMessageOnPort } = require("node:worker_threads");
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma("busy_timeout = " + workerData.busyTimeoutMs);
db.pragma("synchronous = NORMAL");
db.pragma("foreign_keys = ON");
// This thread is the one writing, without pause under load: it checkpoints after its own commits, or the WAL grows
// without bound (a checkpoint from another connection never catches a writer that never pauses: 200+ MB in 8 s of
// bench/http.mjs, every commit slower for it).
db.pragma("wal_autocheckpoint = " + workerData.autocheckpointPages);
const sql = workerData.sql;
const insertRun = db.prepare(sql.insertRun);
const updateRun = db.prepare(sql.updateRun);
const insertExport = db.prepare(sql.insertExport);
const insertEventChunk = db.prepare(sql.insertEventChunk);
function applyOne(writes) {
  for (const w of writes) {
    if (w.insert) insertRun.run(w.insert);
    else if (w.update && updateRun.run(w.update).changes === 0) {
      const e = new Error("cannot update run " + w.update[w.update.length - 1] + ": it is not stored");
      e.code = "RUN_NOT_FOUND";
      throw e;
    }
    for (const x of w.exports) insertExport.get(x);
    if (w.events) insertEventChunk.run(w.events);
  }
}
const applyAll = db.transaction((batches) => { for (const b of batches) applyOne(b.writes); });
const applyBatch = db.transaction((b) => applyOne(b.writes));
const fail = (e) => ({ message: String((e && e.message) || e), code: e && e.code });
function handle(first) {
  const batches = [first];
  for (let m = receiveMessageOnPort(parentPort); m; m = receiveMessageOnPort(parentPort)) {
    if (m.message === "close") { closeNow(batches); return; }
    batches.push(m.message);
  }
  commit(batches);
}
function commit(batches) {
  try {
    applyAll.immediate(batches);
    for (const b of batches) parentPort.postMessage({ id: b.id });
  } catch (e) {
    if (batches.length === 1) { parentPort.postMessage({ id: batches[0].id, error: fail(e) }); return; }
    for (const b of batches) {
      try { applyBatch.immediate(b); parentPort.postMessage({ id: b.id }); }
      catch (e2) { parentPort.postMessage({ id: b.id, error: fail(e2) }); }
    }
  }
}
function closeNow(batches) {
  if (batches.length) commit(batches);
  db.close();
  parentPort.close();
}
parentPort.on("message", (m) => (m === "close" ? closeNow([]) : handle(m)));
`;

interface Waiting {
  resolve: () => void;
  reject: (e: unknown) => void;
}

/** An error from the writer thread, with the SQLite code the caller may branch on. */
export class RunWriteError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "RunWriteError";
  }
}

/**
 * Writes the run engine's batches on a worker thread with its own connection. SQLite's work for a run (its row,
 * export, events and the commit) was the largest part of a run's CPU on the event loop; here it runs beside it, on
 * another core. A write resolves after its commit, so "acknowledged ⇒ on disk" holds as before. The thread also
 * makes the WAL checkpoints its commits call for (SQLite's automatic ones), off the event loop.
 */
export class RunWriter {
  private readonly worker: Worker;
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 1;
  private closing: Promise<void> | undefined;
  private exited = false;

  /** `onLost`: the worker died before close(); its writes in flight are rejected and the caller writes itself. */
  constructor(file: string, sql: RunWriterSql, autocheckpointPages: number, onLost: (reason: string) => void) {
    const driver = createRequire(import.meta.url).resolve("better-sqlite3");
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { file, driver, sql, autocheckpointPages, busyTimeoutMs: Defaults.store.busyTimeoutMs },
    });
    this.worker.on("message", (m: { id: number; error?: { message: string; code?: string } }) => {
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (this.waiting.size === 0) this.worker.unref();
      if (m.error) w.reject(new RunWriteError(m.error.code ?? "STORE_WRITE_FAILED", m.error.message));
      else w.resolve();
    });
    let lastError: string | undefined;
    this.worker.on("error", (e) => {
      lastError = e.message;
    });
    this.worker.on("exit", (code) => {
      this.exited = true;
      const reason = lastError ?? `the run writer exited with code ${code}`;
      const err = new RunWriteError("STORE_WRITER_LOST", `${reason}; the write may not be on disk`);
      for (const w of this.waiting.values()) w.reject(err);
      this.waiting.clear();
      if (this.closing === undefined) onLost(reason);
    });
    // Idle, the thread never keeps the process alive; a write in flight does (see write()).
    this.worker.unref();
  }

  get usable(): boolean {
    return !this.exited && this.closing === undefined;
  }

  write(writes: PreparedRunWrite[]): Promise<void> {
    const id = this.nextId++;
    if (this.waiting.size === 0) this.worker.ref();
    return new Promise<void>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ id, writes });
    });
  }

  /** Writes what was sent, then stops the worker. Idempotent. */
  close(): Promise<void> {
    if (this.exited) return Promise.resolve();
    this.closing ??= stopWorker(this.worker, Defaults.store.workerStopTimeoutMs);
    return this.closing;
  }
}
