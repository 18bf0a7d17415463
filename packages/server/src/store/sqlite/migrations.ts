/** Versioned schema migrations, applied in order inside one transaction at open. Never edit one that shipped. */
export interface Migration {
  version: number;
  name: string;
  up: string;
}

export const MIGRATIONS: Migration[] = [
  {
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
];
