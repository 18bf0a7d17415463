import path from "node:path";
import { Defaults } from "../config/defaults.js";
import type { LogServiceOptions } from "./log-service.js";

/** What a caller (tests, an embedder) may override; env `PLUGD_LOG_FILE_MAX_BYTES` / `PLUGD_LOG_FILE_MAX_COUNT` too. */
export type LogOverrides = Partial<
  Pick<LogServiceOptions, "maxBytes" | "maxFiles" | "regexTimeoutMs" | "regexQueryBudgetMs" | "regexWorkers">
>;

/** Log options for a data dir: override > env > Defaults.logs. Logs live in `<data dir>/logs`. */
export function resolveLogOptions(
  dataDir: string,
  overrides: LogOverrides = {},
  env: NodeJS.ProcessEnv = process.env,
): LogServiceOptions {
  return {
    dir: path.join(dataDir, "logs"),
    maxBytes:
      overrides.maxBytes ??
      positiveInt(env.PLUGD_LOG_FILE_MAX_BYTES, "PLUGD_LOG_FILE_MAX_BYTES") ??
      Defaults.logs.fileMaxBytes,
    maxFiles:
      overrides.maxFiles ??
      positiveInt(env.PLUGD_LOG_FILE_MAX_COUNT, "PLUGD_LOG_FILE_MAX_COUNT") ??
      Defaults.logs.fileMaxCount,
    regexTimeoutMs: overrides.regexTimeoutMs ?? Defaults.logs.regexTimeoutMs,
    regexQueryBudgetMs: overrides.regexQueryBudgetMs ?? Defaults.logs.regexQueryBudgetMs,
    regexWorkers: overrides.regexWorkers ?? Defaults.logs.regexWorkers,
  };
}

/** A positive integer from env, undefined when unset; a malformed value is an error at startup, not a silent default. */
export function positiveInt(v: string | undefined, name: string): number | undefined {
  if (v === undefined || v === "") return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer (got ${JSON.stringify(v)})`);
  return n;
}
