import type { RunStatus } from "../store/types.js";

/** The run state machine of the N.E.K.O run protocol (reference §2.1). Terminal states have no way out. */
const ALLOWED: Record<RunStatus, readonly RunStatus[]> = {
  queued: ["running", "canceled"],
  running: ["succeeded", "failed", "timeout", "cancel_requested"],
  cancel_requested: ["succeeded", "failed", "canceled", "timeout"],
  succeeded: [],
  failed: [],
  canceled: [],
  timeout: [],
};

export function canTransition(from: RunStatus, to: RunStatus): boolean {
  return ALLOWED[from].includes(to);
}

/** Runs that were queued or running also fail on server shutdown/restart, outside the table. */
export function isTerminal(s: RunStatus): boolean {
  return ALLOWED[s].length === 0;
}
