/**
 * The plugd methods and their payloads. One file so an SDK author in any language can read the whole contract;
 * docs/protocol.md explains each with example exchanges.
 */

export const Methods = {
  // host → plugin requests
  handshake: "plugin/handshake",
  invoke: "plugin/invoke",
  health: "plugin/health",
  shutdown: "plugin/shutdown",
  // host → plugin notifications
  onEvent: "plugin/onEvent",
  configChanged: "plugin/configChanged",
  cancelRequest: "$/cancelRequest",
  // plugin → host notifications (while a run is active, or any time for logs)
  progress: "run/progress",
  output: "run/output",
  export: "run/export",
  log: "plugin/log",
  // plugin → host requests ("reverse RPC"; gated by the manifest's [permissions])
  call: "host/call",
  pushMessage: "host/pushMessage",
  emitEvent: "host/emitEvent",
  queryBus: "host/queryBus",
  getConfig: "host/getConfig",
  updateConfig: "host/updateConfig",
  updateStatus: "host/updateStatus",
} as const;

export type MethodName = (typeof Methods)[keyof typeof Methods];

export interface HandshakeParams {
  protocolVersion: string;
  host: { name: string; version: string };
  plugin: { id: string; config: Record<string, unknown>; dataDir?: string };
  supportsReverseRpc: boolean;
}

export interface EntryInfo {
  id: string;
  name?: string;
  description?: string;
  /** JSON Schema of the input object; the host validates against it before the plugin sees the input. */
  inputSchema?: Record<string, unknown>;
  outputSchema?: Record<string, unknown>;
  timeoutMs?: number;
  /** The entry sends `run/output` chunks while it runs. */
  streaming?: boolean;
  /** `timer` entries are fired by the host every `intervalMs`. */
  kind?: "entry" | "timer";
  intervalMs?: number;
  metadata?: Record<string, unknown>;
}

export interface RouteInfo {
  path: string;
  method: string;
  description?: string;
  auth?: boolean;
  schema?: Record<string, unknown>;
}

export interface HandshakeResult {
  protocolVersion: string;
  name?: string;
  version?: string;
  sdk?: { name: string; version: string };
  entries: EntryInfo[];
  events?: string[];
  routes?: RouteInfo[];
  capabilities?: string[];
  reverseRpc?: boolean;
}

export interface InvokeParams {
  runId: string;
  entry: string;
  input: unknown;
  timeoutMs?: number;
  /** Plugin ids of the calls this one is nested in, outermost first; lets the host refuse cycles. */
  callChain?: string[];
  meta?: Record<string, unknown>;
}

/** Every field of InvokeParams, so adding one without teaching encodeInvokeParams about it fails to compile. */
const INVOKE_PARAMS_FIELDS: Record<keyof InvokeParams, true> = {
  runId: true,
  entry: true,
  input: true,
  callChain: true,
  meta: true,
  timeoutMs: true,
};
void INVOKE_PARAMS_FIELDS;

/**
 * `JSON.stringify(params)` for the host's hot path, written as text around one stringify of the input: the same
 * JSON (members in the order runId, entry, input, callChain, meta, timeoutMs; undefined ones left out) without
 * walking a wrapper object (bench/invoke-cpu.mjs). Throws what JSON.stringify throws (a cycle, a BigInt).
 */
export function encodeInvokeParams(p: InvokeParams): string {
  let s = `{"runId":${JSON.stringify(p.runId)},"entry":${JSON.stringify(p.entry)}`;
  const input = JSON.stringify(p.input);
  if (input !== undefined) s += `,"input":${input}`;
  if (p.callChain !== undefined) s += `,"callChain":${JSON.stringify(p.callChain)}`;
  if (p.meta !== undefined) s += `,"meta":${JSON.stringify(p.meta)}`;
  if (p.timeoutMs !== undefined) s += `,"timeoutMs":${JSON.stringify(p.timeoutMs)}`;
  return `${s}}`;
}

export interface InvokeResult {
  output: unknown;
}

export interface HealthResult {
  status: "ok" | "degraded";
  details?: Record<string, unknown>;
}

export interface EventParams {
  eventType: string;
  payload: unknown;
  metadata?: Record<string, unknown>;
  timestamp: number;
}

export interface ConfigChangedParams {
  config: Record<string, unknown>;
}

export interface CancelParams {
  id: number | string;
}

export interface ProgressParams {
  runId: string;
  /** 0..1 */
  progress?: number;
  stage?: string;
  message?: string;
  step?: number;
  stepTotal?: number;
  /** Seconds left, if the plugin can tell. */
  eta?: number;
  metrics?: Record<string, number>;
}

export interface OutputParams {
  runId: string;
  chunk: string;
  stream?: "stdout" | "stderr" | string;
}

export type ExportType = "text" | "json" | "url" | "binary" | "binary_url";

export interface ExportParams {
  runId: string;
  type: ExportType;
  label?: string;
  description?: string;
  mime?: string;
  /** text for `text`, any JSON value for `json`, base64 for `binary`. */
  data?: unknown;
  url?: string;
  metadata?: Record<string, unknown>;
}

export type LogLevel = "trace" | "debug" | "info" | "warn" | "error" | "fatal";

export interface LogParams {
  level: LogLevel;
  msg: string;
  runId?: string;
  fields?: Record<string, unknown>;
}

export interface CallParams {
  plugin: string;
  entry: string;
  input: unknown;
  timeoutMs?: number;
  /** The run the caller is serving, so the nested run records its parent. */
  parentRunId?: string;
}
