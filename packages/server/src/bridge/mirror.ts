import type { Bus } from "../bus/types.js";
import type { PluginHost } from "../host/host.js";
import type { RunEngine } from "../runs/engine.js";

/**
 * Mirrors the server's own records into the bus so every reader (WS, message plane, plugins) sees one history:
 * run changes → `runs`, exports → `export`, plugin state transitions → `lifecycle`. Returns the undo function.
 */
export function mirrorIntoBus(bus: Bus, host: PluginHost, engine: RunEngine): () => void {
  const offRuns = engine.subscribeAll((ev, run) => {
    if (ev.type === "status" || ev.type === "progress") {
      bus.publish({
        store: "runs",
        topic: run.plugin_id,
        plugin_id: run.plugin_id,
        source: "runs",
        kind: "runs",
        type: ev.seq === 1 ? "add" : "change",
        payload: {
          run_id: run.run_id,
          entry_id: run.entry_id,
          status: run.status,
          progress: run.progress,
          stage: run.stage,
          message: run.message,
          rev: run.rev,
          ...(run.error ? { error: run.error } : {}),
          ...(run.parent_run_id ? { parent_run_id: run.parent_run_id } : {}),
        },
      });
    } else if (ev.type === "export") {
      bus.publish({
        store: "export",
        topic: run.plugin_id,
        plugin_id: run.plugin_id,
        source: "export",
        kind: "export",
        type: "add",
        payload: { run_id: run.run_id, ...(ev.data as object) },
      });
    }
  });
  const onState = (c: { plugin: string; state: string; previous: string; reason?: string }) =>
    bus.publish({
      store: "lifecycle",
      topic: c.plugin,
      plugin_id: c.plugin,
      source: "plugd",
      kind: "lifecycle",
      type: c.state,
      payload: { previous: c.previous, ...(c.reason ? { reason: c.reason } : {}) },
    });
  host.on("state", onState);
  return () => {
    offRuns();
    host.off("state", onState);
  };
}
