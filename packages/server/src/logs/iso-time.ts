import { ApiError } from "../http/errors.js";

/**
 * `start_time` / `end_time` of the logs and metrics queries: ISO 8601, epoch ms out. A time without an offset is
 * taken as UTC (not the server's local zone, which a client cannot know); the log timestamps are UTC too.
 */
export function parseIsoTime(value: string | undefined, name: string): number | undefined {
  if (value === undefined || value === "") return undefined;
  const v = value.trim();
  const naive = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(v);
  const ms = Date.parse(naive ? `${v.replace(" ", "T")}Z` : v);
  if (!/^\d{4}-\d{2}-\d{2}/.test(v) || Number.isNaN(ms)) {
    throw new ApiError(400, "VALIDATION_ERROR", `${name} must be an ISO 8601 time (got ${JSON.stringify(value)})`, {
      hint: "For example 2026-01-31T12:00:00Z.",
    });
  }
  return ms;
}
