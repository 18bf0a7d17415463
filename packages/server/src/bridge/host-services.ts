import { RpcError } from "@plugd/protocol";
import { type Bus, BusError, type BusQuery, STORE_NAMES, type StoreName } from "../bus/types.js";
import type { HostServices } from "../host/host.js";
import type { RunEngine } from "../runs/engine.js";
import { submitMessage } from "./messages.js";

type Answer = { submitted: true; id: string; seq: number } | { submitted: false; reason: string; code: string };

/**
 * The reverse RPC a plugin makes into the server (`host/*`), answered from the bus and the run engine. A push that
 * cannot be accepted is answered `{submitted: false, reason}`, never dropped; a malformed query is an error the
 * plugin sees with the bus's code.
 */
export function busHostServices(bus: Bus, engine: RunEngine): HostServices {
  return {
    call: (req) => engine.call(req),
    pushMessage: (plugin, payload) => submitMessage(bus, plugin, payload),
    emitEvent: (plugin, payload) => emitEvent(bus, plugin, payload),
    updateStatus: (plugin, payload) =>
      publishAnswer(bus, {
        store: "lifecycle",
        topic: plugin,
        plugin_id: plugin,
        source: plugin,
        kind: "status",
        type: "status",
        payload: payload ?? {},
      }),
    queryBus: (_plugin, query) => ({ items: queryBus(bus, query) }),
  };
}

function emitEvent(bus: Bus, plugin: string, raw: unknown): Answer {
  const e = isObject(raw) ? raw : {};
  const type = typeof e.type === "string" ? e.type.trim() : "";
  if (!type) return { submitted: false, code: "INVALID_EVENT", reason: "an event needs a non-empty string `type`" };
  if (e.priority !== undefined && (typeof e.priority !== "number" || !Number.isFinite(e.priority))) {
    return { submitted: false, code: "INVALID_EVENT", reason: "priority must be a number" };
  }
  return publishAnswer(bus, {
    store: "events",
    topic: typeof e.topic === "string" && e.topic ? e.topic : type,
    plugin_id: plugin,
    source: typeof e.source === "string" && e.source ? e.source : plugin,
    kind: "custom",
    type,
    priority: typeof e.priority === "number" ? e.priority : 0,
    payload: e.payload ?? null,
  });
}

function publishAnswer(bus: Bus, input: Parameters<Bus["publish"]>[0]): Answer {
  const r = bus.publish(input);
  return r.submitted ? { submitted: true, id: r.record.id, seq: r.record.seq } : r;
}

const QUERY_KEYS = new Set([
  "store",
  "topic",
  "plugin_id",
  "source",
  "kind",
  "type",
  "priority_min",
  "since_ts",
  "until_ts",
  "regex",
  "after_seq",
  "limit",
  "order",
]);

/** `host/queryBus {store, topic?, plugin_id?, …, limit?, after_seq?, order?}` — the bus query, checked here. */
function queryBus(bus: Bus, raw: unknown): unknown[] {
  if (!isObject(raw)) throw invalid('host/queryBus needs an object such as {store: "messages", limit: 10}');
  const store = raw.store ?? "messages";
  if (typeof store !== "string" || !(STORE_NAMES as readonly string[]).includes(store)) {
    throw invalid(`unknown store ${JSON.stringify(store)}; one of ${STORE_NAMES.join(", ")}`);
  }
  const unknown = Object.keys(raw).filter((k) => !QUERY_KEYS.has(k));
  if (unknown.length > 0) throw invalid(`unknown query field(s): ${unknown.join(", ")}`);
  try {
    return bus.query({ ...(raw as Partial<BusQuery>), store: store as StoreName });
  } catch (err) {
    if (err instanceof BusError) throw RpcError.of("INVALID_INPUT", err.message, { bus_code: err.code });
    throw err;
  }
}

function invalid(message: string): RpcError {
  return RpcError.of("INVALID_INPUT", message);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
