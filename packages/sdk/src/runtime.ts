import {
  type ByteReader,
  type ByteWriter,
  type EntryInfo,
  type HandshakeParams,
  type HandshakeResult,
  type InvokeParams,
  type LogLevel,
  Methods,
  negotiateVersion,
  PROTOCOL_VERSION,
  type ProgressParams,
  RpcError,
  RpcPeer,
} from "@plugd/protocol";
import type {
  EventPayload,
  Exporter,
  ExportOptions,
  HostApi,
  Logger,
  PluginContext,
  PluginDefinition,
  RunContext,
} from "./types.js";

export const SDK_NAME = "@plugd/sdk";
export const SDK_VERSION = "0.1.0";

export interface ServeOptions {
  input: ByteReader;
  output: ByteWriter;
  /** Called after `plugin/shutdown` was answered (the stdio runner exits the process). */
  onShutdown?: () => void;
}

/** Serves a plugin over a pair of byte streams. Returns the peer (tests use it to close or inspect). */
export function serve(def: PluginDefinition, opts: ServeOptions): RpcPeer {
  const peer = new RpcPeer(opts.input, opts.output, {
    onWarning: (w) => process.stderr.write(`[plugd-sdk] ${w.kind}: ${w.message}\n`),
  });
  let config: Record<string, unknown> = {};
  let pluginId = def.id ?? "plugin";

  const log =
    (level: LogLevel, runId?: string): Logger["info"] =>
    (msg, fields) =>
      peer.notify(Methods.log, { level, msg, ...(runId ? { runId } : {}), ...(fields ? { fields } : {}) });
  const makeLogger = (runId?: string): Logger => ({
    debug: log("debug", runId),
    info: log("info", runId),
    warn: log("warn", runId),
    error: log("error", runId),
  });
  const host: HostApi = {
    call: (plugin, entry, input = {}, o = {}) =>
      peer.request(Methods.call, { plugin, entry, input, ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}) }) as never,
    pushMessage: (message) => peer.request(Methods.pushMessage, message) as never,
    emitEvent: (type, payload) => peer.request(Methods.emitEvent, { type, payload }) as never,
    getConfig: () => peer.request(Methods.getConfig, {}) as never,
    updateStatus: (status) => peer.request(Methods.updateStatus, status),
  };
  const pluginCtx: PluginContext = {
    get id() {
      return pluginId;
    },
    get config() {
      return config;
    },
    log: makeLogger(),
    host,
  };

  const entries: EntryInfo[] = [
    ...Object.entries(def.entries).map(([id, e]) => ({
      id,
      ...(e.name ? { name: e.name } : {}),
      ...(e.description ? { description: e.description } : {}),
      ...(e.input ? { inputSchema: e.input } : {}),
      ...(e.output ? { outputSchema: e.output } : {}),
      ...(e.timeoutMs ? { timeoutMs: e.timeoutMs } : {}),
      ...(e.streaming ? { streaming: true } : {}),
      ...(e.metadata ? { metadata: e.metadata } : {}),
    })),
    ...Object.entries(def.timers ?? {}).map(([id, t]) => ({
      id,
      kind: "timer" as const,
      intervalMs: t.intervalMs,
      ...(t.description ? { description: t.description } : {}),
    })),
  ];

  peer.onRequest(Methods.handshake, async (p: HandshakeParams): Promise<HandshakeResult> => {
    negotiateVersion(PROTOCOL_VERSION, String(p?.protocolVersion ?? ""));
    config = p.plugin?.config ?? {};
    pluginId = p.plugin?.id ?? pluginId;
    await def.onStartup?.(pluginCtx);
    return {
      protocolVersion: PROTOCOL_VERSION,
      name: def.name ?? pluginId,
      ...(def.version ? { version: def.version } : {}),
      sdk: { name: SDK_NAME, version: SDK_VERSION },
      entries,
      events: Object.keys(def.events ?? {}),
      capabilities: ["cancel", "progress", "output", "export"],
    };
  });

  peer.onRequest(Methods.invoke, (p: InvokeParams, rpc) => {
    const e = def.entries[p.entry];
    const timer = e ? undefined : def.timers?.[p.entry];
    if (!e && !timer) {
      throw RpcError.of("ENTRY_NOT_FOUND", `plugin '${pluginId}' has no entry '${p.entry}'`, {
        available: entries.map((x) => x.id),
      });
    }
    const ctx = runContext(p, rpc);
    return Promise.resolve(e ? e.handler(p.input, ctx) : timer!.handler(ctx)).then((output) => ({
      output: output ?? null,
    }));
  });

  peer.onRequest(Methods.health, () => ({ status: "ok" }));
  peer.onRequest(Methods.shutdown, async () => {
    await def.onShutdown?.(pluginCtx);
    if (opts.onShutdown) setImmediate(opts.onShutdown);
    return {};
  });
  peer.onNotification(Methods.onEvent, (ev: EventPayload) => {
    const h = def.events?.[ev?.eventType] ?? def.events?.["*"];
    if (h)
      void Promise.resolve(h(ev, pluginCtx)).catch((e: Error) =>
        pluginCtx.log.error(`event handler failed: ${e.message}`),
      );
  });
  peer.onNotification(Methods.configChanged, (p: { config?: Record<string, unknown> }) => {
    config = p?.config ?? {};
    if (def.onConfigChanged)
      void Promise.resolve(def.onConfigChanged(config, pluginCtx)).catch((e: Error) =>
        pluginCtx.log.error(`config hook failed: ${e.message}`),
      );
  });

  function runContext(p: InvokeParams, rpc: { readonly signal: AbortSignal }): RunContext {
    return new InvocationContext(peer, p, rpc, () => config, host);
  }

  return peer;
}

const wrapOutput = (output: unknown) => ({ output: output ?? null });

/**
 * A run's context. A class (methods on the prototype, one allocation per call) because one is made for every
 * invoke; the AbortSignal is only created if the handler looks at it.
 */
class InvocationContext implements RunContext {
  readonly runId: string;
  readonly entryId: string;
  private logger: Logger | undefined;
  private exporter: Exporter | undefined;
  private hostApi: HostApi | undefined;

  constructor(
    private readonly peer: RpcPeer,
    p: InvokeParams,
    private readonly rpc: { readonly signal: AbortSignal },
    private readonly getConfig: () => Record<string, unknown>,
    private readonly pluginHost: HostApi,
  ) {
    this.runId = p.runId;
    this.entryId = p.entry;
  }

  get signal(): AbortSignal {
    return this.rpc.signal;
  }

  get config(): Record<string, unknown> {
    return this.getConfig();
  }

  progress(p: Omit<ProgressParams, "runId">): void {
    this.peer.notify(Methods.progress, { ...p, runId: this.runId });
  }

  output(chunk: string): void {
    this.peer.notify(Methods.output, { runId: this.runId, chunk });
  }

  get export(): Exporter {
    if (!this.exporter) {
      const send = (type: "text" | "json" | "url" | "binary", data: unknown, o: ExportOptions = {}) =>
        this.peer.notify(Methods.export, {
          runId: this.runId,
          type,
          ...(type === "url" ? { url: data as string } : { data }),
          ...o,
        });
      this.exporter = {
        text: (t, o) => send("text", t, o),
        json: (v, o) => send("json", v, o),
        url: (u, o) => send("url", u, o),
        binary: (b, o) => send("binary", Buffer.from(b).toString("base64"), { mime: "application/octet-stream", ...o }),
      };
    }
    return this.exporter;
  }

  get log(): Logger {
    if (!this.logger) {
      const at = (level: LogLevel) => (msg: string, fields?: Record<string, unknown>) =>
        this.peer.notify(Methods.log, { level, msg, runId: this.runId, ...(fields ? { fields } : {}) });
      this.logger = { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
    }
    return this.logger;
  }

  get host(): HostApi {
    // Calls made while serving this run carry it as their parent, so the host can see call chains (and cycles).
    this.hostApi ??= {
      ...this.pluginHost,
      call: (plugin, entry, input = {}, o = {}) =>
        this.peer.request(Methods.call, {
          plugin,
          entry,
          input,
          parentRunId: this.runId,
          ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}),
        }) as never,
    };
    return this.hostApi;
  }
}
