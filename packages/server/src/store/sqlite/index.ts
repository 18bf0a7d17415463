import path from "node:path";
import type { Storage } from "../types.js";
import { SqliteStore, type SqliteStoreOptions } from "./sqlite-store.js";

export { MIGRATIONS, type Migration, SCHEMA_VERSION } from "./migrations.js";
export { SqliteStore, type SqliteStoreOptions, StoreError } from "./sqlite-store.js";

/** The embedded default: `<dataDir>/plugd.db`. */
export function openStore(dataDir: string, opts: SqliteStoreOptions = {}): Storage {
  return SqliteStore.open(path.join(dataDir, "plugd.db"), opts);
}
