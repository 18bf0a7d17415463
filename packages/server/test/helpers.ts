import { execFileSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type HostPluginState, PluginHost, type StateChange } from "../src/host/host.js";
import { loadManifest } from "../src/manifest/index.js";
import type { PluginManifest } from "../src/manifest/types.js";
import type { ExportItem, RunRecord } from "../src/store/types.js";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
export const FIXTURES = path.join(ROOT, "test/fixtures/plugins");
export const EXAMPLES = path.join(ROOT, "examples/plugins");

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? Partial<T[K]> : T[K] };

/** A fixture's manifest with test-sized limits (short timeouts, fast restarts) patched in. */
export function fixture(name: string, patch: DeepPartial<PluginManifest> = {}, base = FIXTURES): PluginManifest {
  const m = loadManifest(path.join(base, name));
  return {
    ...m,
    ...patch,
    limits: { ...m.limits, handshakeTimeoutMs: 3000, shutdownTimeoutMs: 500, healthIntervalMs: 0, ...patch.limits },
    restart: { ...m.restart, backoffBaseMs: 20, backoffCapMs: 100, ...patch.restart },
    permissions: { ...m.permissions, ...patch.permissions },
  } as PluginManifest;
}

export function example(name: string, patch: DeepPartial<PluginManifest> = {}): PluginManifest {
  return fixture(name, patch, EXAMPLES);
}

/** A host without process-wide exit handlers (vitest owns the process); closed after each test. */
export function newHost(...manifests: PluginManifest[]): PluginHost {
  const host = new PluginHost({ exitHandlers: false });
  for (const m of manifests) host.add(m);
  return host;
}

export function waitForState(
  host: PluginHost,
  id: string,
  state: HostPluginState,
  timeoutMs = 10_000,
): Promise<StateChange> {
  return new Promise((resolve, reject) => {
    if (host.get(id)?.state === state) {
      resolve({ plugin: id, state, previous: state });
      return;
    }
    const timer = setTimeout(() => {
      host.off("state", on);
      reject(new Error(`${id} did not reach '${state}' within ${timeoutMs} ms (now ${host.get(id)?.state})`));
    }, timeoutMs);
    const on = (c: StateChange) => {
      if (c.plugin === id && c.state === state) {
        clearTimeout(timer);
        host.off("state", on);
        resolve(c);
      }
    };
    host.on("state", on);
  });
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie still answers kill(0); it is dead for our purposes.
  try {
    const stat = execFileSync("ps", ["-o", "stat=", "-p", String(pid)])
      .toString()
      .trim();
    return stat !== "" && !stat.startsWith("Z");
  } catch {
    return false;
  }
}

export async function eventually(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Retries an async assertion until it passes; after `timeoutMs` the last failure is thrown. */
export async function until(assertion: () => Promise<unknown> | unknown, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      await assertion();
      return;
    } catch (err) {
      if (Date.now() > end) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A queued run record with every field set, for store and journal tests; `patch` overrides any of them. */
export function runRecord(id: string, patch: Partial<RunRecord> = {}): RunRecord {
  return {
    run_id: id,
    plugin_id: "p1",
    entry_id: "echo",
    status: "queued",
    created_at: 1_700_000_000.125,
    updated_at: 1_700_000_000.125,
    started_at: null,
    finished_at: null,
    task_id: null,
    trace_id: null,
    idempotency_key: null,
    parent_run_id: null,
    args: {},
    timeout_ms: null,
    progress: null,
    stage: null,
    message: null,
    step: null,
    step_total: null,
    eta_seconds: null,
    metrics: {},
    cancel_requested: false,
    cancel_reason: null,
    cancel_requested_at: null,
    error: null,
    result_refs: [],
    result: null,
    rev: 1,
    ...patch,
  };
}

/** A text export of a run with every field set, for store and journal tests; `patch` overrides any of them. */
export function exportRecord(id: string, runId: string, patch: Partial<ExportItem> = {}): Omit<ExportItem, "seq"> {
  return {
    export_item_id: id,
    run_id: runId,
    type: "text",
    category: "user",
    created_at: 1_700_000_001.5,
    label: null,
    description: null,
    text: `text of ${id}`,
    json: null,
    url: null,
    binary_url: null,
    binary: null,
    mime: null,
    metadata: {},
    ...patch,
  };
}
