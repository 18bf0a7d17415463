import {
  type CallParams,
  type ExportParams,
  type ExportType,
  type LogLevel,
  type LogParams,
  Methods,
  type RpcPeer,
} from "@plugd/protocol";
import { cancelledError } from "./errors.js";
import type {
  CallOptions,
  Config,
  Exporter,
  ExportOptions,
  HostApi,
  Logger,
  PluginContext,
  ProgressUpdate,
  RunContext,
} from "./types.js";

/** Plugin-wide state the contexts read; `config` is replaced on `plugin/configChanged`. */
export interface PluginState {
  id: string;
  config: Config;
  dataDir: string | undefined;
}

function makeLogger(peer: RpcPeer, runId: string | undefined): Logger {
  const at =
    (level: LogLevel) =>
    (msg: string, fields?: Record<string, unknown>): void => {
      const p: LogParams = { level, msg };
      if (runId !== undefined) p.runId = runId;
      if (fields !== undefined) p.fields = fields;
      peer.notify(Methods.log, p);
    };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/**
 * The `host/*` requests. `parentRunId` and `defaultSignal` are set for a run's own API, so nested calls record their
 * parent (the host sees call chains and refuses cycles) and die with the run.
 */
export function makeHostApi(peer: RpcPeer, parentRunId?: string, defaultSignal?: () => AbortSignal): HostApi {
  return {
    call<T>(plugin: string, entry: string, input: unknown = {}, opts: CallOptions = {}): Promise<T> {
      const params: CallParams = { plugin, entry, input };
      if (opts.timeoutMs !== undefined) params.timeoutMs = opts.timeoutMs;
      if (parentRunId !== undefined) params.parentRunId = parentRunId;
      const signal = opts.signal ?? defaultSignal?.();
      // The host enforces the timeout (it runs the nested call); ours is a backstop slightly later, so the host's
      // TIMEOUT error with its details is what the caller normally sees.
      const timeoutMs = opts.timeoutMs !== undefined ? opts.timeoutMs + 1000 : undefined;
      return peer.request<T>(Methods.call, params, {
        ...(signal ? { signal } : {}),
        ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      });
    },
    pushMessage: (message) => peer.request(Methods.pushMessage, message),
    emitEvent: (type, payload) => peer.request(Methods.emitEvent, { type, payload }),
    queryBus: (query) => peer.request(Methods.queryBus, query),
    getConfig: () => peer.request(Methods.getConfig, {}),
    updateConfig: (patch, opts) =>
      peer.request(Methods.updateConfig, { patch, ...(opts?.mode ? { mode: opts.mode } : {}) }),
    updateStatus: (status) => peer.request(Methods.updateStatus, status),
  };
}

/** The context of hooks (startup, shutdown, events, config changes): no run. */
export class HookContext implements PluginContext {
  readonly log: Logger;
  readonly host: HostApi;

  constructor(
    peer: RpcPeer,
    private readonly state: PluginState,
  ) {
    this.log = makeLogger(peer, undefined);
    this.host = makeHostApi(peer);
  }

  get id(): string {
    return this.state.id;
  }
  get config(): Config {
    return this.state.config;
  }
  get dataDir(): string | undefined {
    return this.state.dataDir;
  }
}

/**
 * One run's context. A class with lazy parts because one is made for every invoke on the hot path: the abort
 * signal, logger, exporter and host API only exist if the handler touches them.
 */
export class RunContextImpl implements RunContext {
  private controller: AbortController | undefined;
  private logger: Logger | undefined;
  private exporter: Exporter | undefined;
  private hostApi: HostApi | undefined;

  constructor(
    private readonly peer: RpcPeer,
    private readonly state: PluginState,
    readonly runId: string,
    readonly entryId: string,
    private readonly rpcSignal: () => AbortSignal,
  ) {}

  get id(): string {
    return this.state.id;
  }
  get config(): Config {
    return this.state.config;
  }
  get dataDir(): string | undefined {
    return this.state.dataDir;
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      // Our own controller so the reason is a CANCELLED error rather than the peer's bare string: code that rejects
      // with `signal.reason` (fetch, timers/promises, throwIfAborted) then answers 1004 without any mapping.
      const controller = new AbortController();
      this.controller = controller;
      const upstream = this.rpcSignal();
      const fire = () => controller.abort(cancelledError(upstream.reason));
      if (upstream.aborted) fire();
      else upstream.addEventListener("abort", fire, { once: true });
    }
    return this.controller.signal;
  }

  progress(update: ProgressUpdate | number): void {
    const p = typeof update === "number" ? { progress: update } : update;
    this.peer.notify(Methods.progress, { runId: this.runId, ...p });
  }

  output(chunk: string, stream?: string): void {
    this.peer.notify(
      Methods.output,
      stream === undefined ? { runId: this.runId, chunk } : { runId: this.runId, chunk, stream },
    );
  }

  get export(): Exporter {
    this.exporter ??= makeExporter(this.peer, this.runId);
    return this.exporter;
  }

  get log(): Logger {
    this.logger ??= makeLogger(this.peer, this.runId);
    return this.logger;
  }

  get host(): HostApi {
    this.hostApi ??= makeHostApi(this.peer, this.runId, () => this.signal);
    return this.hostApi;
  }
}

function makeExporter(peer: RpcPeer, runId: string): Exporter {
  const send = (type: ExportType, body: Pick<ExportParams, "data" | "url">, o: ExportOptions | undefined) => {
    // Field order as in docs/protocol.md, so a byte-level diff against another SDK's output stays readable.
    const p: ExportParams = { runId, type };
    if (o) {
      if (o.label !== undefined) p.label = o.label;
      if (o.description !== undefined) p.description = o.description;
      if (o.mime !== undefined) p.mime = o.mime;
      if (o.metadata !== undefined) p.metadata = o.metadata;
    }
    if (body.url !== undefined) p.url = body.url;
    else p.data = body.data;
    peer.notify(Methods.export, p);
  };
  return {
    text: (data, o) => send("text", { data }, o),
    json: (data, o) => send("json", { data }, o),
    url: (url, o) => send("url", { url }, o),
    binary: (bytes, o) =>
      send(
        "binary",
        { data: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64") },
        { mime: "application/octet-stream", ...o },
      ),
    binaryUrl: (url, o) => send("binary_url", { url }, o),
  };
}
