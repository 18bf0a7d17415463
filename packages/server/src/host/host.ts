import { EventEmitter } from "node:events";
import {
  type AbortSignalLike,
  type CallParams,
  type EntryInfo,
  type ExportParams,
  type InvokeParams,
  type LogParams,
  Methods,
  type OutputParams,
  type ProgressParams,
  RpcError,
  type RpcPeer,
} from "@plugd/protocol";
import { discoverPlugins } from "../manifest/index.js";
import type { DiscoveredPlugin, ManifestErrorInfo, PluginManifest } from "../manifest/types.js";
import type { HostInfo } from "../supervisor/instance.js";
import { Reaper } from "../supervisor/reaper.js";
import { type PluginState, type PluginStatus, PluginSupervisor } from "../supervisor/supervisor.js";
import { installExitHandlers } from "./exit-handlers.js";
import { InputValidator } from "./input-validator.js";

export type HostPluginState = PluginState | "load_failed";

export interface PluginView extends Omit<PluginStatus, "state"> {
  state: HostPluginState;
  name: string;
  version: string;
  description: string;
  dir: string;
  manifest?: PluginManifest;
  loadError?: ManifestErrorInfo;
}

export interface LogRecord {
  plugin: string;
  pid: number;
  level: LogParams["level"];
  msg: string;
  time: number;
  runId?: string;
  fields?: Record<string, unknown>;
  source: "stderr" | "protocol" | "sdk";
}

export interface StateChange {
  plugin: string;
  state: HostPluginState;
  previous: HostPluginState;
  reason?: string;
}

/** A message or custom event a plugin pushed through reverse RPC; the server stores them (bus). */
export interface PluginPush {
  plugin: string;
  kind: "message" | "event" | "status";
  payload: unknown;
  time: number;
}

export interface InvokeCallbacks {
  onProgress?: (p: ProgressParams) => void;
  onOutput?: (o: OutputParams) => void;
  onExport?: (e: ExportParams) => void;
  onLog?: (l: LogRecord) => void;
}

export interface HostInvokeOptions extends InvokeCallbacks {
  signal?: AbortSignalLike;
  /** Asks the plugin to stop ($/cancelRequest) but keeps waiting for its answer. */
  cancelSignal?: AbortSignalLike;
  /** Called when the call leaves the plugin's queue and is sent. */
  onStart?: () => void;
  /** Beats the entry's own timeout and the manifest's rpc timeout. */
  timeoutMs?: number;
  runId?: string;
  /** Plugin ids of the calls this one is nested in (plugin-to-plugin calls). */
  callChain?: string[];
  meta?: Record<string, unknown>;
}

export interface HostOptions {
  pluginsDir?: string;
  host?: Partial<HostInfo>;
  /** Install process exit handlers that kill every plugin process group (default true). */
  exitHandlers?: boolean;
  /** Overrides the config handed to a plugin in the handshake (profiles, stored config). Default: manifest config. */
  configFor?: (manifest: PluginManifest) => Record<string, unknown>;
}

/** A plugin-to-plugin call as the host hands it to the server (which records it as a run). */
export interface NestedCall {
  caller: string;
  plugin: string;
  entry: string;
  input: unknown;
  timeoutMs?: number;
  parentRunId?: string;
  /** Plugin ids of the calls this one is nested in, outermost first, ending with the caller. */
  chain: string[];
}

/**
 * What the server provides behind the reverse RPC methods (bus, runs). Without them the host answers calls with a
 * plain invoke and pushes with a `push` event.
 */
export interface HostServices {
  call?(req: NestedCall): Promise<unknown>;
  pushMessage?(plugin: string, payload: unknown): unknown;
  emitEvent?(plugin: string, payload: unknown): unknown;
  queryBus?(plugin: string, query: unknown): unknown;
  updateStatus?(plugin: string, payload: unknown): unknown;
  updateConfig?(plugin: string, payload: unknown): unknown;
}

interface HostEvents {
  state: [StateChange];
  log: [LogRecord];
  push: [PluginPush];
}

interface ActiveRun extends InvokeCallbacks {
  plugin: string;
  /** Plugin ids of the calls this run is nested in (its chain is these plus `plugin`). */
  callers: readonly string[];
}

const NO_OPTIONS: HostInvokeOptions = Object.freeze({});
const NO_CALLERS: readonly string[] = Object.freeze([]);

/**
 * The plugin host: the library the server uses. Loads a plugins folder, keeps each plugin running through its
 * supervisor, validates input against the entry's schema before a plugin sees it, and routes a run's progress,
 * output and exports to whoever invoked it.
 */
export class PluginHost extends EventEmitter<HostEvents> {
  private readonly supervisors = new Map<string, PluginSupervisor>();
  private readonly failed = new Map<string, Extract<DiscoveredPlugin, { ok: false }>>();
  private readonly runs = new Map<string, ActiveRun>();
  private callSeq = 0;
  private services: HostServices = {};
  private readonly validator = new InputValidator();
  private readonly reaper = new Reaper();
  private readonly hostInfo: HostInfo;
  private pluginsDir: string | undefined;
  private removeExitHandlers: (() => void) | undefined;

  constructor(private readonly options: HostOptions = {}) {
    super();
    this.hostInfo = { name: "plugd", version: "0.1.0", ...options.host };
    this.pluginsDir = options.pluginsDir;
    if (options.exitHandlers !== false) this.removeExitHandlers = installExitHandlers(() => this.killAll());
  }

  /** Installs the server's implementations of the reverse RPC methods. */
  setServices(services: HostServices): void {
    this.services = services;
  }

  /** Discovers the plugins folder. Broken manifests become `load_failed` plugins; the rest are loaded (not started). */
  load(pluginsDir = this.pluginsDir): PluginView[] {
    if (!pluginsDir) throw new Error("no plugins directory given");
    this.pluginsDir = pluginsDir;
    for (const found of discoverPlugins(pluginsDir)) {
      if (found.ok) {
        if (!this.supervisors.has(found.manifest.id)) this.add(found.manifest);
        this.failed.delete(found.manifest.id);
      } else if (!this.supervisors.has(found.id)) {
        this.failed.set(found.id, found);
      }
    }
    return this.list();
  }

  /** Adds one plugin from a manifest already parsed (tests, packages). */
  add(manifest: PluginManifest): void {
    if (this.supervisors.has(manifest.id))
      throw RpcError.of("INVALID_INPUT", `plugin '${manifest.id}' is already loaded`);
    const sup = new PluginSupervisor(
      manifest,
      this.hostInfo,
      {
        onState: (status, previous) => {
          if (status.state !== "ready" && status.state !== "degraded") this.validator.forget(manifest.id);
          this.emit("state", {
            plugin: manifest.id,
            state: status.state,
            previous,
            ...(status.reason ? { reason: status.reason } : {}),
          });
        },
        onLog: (r) => this.emit("log", { ...r, time: Date.now() }),
        wirePeer: (peer, m) => this.wirePeer(peer, m),
        config: (m) => this.options.configFor?.(m) ?? m.config,
      },
      this.reaper,
    );
    this.supervisors.set(manifest.id, sup);
  }

  list(): PluginView[] {
    const views: PluginView[] = [...this.supervisors.values()].map((s) => this.view(s));
    for (const f of this.failed.values()) {
      views.push({
        id: f.id,
        state: "load_failed",
        reason: f.error.message,
        name: f.id,
        version: "",
        description: "",
        dir: f.dir,
        loadError: f.error,
        restarts: 0,
        entries: [],
        handshakeEvents: [],
        stderrTail: [],
        inFlight: 0,
        queued: 0,
      });
    }
    return views.sort((a, b) => a.id.localeCompare(b.id));
  }

  get(id: string): PluginView | undefined {
    const s = this.supervisors.get(id);
    if (s) return this.view(s);
    return this.list().find((v) => v.id === id);
  }

  has(id: string): boolean {
    return this.supervisors.has(id);
  }

  async start(id: string): Promise<PluginView> {
    const s = this.supervisor(id);
    await s.start();
    return this.view(s);
  }

  /** Starts every enabled plugin whose manifest asks for it; failures are reported per plugin, never thrown. */
  async startAuto(): Promise<Array<{ id: string; ok: boolean; error?: string }>> {
    const auto = [...this.supervisors.values()].filter((s) => s.manifest.enabled && s.manifest.autoStart);
    return Promise.all(
      auto.map((s) =>
        s.start().then(
          () => ({ id: s.id, ok: true }),
          (e: Error) => ({ id: s.id, ok: false, error: e.message }),
        ),
      ),
    );
  }

  async stop(id: string): Promise<PluginView> {
    const s = this.supervisor(id);
    await s.stop();
    return this.view(s);
  }

  /** Re-reads the plugin's manifest from disk and restarts it if it was running. */
  async reload(id: string): Promise<PluginView> {
    const old = this.supervisors.get(id);
    const dir = old?.manifest.dir ?? this.failed.get(id)?.dir;
    if (!dir) throw this.notFound(id);
    const wasRunning = old ? ["ready", "degraded", "starting"].includes(old.currentState) : true;
    if (old) await old.stop();
    const found = this.rediscover(id, dir);
    if (!found.ok) {
      this.supervisors.delete(id);
      this.failed.set(id, found);
      return this.get(id)!;
    }
    this.supervisors.delete(id);
    this.failed.delete(id);
    this.add(found.manifest);
    if (wasRunning) await this.start(id);
    return this.get(id)!;
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.supervisors.values()].map((s) => s.stop().catch(() => undefined)));
  }

  /** Stops everything and removes the exit handlers; the host can be dropped afterwards. */
  async close(): Promise<void> {
    await this.stopAll();
    this.removeExitHandlers?.();
  }

  entries(id: string): EntryInfo[] {
    return this.supervisor(id).status().entries;
  }

  /**
   * Runs an entry and resolves with its output. Rejects with an RpcError: PLUGIN_NOT_FOUND, PLUGIN_UNAVAILABLE,
   * ENTRY_NOT_FOUND, INVALID_INPUT (input checked against the entry's schema first), BUSY, TIMEOUT, CANCELLED,
   * PLUGIN_CRASHED, CIRCULAR_CALL, or the plugin's own error.
   */
  invoke(pluginId: string, entryId: string, input: unknown, opts: HostInvokeOptions = NO_OPTIONS): Promise<unknown> {
    let sup: PluginSupervisor;
    let entry: EntryInfo;
    const chain = opts.callChain;
    try {
      sup = this.supervisor(pluginId);
      if (chain?.includes(pluginId)) {
        throw RpcError.of(
          "CIRCULAR_CALL",
          `calling '${pluginId}' again would close a cycle: ${[...chain, pluginId].join(" → ")}`,
          {
            chain: [...chain, pluginId],
          },
        );
      }
      entry = this.checkEntry(sup, entryId, input);
    } catch (e) {
      return Promise.reject(e);
    }
    const runId = opts.runId ?? `call-${++this.callSeq}`;
    const timeoutMs = opts.timeoutMs ?? entry.timeoutMs ?? sup.manifest.limits.rpcTimeoutMs;
    const nested = chain !== undefined && chain.length > 0;
    // The run is registered only if something is routed to it: its callbacks, or its place in a chain of nested
    // calls. A plain call needs neither: a nested call whose parent is not registered gets the chain [caller], which
    // is what the parent's entry would have said. (A Map entry per call was ~10% of the host's CPU per invoke.)
    let onSettled: (() => void) | undefined;
    if (nested || opts.onProgress || opts.onOutput || opts.onExport || opts.onLog) {
      this.runs.set(runId, {
        plugin: pluginId,
        callers: nested ? chain : NO_CALLERS,
        onProgress: opts.onProgress,
        onOutput: opts.onOutput,
        onExport: opts.onExport,
        onLog: opts.onLog,
      });
      onSettled = () => this.runs.delete(runId);
    }
    const params: InvokeParams = { runId, entry: entryId, input };
    if (nested) params.callChain = chain;
    if (opts.meta) params.meta = opts.meta;
    return sup.invoke(params, {
      // A nested call must not wait for a slot: the slots may be held by its own callers (deadlock).
      noQueue: nested,
      timeoutMs,
      signal: opts.signal,
      cancelSignal: opts.cancelSignal,
      onStart: opts.onStart,
      onSettled,
    });
  }

  /**
   * Everything invoke checks before a call is queued: the plugin exists and runs, the entry exists, the input fits
   * its schema. Lets the server answer 4xx before it records a run.
   */
  check(pluginId: string, entryId: string, input: unknown): EntryInfo {
    return this.checkEntry(this.supervisor(pluginId), entryId, input);
  }

  private checkEntry(sup: PluginSupervisor, entryId: string, input: unknown): EntryInfo {
    const pluginId = sup.id;
    const entry = sup.entry(entryId);
    if (!entry) {
      if (sup.currentState !== "ready" && sup.currentState !== "degraded") {
        const reason = sup.status().reason;
        throw RpcError.of(
          "PLUGIN_UNAVAILABLE",
          `plugin '${pluginId}' is ${sup.currentState}${reason ? `: ${reason}` : ""}`,
          {
            state: sup.currentState,
            hint: `Start it first: POST /plugin/${pluginId}/start`,
          },
        );
      }
      throw RpcError.of("ENTRY_NOT_FOUND", `plugin '${pluginId}' has no entry '${entryId}'`, {
        available: sup.status().entries.map((e) => e.id),
      });
    }
    this.validator.check(pluginId, entry, input);
    return entry;
  }

  /** Kills a plugin's process so its restart policy starts a fresh one (it ignored a cancellation). */
  recycle(pluginId: string): boolean {
    return this.supervisors.get(pluginId)?.recycle() ?? false;
  }

  /** The peer of a running plugin, for notifications such as `plugin/onEvent` and `plugin/configChanged`. */
  notify(pluginId: string, method: string, params: unknown): boolean {
    const peer = this.supervisors.get(pluginId)?.peer;
    if (!peer || peer.closed) return false;
    peer.notify(method, params);
    return true;
  }

  /** Kills every plugin process group synchronously; the last resort on exit paths. */
  killAll(): void {
    for (const s of this.supervisors.values()) s.killNow();
    this.reaper.killAll("SIGKILL");
  }

  private supervisor(id: string): PluginSupervisor {
    const s = this.supervisors.get(id);
    if (s) return s;
    const f = this.failed.get(id);
    if (f)
      throw RpcError.of("PLUGIN_UNAVAILABLE", `plugin '${id}' failed to load: ${f.error.message}`, {
        loadError: f.error,
      });
    throw this.notFound(id);
  }

  private notFound(id: string): RpcError {
    return RpcError.of("PLUGIN_NOT_FOUND", `no plugin '${id}' is loaded`, {
      available: [...this.supervisors.keys()],
      hint: "List plugins with GET /plugins; check the plugins directory.",
    });
  }

  private rediscover(id: string, dir: string): DiscoveredPlugin {
    const all = discoverPlugins(this.pluginsDir ?? dir);
    return (
      all.find((d: DiscoveredPlugin) => (d.ok ? d.manifest.id === id : d.id === id)) ??
      all.find((d: DiscoveredPlugin) => (d.ok ? d.manifest.dir === dir : d.dir === dir)) ?? {
        ok: false,
        id,
        dir,
        file: `${dir}/plugin.toml`,
        error: {
          code: "MANIFEST_NOT_FOUND",
          message: `plugin.toml of '${id}' is gone from ${dir}`,
          file: `${dir}/plugin.toml`,
        },
      }
    );
  }

  private view(s: PluginSupervisor): PluginView {
    const m = s.manifest;
    return { ...s.status(), name: m.name, version: m.version, description: m.description, dir: m.dir, manifest: m };
  }

  /** Notifications a plugin sends while it runs, and the reverse calls its manifest allows. */
  private wirePeer(peer: RpcPeer, manifest: PluginManifest): void {
    const run = (p: { runId?: unknown }) => (typeof p?.runId === "string" ? this.runs.get(p.runId) : undefined);
    peer.onNotification(Methods.progress, (p: ProgressParams) => run(p)?.onProgress?.(p));
    peer.onNotification(Methods.output, (p: OutputParams) => run(p)?.onOutput?.(p));
    peer.onNotification(Methods.export, (p: ExportParams) => run(p)?.onExport?.(p));
    peer.onNotification(Methods.log, (p: LogParams) => {
      if (!p || typeof p.msg !== "string") return;
      const rec: LogRecord = {
        plugin: manifest.id,
        pid: this.supervisors.get(manifest.id)?.pid ?? -1,
        level: p.level ?? "info",
        msg: p.msg,
        time: Date.now(),
        source: "sdk",
        ...(p.runId ? { runId: p.runId } : {}),
        ...(p.fields ? { fields: p.fields } : {}),
      };
      this.emit("log", rec);
      run(p)?.onLog?.(rec);
    });

    const guard = (method: string, fn: (params: any) => unknown) =>
      peer.onRequest(method, (params) => {
        if (!manifest.permissions.reverseRpc) {
          throw RpcError.of("PERMISSION_DENIED", `plugin '${manifest.id}' may not call ${method}: reverse RPC is off`, {
            hint: "Set [plugin.permissions] reverse_rpc = true in its plugin.toml.",
          });
        }
        return fn(params);
      });

    const id = manifest.id;
    guard(Methods.call, (p: CallParams) => this.callFromPlugin(manifest, p));
    guard(Methods.getConfig, () => this.options.configFor?.(manifest) ?? manifest.config);
    guard(Methods.pushMessage, (p) => this.services.pushMessage?.(id, p) ?? this.push(id, "message", p));
    guard(Methods.emitEvent, (p) => this.services.emitEvent?.(id, p) ?? this.push(id, "event", p));
    guard(Methods.updateStatus, (p) => this.services.updateStatus?.(id, p) ?? this.push(id, "status", p));
    guard(Methods.updateConfig, (p) => {
      if (!this.services.updateConfig) throw RpcError.of("PLUGIN_UNAVAILABLE", "this host cannot change config");
      return this.services.updateConfig(id, p);
    });
    guard(Methods.queryBus, (q) => {
      if (!this.services.queryBus) throw RpcError.of("PLUGIN_UNAVAILABLE", "this host has no bus to query");
      return this.services.queryBus(id, q);
    });
  }

  private push(plugin: string, kind: PluginPush["kind"], payload: unknown): { submitted: true } {
    this.emit("push", { plugin, kind, payload, time: Date.now() });
    return { submitted: true };
  }

  private callFromPlugin(caller: PluginManifest, p: CallParams): Promise<unknown> {
    if (!p || typeof p.plugin !== "string" || typeof p.entry !== "string") {
      throw RpcError.of("INVALID_INPUT", "host/call needs {plugin, entry, input}");
    }
    const allowed = caller.permissions.call;
    if (!allowed.includes("*") && !allowed.includes(p.plugin)) {
      throw RpcError.of("PERMISSION_DENIED", `plugin '${caller.id}' may not call plugin '${p.plugin}'`, {
        hint: `Add "${p.plugin}" to [plugin.permissions] call in ${caller.id}'s plugin.toml.`,
      });
    }
    const parent = p.parentRunId ? this.runs.get(p.parentRunId) : undefined;
    const chain = parent ? [...parent.callers, parent.plugin] : [caller.id];
    if (chain.includes(p.plugin)) {
      // Refused before anything is queued: waiting would deadlock (A → B → A).
      throw RpcError.of(
        "CIRCULAR_CALL",
        `calling '${p.plugin}' would close a cycle: ${[...chain, p.plugin].join(" → ")}`,
        {
          chain: [...chain, p.plugin],
        },
      );
    }
    if (this.services.call) {
      return this.services.call({
        caller: caller.id,
        plugin: p.plugin,
        entry: p.entry,
        input: p.input ?? {},
        chain,
        ...(p.timeoutMs ? { timeoutMs: p.timeoutMs } : {}),
        ...(p.parentRunId ? { parentRunId: p.parentRunId } : {}),
      });
    }
    return this.invoke(p.plugin, p.entry, p.input ?? {}, {
      callChain: chain,
      ...(p.timeoutMs ? { timeoutMs: p.timeoutMs } : {}),
      ...(p.parentRunId ? { meta: { parentRunId: p.parentRunId } } : {}),
    });
  }
}
