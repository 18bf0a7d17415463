import type { LocalBus, LocalTopicInfo } from "../bus/bus.js";
import { type BusQuery, type BusRecord, type RegexFilter, STORE_NAMES } from "../bus/types.js";
import { limitArg, optBool, optInt, optNumber, optString, storeArg, topicSelector } from "./args.js";
import { wireEvent } from "./codec.js";
import { isPlainObject, PlaneError } from "./envelope.js";
import { normalizePayload, toPublishInput } from "./records.js";
import { evalPlan } from "./replay.js";

/** The RPC operations (reference §5.3). Each reads its args strictly and returns a result or throws PlaneError. */

export type OpResult =
  | { kind: "value"; value: unknown }
  /** A list of records: encoded from the per-record cache, after the `head` fields of the result map. */
  | { kind: "items"; head: [string, unknown][]; items: BusRecord[]; light: boolean };

export interface OpContext {
  bus: Pick<LocalBus, "publish" | "recent" | "since" | "query" | "topics" | "limits">;
  maxPlanDepth: number;
  /** Extra fields for `health` (counters of the plane). */
  health: () => Record<string, unknown>;
}

type Op = (ctx: OpContext, args: Record<string, unknown>) => OpResult;

const value = (v: unknown): OpResult => ({ kind: "value", value: v });

const ping: Op = () => value({ ok: true, ts: Date.now() / 1000 });

const health: Op = (ctx) => value({ ok: true, ts: Date.now() / 1000, ...ctx.health() });

const listTopics: Op = (ctx, args) => {
  const store = storeArg(args);
  const topics = (ctx.bus.topics(store) as Partial<LocalTopicInfo>[])
    .map((t) => ({
      topic: t.topic,
      created_at: t.created_at ?? null,
      last_ts: t.last_ts ?? null,
      count_total: t.count_total ?? t.count,
      count: t.count,
      last_seq: t.last_seq,
      evicted: t.evicted,
    }))
    // Newest first; topics touched in the same millisecond by their last sequence number.
    .sort((a, b) => (b.last_ts ?? 0) - (a.last_ts ?? 0) || (b.last_seq ?? 0) - (a.last_seq ?? 0));
  return value({ store, stores: [...STORE_NAMES], topics, topic_count: topics.length });
};

const publish: Op = (ctx, args) => {
  const store = storeArg(args);
  const topic = optString(args, "topic", Number.MAX_SAFE_INTEGER);
  if (!topic) throw new PlaneError("BAD_ARGS", "topic is required");
  // The topic-length check is the bus's, so the refusal carries its code (TOPIC_NAME_TOO_LONG).
  const res = ctx.bus.publish(toPublishInput(store, topic, normalizePayload(args.payload), args));
  if (!res.submitted) throw new PlaneError(res.code, res.reason);
  return value({ accepted: true, event: wireEvent(res.record) });
};

const getRecent: Op = (ctx, args) => {
  const store = storeArg(args);
  const topic = optString(args, "topic", ctx.bus.limits.maxTopicNameLength);
  if (!topic) throw new PlaneError("BAD_ARGS", "topic is required");
  const limit = limitArg(args, ctx.bus.limits.defaultQueryLimit, ctx.bus.limits.maxQueryLimit);
  const light = optBool(args, "light");
  const items = ctx.bus.recent(store, { topic: topic === "*" ? undefined : topic, limit });
  return {
    kind: "items",
    head: [
      ["store", store],
      ["topic", topic],
    ],
    items,
    light,
  };
};

const getSince: Op = (ctx, args) => {
  const store = storeArg(args);
  const topic = topicSelector(args, ctx.bus.limits.maxTopicNameLength);
  const after = optInt(args, "after_seq", 0) ?? 0;
  const limit = limitArg(args, ctx.bus.limits.defaultQueryLimit, ctx.bus.limits.maxQueryLimit);
  const light = optBool(args, "light");
  const items = ctx.bus.since(store, after, { topic, limit });
  return {
    kind: "items",
    head: [
      ["store", store],
      ["topic", topic ?? null],
      ["after_seq", after],
    ],
    items,
    light,
  };
};

const query: Op = (ctx, args) => {
  const store = storeArg(args);
  const topic = topicSelector(args, ctx.bus.limits.maxTopicNameLength);
  const q: BusQuery = {
    store,
    topic,
    limit: limitArg(args, ctx.bus.limits.defaultQueryLimit, ctx.bus.limits.maxQueryLimit),
    plugin_id: optString(args, "plugin_id", 256),
    source: optString(args, "source", 256),
    kind: optString(args, "kind", 64),
    type: optString(args, "type", 64),
    priority_min: optNumber(args, "priority_min"),
    since_ts: optNumber(args, "since_ts"),
    until_ts: optNumber(args, "until_ts"),
    after_seq: optInt(args, "after_seq", 0),
  };
  const order = optString(args, "order", 4);
  if (order !== undefined && order !== "asc" && order !== "desc") {
    throw new PlaneError("BAD_ARGS", 'order must be "asc" or "desc"');
  }
  q.order = order;
  if (args.regex !== undefined && args.regex !== null) {
    if (!Array.isArray(args.regex) || !args.regex.every(isPlainObject)) {
      throw new PlaneError("BAD_ARGS", "regex must be a list of {field, pattern, flags?}");
    }
    q.regex = args.regex as unknown as RegexFilter[];
  }
  const light = optBool(args, "light");
  return {
    kind: "items",
    head: [
      ["store", store],
      ["topic", topic ?? null],
    ],
    items: ctx.bus.query(q),
    light,
  };
};

const replay: Op = (ctx, args) => {
  const store = storeArg(args);
  const plan = args.plan ?? args.trace;
  if (!isPlainObject(plan)) throw new PlaneError("BAD_ARGS", "plan is required");
  const light = optBool(args, "light");
  const items = evalPlan({ bus: ctx.bus, store, maxDepth: ctx.maxPlanDepth }, plan);
  return { kind: "items", head: [["store", store]], items, light };
};

export const OPS: ReadonlyMap<string, Op> = new Map<string, Op>([
  ["ping", ping],
  ["health", health],
  ["bus.list_topics", listTopics],
  ["bus.publish", publish],
  ["bus.get_recent", getRecent],
  ["bus.get_since", getSince],
  ["bus.query", query],
  ["bus.replay", replay],
]);
