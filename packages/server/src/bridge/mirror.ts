import type { Bus } from "../bus/types.js";
import type { PluginHost } from "../host/host.js";
import type { RunEngine } from "../runs/engine.js";
import type { RunRecord } from "../store/types.js";

/**
 * Mirrors the server's own records into the bus so every reader (WS, message plane, plugins) sees one history:
 * run changes → `runs`, exports → `export`, plugin state transitions → `lifecycle`. Returns the undo function.
 */
export function mirrorIntoBus(bus: Bus, host: PluginHost, engine: RunEngine): () => void {
  // A run's status/progress events that arrive together (a run reported at its end has all of them stored at once)
  // become one `runs` record: each record carries the run's current state, so the others would repeat it.
  const changed = new Map<string, { run: RunRecord; added: boolean }>();
  // Exports wait with them, so a run's `add` still comes before its exports.
  let exports: { run: RunRecord; data: object }[] = [];
  const publishChanged = () => {
    for (const { run, added } of changed.values()) {
      bus.publish({
        store: "runs",
        topic: run.plugin_id,
        plugin_id: run.plugin_id,
        source: "runs",
        kind: "runs",
        type: added ? "add" : "change",
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
    }
    changed.clear();
    const ready = exports;
    exports = [];
    for (const { run, data } of ready) {
      bus.publish({
        store: "export",
        topic: run.plugin_id,
        plugin_id: run.plugin_id,
        source: "export",
        kind: "export",
        type: "add",
        payload: { run_id: run.run_id, ...data },
      });
    }
  };
  const later = () => {
    if (changed.size === 0 && exports.length === 0) queueMicrotask(publishChanged);
  };
  const offRuns = engine.subscribeAll((ev, run) => {
    if (ev.type === "status" || ev.type === "progress") {
      const seen = changed.get(run.run_id);
      if (seen) seen.added ||= ev.seq === 1;
      else {
        later();
        changed.set(run.run_id, { run, added: ev.seq === 1 });
      }
    } else if (ev.type === "export") {
      later();
      exports.push({ run, data: ev.data as object });
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
