import { ErrorCodes, RpcError } from "@plugd/protocol";

/**
 * A failure the entry reports on purpose, with its own code: `throw new PluginError("CITY_UNKNOWN", "no such city")`.
 * It reaches the caller as error 1013 with `data: {code: "CITY_UNKNOWN", details}`, and the run's error keeps that
 * code, so callers can branch on it rather than on message text.
 */
export class PluginError extends RpcError {
  readonly details: unknown;

  constructor(code: string, message: string, details?: unknown) {
    super(ErrorCodes.ENTRY_FAILED, message, details === undefined ? { code } : { code, details });
    this.name = "PluginError";
    this.details = details;
  }
}

/** The reason a run's signal carries once it is cancelled; throwing it answers 1004 CANCELLED. */
export function cancelledError(why?: unknown): RpcError {
  return RpcError.of("CANCELLED", "the run was cancelled", typeof why === "string" ? { reason: why } : undefined);
}

/**
 * What a handler's failure becomes on the wire once its run was cancelled: whatever it threw (an AbortError, the
 * signal's reason, a plain Error from an aborted fetch, a PluginError named CANCELLED) is the cancellation surfacing,
 * so the caller is told 1004. A deliberate error with another code of the plugin's own is kept.
 */
export function afterCancel(err: unknown): unknown {
  if (err instanceof RpcError) {
    if (err.code === ErrorCodes.CANCELLED) return err;
    if (!(err instanceof PluginError) || err.symbol === "CANCELLED") return cancelledError();
    return err;
  }
  return cancelledError();
}
