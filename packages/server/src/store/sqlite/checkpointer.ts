import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import { Defaults } from "../../config/defaults.js";
import { stopWorker } from "./stop-worker.js";

/**
 * The worker's code, evaluated (not loaded from a file) so the same module works from `dist/` and under vitest
 * (which runs `src/*.ts` and cannot hand a `.ts` file to a worker thread).
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma("busy_timeout = 1000");
let runs = 0;
const timer = setInterval(() => {
  try {
    // PASSIVE: copies what no reader still needs and never waits for the writer, so the server is never blocked.
    const [r] = db.pragma("wal_checkpoint(PASSIVE)");
    runs++;
    parentPort.postMessage({ runs, log: r.log, checkpointed: r.checkpointed });
  } catch (e) {
    parentPort.postMessage({ error: String((e && e.message) || e) });
  }
}, workerData.intervalMs);
parentPort.on("message", (m) => {
  if (m === "close") {
    clearInterval(timer);
    db.close();
    parentPort.close();
  }
});
`;

export interface CheckpointStats {
  /** Checkpoints run so far. */
  runs: number;
  /** WAL frames at the last one, and how many of them it copied into the database file. */
  log: number;
  checkpointed: number;
  lastError: string | undefined;
}

/**
 * WAL checkpoints on a worker thread. SQLite's automatic checkpoint runs inside whichever commit crosses the
 * threshold, on the server's event loop, and fsyncs there (about a third of the HTTP run rate, bench/http.mjs); here
 * a second connection copies the WAL into the database file off the loop, and the server's connection has
 * `wal_autocheckpoint = 0`. The run writer thread checkpoints after its own commits (see RunWriter); this one covers
 * what the event loop writes, and everything when the writer is gone.
 */
export class Checkpointer {
  private readonly worker: Worker;
  private closing: Promise<void> | undefined;
  private exited = false;
  readonly stats: CheckpointStats = { runs: 0, log: 0, checkpointed: 0, lastError: undefined };

  /** `onLost`: the worker died before close(); the caller checkpoints on its own again so the WAL cannot grow forever. */
  constructor(file: string, intervalMs: number, onLost: (reason: string) => void) {
    const driver = createRequire(import.meta.url).resolve("better-sqlite3");
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, intervalMs, driver } });
    this.worker.on("message", (m: { runs?: number; log?: number; checkpointed?: number; error?: string }) => {
      if (m.error !== undefined) this.stats.lastError = m.error;
      else Object.assign(this.stats, m, { lastError: undefined });
    });
    this.worker.on("error", (e) => {
      this.stats.lastError = e.message;
    });
    this.worker.on("exit", (code) => {
      this.exited = true;
      if (this.closing === undefined) onLost(this.stats.lastError ?? `the checkpoint worker exited with code ${code}`);
    });
    // Never what keeps the process alive.
    this.worker.unref();
  }

  /** Stops the worker; resolves when its connection is closed. Idempotent. */
  close(): Promise<void> {
    if (this.exited) return Promise.resolve();
    this.closing ??= stopWorker(this.worker, Defaults.store.workerStopTimeoutMs);
    return this.closing;
  }
}
