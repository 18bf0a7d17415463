import type { Bus, BusRecord, PublishResult } from "../bus/types.js";
import type { MessageRecord } from "../store/types.js";

const TYPES = new Set(["text", "url", "binary", "binary_url"]);

export type SubmitAnswer = { submitted: true; message_id: string } | { submitted: false; reason: string; code: string };

/**
 * A message a plugin pushes (reverse RPC `host/pushMessage`): the seed's fields (source, type text/url/binary/
 * binary_url, description, priority, content, binary data or url, metadata) or the v2 form (parts, visibility,
 * ai_behavior). Always answered: `{submitted: true, message_id}` or `{submitted: false, reason}` — never dropped.
 */
export function submitMessage(bus: Bus, pluginId: string, raw: unknown): SubmitAnswer {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    return { submitted: false, code: "INVALID_MESSAGE", reason: "a message must be an object" };
  }
  const m = raw as Record<string, unknown>;
  const type = String(m.message_type ?? m.type ?? (m.parts !== undefined ? "text" : "text"));
  if (!TYPES.has(type)) {
    return {
      submitted: false,
      code: "INVALID_MESSAGE",
      reason: `type must be one of text, url, binary, binary_url (got "${type}")`,
    };
  }
  if (m.priority !== undefined && (typeof m.priority !== "number" || !Number.isFinite(m.priority))) {
    return { submitted: false, code: "INVALID_MESSAGE", reason: "priority must be a number" };
  }
  if (type === "binary" && typeof m.binary_data !== "string" && typeof m.content !== "string") {
    return { submitted: false, code: "INVALID_MESSAGE", reason: "a binary message needs binary_data (base64)" };
  }
  if ((type === "url" || type === "binary_url") && typeof (m.binary_url ?? m.url ?? m.content) !== "string") {
    return { submitted: false, code: "INVALID_MESSAGE", reason: `a ${type} message needs a url` };
  }
  const payload = {
    description: typeof m.description === "string" ? m.description : "",
    content: m.content ?? null,
    binary_data: typeof m.binary_data === "string" ? m.binary_data : null,
    binary_url: typeof m.binary_url === "string" ? m.binary_url : typeof m.url === "string" ? m.url : null,
    metadata: (typeof m.metadata === "object" && m.metadata) || {},
    ...(m.parts !== undefined ? { parts: m.parts } : {}),
    ...(m.visibility !== undefined ? { visibility: m.visibility } : {}),
    ...(m.ai_behavior !== undefined ? { ai_behavior: m.ai_behavior } : {}),
  };
  const result: PublishResult = bus.publish({
    store: "messages",
    topic: pluginId,
    plugin_id: pluginId,
    source: typeof m.source === "string" && m.source ? m.source : pluginId,
    kind: "message",
    type,
    priority: typeof m.priority === "number" ? m.priority : 0,
    payload,
    ...(typeof m.message_id === "string" ? { id: m.message_id } : {}),
  });
  return result.submitted ? { submitted: true, message_id: result.record.id } : result;
}

/** A `messages` bus record in the shape of GET /plugin/messages (reference §1.6). */
export function toMessageView(r: BusRecord): MessageRecord & Record<string, unknown> {
  const p = (r.payload ?? {}) as Record<string, unknown>;
  return {
    message_id: r.id,
    plugin_id: r.plugin_id ?? "",
    source: r.source,
    description: String(p.description ?? ""),
    priority: r.priority,
    message_type: r.type,
    content: p.content ?? null,
    binary_data: (p.binary_data as string | null) ?? null,
    binary_url: (p.binary_url as string | null) ?? null,
    metadata: (p.metadata as Record<string, unknown>) ?? {},
    timestamp: r.timestamp,
    ...(p.parts !== undefined ? { parts: p.parts } : {}),
    ...(p.visibility !== undefined ? { visibility: p.visibility } : {}),
    ...(p.ai_behavior !== undefined ? { ai_behavior: p.ai_behavior } : {}),
  };
}
