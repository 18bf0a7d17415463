/**
 * The bus: topic stores that plugins, the server and the message plane publish into and read from
 * (reference/neko-plugin-server.md §4.6 and §5.4). Records live in bounded in-memory topics (oldest evicted,
 * evictions counted) and are persisted so a restart keeps them.
 */

export const STORE_NAMES = ["messages", "events", "lifecycle", "runs", "export", "memory"] as const;
export type StoreName = (typeof STORE_NAMES)[number];

export interface BusRecord {
  store: StoreName;
  topic: string;
  /** Monotonic per store, starting at 1; never reused, also across restarts. */
  seq: number;
  id: string;
  plugin_id: string | null;
  source: string;
  kind: string;
  type: string;
  priority: number;
  /** epoch seconds (float) */
  timestamp: number;
  payload: unknown;
}

/** What a publisher gives; the bus fills in seq, and id/timestamp when missing. */
export interface PublishInput {
  store: StoreName;
  topic?: string;
  id?: string;
  plugin_id?: string | null;
  source?: string;
  kind?: string;
  type?: string;
  priority?: number;
  timestamp?: number;
  payload?: unknown;
}

export type PublishResult = { submitted: true; record: BusRecord } | { submitted: false; reason: string; code: string };

export interface RegexFilter {
  field: "topic" | "plugin_id" | "source" | "kind" | "type" | "payload";
  pattern: string;
  flags?: string;
}

export interface BusFilter {
  store?: StoreName;
  topic?: string;
  plugin_id?: string;
  source?: string;
  kind?: string;
  type?: string;
  priority_min?: number;
  /** epoch seconds, inclusive */
  since_ts?: number;
  until_ts?: number;
  regex?: RegexFilter[];
}

export interface BusQuery extends BusFilter {
  store: StoreName;
  after_seq?: number;
  limit?: number;
  /** newest first (default) or oldest first */
  order?: "desc" | "asc";
}

export interface TopicInfo {
  store: StoreName;
  topic: string;
  count: number;
  last_seq: number;
  evicted: number;
}

export interface Bus {
  publish(input: PublishInput): PublishResult;
  /** Many at once (message-plane ingest); one result per input, in order. */
  publishMany(inputs: PublishInput[]): PublishResult[];
  recent(store: StoreName, opts?: { topic?: string; limit?: number }): BusRecord[];
  since(store: StoreName, afterSeq: number, opts?: { topic?: string; limit?: number }): BusRecord[];
  /** Throws BusError (code REGEX_INVALID / REGEX_TOO_LONG / REGEX_TIMEOUT …) for a bad or too costly filter. */
  query(q: BusQuery): BusRecord[];
  topics(store?: StoreName): TopicInfo[];
  /** Live records matching the filter. Returns the unsubscribe function. */
  subscribe(filter: BusFilter, fn: (r: BusRecord) => void): () => void;
  /** Writes what is still buffered to disk (called on shutdown). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export class BusError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}
