/**
 * The result envelope of the reference (§2.6), stored as the run's system export `trigger_response`:
 * `{success, code, data, message, error, time, trace_id}`.
 */
export interface ResultEnvelope {
  success: boolean;
  code: number;
  data: unknown;
  message: string;
  error: { code: string; message: string; details?: unknown; retriable?: boolean } | null;
  time: string;
  trace_id: string | null;
  meta?: unknown;
}

/** A plugin may return a ready-made envelope (N.E.K.O's `ok()`/`fail()`); it is kept as is. */
export function isEnvelope(v: unknown): v is ResultEnvelope {
  return (
    typeof v === "object" &&
    v !== null &&
    typeof (v as { success?: unknown }).success === "boolean" &&
    "error" in v &&
    "time" in v
  );
}

export function okEnvelope(data: unknown, traceId: string | null): ResultEnvelope {
  return { success: true, code: 0, data, message: "", error: null, time: new Date().toISOString(), trace_id: traceId };
}

/** HTTP-like numeric codes of the reference's ErrorCode enum, for clients that read `code`. */
const NUMERIC: Record<string, number> = {
  INVALID_INPUT: 400,
  VALIDATION_ERROR: 400,
  PERMISSION_DENIED: 403,
  PLUGIN_NOT_FOUND: 404,
  ENTRY_NOT_FOUND: 404,
  BUSY: 429,
  PLUGIN_UNAVAILABLE: 503,
  TIMEOUT: 504,
  PLUGIN_CRASHED: 1002,
  CIRCULAR_CALL: 1003,
};

export function failEnvelope(
  error: { code: string; message: string; details?: unknown },
  traceId: string | null,
): ResultEnvelope {
  return {
    success: false,
    code: NUMERIC[error.code] ?? 500,
    data: null,
    message: error.message,
    error: {
      ...error,
      retriable: error.code === "TIMEOUT" || error.code === "BUSY" || error.code === "PLUGIN_CRASHED",
    },
    time: new Date().toISOString(),
    trace_id: traceId,
  };
}
