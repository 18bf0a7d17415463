import { Methods } from "@plugd/protocol";
import type { Bus, BusRecord } from "../bus/types.js";
import type { PluginHost, StateChange } from "../host/host.js";
import { makeEventFilter } from "./filters.js";

interface Subscriber {
  accepts: (type: string) => boolean;
}

/**
 * Delivers records of the `events` store to plugins as `plugin/onEvent` notifications: to every running plugin that
 * declared the event type in its handshake (or `*`) and whose manifest [plugin.events] include/exclude lets it
 * through — never back to the plugin that emitted it.
 */
export class PluginEventDelivery {
  private readonly subscribers = new Map<string, Subscriber>();
  private readonly unsubscribe: () => void;
  private readonly onState: (c: StateChange) => void;
  delivered = 0;

  constructor(
    private readonly host: PluginHost,
    bus: Bus,
  ) {
    this.onState = (c) => {
      if (c.state === "ready") this.refresh(c.plugin);
      else if (c.state !== "degraded") this.subscribers.delete(c.plugin);
    };
    host.on("state", this.onState);
    for (const p of host.list()) if (p.state === "ready" || p.state === "degraded") this.refresh(p.id);
    this.unsubscribe = bus.subscribe({ store: "events" }, (r) => this.deliver(r));
  }

  close(): void {
    this.unsubscribe();
    this.host.off("state", this.onState);
  }

  private refresh(pluginId: string): void {
    const view = this.host.get(pluginId);
    const declared = view?.handshakeEvents ?? [];
    if (!view?.manifest || declared.length === 0) {
      this.subscribers.delete(pluginId);
      return;
    }
    const byManifest = makeEventFilter(view.manifest.events.include, view.manifest.events.exclude);
    const byHandshake = declared.includes("*") ? () => true : (t: string) => declared.includes(t);
    this.subscribers.set(pluginId, { accepts: (t) => byHandshake(t) && byManifest(t) });
  }

  private deliver(r: BusRecord): void {
    for (const [pluginId, sub] of this.subscribers) {
      if (pluginId === r.plugin_id || !sub.accepts(r.type)) continue;
      const sent = this.host.notify(pluginId, Methods.onEvent, {
        eventType: r.type,
        payload: r.payload,
        metadata: { source: r.source, plugin_id: r.plugin_id, topic: r.topic, id: r.id, seq: r.seq },
        timestamp: Math.round(r.timestamp * 1000),
      });
      if (sent) this.delivered++;
    }
  }
}
