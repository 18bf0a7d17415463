import {
  type ByteReader,
  type ByteWriter,
  type ConfigChangedParams,
  type EntryInfo,
  type EventParams,
  type HandlerContext,
  type HandshakeParams,
  type HandshakeResult,
  type InvokeParams,
  type InvokeResult,
  Methods,
  negotiateVersion,
  PROTOCOL_VERSION,
  type ProtocolWarning,
  RpcError,
  RpcPeer,
} from "@plugd/protocol";
import { HookContext, type PluginState, RunContextImpl } from "./context.js";
import { afterCancel, PluginError } from "./errors.js";
import type { Config, PluginDefinition, RunContext } from "./types.js";
import { SDK_NAME, SDK_VERSION } from "./version.js";

export interface ServeOptions {
  /** Bytes from the host (process.stdin for a plugin process). */
  input: ByteReader;
  /** Bytes to the host (process.stdout). */
  output: ByteWriter;
  /**
   * Called once the answer to `plugin/shutdown` has been handed to `output` (the stdio runner then exits). Without it
   * nothing happens after the answer, which suits tests.
   */
  onShutdown?: () => void;
  /** Protocol trouble (garbage on input, bad messages); stderr by default. */
  onWarning?: (w: ProtocolWarning) => void;
}

const CAPABILITIES = ["cancel", "progress", "output", "export", "log", "reverse-rpc"];

/**
 * Serves a plugin over a pair of byte streams: answers the host's requests and returns the peer (tests close it or
 * send their own requests through the other end). `definePlugin` calls this on stdin/stdout.
 */
export function serve(def: PluginDefinition, opts: ServeOptions): RpcPeer {
  const peer = new RpcPeer(opts.input, opts.output, {
    onWarning: opts.onWarning ?? ((w) => process.stderr.write(`[plugd-sdk] protocol ${w.kind}: ${w.message}\n`)),
  });
  const state: PluginState = { id: def.id ?? "", config: {}, dataDir: undefined };
  const hooks = new HookContext(peer, state);
  const entries = describeEntries(def);
  const hookFailed = (what: string) => (e: unknown) =>
    hooks.log.error(`${what} failed: ${e instanceof Error ? e.message : String(e)}`);

  peer.onRequest(Methods.handshake, async (p: HandshakeParams): Promise<HandshakeResult> => {
    negotiateVersion(PROTOCOL_VERSION, typeof p?.protocolVersion === "string" ? p.protocolVersion : "");
    state.id = p.plugin?.id ?? state.id;
    state.config = p.plugin?.config ?? {};
    state.dataDir = p.plugin?.dataDir;
    if (def.onStartup) {
      try {
        await def.onStartup(hooks);
      } catch (e) {
        if (e instanceof RpcError) throw e;
        throw new PluginError("STARTUP_FAILED", `onStartup failed: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    return {
      protocolVersion: PROTOCOL_VERSION,
      name: def.name ?? (state.id || "plugin"),
      ...(def.version !== undefined ? { version: def.version } : {}),
      sdk: { name: SDK_NAME, version: SDK_VERSION },
      entries,
      events: Object.keys(def.events ?? {}),
      capabilities: def.capabilities ? [...CAPABILITIES, ...def.capabilities] : CAPABILITIES,
    };
  });

  peer.onRequest(Methods.invoke, (p: InvokeParams, rpc: HandlerContext) => {
    if (typeof p?.entry !== "string" || typeof p.runId !== "string") {
      throw RpcError.of("INVALID_INPUT", "plugin/invoke needs {runId, entry, input}");
    }
    const entry = Object.hasOwn(def.entries, p.entry) ? def.entries[p.entry] : undefined;
    const timer = entry || !def.timers || !Object.hasOwn(def.timers, p.entry) ? undefined : def.timers[p.entry];
    if (!entry && !timer) {
      throw RpcError.of("ENTRY_NOT_FOUND", `plugin '${state.id || def.name || "plugin"}' has no entry '${p.entry}'`, {
        entry: p.entry,
        available: entries.map((e) => e.id),
      });
    }
    const ctx: RunContext = new RunContextImpl(peer, state, p.runId, p.entry, () => rpc.signal);
    const out = entry ? entry.handler(p.input, ctx) : timer!.handler(ctx);
    // A synchronous handler is answered synchronously: no promise, no microtask hop on the hot path.
    if (!isThenable(out)) return { output: out === undefined ? null : out } satisfies InvokeResult;
    return Promise.resolve(out).then(
      (value): InvokeResult => ({ output: value === undefined ? null : value }),
      (err) => {
        throw rpc.signal.aborted ? afterCancel(err) : err;
      },
    );
  });

  peer.onRequest(Methods.health, () => ({ status: "ok" }));

  peer.onRequest(Methods.shutdown, async () => {
    // A failing hook must not keep the process alive: log it and shut down anyway.
    if (def.onShutdown) {
      try {
        await def.onShutdown(hooks);
      } catch (e) {
        hookFailed("onShutdown")(e);
      }
    }
    // The answer is queued by the peer in the microtasks after this resolves; an immediate runs after all of them,
    // so the flush below includes it.
    setImmediate(() => {
      peer.flush();
      opts.onShutdown?.();
    });
    return {};
  });

  peer.onNotification(Methods.onEvent, (ev: EventParams) => {
    const handlers = def.events;
    if (!handlers || typeof ev?.eventType !== "string") return;
    const h = Object.hasOwn(handlers, ev.eventType) ? handlers[ev.eventType] : handlers["*"];
    if (!h) return;
    try {
      const r = h(ev, hooks);
      if (isThenable(r)) Promise.resolve(r).catch(hookFailed(`handler of event '${ev.eventType}'`));
    } catch (e) {
      hookFailed(`handler of event '${ev.eventType}'`)(e);
    }
  });

  peer.onNotification(Methods.configChanged, (p: ConfigChangedParams) => {
    const config: Config = p?.config ?? {};
    state.config = config;
    if (!def.onConfigChanged) return;
    try {
      const r = def.onConfigChanged(config, hooks);
      if (isThenable(r)) Promise.resolve(r).catch(hookFailed("onConfigChanged"));
    } catch (e) {
      hookFailed("onConfigChanged")(e);
    }
  });

  return peer;
}

/** The handshake's entry list: entries first, then timers (kind "timer", fired by the host every intervalMs). */
export function describeEntries(def: PluginDefinition): EntryInfo[] {
  const out: EntryInfo[] = [];
  for (const [id, e] of Object.entries(def.entries)) {
    const info: EntryInfo = { id };
    if (e.name !== undefined) info.name = e.name;
    if (e.description !== undefined) info.description = e.description;
    if (e.input !== undefined) info.inputSchema = e.input as Record<string, unknown>;
    if (e.output !== undefined) info.outputSchema = e.output as Record<string, unknown>;
    if (e.timeoutMs !== undefined) info.timeoutMs = e.timeoutMs;
    if (e.streaming) info.streaming = true;
    if (e.metadata !== undefined) info.metadata = e.metadata;
    out.push(info);
  }
  for (const [id, t] of Object.entries(def.timers ?? {})) {
    if (Object.hasOwn(def.entries, id)) throw new Error(`timer '${id}' has the same id as an entry`);
    const info: EntryInfo = { id, kind: "timer", intervalMs: t.intervalMs };
    if (t.description !== undefined) info.description = t.description;
    if (t.timeoutMs !== undefined) info.timeoutMs = t.timeoutMs;
    out.push(info);
  }
  return out;
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === "object" && v !== null && typeof (v as { then?: unknown }).then === "function";
}
