import type { PublishInput, StoreName } from "../bus/types.js";
import { isPlainObject } from "./envelope.js";

/**
 * From what publishers send over the wire (`{store|bus, topic, payload}`, reference §5.2) to a bus PublishInput.
 * The record's index is read from the payload as the reference's stores.py does (§5.4); index fields given next to
 * the payload (a flat BusRecord-like item) take precedence.
 */

const ID_KEYS = ["message_id", "event_id", "lifecycle_id", "id", "task_id", "run_id"] as const;

const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

function num(v: unknown): number | undefined {
  if (typeof v === "number" && Number.isFinite(v)) return v;
  return undefined;
}

function int(v: unknown): number | undefined {
  if (typeof v === "number" && Number.isFinite(v)) return Math.trunc(v);
  if (typeof v === "string" && /^\s*-?\d+\s*$/.test(v)) return Number.parseInt(v, 10);
  return undefined;
}

/** A non-map payload is wrapped as `{value: …}` (reference bus.publish and ingest). */
export function normalizePayload(p: unknown): Record<string, unknown> {
  return isPlainObject(p) ? p : { value: p };
}

/** A PublishInput with every key present, ready to be filled by fillInput. */
export function blankInput(): PublishInput {
  return {
    store: "messages",
    topic: undefined,
    id: undefined,
    plugin_id: null,
    source: "",
    kind: "",
    type: "",
    priority: 0,
    timestamp: undefined,
    payload: null,
  };
}

/**
 * Fills `into` (every key is written, so one object shape serves the bus's hot path, and the ingest loop can reuse
 * a pool of inputs instead of allocating one per record: the bus copies what it keeps). Store and topic are checked
 * by the bus, which refuses with a code.
 */
export function fillInput(
  into: PublishInput,
  store: unknown,
  topic: unknown,
  payload: Record<string, unknown>,
  explicit?: Record<string, unknown>,
): PublishInput {
  const e = explicit ?? payload;
  let id = explicit ? str(e.id) : undefined;
  if (!id) {
    for (const k of ID_KEYS) {
      const v = payload[k];
      if (typeof v === "string" && v) {
        id = v;
        break;
      }
    }
  }
  into.store = store as StoreName;
  into.topic = topic as string;
  into.id = id;
  into.plugin_id = str(e.plugin_id) ?? str(payload.plugin_id) ?? null;
  into.source = str(e.source) ?? str(payload.source) ?? "";
  into.kind = str(e.kind) ?? str(payload.kind) ?? "";
  into.type = str(e.type) ?? str(payload.type) ?? str(payload.message_type) ?? "";
  into.priority = int(e.priority) ?? int(payload.priority) ?? 0;
  into.timestamp = num(e.timestamp) ?? num(payload.timestamp) ?? num(payload.time);
  into.payload = payload;
  return into;
}

export function toPublishInput(
  store: unknown,
  topic: unknown,
  payload: Record<string, unknown>,
  explicit?: Record<string, unknown>,
): PublishInput {
  return fillInput(blankInput(), store, topic, payload, explicit);
}

/** One delta item `{store|bus, topic, payload, …index}` into `into`; returns false when it is not a record. */
export function fillFromItem(into: PublishInput, it: unknown): boolean {
  if (!isPlainObject(it)) return false;
  const store = it.store ?? it.bus;
  if (typeof store !== "string") return false;
  const topic = it.topic;
  if (typeof topic !== "string" || topic === "") return false;
  fillInput(into, store, topic, normalizePayload(it.payload), it);
  return true;
}
