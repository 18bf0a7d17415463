/**
 * The storage interface: narrow on purpose, so the SQLite implementation (embedded default) and a Postgres one
 * (cluster mode) can both sit behind it. Every method is synchronous-looking async: SQLite answers at once,
 * Postgres over the network.
 */

export type RunStatus = "queued" | "running" | "succeeded" | "failed" | "canceled" | "timeout" | "cancel_requested";

export const TERMINAL_STATUSES: ReadonlySet<RunStatus> = new Set(["succeeded", "failed", "canceled", "timeout"]);

export interface RunError {
  code: string;
  message: string;
  details?: unknown;
}

export interface RunRecord {
  run_id: string;
  plugin_id: string;
  entry_id: string;
  status: RunStatus;
  /** epoch seconds (float), as in the reference */
  created_at: number;
  updated_at: number;
  started_at: number | null;
  finished_at: number | null;
  task_id: string | null;
  trace_id: string | null;
  idempotency_key: string | null;
  parent_run_id: string | null;
  args: Record<string, unknown>;
  timeout_ms: number | null;
  progress: number | null;
  stage: string | null;
  message: string | null;
  step: number | null;
  step_total: number | null;
  eta_seconds: number | null;
  metrics: Record<string, number>;
  cancel_requested: boolean;
  cancel_reason: string | null;
  cancel_requested_at: number | null;
  error: RunError | null;
  /** export_item_ids of the result exports */
  result_refs: string[];
  /** The entry's output, once succeeded. */
  result: unknown;
  /** Bumped on every change; lets clients order updates. */
  rev: number;
}

export type ExportType = "text" | "json" | "url" | "binary" | "binary_url";

export interface ExportItem {
  export_item_id: string;
  run_id: string;
  /** Monotonic per store; the `after` cursor of the export list orders by it. */
  seq: number;
  type: ExportType;
  category: "user" | "system";
  created_at: number;
  label: string | null;
  description: string | null;
  text: string | null;
  json: unknown;
  url: string | null;
  binary_url: string | null;
  /** base64 */
  binary: string | null;
  mime: string | null;
  metadata: Record<string, unknown>;
}

/** One event in a run's stream (SSE / WS): status changes, progress, output chunks, exports, logs. */
export interface RunEvent {
  /** Monotonic per run, starting at 1: the SSE event id, so Last-Event-ID resumes exactly. */
  seq: number;
  run_id: string;
  type: "status" | "progress" | "output" | "export" | "log";
  data: unknown;
  time: number;
}

export interface BlobRecord {
  blob_id: string;
  run_id: string;
  filename: string | null;
  mime: string | null;
  size: number | null;
  /** absolute path of the file on disk, once uploaded */
  path: string | null;
  max_bytes: number;
  created_at: number;
  completed_at: number | null;
}

export interface MessageRecord {
  message_id: string;
  plugin_id: string;
  source: string;
  description: string;
  priority: number;
  message_type: "text" | "url" | "binary" | "binary_url" | string;
  content: unknown;
  binary_data: string | null;
  binary_url: string | null;
  metadata: Record<string, unknown>;
  /** epoch seconds */
  timestamp: number;
}

/**
 * What changed in one run since it was last written: its row (inserted the first time, its state columns after),
 * new exports, new events (their seq assigned by the run's owner). The run engine writes the changes of one
 * event-loop turn, for every run, in one `saveRuns` call.
 */
export interface RunWrite {
  /** The run's current record; written first, so its exports and events have their parent row. */
  run?: RunRecord;
  /** True for a run not stored yet (insert); false updates the state columns of a stored run. */
  insert?: boolean;
  exports: Omit<ExportItem, "seq">[];
  events: RunEvent[];
}

export interface RunQuery {
  plugin_id?: string;
  status?: RunStatus[];
  limit?: number;
}

export interface Storage {
  /** Runs left queued/running/cancel_requested by a previous process: ended as failed with this error. */
  failUnfinishedRuns(error: RunError, now: number): Promise<RunRecord[]>;

  insertRun(run: RunRecord): Promise<void>;
  /**
   * Stores the run's state: every field a run's life changes (status, times, progress, cancel, error, result…); the
   * fields fixed at creation (ids, plugin, entry, args, created_at…) are not rewritten. The engine owns the state
   * machine; the store only persists.
   */
  updateRun(run: RunRecord): Promise<void>;
  getRun(runId: string): Promise<RunRecord | undefined>;
  findRunByIdempotencyKey(key: string): Promise<RunRecord | undefined>;
  listRuns(q: RunQuery): Promise<RunRecord[]>;

  /**
   * Writes the changes of many runs in one transaction: all of them, or none (the promise rejects). Resolves once
   * they are on disk.
   */
  saveRuns(writes: readonly RunWrite[]): Promise<void>;

  /** Appends an event, assigning its seq. */
  appendRunEvent(ev: Omit<RunEvent, "seq">): Promise<RunEvent>;
  listRunEvents(runId: string, afterSeq: number, limit: number): Promise<RunEvent[]>;

  /** Assigns seq. */
  insertExport(item: Omit<ExportItem, "seq">): Promise<ExportItem>;
  /** Items after the item with id `after` (exclusive), oldest first. */
  listExports(runId: string, after: string | undefined, limit: number): Promise<ExportItem[]>;

  insertBlob(b: BlobRecord): Promise<void>;
  updateBlob(b: BlobRecord): Promise<void>;
  getBlob(blobId: string): Promise<BlobRecord | undefined>;

  close(): Promise<void>;
}
