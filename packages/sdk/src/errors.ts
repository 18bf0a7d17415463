import { ErrorCodes, RpcError } from "@plugd/protocol";

/**
 * A failure the entry reports on purpose, with its own code: `throw new PluginError("CITY_UNKNOWN", "no such city")`.
 * It reaches the caller as error 1013 with `data.code = "CITY_UNKNOWN"`, and the run's error keeps that code.
 */
export class PluginError extends RpcError {
  constructor(code: string, message: string, details?: unknown) {
    super(ErrorCodes.ENTRY_FAILED, message, { code, ...(details !== undefined ? { details } : {}) });
    this.name = "PluginError";
  }
}
