import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { Packr, Unpackr } from "msgpackr";
import { type BusRecord, STORE_NAMES, type StoreName } from "./types.js";

/**
 * The bus on disk: `<dataDir>/bus.db` (SQLite, WAL). Records are written behind, in chunks: one row holds every
 * record one flush wrote to one topic (msgpack), because a row per record costs SQLite about 4 µs — more than the
 * whole ingest budget of a record. Pruning to the per-topic bound is by chunk: a chunk is deleted once its newest
 * record has been evicted, so disk holds the bound plus at most one partly stale chunk per topic, and loading
 * trims to the bound.
 */

const SCHEMA_VERSION = 1;

export interface TopicState {
  store: StoreName;
  topic: string;
  createdAt: number;
  evicted: number;
  countTotal: number;
  lastSeq: number;
  lastTs: number;
}

export interface LoadedTopic extends TopicState {
  /** Oldest first, at most the bound given to load(). */
  records: BusRecord[];
}

export interface FlushBatch {
  /** Topics emptied since the last flush (snapshot "replace"): their rows go before the new chunks are written. */
  cleared: { store: StoreName; topic: string }[];
  chunks: { store: StoreName; topic: string; records: BusRecord[] }[];
  /** Counters of every topic touched, and the seq below which its rows may go. */
  topics: (TopicState & { pruneBelow: number | null })[];
}

export class BusPersistence {
  private readonly db: Database.Database;
  private readonly packr = new Packr({ useRecords: false });
  private readonly unpackr = new Unpackr({ useRecords: false });
  private readonly stmt: {
    insertChunk: Database.Statement;
    deleteTopicChunks: Database.Statement;
    pruneChunks: Database.Statement;
    upsertTopic: Database.Statement;
    upsertSeq: Database.Statement;
  };

  static open(dataDir: string): BusPersistence {
    fs.mkdirSync(dataDir, { recursive: true });
    return new BusPersistence(path.join(dataDir, "bus.db"));
  }

  private constructor(readonly file: string) {
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    // WAL + NORMAL: a power cut may lose the last flushes, never corrupt the file; FULL would fsync every 50 ms.
    this.db.pragma("synchronous = NORMAL");
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS bus_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS bus_stores (store TEXT PRIMARY KEY, seq INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS bus_topics (
        store TEXT NOT NULL, topic TEXT NOT NULL, created_at REAL NOT NULL, evicted INTEGER NOT NULL,
        count_total INTEGER NOT NULL, last_seq INTEGER NOT NULL, last_ts REAL NOT NULL,
        PRIMARY KEY (store, topic)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS bus_chunks (
        store TEXT NOT NULL, topic TEXT NOT NULL, first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL,
        count INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (store, topic, first_seq));
    `);
    const version = this.db.prepare("SELECT value FROM bus_meta WHERE key = 'schema'").pluck().get() as
      | string
      | undefined;
    if (version === undefined) {
      this.db.prepare("INSERT INTO bus_meta (key, value) VALUES ('schema', ?)").run(String(SCHEMA_VERSION));
    } else if (Number(version) > SCHEMA_VERSION) {
      this.db.close();
      throw new Error(`${file} has bus schema ${version}; this plugd understands up to ${SCHEMA_VERSION}`);
    }
    this.stmt = {
      insertChunk: this.db.prepare(
        "INSERT OR REPLACE INTO bus_chunks (store, topic, first_seq, last_seq, count, data) VALUES (?, ?, ?, ?, ?, ?)",
      ),
      deleteTopicChunks: this.db.prepare("DELETE FROM bus_chunks WHERE store = ? AND topic = ?"),
      pruneChunks: this.db.prepare("DELETE FROM bus_chunks WHERE store = ? AND topic = ? AND last_seq < ?"),
      upsertTopic: this.db.prepare(
        `INSERT INTO bus_topics (store, topic, created_at, evicted, count_total, last_seq, last_ts)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (store, topic) DO UPDATE SET evicted = excluded.evicted, count_total = excluded.count_total,
           last_seq = excluded.last_seq, last_ts = excluded.last_ts`,
      ),
      upsertSeq: this.db.prepare(
        "INSERT INTO bus_stores (store, seq) VALUES (?, ?) ON CONFLICT (store) DO UPDATE SET seq = excluded.seq",
      ),
    };
  }

  /** The stored seq of each store and, per topic, its counters and newest `perTopic` records. */
  load(perTopic: number): { seqs: Map<StoreName, number>; topics: LoadedTopic[] } {
    const seqs = new Map<StoreName, number>();
    for (const row of this.db.prepare("SELECT store, seq FROM bus_stores").all() as { store: string; seq: number }[]) {
      if (isStore(row.store)) seqs.set(row.store, row.seq);
    }
    const chunksOf = this.db.prepare(
      "SELECT first_seq, count, data FROM bus_chunks WHERE store = ? AND topic = ? ORDER BY first_seq DESC",
    );
    const topics: LoadedTopic[] = [];
    const rows = this.db
      .prepare(
        "SELECT store, topic, created_at, evicted, count_total, last_seq, last_ts FROM bus_topics ORDER BY store, topic",
      )
      .all() as {
      store: string;
      topic: string;
      created_at: number;
      evicted: number;
      count_total: number;
      last_seq: number;
      last_ts: number;
    }[];
    for (const t of rows) {
      if (!isStore(t.store)) continue;
      const store = t.store;
      // Newest chunks first until the bound is covered; then decode oldest first.
      const picked: Buffer[] = [];
      let have = 0;
      for (const c of chunksOf.iterate(store, t.topic) as Iterable<{ count: number; data: Buffer }>) {
        picked.push(c.data);
        have += c.count;
        if (have >= perTopic) break;
      }
      const records: BusRecord[] = [];
      for (let i = picked.length - 1; i >= 0; i--) {
        const rows = this.unpackr.unpack(picked[i] as Buffer) as unknown[][];
        for (const r of rows) records.push(rowToRecord(store, t.topic, r));
      }
      const kept = records.length > perTopic ? records.slice(records.length - perTopic) : records;
      topics.push({
        store,
        topic: t.topic,
        createdAt: t.created_at,
        // Records on disk that the bound now cuts off (it may have been lowered since) count as evicted too.
        evicted: t.evicted + (records.length - kept.length),
        countTotal: t.count_total,
        lastSeq: t.last_seq,
        lastTs: t.last_ts,
        records: kept,
      });
      const seq = seqs.get(store) ?? 0;
      if (t.last_seq > seq) seqs.set(store, t.last_seq);
    }
    return { seqs, topics };
  }

  /** Synchronous: the seq high-water mark must be on disk before a seq above the previous one is handed out. */
  saveSeq(store: StoreName, seq: number): void {
    this.stmt.upsertSeq.run(store, seq);
  }

  /** One transaction for the whole batch. */
  write(batch: FlushBatch): void {
    const tx = this.db.transaction((b: FlushBatch) => {
      for (const c of b.cleared) this.stmt.deleteTopicChunks.run(c.store, c.topic);
      for (const c of b.chunks) {
        const first = c.records[0];
        const last = c.records[c.records.length - 1];
        if (!first || !last) continue;
        const rows = c.records.map(recordToRow);
        this.stmt.insertChunk.run(c.store, c.topic, first.seq, last.seq, rows.length, this.packr.pack(rows));
      }
      for (const t of b.topics) {
        this.stmt.upsertTopic.run(t.store, t.topic, t.createdAt, t.evicted, t.countTotal, t.lastSeq, t.lastTs);
        if (t.pruneBelow !== null) this.stmt.pruneChunks.run(t.store, t.topic, t.pruneBelow);
      }
    });
    tx(batch);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

function isStore(s: string): s is StoreName {
  return (STORE_NAMES as readonly string[]).includes(s);
}

function recordToRow(r: BusRecord): unknown[] {
  return [r.seq, r.id, r.plugin_id, r.source, r.kind, r.type, r.priority, r.timestamp, r.payload];
}

function rowToRecord(store: StoreName, topic: string, row: unknown[]): BusRecord {
  return {
    store,
    topic,
    seq: row[0] as number,
    id: row[1] as string,
    plugin_id: (row[2] ?? null) as string | null,
    source: row[3] as string,
    kind: row[4] as string,
    type: row[5] as string,
    priority: row[6] as number,
    timestamp: row[7] as number,
    payload: row[8] ?? null,
  };
}
