/**
 * Versioned schema migrations, applied in order inside one transaction at open and recorded in `schema_migrations`.
 * Never edit one that has been committed: a data dir created by that commit already ran it. Add a new one instead.
 */
export interface Migration {
  version: number;
  name: string;
  up: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    // Kept verbatim: databases created by the first commit of the store already recorded it.
    version: 1,
    name: "runs, run events, exports, blobs, messages",
    up: `
      CREATE TABLE runs (
        run_id TEXT PRIMARY KEY,
        plugin_id TEXT NOT NULL,
        entry_id TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        idempotency_key TEXT,
        doc TEXT NOT NULL
      );
      CREATE UNIQUE INDEX runs_idempotency ON runs(idempotency_key) WHERE idempotency_key IS NOT NULL;
      CREATE INDEX runs_plugin_created ON runs(plugin_id, created_at);
      CREATE INDEX runs_status ON runs(status);
      CREATE INDEX runs_created ON runs(created_at);

      CREATE TABLE run_events (
        run_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        type TEXT NOT NULL,
        time REAL NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (run_id, seq)
      ) WITHOUT ROWID;

      CREATE TABLE exports (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        export_item_id TEXT NOT NULL UNIQUE,
        run_id TEXT NOT NULL,
        doc TEXT NOT NULL
      );
      CREATE INDEX exports_run ON exports(run_id, seq);

      CREATE TABLE blobs (
        blob_id TEXT PRIMARY KEY,
        run_id TEXT NOT NULL,
        doc TEXT NOT NULL
      );

      CREATE TABLE messages (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        message_id TEXT NOT NULL UNIQUE,
        plugin_id TEXT NOT NULL,
        priority INTEGER NOT NULL,
        timestamp REAL NOT NULL,
        doc TEXT NOT NULL
      );
      CREATE INDEX messages_plugin_time ON messages(plugin_id, timestamp);
      CREATE INDEX messages_time ON messages(timestamp);
      CREATE INDEX messages_priority ON messages(priority);
    `,
  },
  {
    // Version 1 kept whole records as one JSON document. Real columns (JSON only for the object-valued fields) let
    // SQL filter, index and constrain them, and foreign keys tie events, exports and blobs to their run.
    // SQLite cannot add constraints to a table in place, so each table is rebuilt: rename the old one away, create
    // the new one under the final name (so foreign keys name `runs`, not a temporary), copy, drop the old.
    version: 2,
    name: "columns instead of JSON documents; foreign keys to runs",
    up: `
      ALTER TABLE runs RENAME TO runs_v1;
      ALTER TABLE run_events RENAME TO run_events_v1;
      ALTER TABLE exports RENAME TO exports_v1;
      ALTER TABLE blobs RENAME TO blobs_v1;
      ALTER TABLE messages RENAME TO messages_v1;

      CREATE TABLE runs (
        run_id TEXT PRIMARY KEY,
        plugin_id TEXT NOT NULL,
        entry_id TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        task_id TEXT,
        trace_id TEXT,
        idempotency_key TEXT,
        parent_run_id TEXT,
        args TEXT NOT NULL,
        timeout_ms INTEGER,
        progress REAL,
        stage TEXT,
        message TEXT,
        step REAL,
        step_total REAL,
        eta_seconds REAL,
        metrics TEXT NOT NULL,
        cancel_requested INTEGER NOT NULL,
        cancel_reason TEXT,
        cancel_requested_at REAL,
        error TEXT,
        result_refs TEXT NOT NULL,
        result TEXT,
        rev INTEGER NOT NULL
      );

      CREATE TABLE run_events (
        run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        type TEXT NOT NULL,
        time REAL NOT NULL,
        data TEXT,
        PRIMARY KEY (run_id, seq)
      ) WITHOUT ROWID;

      -- AUTOINCREMENT: the export cursor must never see a seq reused, even after deletes.
      CREATE TABLE exports (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        export_item_id TEXT NOT NULL UNIQUE,
        run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
        type TEXT NOT NULL,
        category TEXT NOT NULL,
        created_at REAL NOT NULL,
        label TEXT,
        description TEXT,
        text TEXT,
        json TEXT,
        url TEXT,
        binary_url TEXT,
        binary TEXT,
        mime TEXT,
        metadata TEXT NOT NULL
      );

      CREATE TABLE blobs (
        blob_id TEXT PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
        filename TEXT,
        mime TEXT,
        size INTEGER,
        path TEXT,
        max_bytes INTEGER NOT NULL,
        created_at REAL NOT NULL,
        completed_at REAL
      );

      -- seq is the insertion order, the tie-break between messages with the same timestamp.
      CREATE TABLE messages (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        message_id TEXT NOT NULL UNIQUE,
        plugin_id TEXT NOT NULL,
        source TEXT NOT NULL,
        description TEXT NOT NULL,
        priority REAL NOT NULL,
        message_type TEXT NOT NULL,
        content TEXT,
        binary_data TEXT,
        binary_url TEXT,
        metadata TEXT NOT NULL,
        timestamp REAL NOT NULL
      );

      -- '->' yields JSON text (objects stay JSON), '->>' the SQL value (true becomes 1). A JSON null is stored as
      -- SQL NULL, as the store writes it.
      INSERT INTO runs
      SELECT run_id, plugin_id, entry_id, status, created_at, updated_at,
        doc ->> '$.started_at', doc ->> '$.finished_at', doc ->> '$.task_id', doc ->> '$.trace_id',
        idempotency_key, doc ->> '$.parent_run_id',
        COALESCE(NULLIF(doc -> '$.args', 'null'), '{}'),
        doc ->> '$.timeout_ms', doc ->> '$.progress', doc ->> '$.stage', doc ->> '$.message',
        doc ->> '$.step', doc ->> '$.step_total', doc ->> '$.eta_seconds',
        COALESCE(NULLIF(doc -> '$.metrics', 'null'), '{}'),
        COALESCE(doc ->> '$.cancel_requested', 0), doc ->> '$.cancel_reason', doc ->> '$.cancel_requested_at',
        NULLIF(doc -> '$.error', 'null'),
        COALESCE(NULLIF(doc -> '$.result_refs', 'null'), '[]'),
        NULLIF(doc -> '$.result', 'null'),
        COALESCE(doc ->> '$.rev', 1)
      FROM runs_v1 ORDER BY rowid;

      -- Rows of runs that no longer exist could not be reached through the API, and would break the foreign keys.
      INSERT INTO run_events
      SELECT run_id, seq, type, time, NULLIF(data, 'null') FROM run_events_v1
      WHERE run_id IN (SELECT run_id FROM runs);

      INSERT INTO exports
      SELECT seq, export_item_id, run_id, doc ->> '$.type', COALESCE(doc ->> '$.category', 'user'),
        doc ->> '$.created_at', doc ->> '$.label', doc ->> '$.description', doc ->> '$.text',
        NULLIF(doc -> '$.json', 'null'), doc ->> '$.url', doc ->> '$.binary_url', doc ->> '$.binary',
        doc ->> '$.mime', COALESCE(NULLIF(doc -> '$.metadata', 'null'), '{}')
      FROM exports_v1 WHERE run_id IN (SELECT run_id FROM runs) ORDER BY seq;

      INSERT INTO blobs
      SELECT blob_id, run_id, doc ->> '$.filename', doc ->> '$.mime', doc ->> '$.size', doc ->> '$.path',
        doc ->> '$.max_bytes', doc ->> '$.created_at', doc ->> '$.completed_at'
      FROM blobs_v1 WHERE run_id IN (SELECT run_id FROM runs);

      INSERT INTO messages
      SELECT seq, message_id, plugin_id, COALESCE(doc ->> '$.source', plugin_id), COALESCE(doc ->> '$.description', ''),
        COALESCE(doc ->> '$.priority', priority), COALESCE(doc ->> '$.message_type', 'text'),
        NULLIF(doc -> '$.content', 'null'), doc ->> '$.binary_data', doc ->> '$.binary_url',
        COALESCE(NULLIF(doc -> '$.metadata', 'null'), '{}'), timestamp
      FROM messages_v1 ORDER BY seq;

      -- Carry the AUTOINCREMENT high-water marks over, so no seq is ever handed out twice.
      DELETE FROM sqlite_sequence WHERE name IN ('exports', 'messages');
      INSERT INTO sqlite_sequence (name, seq) SELECT 'exports', seq FROM sqlite_sequence WHERE name = 'exports_v1';
      INSERT INTO sqlite_sequence (name, seq) SELECT 'messages', seq FROM sqlite_sequence WHERE name = 'messages_v1';

      -- Dropped before the indexes are created: the old tables' indexes hold the same names.
      DROP TABLE runs_v1;
      DROP TABLE run_events_v1;
      DROP TABLE exports_v1;
      DROP TABLE blobs_v1;
      DROP TABLE messages_v1;

      CREATE UNIQUE INDEX runs_idempotency ON runs(idempotency_key) WHERE idempotency_key IS NOT NULL;
      CREATE INDEX runs_plugin_created ON runs(plugin_id, created_at);
      CREATE INDEX runs_created ON runs(created_at);
      -- (status, created_at): a one-status listing comes out of the index already in order.
      CREATE INDEX runs_status_created ON runs(status, created_at);
      CREATE INDEX exports_run ON exports(run_id, seq);
      CREATE INDEX blobs_run ON blobs(run_id);
      CREATE INDEX messages_plugin_time ON messages(plugin_id, timestamp);
      CREATE INDEX messages_time ON messages(timestamp);
      CREATE INDEX messages_priority ON messages(priority);
    `,
  },
  {
    // Pushed messages live in the bus's `messages` store (<data dir>/bus.db) since the bus landed; this table was
    // only ever written by pre-release builds.
    version: 3,
    name: "messages move to the bus",
    up: `
      DROP TABLE messages;
    `,
  },
  {
    // The events one write of the run engine stores for a run (a short run's four: queued, running, its result
    // export, the end) go in one row: a row per event cost SQLite about 3 µs each, a third of a short run's writing.
    version: 4,
    name: "run events stored in chunks",
    up: `
      CREATE TABLE run_event_chunks (
        run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
        first_seq INTEGER NOT NULL,
        last_seq INTEGER NOT NULL,
        -- JSON array of [seq, type, time, data], in seq order; data is null when the event has none.
        events TEXT NOT NULL,
        PRIMARY KEY (run_id, first_seq)
      ) WITHOUT ROWID;
      INSERT INTO run_event_chunks
      SELECT run_id, seq, seq, json_array(json_array(seq, type, time, json(data))) FROM run_events ORDER BY run_id, seq;
      DROP TABLE run_events;
    `,
  },
];

/** The schema version this code writes: the last migration's. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;
