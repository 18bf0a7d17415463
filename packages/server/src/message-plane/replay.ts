import type { LocalBus } from "../bus/bus.js";
import { type Budget, compileGuardedRegex, type GuardedRegex, RegexBudget } from "../bus/regex-guard.js";
import { BusError, type BusQuery, type BusRecord, type StoreName } from "../bus/types.js";
import { isPlainObject, PlaneError } from "./envelope.js";

/**
 * `bus.replay`: evaluates a recorded BusList plan on the server (reference §5.3, [J] rpc_server.py):
 *   {kind:"get", params:{params:{topic?, max_count|limit, plugin_id, source, kind, type, priority_min, since_ts}}}
 *   {kind:"unary", op: limit|sort|filter|where_eq|where_in|where_contains|where_regex, params, child}
 *   {kind:"binary", op: merge|intersection|difference, left, right}
 * Depth is capped (16) and so is the number of nodes, so a plan cannot fan out into thousands of store scans.
 * Set operations de-duplicate by index id (else seq) and sort by seq descending. User regexes go through the bus's
 * guard; an invalid one follows the plan's `strict` flag like the reference, an unsafe or too long one is an error.
 */

const MAX_NODES = 64;
const INDEX_FIELDS = new Set(["id", "plugin_id", "source", "kind", "type", "priority", "timestamp"]);

type Bus = Pick<LocalBus, "query" | "limits">;

export interface ReplayContext {
  bus: Bus;
  store: StoreName;
  maxDepth: number;
}

export function evalPlan(ctx: ReplayContext, plan: unknown): BusRecord[] {
  const state = { nodes: 0, budget: new RegexBudget(ctx.bus.limits.regexBudgetMs) };
  const items = evalNode(ctx, state, plan, 1);
  const max = ctx.bus.limits.maxQueryLimit;
  return items.length > max ? items.slice(0, max) : items;
}

interface State {
  nodes: number;
  budget: Budget;
}

function evalNode(ctx: ReplayContext, st: State, node: unknown, depth: number): BusRecord[] {
  if (depth > ctx.maxDepth) throw new PlaneError("BAD_ARGS", `plan is deeper than ${ctx.maxDepth} levels`);
  if (++st.nodes > MAX_NODES) throw new PlaneError("BAD_ARGS", `plan has more than ${MAX_NODES} nodes`);
  if (!isPlainObject(node)) throw new PlaneError("UNSUPPORTED_PLAN", "unsupported plan: a node is not a map");
  const kind = node.kind;
  const op = typeof node.op === "string" ? node.op : "";
  const params = isPlainObject(node.params) ? node.params : {};
  if (kind === "get") return evalGet(ctx, params);
  if (kind === "unary") return unary(ctx, st, op, params, evalNode(ctx, st, node.child, depth + 1));
  if (kind === "binary") {
    const left = evalNode(ctx, st, node.left, depth + 1);
    const right = evalNode(ctx, st, node.right, depth + 1);
    return binary(op, left, right);
  }
  throw new PlaneError("UNSUPPORTED_PLAN", `unsupported plan node kind ${JSON.stringify(kind)}`);
}

function evalGet(ctx: ReplayContext, params: Record<string, unknown>): BusRecord[] {
  const p = isPlainObject(params.params) ? params.params : params;
  const max = ctx.bus.limits.maxQueryLimit;
  // Both spellings may be given (a client adding a page size to a template): the smaller one wins.
  const given = [p.max_count, p.limit].filter((x): x is number => typeof x === "number" && Number.isFinite(x));
  const limit = given.length > 0 ? Math.min(...given.map(Math.trunc), max) : Math.min(200, max);
  if (limit <= 0) return [];
  const q: BusQuery = { store: ctx.store, limit };
  const s = (k: "plugin_id" | "source" | "kind" | "type") => {
    const v = p[k];
    if (typeof v === "string" && v.trim()) q[k] = v;
  };
  s("plugin_id");
  s("source");
  s("kind");
  s("type");
  const n = (k: "priority_min" | "since_ts" | "until_ts") => {
    const v = p[k];
    if (typeof v === "number" && Number.isFinite(v)) q[k] = v;
  };
  n("priority_min");
  n("since_ts");
  n("until_ts");
  if (typeof p.topic === "string" && p.topic !== "" && p.topic !== "*") q.topic = p.topic;
  return ctx.bus.query(q);
}

/** Index field, else payload key, else the event's own field (seq, ts, store, topic); undefined when none. */
function fieldValue(r: BusRecord, f: string): unknown {
  if (INDEX_FIELDS.has(f)) return r[f as keyof BusRecord];
  const p = r.payload;
  if (isPlainObject(p) && f in p) return p[f];
  if (f === "seq") return r.seq;
  if (f === "ts") return r.timestamp;
  if (f === "store") return r.store;
  if (f === "topic") return r.topic;
  return undefined;
}

/** Python's `str(v or "")`, near enough for matching. */
function text(v: unknown): string {
  if (v === undefined || v === null || v === false || v === 0 || v === "") return "";
  return typeof v === "string" ? v : typeof v === "object" ? JSON.stringify(v) : String(v);
}

/** A user regex of a plan; REGEX_INVALID becomes null (the caller applies `strict`), the other refusals throw. */
function planRegex(ctx: ReplayContext, pattern: string): GuardedRegex | null {
  try {
    return compileGuardedRegex(pattern, "", ctx.bus.limits);
  } catch (err) {
    if (err instanceof BusError && err.code === "REGEX_INVALID") return null;
    throw err;
  }
}

function unary(
  ctx: ReplayContext,
  st: State,
  op: string,
  params: Record<string, unknown>,
  items: BusRecord[],
): BusRecord[] {
  switch (op) {
    case "limit": {
      const n = typeof params.n === "number" ? Math.trunc(params.n) : Number.parseInt(String(params.n ?? 0), 10);
      return !n || n <= 0 ? [] : items.slice(0, n);
    }
    case "sort":
      return sortItems(items, params);
    case "filter":
      return filterItems(ctx, st, items, params);
    case "where_eq": {
      const field = String(params.field ?? "").trim();
      if (!field) return items;
      return items.filter((r) => equal(fieldValue(r, field), params.value));
    }
    case "where_in": {
      const field = String(params.field ?? "").trim();
      const values = params.values;
      if (!field || !Array.isArray(values)) return items;
      return items.filter((r) => {
        const got = fieldValue(r, field);
        return values.some((v) => equal(got, v));
      });
    }
    case "where_contains": {
      const field = String(params.field ?? "").trim();
      const value = text(params.value);
      if (!field || !value) return items;
      return items.filter((r) => text(fieldValue(r, field)).includes(value));
    }
    case "where_regex": {
      const field = String(params.field ?? "").trim();
      const pattern = text(params.pattern);
      const strict = params.strict === undefined ? true : Boolean(params.strict);
      if (!field || !pattern) return items;
      const re = planRegex(ctx, pattern);
      if (!re) return strict ? [] : items;
      return items.filter((r) => {
        const ok = re.test(text(fieldValue(r, field)));
        st.budget.check();
        return ok;
      });
    }
    default:
      throw new PlaneError("UNSUPPORTED_PLAN", `unsupported unary op ${JSON.stringify(op)}`);
  }
}

function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === undefined) return b === null; // Python: a missing field is None
  if (typeof a === "object" && typeof b === "object" && a !== null && b !== null) {
    return JSON.stringify(a) === JSON.stringify(b);
  }
  return false;
}

function sortItems(items: BusRecord[], params: Record<string, unknown>): BusRecord[] {
  const by = params.by;
  const fields =
    typeof by === "string" ? [by] : Array.isArray(by) ? by.map((x) => String(x)) : ["timestamp", "created_at", "time"];
  const reverse = Boolean(params.reverse);
  // The reference's key: numbers before strings before missing values.
  const key = (r: BusRecord) =>
    fields.map((f): [number, number | string] => {
      const v = fieldValue(r, f);
      if (v === undefined || v === null) return [2, ""];
      if (typeof v === "number" || typeof v === "boolean") return [0, Number(v)];
      return [1, text(v) || String(v)];
    });
  const keyed = items.map((r) => ({ r, k: key(r) }));
  const cmp = (a: [number, number | string][], b: [number, number | string][]) => {
    for (let i = 0; i < a.length; i++) {
      const x = a[i] as [number, number | string];
      const y = b[i] as [number, number | string];
      if (x[0] !== y[0]) return x[0] - y[0];
      if (x[1] < y[1]) return -1;
      if (x[1] > y[1]) return 1;
    }
    return 0;
  };
  keyed.sort((a, b) => (reverse ? cmp(b.k, a.k) : cmp(a.k, b.k)));
  return keyed.map((x) => x.r);
}

function filterItems(ctx: ReplayContext, st: State, items: BusRecord[], params: Record<string, unknown>): BusRecord[] {
  const p: Record<string, unknown> = { ...params, ...(isPlainObject(params.flt) ? params.flt : {}) };
  const strict = p.strict === undefined ? true : Boolean(p.strict);
  const checks: ((r: BusRecord) => boolean)[] = [];
  // A BusFilter field we do not know cannot be honoured: strict matches nothing (as an invalid regex does).
  if (strict && isPlainObject(params.flt) && Object.keys(params.flt).some((k) => !FILTER_KEYS.has(k))) return [];
  for (const k of ["plugin_id", "source", "kind", "type"] as const) {
    const want = p[k];
    if (want === undefined || want === null) continue;
    checks.push((r) => {
      if (r[k] === want) return true;
      const pl = r.payload;
      return isPlainObject(pl) && pl[k] === want;
    });
  }
  const numArg = (k: string): number | undefined => {
    const v = p[k];
    if (v === undefined || v === null) return undefined;
    const n = typeof v === "number" ? v : Number(v);
    return Number.isFinite(n) ? n : undefined;
  };
  const pmin = numArg("priority_min");
  if (pmin !== undefined) checks.push((r) => r.priority >= pmin);
  const since = numArg("since_ts");
  if (since !== undefined) checks.push((r) => r.timestamp >= since);
  const until = numArg("until_ts");
  if (until !== undefined) checks.push((r) => r.timestamp <= until);
  const regexCheck = (pattern: unknown, value: (r: BusRecord) => unknown) => {
    if (typeof pattern !== "string" || !pattern) return;
    const re = planRegex(ctx, pattern);
    if (!re) {
      if (strict) checks.push(() => false);
      return;
    }
    checks.push((r) => {
      const ok = re.test(text(value(r)));
      st.budget.check();
      return ok;
    });
  };
  for (const k of ["plugin_id", "source", "kind", "type"] as const) {
    regexCheck(p[`${k}_re`], (r) => {
      const v = r[k];
      if (v !== null && v !== "") return v;
      const pl = r.payload;
      return isPlainObject(pl) ? pl[k] : undefined;
    });
  }
  regexCheck(p.content_re, (r) => (isPlainObject(r.payload) ? r.payload.content : undefined));
  if (checks.length === 0) return items;
  return items.filter((r) => checks.every((c) => c(r)));
}

const FILTER_KEYS = new Set([
  "plugin_id",
  "source",
  "kind",
  "type",
  "priority_min",
  "since_ts",
  "until_ts",
  "plugin_id_re",
  "source_re",
  "kind_re",
  "type_re",
  "content_re",
  "strict",
]);

function dedupeKey(r: BusRecord): string {
  return r.id ? `id:${r.id}` : `seq:${r.seq}`;
}

function binary(op: string, left: BusRecord[], right: BusRecord[]): BusRecord[] {
  const bySeqDesc = (a: BusRecord, b: BusRecord) => b.seq - a.seq;
  const seen = new Set<string>();
  const out: BusRecord[] = [];
  if (op === "merge") {
    for (const r of [...left, ...right]) {
      const k = dedupeKey(r);
      if (seen.has(k)) continue;
      seen.add(k);
      out.push(r);
    }
    return out.sort(bySeqDesc);
  }
  if (op === "intersection" || op === "difference") {
    const rightKeys = new Set(right.map(dedupeKey));
    const keepIfInRight = op === "intersection";
    for (const r of left) {
      const k = dedupeKey(r);
      if (seen.has(k) || rightKeys.has(k) !== keepIfInRight) continue;
      seen.add(k);
      out.push(r);
    }
    return out.sort(bySeqDesc);
  }
  throw new PlaneError("UNSUPPORTED_PLAN", `unsupported binary op ${JSON.stringify(op)}`);
}
