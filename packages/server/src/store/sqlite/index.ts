import path from "node:path";
import type { Storage } from "../types.js";
import { SqliteStore } from "./sqlite-store.js";

export { MIGRATIONS } from "./migrations.js";
export { SqliteStore };

/** The embedded default: `<dataDir>/plugd.db`. */
export function openStore(dataDir: string): Storage {
  return SqliteStore.open(path.join(dataDir, "plugd.db"));
}
