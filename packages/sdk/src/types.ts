import type { ExportParams, LogLevel, ProgressParams } from "@plugd/protocol";

export type JsonSchema = Record<string, unknown>;

/** What the host lets a plugin ask of it (reverse RPC; needs `[plugin.permissions] reverse_rpc = true`). */
export interface HostApi {
  call<T = unknown>(plugin: string, entry: string, input?: unknown, opts?: { timeoutMs?: number }): Promise<T>;
  pushMessage(message: Record<string, unknown>): Promise<{ submitted: boolean; reason?: string }>;
  emitEvent(type: string, payload?: unknown): Promise<{ submitted: boolean }>;
  getConfig(): Promise<Record<string, unknown>>;
  updateStatus(status: Record<string, unknown>): Promise<unknown>;
}

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export interface ExportOptions {
  label?: string;
  description?: string;
  mime?: string;
  metadata?: Record<string, unknown>;
}

export interface Exporter {
  text(text: string, opts?: ExportOptions): void;
  json(value: unknown, opts?: ExportOptions): void;
  url(url: string, opts?: ExportOptions): void;
  binary(data: Uint8Array, opts?: ExportOptions): void;
}

/** Everything an entry handler gets besides its input. */
export interface RunContext {
  readonly runId: string;
  readonly entryId: string;
  /** Aborted when the caller cancels the run (or its timeout fires). Pass it to fetch/setTimeout/etc. */
  readonly signal: AbortSignal;
  /** The plugin's current config (from the handshake, updated on configChanged). */
  readonly config: Record<string, unknown>;
  progress(p: Omit<ProgressParams, "runId">): void;
  output(chunk: string): void;
  readonly export: Exporter;
  readonly log: Logger;
  readonly host: HostApi;
}

export interface PluginContext {
  readonly id: string;
  readonly config: Record<string, unknown>;
  readonly log: Logger;
  readonly host: HostApi;
}

export type Handler<I, O> = (input: I, ctx: RunContext) => O | Promise<O>;

export interface EntryDefinition<I = any, O = unknown> {
  description?: string;
  name?: string;
  /** JSON Schema of the input; the host checks input against it before calling. */
  input?: JsonSchema;
  output?: JsonSchema;
  timeoutMs?: number;
  streaming?: boolean;
  metadata?: Record<string, unknown>;
  handler: Handler<I, O>;
}

export interface TimerDefinition {
  intervalMs: number;
  description?: string;
  handler: (ctx: RunContext) => unknown | Promise<unknown>;
}

export interface EventPayload {
  eventType: string;
  payload: unknown;
  metadata?: Record<string, unknown>;
  timestamp: number;
}

export interface PluginDefinition {
  id?: string;
  name?: string;
  version?: string;
  entries: Record<string, EntryDefinition<any, any>>;
  timers?: Record<string, TimerDefinition>;
  events?: Record<string, (event: EventPayload, ctx: PluginContext) => void | Promise<void>>;
  onStartup?: (ctx: PluginContext) => void | Promise<void>;
  onShutdown?: (ctx: PluginContext) => void | Promise<void>;
  onConfigChanged?: (config: Record<string, unknown>, ctx: PluginContext) => void | Promise<void>;
}

export type { ExportParams, LogLevel };
