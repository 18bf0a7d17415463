// The SQLite store: inserts/s of runs, run events and exports (one autocommit write per call, as the run engine
// writes), and listRunEvents latency, each beside raw better-sqlite3 doing the same work in the same run.
//   bare:   the same rows into a bare table (no keys, indexes, constraints): the floor SQLite itself sets.
//   schema: the same rows into the store's own schema through raw prepared statements, with seq computed in JS:
//           what the indexes and foreign keys cost, so that bare → schema → store separates SQLite's work from the
//           store layer's (row mapping, JSON, seq assignment in SQL, async).
// The ratio is store ÷ bare. Usage: node bench/store.mjs [--quick]   (build first: it imports packages/server/dist)
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { SqliteStore } from "../packages/server/dist/store/sqlite/index.js";

const quick = process.argv.includes("--quick");
const N = quick ? 2_000 : 10_000;
const PAGE = 100;
const QUERIES = quick ? 300 : 2_000;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "plugd-bench-store-"));
const fmt = (n) => Math.round(n).toLocaleString("en-US");
const us = (ms) => `${(ms * 1000).toFixed(1)} µs`;

function run(i) {
  const t = 1_700_000_000 + i / 1000;
  return {
    run_id: `run-${i}`,
    plugin_id: `plugin-${i % 8}`,
    entry_id: "echo",
    status: "queued",
    created_at: t,
    updated_at: t,
    started_at: null,
    finished_at: null,
    task_id: null,
    trace_id: `trace-${i}`,
    idempotency_key: i % 2 ? `key-${i}` : null,
    parent_run_id: null,
    args: { text: `hello ${i}`, n: i, opts: { lang: "en", tags: ["a", "b"] } },
    timeout_ms: 30_000,
    progress: null,
    stage: null,
    message: null,
    step: null,
    step_total: null,
    eta_seconds: null,
    metrics: {},
    cancel_requested: false,
    cancel_reason: null,
    cancel_requested_at: null,
    error: null,
    result_refs: [],
    result: null,
    rev: 1,
  };
}

const event = (runId, i) => ({ run_id: runId, type: "output", data: { chunk: `line ${i} of output`, i }, time: i });

function exportItem(runId, i) {
  return {
    export_item_id: `exp-${i}`,
    run_id: runId,
    type: "json",
    category: "user",
    created_at: 1_700_000_000 + i,
    label: `item ${i}`,
    description: null,
    text: null,
    json: { i, values: [1, 2, 3], note: "some exported value" },
    url: null,
    binary_url: null,
    binary: null,
    mime: "application/json",
    metadata: { source: "bench" },
  };
}

const RUN_COLS = Object.keys(run(0));
const EXPORT_COLS = Object.keys(exportItem("r", 0));
/** A record as positional values, encoded as the store encodes them (objects as JSON, booleans as 0/1). */
const values = (o, cols) =>
  cols.map((c) => {
    const v = o[c];
    return v !== null && typeof v === "object" ? JSON.stringify(v) : typeof v === "boolean" ? +v : v;
  });

function pragmas(db) {
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.pragma("foreign_keys = ON");
}

/**
 * Raw prepared inserts into one file: the three record kinds, seq per run kept in JS. `chunks`: events go into the
 * store's run_event_chunks (one event per chunk here, as appendRunEvent writes them) instead of a plain table.
 */
function rawSide(db, chunks) {
  const seqs = new Map();
  const runs = db.prepare(`INSERT INTO runs (${RUN_COLS}) VALUES (${RUN_COLS.map(() => "?")})`);
  const events = chunks
    ? db.prepare("INSERT INTO run_event_chunks (run_id, first_seq, last_seq, events) VALUES (?, ?, ?, ?)")
    : db.prepare("INSERT INTO run_events (run_id, seq, type, time, data) VALUES (?, ?, ?, ?, ?)");
  const exports = db.prepare(`INSERT INTO exports (${EXPORT_COLS}) VALUES (${EXPORT_COLS.map(() => "?")})`);
  const event = (e) => {
    const seq = (seqs.get(e.run_id) ?? 0) + 1;
    seqs.set(e.run_id, seq);
    if (chunks) events.run(e.run_id, seq, seq, JSON.stringify([[seq, e.type, e.time, e.data]]));
    else events.run(e.run_id, seq, e.type, e.time, JSON.stringify(e.data));
  };
  const exportOne = (x) => exports.run(values(x, EXPORT_COLS));
  const run = (r) => runs.run(values(r, RUN_COLS));
  /** What the run engine writes for a short run that ends within one write: its row, its export, 4 events. */
  const shortRuns = db.transaction((writes) => {
    for (const w of writes) {
      run(w.run);
      for (const x of w.exports) exportOne(x);
      if (chunks) {
        const tuples = w.events.map((e) => [e.seq, e.type, e.time, e.data]);
        events.run(w.run.run_id, 1, tuples.length, JSON.stringify(tuples));
      } else for (const e of w.events) events.run(e.run_id, e.seq, e.type, e.time, JSON.stringify(e.data));
    }
  });
  return { run, event, export: exportOne, shortRuns: (writes) => shortRuns.immediate(writes) };
}

const bareDb = new Database(path.join(dir, "bare.db"));
pragmas(bareDb);
bareDb.exec(`
  CREATE TABLE runs (${RUN_COLS});
  CREATE TABLE run_events (run_id, seq, type, time, data);
  CREATE TABLE exports (${EXPORT_COLS});
`);
const bare = rawSide(bareDb, false);

// The store's schema, created by the store itself, then written through raw statements.
await SqliteStore.open(path.join(dir, "schema.db")).close();
const schemaDb = new Database(path.join(dir, "schema.db"));
pragmas(schemaDb);
const schema = rawSide(schemaDb, true);

const store = SqliteStore.open(path.join(dir, "store", "plugd.db"));

/**
 * Times `n` calls of each side, alternating in chunks so that load from other processes and WAL checkpoints fall on
 * every side alike instead of on whichever ran last.
 */
async function versus(n, sides, chunk = 500) {
  const ms = sides.map(() => 0);
  for (let from = 0; from < n; from += chunk) {
    const to = Math.min(n, from + chunk);
    for (const [k, fn] of sides.entries()) {
      const t0 = performance.now();
      for (let i = from; i < to; i++) await fn(i);
      ms[k] += performance.now() - t0;
    }
  }
  return ms.map((m) => n / (m / 1000));
}

// Warm-up (JIT, page cache) outside the measured ranges; these runs also own the events and exports below.
const W = 500;
await versus(W, [(i) => bare.run(run(N + i)), (i) => schema.run(run(N + i)), (i) => store.insertRun(run(N + i))]);

const results = [];
results.push([
  "runs: insertRun",
  ...(await versus(N, [(i) => bare.run(run(i)), (i) => schema.run(run(i)), (i) => store.insertRun(run(i))])),
]);

// Every event on one run: the worst case for per-run seq assignment (max+1 over a growing run).
const oneRun = `run-${N}`;
results.push([
  "run events: appendRunEvent (1 run)",
  ...(await versus(N, [
    (i) => bare.event(event(oneRun, i)),
    (i) => schema.event(event(oneRun, i)),
    (i) => store.appendRunEvent(event(oneRun, i)),
  ])),
]);

// Spread over many runs, as a busy server interleaves them.
const manyRuns = (i) => `run-${N + (i % W)}`;
results.push([
  `run events: appendRunEvent (${W} runs)`,
  ...(await versus(N, [
    (i) => bare.event(event(manyRuns(i), i)),
    (i) => schema.event(event(manyRuns(i), i)),
    (i) => store.appendRunEvent(event(manyRuns(i), i)),
  ])),
]);

results.push([
  "exports: insertExport",
  ...(await versus(N, [
    (i) => bare.export(exportItem(manyRuns(i), i)),
    (i) => schema.export(exportItem(manyRuns(i), i)),
    (i) => store.insertExport(exportItem(manyRuns(i), i)),
  ])),
]);

// The run engine's path: saveRuns with what short runs (POST /runs wait:true) write, 8 runs per call, as a loaded
// server batches them; the store hands them to its writer thread and resolves after the commit.
const BATCH = 8;
function shortRunBatch(b, prefix) {
  return Array.from({ length: BATCH }, (_, k) => {
    const id = `${prefix}-${b * BATCH + k}`;
    const r = { ...run(b * BATCH + k), run_id: id, idempotency_key: null, status: "succeeded" };
    const x = { ...exportItem(id, b * BATCH + k), export_item_id: `${prefix}-x-${b * BATCH + k}` };
    const events = ["queued", "running", "export", "succeeded"].map((st, i) => ({
      seq: i + 1,
      run_id: id,
      type: st === "export" ? "export" : "status",
      data: { status: st },
      time: i,
    }));
    return { run: r, insert: true, exports: [x], events };
  });
}
const batches = Math.floor(N / BATCH / 2);
results.push([
  `short runs: saveRuns, ${BATCH} per call (runs/s)`,
  ...(
    await versus(
      batches,
      [
        (b) => bare.shortRuns(shortRunBatch(b, "bare")),
        (b) => schema.shortRuns(shortRunBatch(b, "schema")),
        (b) => store.saveRuns(shortRunBatch(b, "store")),
      ],
      50,
    )
  ).map((callsPerSec) => callsPerSec * BATCH),
]);

console.log(`SQLite store, ${fmt(N)} rows each (WAL, synchronous=NORMAL, one transaction per write)\n`);
const col = (s, w) => String(s).padStart(w);
console.log(
  `${"".padEnd(38)}${col("bare table", 14)}${col("store schema", 14)}${col("plugd store", 14)}${col("ratio", 9)}`,
);
for (const [name, bareRate, schemaRate, storeRate] of results) {
  console.log(
    name.padEnd(38) +
      col(`${fmt(bareRate)}/s`, 14) +
      col(`${fmt(schemaRate)}/s`, 14) +
      col(`${fmt(storeRate)}/s`, 14) +
      col(`${(storeRate / bareRate).toFixed(2)}×`, 9),
  );
}

// ---- listRunEvents latency: a page of 100 after a spread of seqs in the N-event run ----
// Baseline: the same SELECT through raw better-sqlite3 on the store's own file (same index), chunks not parsed.
const reader = new Database(path.join(dir, "store", "plugd.db"), { readonly: true });
const rawPage = reader.prepare(
  "SELECT events FROM run_event_chunks WHERE run_id = ? AND last_seq > ? ORDER BY first_seq LIMIT ?",
);
const after = Array.from({ length: QUERIES }, (_, i) => (i * 7919) % (N - PAGE));
for (let i = 0; i < 100; i++) {
  rawPage.all(oneRun, after[i % QUERIES], PAGE);
  await store.listRunEvents(oneRun, after[i % QUERIES], PAGE);
}
const rawLat = [];
const storeLat = [];
let got = 0;
for (let i = 0; i < QUERIES; i++) {
  let t0 = performance.now();
  rawPage.all(oneRun, after[i], PAGE);
  rawLat.push(performance.now() - t0);
  t0 = performance.now();
  got += (await store.listRunEvents(oneRun, after[i], PAGE)).length;
  storeLat.push(performance.now() - t0);
}
if (got !== QUERIES * PAGE) throw new Error(`expected ${QUERIES * PAGE} events, got ${got}`);
const pct = (a, p) => {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
console.log(`\nlistRunEvents: pages of ${PAGE} events from a ${fmt(N)}-event run, ${fmt(QUERIES)} queries`);
console.log(
  `  raw better-sqlite3 (chunk rows)  p50 ${us(pct(rawLat, 50))}  p99 ${us(pct(rawLat, 99))}\n` +
    `  plugd store (rows → RunEvent)    p50 ${us(pct(storeLat, 50))}  p99 ${us(pct(storeLat, 99))}\n` +
    `  ratio (p50 store ÷ raw)          ${(pct(storeLat, 50) / pct(rawLat, 50)).toFixed(2)}×`,
);

reader.close();
bareDb.close();
schemaDb.close();
await store.close();
fs.rmSync(dir, { recursive: true, force: true });
