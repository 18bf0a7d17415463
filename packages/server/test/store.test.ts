import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MIGRATIONS, openStore, SCHEMA_VERSION, SqliteStore } from "../src/store/sqlite/index.js";
import type { BlobRecord, ExportItem, MessageRecord, RunEvent, RunRecord, RunStatus } from "../src/store/types.js";
import { exportRecord, runRecord } from "./helpers.js";

let dir: string;
let file: string;
const opened: SqliteStore[] = [];

function open(f = file): SqliteStore {
  const s = SqliteStore.open(f);
  opened.push(s);
  return s;
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "plugd-store-"));
  file = path.join(dir, "plugd.db");
});

afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const run = runRecord;

const exportItem = exportRecord;

function message(id: string, patch: Partial<MessageRecord> = {}): MessageRecord {
  return {
    message_id: id,
    plugin_id: "p1",
    source: "p1",
    description: "",
    priority: 0,
    message_type: "text",
    content: `content of ${id}`,
    binary_data: null,
    binary_url: null,
    metadata: {},
    timestamp: 1_700_000_000,
    ...patch,
  };
}

function blob(id: string, runId: string, patch: Partial<BlobRecord> = {}): BlobRecord {
  return {
    blob_id: id,
    run_id: runId,
    filename: "a.bin",
    mime: "application/octet-stream",
    size: null,
    path: null,
    max_bytes: 1024,
    created_at: 1_700_000_002,
    completed_at: null,
    ...patch,
  };
}

function raw(f = file): Database.Database {
  return new Database(f);
}

describe("opening and migrations", () => {
  it("applies every migration once, records it, and does not re-apply on reopen", async () => {
    const s = open();
    await s.close();
    const db = raw();
    const rows = db.prepare("SELECT version, name, applied_at FROM schema_migrations ORDER BY version").all() as {
      version: number;
      name: string;
      applied_at: string;
    }[];
    db.close();
    expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
    expect(rows.map((r) => r.name)).toEqual(MIGRATIONS.map((m) => m.name));
    for (const r of rows) expect(Number.isNaN(Date.parse(r.applied_at))).toBe(false);
    expect(SCHEMA_VERSION).toBe(MIGRATIONS.at(-1)?.version);

    await open().close();
    const again = raw();
    const after = again.prepare("SELECT version, applied_at FROM schema_migrations ORDER BY version").all();
    again.close();
    expect(after).toEqual(rows.map(({ version, applied_at }) => ({ version, applied_at })));
  });

  it("keeps migration versions strictly increasing", () => {
    const versions = MIGRATIONS.map((m) => m.version);
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
    expect(new Set(versions).size).toBe(versions.length);
  });

  it("refuses a database written by a newer plugd, naming both versions, and leaves it untouched", async () => {
    await open().close();
    const db = raw();
    db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'from the future', 'x')").run(
      SCHEMA_VERSION + 7,
    );
    db.close();
    let err: (Error & { code?: string }) | undefined;
    try {
      open();
    } catch (e) {
      err = e as Error & { code?: string };
    }
    expect(err?.code).toBe("SCHEMA_TOO_NEW");
    expect(err?.message).toContain(`schema version ${SCHEMA_VERSION + 7}`);
    expect(err?.message).toContain(`up to ${SCHEMA_VERSION}`);
    expect(err?.message).toMatch(/newer plugd/);
    // The refused open closed its handle and wrote nothing: removing the future row makes the file usable again.
    const db2 = raw();
    expect(db2.prepare("SELECT COUNT(*) FROM schema_migrations").pluck().get()).toBe(MIGRATIONS.length + 1);
    db2.prepare("DELETE FROM schema_migrations WHERE version = ?").run(SCHEMA_VERSION + 7);
    db2.close();
    await open().close();
  });

  it("sets WAL, synchronous NORMAL, foreign keys and busy timeout", () => {
    const s = open();
    expect(s.pragma("journal_mode")).toBe("wal");
    expect(s.pragma("synchronous")).toBe(1);
    expect(s.pragma("foreign_keys")).toBe(1);
    expect(s.pragma("busy_timeout")).toBe(5000);
    expect(fs.existsSync(`${file}-wal`)).toBe(true);
    // WAL is a property of the file: a fresh connection sees it too.
    const db = raw();
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    db.close();
  });

  it("openStore creates the data dir and <dataDir>/plugd.db", async () => {
    const dataDir = path.join(dir, "nested", "data");
    const s = openStore(dataDir);
    await s.insertRun(run("r1"));
    await s.close();
    await s.close(); // idempotent
    expect(fs.existsSync(path.join(dataDir, "plugd.db"))).toBe(true);
  });

  it("upgrades a version-1 database (JSON documents) without losing records or reusing export seqs", async () => {
    const v1 = MIGRATIONS[0];
    if (!v1) throw new Error("no migration 1");
    const db = raw();
    db.exec(v1.up);
    db.exec(
      "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
    );
    db.prepare("INSERT INTO schema_migrations VALUES (1, ?, 'then')").run(v1.name);
    const r = run("old", {
      status: "succeeded",
      idempotency_key: "k-old",
      args: { nested: { a: [1, 2, { b: "ü" }] } },
      metrics: { tokens: 12 },
      cancel_requested: true,
      error: { code: "E", message: "m", details: { x: 1 } },
      result: { answer: 42 },
      result_refs: ["e2"],
      step: 3,
      rev: 9,
    });
    db.prepare(
      "INSERT INTO runs (run_id, plugin_id, entry_id, status, created_at, updated_at, idempotency_key, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    ).run(
      r.run_id,
      r.plugin_id,
      r.entry_id,
      r.status,
      r.created_at,
      r.updated_at,
      r.idempotency_key,
      JSON.stringify(r),
    );
    db.prepare("INSERT INTO run_events VALUES ('old', 1, 'status', 5.5, ?)").run(JSON.stringify({ status: "running" }));
    db.prepare("INSERT INTO run_events VALUES ('old', 2, 'output', 6.5, 'null')").run();
    db.prepare("INSERT INTO run_events VALUES ('gone', 1, 'status', 1, '{}')").run(); // orphan: dropped
    const e1 = { ...exportItem("e1", "old"), seq: 1 };
    const e2 = { ...exportItem("e2", "old", { type: "json", json: { k: [true, null] }, metadata: { m: 1 } }), seq: 2 };
    for (const e of [e1, e2])
      db.prepare("INSERT INTO exports (export_item_id, run_id, doc) VALUES (?, ?, ?)").run(
        e.export_item_id,
        e.run_id,
        JSON.stringify(e),
      );
    // A third export was inserted and deleted: its seq (3) must still never be handed out again.
    db.prepare("INSERT INTO exports (export_item_id, run_id, doc) VALUES ('e3', 'old', '{}')").run();
    db.prepare("DELETE FROM exports WHERE export_item_id = 'e3'").run();
    const b = blob("b1", "old", { size: 10, path: "/x", completed_at: 7 });
    db.prepare("INSERT INTO blobs VALUES (?, ?, ?)").run(b.blob_id, b.run_id, JSON.stringify(b));
    const m = message("m1", { priority: 5, content: { parts: ["a"] }, metadata: { k: "v" } });
    db.prepare("INSERT INTO messages (message_id, plugin_id, priority, timestamp, doc) VALUES (?, ?, ?, ?, ?)").run(
      m.message_id,
      m.plugin_id,
      m.priority,
      m.timestamp,
      JSON.stringify(m),
    );
    db.close();

    const s = open();
    expect(await s.getRun("old")).toEqual(r);
    expect(await s.findRunByIdempotencyKey("k-old")).toEqual(r);
    expect(await s.listRunEvents("old", 0, 10)).toEqual([
      { seq: 1, run_id: "old", type: "status", data: { status: "running" }, time: 5.5 },
      { seq: 2, run_id: "old", type: "output", data: null, time: 6.5 },
    ]);
    expect((await s.appendRunEvent({ run_id: "old", type: "log", data: "x", time: 8 })).seq).toBe(3);
    expect(await s.listExports("old", undefined, 10)).toEqual([e1, e2]);
    expect((await s.insertExport(exportItem("e4", "old"))).seq).toBe(4);
    expect(await s.getBlob("b1")).toEqual(b);
    await s.close();

    const check = raw();
    const tables = check.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%_v1'").all();
    expect(tables).toEqual([]);
    // Pushed messages moved to the bus: migration 3 drops the table.
    expect(check.prepare("SELECT name FROM sqlite_master WHERE name = 'messages'").all()).toEqual([]);
    expect(check.prepare("SELECT MAX(version) FROM schema_migrations").pluck().get()).toBe(SCHEMA_VERSION);
    expect(check.pragma("foreign_key_check")).toEqual([]);
    expect(check.pragma("integrity_check", { simple: true })).toBe("ok");
    check.close();
  });
});

describe("runs", () => {
  it("round-trips every field, JSON columns intact", async () => {
    const s = open();
    const r = run("r1", {
      status: "running",
      started_at: 1_700_000_000.5,
      task_id: "t",
      trace_id: "tr",
      idempotency_key: "k",
      parent_run_id: "parent",
      args: { text: "héllo 🌍", n: 1.5, list: [1, "two", null, { deep: { deeper: true } }], empty: {} },
      timeout_ms: 30_000,
      progress: 0.25,
      stage: "loading",
      message: "quarter",
      step: 1,
      step_total: 4,
      eta_seconds: 12.5,
      metrics: { tokens: 100, ms: 3.25 },
      cancel_requested: true,
      cancel_reason: "user",
      cancel_requested_at: 1_700_000_000.75,
      error: { code: "X", message: "bad", details: { why: ["a", "b"] } },
      result_refs: ["e1", "e2"],
      result: { out: [1, { two: 2 }], s: "" },
      rev: 7,
    });
    await s.insertRun(r);
    expect(await s.getRun("r1")).toEqual(r);
    expect(await s.getRun("nope")).toBeUndefined();

    // Scalar results (not only objects) survive too.
    for (const result of ["plain string", 0, false, [], null]) {
      await s.updateRun({ ...r, result });
      expect((await s.getRun("r1"))?.result).toEqual(result);
    }
  });

  it("updateRun stores the run's state, keeps what was fixed at creation, refuses a run never stored", async () => {
    const s = open();
    await s.insertRun(run("r1", { idempotency_key: "k1", args: { a: 1 } }));
    const next = run("r1", {
      status: "succeeded",
      result: { ok: 1 },
      finished_at: 5,
      rev: 3,
      idempotency_key: "k1",
      args: { a: 1 },
      progress: 1,
      metrics: { n: 2 },
      error: null,
      result_refs: ["e1"],
    });
    await s.updateRun(next);
    expect(await s.getRun("r1")).toEqual(next);
    // Creation-time fields are not part of an update.
    await s.updateRun({ ...next, args: { changed: true }, plugin_id: "other", rev: 4 });
    expect(await s.getRun("r1")).toEqual({ ...next, rev: 4 });
    await expect(s.updateRun(run("ghost"))).rejects.toMatchObject({ code: "RUN_NOT_FOUND" });
  });

  it("finds by idempotency key; a key is unique, null keys are not", async () => {
    const s = open();
    await s.insertRun(run("a", { idempotency_key: "key-1" }));
    await s.insertRun(run("b"));
    await s.insertRun(run("c"));
    expect((await s.findRunByIdempotencyKey("key-1"))?.run_id).toBe("a");
    expect(await s.findRunByIdempotencyKey("key-2")).toBeUndefined();
    await expect(s.insertRun(run("d", { idempotency_key: "key-1" }))).rejects.toMatchObject({
      code: "SQLITE_CONSTRAINT_UNIQUE",
    });
    await expect(s.insertRun(run("a"))).rejects.toMatchObject({ code: "SQLITE_CONSTRAINT_PRIMARYKEY" });
    expect(await s.getRun("d")).toBeUndefined();
  });

  it("lists newest first, filters by plugin and status, default limit 100", async () => {
    const s = open();
    const statuses: RunStatus[] = ["queued", "running", "succeeded", "failed"];
    for (let i = 0; i < 120; i++)
      await s.insertRun(
        run(`r${i}`, {
          plugin_id: i % 2 ? "odd" : "even",
          status: statuses[i % 4] ?? "queued",
          // Pairs share a timestamp: insertion order breaks the tie.
          created_at: 1000 + Math.floor(i / 2),
        }),
      );
    const all = await s.listRuns({});
    expect(all).toHaveLength(100);
    expect(all[0]?.run_id).toBe("r119");
    expect(all[1]?.run_id).toBe("r118");
    expect(all.at(-1)?.run_id).toBe("r20");
    expect((await s.listRuns({ limit: 3 })).map((r) => r.run_id)).toEqual(["r119", "r118", "r117"]);
    expect((await s.listRuns({ limit: -1 })).length).toBe(0);

    const odd = await s.listRuns({ plugin_id: "odd", limit: 1000 });
    expect(odd).toHaveLength(60);
    expect(odd.every((r) => r.plugin_id === "odd")).toBe(true);

    const done = await s.listRuns({ status: ["succeeded", "failed"], limit: 1000 });
    expect(done).toHaveLength(60);
    expect(done.every((r) => r.status === "succeeded" || r.status === "failed")).toBe(true);

    const oddFailed = await s.listRuns({ plugin_id: "odd", status: ["failed"], limit: 1000 });
    expect(oddFailed).toHaveLength(30);
    expect(oddFailed[0]?.run_id).toBe("r119");
    expect(await s.listRuns({ plugin_id: "none" })).toEqual([]);
    expect(await s.listRuns({ status: [] })).toHaveLength(100); // an empty list filters nothing
  });

  it("failUnfinishedRuns fails only queued/running/cancel_requested runs and appends a status event each", async () => {
    const s = open();
    const statuses: RunStatus[] = [
      "queued",
      "running",
      "cancel_requested",
      "succeeded",
      "failed",
      "canceled",
      "timeout",
    ];
    for (const st of statuses)
      await s.insertRun(run(st, { status: st, rev: 2, result: st === "succeeded" ? 1 : null }));
    await s.appendRunEvent({ run_id: "running", type: "status", data: { status: "running" }, time: 1 });
    const before = new Map<string, RunRecord | undefined>();
    for (const st of statuses) before.set(st, await s.getRun(st));

    const error = { code: "SERVER_RESTARTED", message: "restarted", details: { reason: "server_restarted" } };
    const failed = await s.failUnfinishedRuns(error, 2000.5);
    expect(failed.map((r) => r.run_id).sort()).toEqual(["cancel_requested", "queued", "running"]);
    for (const r of failed) {
      expect(r).toMatchObject({ status: "failed", error, finished_at: 2000.5, updated_at: 2000.5, rev: 3 });
      expect(await s.getRun(r.run_id)).toEqual(r);
      const evs = await s.listRunEvents(r.run_id, 0, 10);
      expect(evs.at(-1)).toEqual({
        seq: r.run_id === "running" ? 2 : 1,
        run_id: r.run_id,
        type: "status",
        data: { status: "failed", error },
        time: 2000.5,
      });
    }
    for (const st of ["succeeded", "failed", "canceled", "timeout"]) {
      expect(await s.getRun(st)).toEqual(before.get(st));
      expect(await s.listRunEvents(st, 0, 10)).toEqual([]);
    }
    expect(await s.failUnfinishedRuns(error, 3000)).toEqual([]);
  });
});

describe("run events", () => {
  it("numbers events per run from 1 and lists after a seq", async () => {
    const s = open();
    await s.insertRun(run("a"));
    await s.insertRun(run("b"));
    const seqs: number[] = [];
    for (let i = 0; i < 5; i++) {
      seqs.push((await s.appendRunEvent({ run_id: "a", type: "progress", data: { i }, time: i })).seq);
      seqs.push((await s.appendRunEvent({ run_id: "b", type: "output", data: `chunk ${i}`, time: i })).seq);
    }
    expect(seqs).toEqual([1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
    const ev = await s.appendRunEvent({ run_id: "a", type: "log", data: { deep: [{ x: null }] }, time: 9.25 });
    expect(ev).toEqual({ seq: 6, run_id: "a", type: "log", data: { deep: [{ x: null }] }, time: 9.25 });

    expect((await s.listRunEvents("a", 0, 100)).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect((await s.listRunEvents("a", 3, 100)).map((e) => e.seq)).toEqual([4, 5, 6]);
    expect((await s.listRunEvents("a", 3, 2)).map((e) => e.seq)).toEqual([4, 5]);
    expect(await s.listRunEvents("a", 6, 100)).toEqual([]);
    expect((await s.listRunEvents("b", 4, 100))[0]).toEqual({
      seq: 5,
      run_id: "b",
      type: "output",
      data: "chunk 4",
      time: 4,
    });
    expect(await s.listRunEvents("nope", 0, 100)).toEqual([]);
  });

  it("hands out distinct consecutive seqs to concurrent appends", async () => {
    const s = open();
    await s.insertRun(run("a"));
    const evs = await Promise.all(
      Array.from({ length: 200 }, (_, i) => s.appendRunEvent({ run_id: "a", type: "progress", data: i, time: i })),
    );
    expect(evs.map((e) => e.seq).sort((x, y) => x - y)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
  });

  it("keeps numbering across processes sharing the file (no stale in-memory counter)", async () => {
    const a = open();
    const b = open();
    await a.insertRun(run("r"));
    expect((await a.appendRunEvent({ run_id: "r", type: "log", data: 1, time: 1 })).seq).toBe(1);
    expect((await b.appendRunEvent({ run_id: "r", type: "log", data: 2, time: 2 })).seq).toBe(2);
    expect((await a.appendRunEvent({ run_id: "r", type: "log", data: 3, time: 3 })).seq).toBe(3);
  });

  it("refuses events, exports and blobs for a run that does not exist", async () => {
    const s = open();
    await expect(s.appendRunEvent({ run_id: "ghost", type: "log", data: 1, time: 1 })).rejects.toMatchObject({
      code: "SQLITE_CONSTRAINT_FOREIGNKEY",
    });
    await expect(s.insertExport(exportItem("e", "ghost"))).rejects.toMatchObject({
      code: "SQLITE_CONSTRAINT_FOREIGNKEY",
    });
    await expect(s.insertBlob(blob("b", "ghost"))).rejects.toMatchObject({ code: "SQLITE_CONSTRAINT_FOREIGNKEY" });
  });
});

describe("exports", () => {
  it("round-trips every type with JSON columns intact", async () => {
    const s = open();
    await s.insertRun(run("r"));
    const items: Omit<ExportItem, "seq">[] = [
      exportItem("t", "r", { label: "L", description: "D", text: "line\nline ü", mime: "text/plain" }),
      exportItem("j", "r", { type: "json", text: null, json: { a: [1, { b: null }], c: "ü" }, metadata: { k: [1] } }),
      exportItem("js", "r", { type: "json", text: null, json: "just a string" }),
      exportItem("u", "r", { type: "url", text: null, url: "https://example.com/x?y=1" }),
      exportItem("b", "r", { type: "binary", text: null, binary: "AAECAw==", mime: "application/octet-stream" }),
      exportItem("bu", "r", { type: "binary_url", category: "system", text: null, binary_url: "/blobs/1" }),
    ];
    const stored: ExportItem[] = [];
    for (const it of items) stored.push(await s.insertExport(it));
    expect(stored.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(await s.listExports("r", undefined, 100)).toEqual(stored);
    for (const [i, e] of stored.entries()) expect(e).toEqual({ ...items[i], seq: e.seq });
  });

  it("pages with an after cursor and a limit; seq is global across runs", async () => {
    const s = open();
    await s.insertRun(run("a"));
    await s.insertRun(run("b"));
    for (let i = 0; i < 5; i++) {
      await s.insertExport(exportItem(`a${i}`, "a"));
      await s.insertExport(exportItem(`b${i}`, "b"));
    }
    const ids = async (after: string | undefined, limit: number) =>
      (await s.listExports("a", after, limit)).map((e) => `${e.export_item_id}@${e.seq}`);
    expect(await ids(undefined, 100)).toEqual(["a0@1", "a1@3", "a2@5", "a3@7", "a4@9"]);
    expect(await ids(undefined, 2)).toEqual(["a0@1", "a1@3"]);
    expect(await ids("", 2)).toEqual(["a0@1", "a1@3"]);
    expect(await ids("a1", 2)).toEqual(["a2@5", "a3@7"]);
    expect(await ids("a3", 2)).toEqual(["a4@9"]);
    expect(await ids("a4", 2)).toEqual([]);
  });

  it("throws EXPORT_CURSOR_NOT_FOUND for an unknown cursor or one from another run", async () => {
    const s = open();
    await s.insertRun(run("a"));
    await s.insertRun(run("b"));
    await s.insertExport(exportItem("a0", "a"));
    await s.insertExport(exportItem("b0", "b"));
    await expect(s.listExports("a", "nope", 10)).rejects.toMatchObject({ code: "EXPORT_CURSOR_NOT_FOUND" });
    await expect(s.listExports("a", "b0", 10)).rejects.toMatchObject({ code: "EXPORT_CURSOR_NOT_FOUND" });
    await expect(s.listExports("a", "nope", 10)).rejects.toBeInstanceOf(Error);
  });
});

describe("blobs", () => {
  it("inserts, gets and updates", async () => {
    const s = open();
    await s.insertRun(run("r"));
    const b = blob("b1", "r");
    await s.insertBlob(b);
    expect(await s.getBlob("b1")).toEqual(b);
    const done = { ...b, size: 5_000_000_000, path: "/data/blobs/b1", completed_at: 1_700_000_003.25 };
    await s.updateBlob(done);
    expect(await s.getBlob("b1")).toEqual(done);
    expect(await s.getBlob("nope")).toBeUndefined();
    await expect(s.updateBlob(blob("nope", "r"))).rejects.toMatchObject({ code: "BLOB_NOT_FOUND" });
  });
});

describe("persistence", () => {
  it("keeps everything across close and reopen, and numbering continues", async () => {
    const s = open();
    await s.insertRun(run("r", { idempotency_key: "k", args: { a: 1 } }));
    await s.appendRunEvent({ run_id: "r", type: "status", data: { status: "running" }, time: 1 });
    const e = await s.insertExport(exportItem("e", "r", { type: "json", json: { x: 1 } }));
    await s.insertBlob(blob("b", "r"));
    await s.close();

    const t = open();
    expect(await t.getRun("r")).toEqual(run("r", { idempotency_key: "k", args: { a: 1 } }));
    expect((await t.findRunByIdempotencyKey("k"))?.run_id).toBe("r");
    expect(await t.listRunEvents("r", 0, 10)).toHaveLength(1);
    expect((await t.appendRunEvent({ run_id: "r", type: "log", data: null, time: 2 })).seq).toBe(2);
    expect(await t.listExports("r", undefined, 10)).toEqual([e]);
    expect((await t.insertExport(exportItem("e2", "r"))).seq).toBe(e.seq + 1);
    expect(await t.getBlob("b")).toEqual(blob("b", "r"));
  });
});

describe("group commit", () => {
  it("commits the writes of one turn together, and resolves each write only once it is committed", async () => {
    const store = open();
    const reader = raw();
    const count = () => (reader.prepare("SELECT count(*) AS n FROM runs").get() as { n: number }).n;
    const writes = [store.insertRun(run("g1")), store.insertRun(run("g2")), store.insertRun(run("g3"))];
    // Written on our connection, not yet committed: another connection does not see them.
    expect(count()).toBe(0);
    await Promise.all(writes);
    expect(count()).toBe(3);
    reader.close();
  });

  it("a failing write rejects alone; the rest of its batch is committed", async () => {
    const store = open();
    await store.insertRun(run("k1", { idempotency_key: "same" }));
    const ok = store.insertRun(run("k2"));
    const dup = store.insertRun(run("k3", { idempotency_key: "same" }));
    const missing = store.updateRun(run("never-stored"));
    const ev = store.appendRunEvent({ run_id: "k2", type: "status", data: { status: "queued" }, time: 1 });
    await expect(dup).rejects.toThrow(/UNIQUE/);
    await expect(missing).rejects.toMatchObject({ code: "RUN_NOT_FOUND" });
    await ok;
    expect((await ev).seq).toBe(1);
    const reader = raw();
    expect(reader.prepare("SELECT run_id FROM runs ORDER BY run_id").pluck().all()).toEqual(["k1", "k2"]);
    reader.close();
  });

  it("close() commits what was written before it", async () => {
    const store = SqliteStore.open(file);
    const pending = store.insertRun(run("c1"));
    await store.close();
    await pending;
    const reader = raw();
    expect(reader.prepare("SELECT count(*) FROM runs").pluck().get()).toBe(1);
    reader.close();
  });
});

describe("WAL checkpoints", () => {
  it("are made by the worker, not by the server's connection", async () => {
    const store = SqliteStore.open(file, { checkpointIntervalMs: 50 });
    opened.push(store);
    expect(store.pragma("wal_autocheckpoint")).toBe(0);
    const before = fs.statSync(file).size;
    for (let i = 0; i < 300; i++) void store.insertRun(run(`w${i}`, { args: { pad: "x".repeat(500) } }));
    await store.insertRun(run("last"));
    // The rows reach the database file itself (not just the WAL) only through a checkpoint.
    const deadline = Date.now() + 5000;
    const checkpointed = () => fs.statSync(file).size > before && store.checkpointer!.stats.runs > 0;
    while (!checkpointed() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    expect(fs.statSync(file).size).toBeGreaterThan(before);
    expect(store.checkpointer!.stats.runs).toBeGreaterThan(0);
    expect(store.checkpointer!.stats.lastError).toBeUndefined();
  });

  it("fall back to SQLite's own checkpoints if the worker dies, and say so", async () => {
    const warnings: string[] = [];
    const store = SqliteStore.open(file, { onWarning: (m) => warnings.push(m) });
    opened.push(store);
    expect(store.pragma("wal_autocheckpoint")).toBe(0);
    // A crash of the worker, as far as the store can tell.
    await store.checkpointer!["worker"].terminate();
    const deadline = Date.now() + 2000;
    while (store.pragma("wal_autocheckpoint") === 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    expect(store.pragma("wal_autocheckpoint")).toBe(1000);
    expect(warnings).toEqual([expect.stringMatching(/checkpoint worker stopped .*checkpoints run in commits again/)]);
  });
});

describe("the run writer thread", () => {
  const event = (runId: string, seq: number): RunEvent => ({
    seq,
    run_id: runId,
    type: "status",
    data: { status: "queued" },
    time: seq,
  });

  it("writes saveRuns batches off the event loop, all or none, visible to the store's reads once resolved", async () => {
    const store = SqliteStore.open(file);
    opened.push(store);
    await store.saveRuns([
      { run: run("a"), insert: true, exports: [exportItem("xa", "a")], events: [event("a", 1), event("a", 2)] },
      { run: run("b"), insert: true, exports: [], events: [event("b", 1)] },
    ]);
    expect((await store.getRun("a"))?.run_id).toBe("a");
    expect((await store.listRunEvents("a", 1, 10)).map((e) => e.seq)).toEqual([2]);
    expect((await store.listExports("a", undefined, 10)).map((e) => e.export_item_id)).toEqual(["xa"]);
    // A batch with one bad write (an update of a run never stored) leaves nothing of itself behind.
    await expect(
      store.saveRuns([
        { run: run("c"), insert: true, exports: [], events: [] },
        { run: run("ghost"), insert: false, exports: [], events: [] },
      ]),
    ).rejects.toMatchObject({ code: "RUN_NOT_FOUND" });
    expect(await store.getRun("c")).toBeUndefined();
  });

  it("hands its work back to the event loop if the thread dies, and says so", async () => {
    const warnings: string[] = [];
    const store = SqliteStore.open(file, { onWarning: (m) => warnings.push(m) });
    opened.push(store);
    await store.saveRuns([{ run: run("before"), insert: true, exports: [], events: [] }]);
    // A crash of the thread, as far as the store can tell.
    await (store as unknown as { writer: { worker: { terminate(): Promise<number> } } }).writer.worker.terminate();
    const deadline = Date.now() + 2000;
    while (warnings.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(warnings).toEqual([expect.stringMatching(/run writer thread stopped .*written on the event loop again/)]);
    await store.saveRuns([{ run: run("after"), insert: true, exports: [], events: [event("after", 1)] }]);
    expect((await store.getRun("before"))?.run_id).toBe("before");
    expect((await store.listRunEvents("after", 0, 10)).map((e) => e.seq)).toEqual([1]);
  });
});

describe("the WAL under sustained run writes", () => {
  it("stays bounded: the writer thread checkpoints after its own commits", async () => {
    // The checkpoint thread is kept out of it (one checkpoint a minute): only the writer's own checkpoints count.
    const store = SqliteStore.open(file, { checkpointIntervalMs: 60_000 });
    opened.push(store);
    const batch = (b: number) =>
      Array.from({ length: 8 }, (_, k) => ({
        run: run(`s${b}-${k}`, { args: { pad: "x".repeat(2000) } }),
        insert: true,
        exports: [],
        events: [],
      }));
    // ~400 commits of ~8 rows of 2 KB: about 40 MB of WAL frames if nothing checkpointed.
    for (let b = 0; b < 400; b++) await store.saveRuns(batch(b));
    const wal = fs.statSync(`${file}-wal`).size;
    expect(wal).toBeLessThan(16 * 1024 * 1024);
    expect((await store.getRun("s399-7"))?.run_id).toBe("s399-7");
  });
});
