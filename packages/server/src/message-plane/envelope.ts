/**
 * The RPC envelope (reference §5.2): request `{v:1, op, req_id (1-64 chars), args:{}, from_plugin? (≤128)}`,
 * reply `{v:1, req_id, ok, result, error: null | {code ≤64, message ≤256, details?}}`. "strict" (the default)
 * refuses a missing `v` and unknown keys like the reference's pydantic model with extra="forbid"; "warn" tolerates
 * both; "off" only needs an op.
 */

export const PROTOCOL_VERSION = 1;
const ENVELOPE_KEYS = new Set(["v", "op", "req_id", "args", "from_plugin"]);

export interface Envelope {
  op: string;
  reqId: string;
  args: Record<string, unknown>;
  fromPlugin: string | null;
}

export interface WireError {
  code: string;
  message: string;
  details?: unknown;
}

/** An error reply is due; carries the req_id to echo when one could be read. */
export class PlaneError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
  toWire(): WireError {
    const e: WireError = { code: this.code.slice(0, 64), message: this.message.slice(0, 256) };
    if (this.details !== undefined) e.details = this.details;
    return e;
  }
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== "object" || Array.isArray(v) || v instanceof Uint8Array) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** The req_id to echo in an error reply, even for an envelope that is otherwise invalid. */
export function salvageReqId(msg: unknown): string {
  if (!isPlainObject(msg)) return "";
  const r = msg.req_id;
  return typeof r === "string" ? r.slice(0, 64) : typeof r === "number" ? String(r) : "";
}

export function validateEnvelope(msg: unknown, mode: "strict" | "warn" | "off"): Envelope {
  if (!isPlainObject(msg)) throw new PlaneError("BAD_ENVELOPE", "invalid rpc envelope: not a map");
  const { v, op, req_id: reqId, args, from_plugin: fromPlugin } = msg;
  if (mode === "strict") {
    for (const k in msg) {
      if (!ENVELOPE_KEYS.has(k)) throw new PlaneError("BAD_ENVELOPE", `invalid rpc envelope: unknown key ${k}`);
    }
  }
  if (v === undefined || v === null) {
    if (mode === "strict") throw new PlaneError("BAD_ENVELOPE", "invalid rpc envelope: v is required");
  } else if (v !== PROTOCOL_VERSION) {
    throw new PlaneError("UNSUPPORTED_VERSION", `unsupported protocol version: ${JSON.stringify(v)}`);
  }
  let id = "";
  if (typeof reqId === "string" && reqId.length >= 1 && reqId.length <= 64) id = reqId;
  else if (mode !== "off" || (reqId !== undefined && typeof reqId !== "string")) {
    throw new PlaneError("BAD_ENVELOPE", "invalid rpc envelope: req_id must be a string of 1-64 characters");
  }
  if (typeof op !== "string" || op.length === 0 || op.length > 64) {
    throw new PlaneError("BAD_ENVELOPE", "invalid rpc envelope: op must be a non-empty string");
  }
  let a: Record<string, unknown> = {};
  if (args !== undefined && args !== null) {
    if (!isPlainObject(args)) throw new PlaneError("BAD_ENVELOPE", "invalid rpc envelope: args must be a map");
    a = args;
  }
  let from: string | null = null;
  if (fromPlugin !== undefined && fromPlugin !== null) {
    if (typeof fromPlugin !== "string" || fromPlugin.length > 128) {
      throw new PlaneError("BAD_ENVELOPE", "invalid rpc envelope: from_plugin must be a string of ≤128 characters");
    }
    from = fromPlugin;
  }
  return { op, reqId: id, args: a, fromPlugin: from };
}
