/**
 * Error codes on the wire. JSON-RPC reserves the negative range; plugd's business errors are positive so that
 * a plugin in any language can tell "the protocol broke" from "the call failed for a reason a person can act on".
 */
export const ErrorCodes = {
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,

  ENTRY_NOT_FOUND: 1001,
  INVALID_INPUT: 1002,
  TIMEOUT: 1003,
  CANCELLED: 1004,
  PLUGIN_UNAVAILABLE: 1005,
  CIRCULAR_CALL: 1006,
  BUSY: 1007,
  MESSAGE_TOO_LARGE: 1008,
  CONNECTION_CLOSED: 1009,
  PERMISSION_DENIED: 1010,
  VERSION_MISMATCH: 1011,
  PLUGIN_CRASHED: 1012,
  ENTRY_FAILED: 1013,
  PLUGIN_NOT_FOUND: 1014,
} as const;

export type ErrorName = keyof typeof ErrorCodes;
export type ErrorCode = (typeof ErrorCodes)[ErrorName];

const namesByCode = new Map<number, ErrorName>(
  Object.entries(ErrorCodes).map(([name, code]) => [code, name as ErrorName]),
);

/** The symbolic name of a numeric code (`1003` → `"TIMEOUT"`), or undefined for a code plugd does not define. */
export function errorName(code: number): ErrorName | undefined {
  return namesByCode.get(code);
}

/** What a person can do about each business error; attached to errors the host raises itself. */
export const ErrorHints: Partial<Record<ErrorName, string>> = {
  ENTRY_NOT_FOUND: "List the plugin's entries (GET /plugins) and call one of those.",
  INVALID_INPUT: "Fix the input so it matches the entry's input schema (details lists each problem).",
  TIMEOUT: "Raise the timeout (per call, per entry or in the manifest's [limits]) or make the entry faster.",
  CANCELLED: "The call was cancelled by its caller; retry it if that was not intended.",
  PLUGIN_UNAVAILABLE: "Check the plugin's state and logs (GET /plugin/status), then start or reload it.",
  CIRCULAR_CALL: "Break the cycle of plugin-to-plugin calls shown in details.chain.",
  BUSY: "Retry later, or raise [limits] max_concurrency / max_queue in the plugin's manifest.",
  MESSAGE_TOO_LARGE: "Send large data as a blob/upload, or raise [limits] max_message_bytes.",
  CONNECTION_CLOSED: "The plugin process went away; check its logs. plugd restarts it per its restart policy.",
  PERMISSION_DENIED: "Grant the permission in the calling plugin's manifest [permissions].",
  VERSION_MISMATCH: "Upgrade the plugin's SDK or plugd so both speak the same protocol major version.",
  PLUGIN_CRASHED: "The plugin process exited during the call; check its logs (stderr tail).",
};

export interface ErrorObject {
  code: number;
  message: string;
  data?: unknown;
}

/** Set on RpcError.prototype: what `instanceof RpcError` looks for (see below). */
const RPC_ERROR = Symbol.for("plugd.RpcError");

/** An error that crosses the wire. `data.code` carries the symbolic name so logs and HTTP errors stay readable. */
export class RpcError extends Error {
  readonly code: number;
  readonly data: unknown;

  /**
   * `x instanceof RpcError` holds for an RpcError of any copy of this module: @plugd/sdk's bundle carries its own,
   * and a plugin that throws `RpcError.of(…)` imported from @plugd/protocol must still answer with that code.
   * Subclasses (PluginError…) keep the ordinary prototype check. (One shared copy instead — the SDK bundle importing
   * a bundled @plugd/protocol — was measured: ~2 ms more per plugin cold start, 1.5× → 1.63× `node -e 0`.)
   */
  static override [Symbol.hasInstance]<T>(this: abstract new (...args: any[]) => T, value: unknown): value is T {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class right of instanceof, RpcError or a subclass
    if ((this as unknown) !== RpcError) return Function.prototype[Symbol.hasInstance].call(this, value);
    return typeof value === "object" && value !== null && (value as { [RPC_ERROR]?: unknown })[RPC_ERROR] === true;
  }

  constructor(code: number, message: string, data?: unknown) {
    super(message);
    this.name = "RpcError";
    this.code = code;
    this.data = data;
  }

  /** A business error by name, with the hint for what to do next. */
  static of(name: ErrorName, message: string, details?: Record<string, unknown>): RpcError {
    const hint = ErrorHints[name];
    return new RpcError(ErrorCodes[name], message, { code: name, ...(hint ? { hint } : {}), ...details });
  }

  static fromObject(e: ErrorObject): RpcError {
    return new RpcError(e.code, e.message, e.data);
  }

  /** The symbolic code: the plugin's own string code if it sent one, else plugd's name for the number. */
  get symbol(): string {
    const d = this.data as { code?: unknown } | undefined;
    if (d && typeof d.code === "string") return d.code;
    return errorName(this.code) ?? String(this.code);
  }

  toObject(): ErrorObject {
    return this.data === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, data: this.data };
  }
}
Object.defineProperty(RpcError.prototype, RPC_ERROR, { value: true });

/** Turns anything a handler threw into a wire error without losing its message. */
export function toErrorObject(err: unknown): ErrorObject {
  if (err instanceof RpcError) return err.toObject();
  if (err instanceof Error) {
    if (err.name === "AbortError") return RpcError.of("CANCELLED", "the request was cancelled").toObject();
    return { code: ErrorCodes.ENTRY_FAILED, message: err.message, data: { code: "ENTRY_FAILED", type: err.name } };
  }
  return { code: ErrorCodes.ENTRY_FAILED, message: String(err), data: { code: "ENTRY_FAILED" } };
}
