import { Defaults } from "../config/defaults.js";
import { BusError } from "./types.js";

/** Every bound of the bus; defaults in config/defaults.ts (`bus`). */
export interface BusLimits {
  maxRecordsPerTopic: number;
  maxTopicsPerStore: number;
  maxTopicNameLength: number;
  maxPayloadBytes: number;
  maxQueryLimit: number;
  defaultQueryLimit: number;
  regexMaxLength: number;
  regexMaxSubjectLength: number;
  regexBudgetMs: number;
  flushIntervalMs: number;
  flushMaxRecords: number;
}

export const DEFAULT_BUS_LIMITS: Readonly<BusLimits> = Object.freeze({ ...Defaults.bus });

export function resolveBusLimits(overrides: Partial<BusLimits> = {}): BusLimits {
  const out: BusLimits = { ...DEFAULT_BUS_LIMITS };
  for (const key of Object.keys(out) as (keyof BusLimits)[]) {
    const v = overrides[key];
    if (v === undefined) continue;
    // A zero or fractional bound would silently disable a guard; refuse it at start instead.
    if (!Number.isInteger(v) || v < 1) {
      throw new BusError("BAD_LIMITS", `bus limit ${key} must be a positive integer (got ${String(v)})`);
    }
    out[key] = v;
  }
  if (out.defaultQueryLimit > out.maxQueryLimit) out.defaultQueryLimit = out.maxQueryLimit;
  return out;
}
