import type { EventParams, LogLevel, ProgressParams } from "@plugd/protocol";
import type { JsonSchema } from "./schema.js";

export type { JsonSchema };
export type Config = Record<string, unknown>;

export interface CallOptions {
  timeoutMs?: number;
  /** Aborting cancels the nested call. Inside a run it defaults to the run's own signal. */
  signal?: AbortSignal;
}

/** The host's answer to a push: `submitted: false` with a reason when it was dropped (backpressure, …). */
export interface Submitted {
  submitted: boolean;
  reason?: string;
}

/** A message for the host's message plane (N.E.K.O `push_message`); extra keys are passed through. */
export interface PushMessage {
  source?: string;
  type?: string;
  description?: string;
  /** Higher is more important. */
  priority?: number;
  content?: unknown;
  metadata?: Record<string, unknown>;
  [key: string]: unknown;
}

/** Reverse calls to the host; the plugin's manifest must allow them (`[plugin.permissions] reverse_rpc = true`). */
export interface HostApi {
  /** Runs another plugin's entry (that plugin must be listed in `[plugin.permissions] call`); resolves to its output. */
  call<T = unknown>(plugin: string, entry: string, input?: unknown, opts?: CallOptions): Promise<T>;
  pushMessage(message: PushMessage): Promise<Submitted>;
  emitEvent(type: string, payload?: unknown): Promise<Submitted>;
  queryBus<T = unknown>(query: Record<string, unknown>): Promise<T>;
  /** The plugin's effective config as the host sees it now. */
  getConfig<T extends Config = Config>(): Promise<T>;
  /**
   * Merges `patch` into the plugin's config and resolves to the host's answer (with the new config). Written to
   * its plugin.toml / active profile unless `mode` is "temporary" (this process only, gone at its next start).
   */
  updateConfig(patch: Config, opts?: { mode?: "temporary" | "permanent" }): Promise<unknown>;
  updateStatus(status: Record<string, unknown>): Promise<Submitted>;
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

/** Items attached to the run (`run/export`); the host stores them with the run. */
export interface Exporter {
  text(text: string, opts?: ExportOptions): void;
  json(value: unknown, opts?: ExportOptions): void;
  url(url: string, opts?: ExportOptions): void;
  /** Sent base64-encoded; keep it small (large data belongs in a blob). */
  binary(data: Uint8Array, opts?: ExportOptions): void;
  /** A link to binary content stored elsewhere. */
  binaryUrl(url: string, opts?: ExportOptions): void;
}

export type ProgressUpdate = Omit<ProgressParams, "runId">;

/** What every hook gets: the plugin-wide view. */
export interface PluginContext {
  /** The plugin id the host gave in the handshake. */
  readonly id: string;
  /** Current config: from the handshake, replaced on `plugin/configChanged`. */
  readonly config: Config;
  /** A folder the host set aside for this plugin's files, if it gave one. */
  readonly dataDir: string | undefined;
  readonly log: Logger;
  readonly host: HostApi;
}

/** What an entry or timer handler gets besides its input: one run. */
export interface RunContext extends PluginContext {
  readonly runId: string;
  readonly entryId: string;
  /**
   * Aborted when the caller cancels the run (or its timeout fires, or the host goes away). Its `reason` is a
   * CANCELLED error, so `signal.throwIfAborted()` or rejecting with `signal.reason` answers 1004.
   */
  readonly signal: AbortSignal;
  /** `run/progress`; a number is shorthand for `{progress}` (0..1). */
  progress(update: ProgressUpdate | number): void;
  /** `run/output`: a chunk of streamed output. */
  output(chunk: string, stream?: string): void;
  readonly export: Exporter;
  /** Structured log records tagged with this run. */
  readonly log: Logger;
}

export type Handler<I, O> = (input: I, ctx: RunContext) => O | Promise<O>;

export interface EntryDefinition<I = any, O = unknown> {
  name?: string;
  description?: string;
  /** JSON Schema of the input; the host validates every input against it before the handler runs. */
  input?: JsonSchema;
  output?: JsonSchema;
  timeoutMs?: number;
  /** Set when the entry streams `ctx.output` chunks. */
  streaming?: boolean;
  metadata?: Record<string, unknown>;
  handler: Handler<I, O>;
}

export interface TimerDefinition {
  /** The host fires the timer every `intervalMs` (as an invoke of the timer's id). */
  intervalMs: number;
  description?: string;
  timeoutMs?: number;
  handler: (ctx: RunContext) => unknown;
}

export type EventPayload = EventParams;
export type EventHandler = (event: EventPayload, ctx: PluginContext) => void | Promise<void>;

export interface PluginDefinition {
  /** Informational: the host's handshake says which id this process serves. */
  id?: string;
  name?: string;
  version?: string;
  entries: Record<string, EntryDefinition<any, any>>;
  timers?: Record<string, TimerDefinition>;
  /** Event type → handler; the keys are the events the plugin subscribes to ("*" receives the rest). */
  events?: Record<string, EventHandler>;
  /** Extra capability names to announce in the handshake. */
  capabilities?: string[];
  /** Runs before the handshake is answered; a throw fails the start with its message. */
  onStartup?: (ctx: PluginContext) => void | Promise<void>;
  onShutdown?: (ctx: PluginContext) => void | Promise<void>;
  onConfigChanged?: (config: Config, ctx: PluginContext) => void | Promise<void>;
}

export type { LogLevel };
