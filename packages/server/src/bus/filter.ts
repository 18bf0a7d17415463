import { type Budget, compileGuardedRegex, type GuardedRegex, type RegexGuardLimits } from "./regex-guard.js";
import { BusError, type BusFilter, type BusRecord, type RegexFilter, STORE_NAMES, type StoreName } from "./types.js";

/** A BusFilter checked and compiled once (regexes guarded), then applied to many records. */
export interface CompiledFilter {
  store: StoreName | undefined;
  topic: string | undefined;
  /** True when only store/topic are set: every record of the selected topics matches. */
  matchesAll: boolean;
  test(r: BusRecord, budget: Budget): boolean;
}

const REGEX_FIELDS = new Set<RegexFilter["field"]>(["topic", "plugin_id", "source", "kind", "type", "payload"]);

export function compileFilter(f: BusFilter, limits: RegexGuardLimits): CompiledFilter {
  if (f.store !== undefined && !STORE_NAMES.includes(f.store)) {
    throw new BusError("INVALID_STORE", `unknown store ${JSON.stringify(f.store)}`);
  }
  const checks: ((r: BusRecord, budget: Budget) => boolean)[] = [];
  const eq = (key: "plugin_id" | "source" | "kind" | "type") => {
    const want = f[key];
    if (want === undefined) return;
    if (typeof want !== "string") throw new BusError("BAD_FILTER", `filter ${key} must be a string`);
    checks.push((r) => r[key] === want);
  };
  eq("plugin_id");
  eq("source");
  eq("kind");
  eq("type");
  const num = (key: "priority_min" | "since_ts" | "until_ts"): number | undefined => {
    const v = f[key];
    if (v === undefined) return undefined;
    if (typeof v !== "number" || Number.isNaN(v)) throw new BusError("BAD_FILTER", `filter ${key} must be a number`);
    return v;
  };
  const pmin = num("priority_min");
  if (pmin !== undefined) checks.push((r) => r.priority >= pmin);
  const since = num("since_ts");
  if (since !== undefined) checks.push((r) => r.timestamp >= since);
  const until = num("until_ts");
  if (until !== undefined) checks.push((r) => r.timestamp <= until);
  if (f.regex !== undefined) {
    if (!Array.isArray(f.regex)) throw new BusError("BAD_FILTER", "filter regex must be an array");
    for (const rf of f.regex) {
      if (!rf || typeof rf !== "object" || !REGEX_FIELDS.has(rf.field)) {
        throw new BusError("BAD_FILTER", `regex field must be one of ${[...REGEX_FIELDS].join(", ")}`);
      }
      const re = compileGuardedRegex(rf.pattern, rf.flags, limits);
      checks.push(regexCheck(rf.field, re));
    }
  }
  if (f.topic !== undefined && typeof f.topic !== "string") throw new BusError("BAD_FILTER", "topic must be a string");
  const n = checks.length;
  const first = checks[0];
  return {
    store: f.store,
    topic: f.topic,
    matchesAll: n === 0,
    test:
      n === 0
        ? () => true
        : n === 1 && first
          ? first
          : (r, budget) => {
              for (let i = 0; i < n; i++) if (!(checks[i] as (typeof checks)[number])(r, budget)) return false;
              return true;
            },
  };
}

function regexCheck(field: RegexFilter["field"], re: GuardedRegex): (r: BusRecord, budget: Budget) => boolean {
  return (r, budget) => {
    const ok = re.test(subjectOf(r, field));
    budget.check();
    return ok;
  };
}

/** The text a regex on `field` sees: the field as a string, or the payload as JSON (a string payload as is). */
export function subjectOf(r: BusRecord, field: RegexFilter["field"]): string {
  if (field !== "payload") return r[field] ?? "";
  const p = r.payload;
  if (typeof p === "string") return p;
  try {
    return JSON.stringify(p) ?? "";
  } catch {
    return "";
  }
}

/** Store/topic selection of a subscription, then the rest of the filter. */
export function matchesFilter(cf: CompiledFilter, r: BusRecord, budget: Budget): boolean {
  if (cf.store !== undefined && cf.store !== r.store) return false;
  if (cf.topic !== undefined && cf.topic !== r.topic) return false;
  return cf.test(r, budget);
}
