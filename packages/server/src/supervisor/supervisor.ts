import {
  type AbortSignalLike,
  type EntryInfo,
  encodeInvokeParams,
  type InvokeParams,
  Methods,
  type ResponseSink,
  RpcError,
  type RpcPeer,
} from "@plugd/protocol";
import type { PluginManifest } from "../manifest/types.js";
import { RestartTracker } from "./backoff.js";
import { ConcurrencyLimiter } from "./concurrency.js";
import { type HostInfo, type InstanceExit, PluginInstance } from "./instance.js";
import type { Reaper } from "./reaper.js";
import type { StderrRecord } from "./stderr-lines.js";

/**
 * Plugin states. `unavailable`: it would not start (spawn error, handshake failed or timed out, version mismatch).
 * `crashed`: its process died; a restart may be scheduled. `quarantined`: it crashed too often and stays down
 * until someone starts it again.
 */
export type PluginState =
  | "stopped"
  | "starting"
  | "ready"
  | "degraded"
  | "stopping"
  | "crashed"
  | "quarantined"
  | "unavailable";

export interface PluginStatus {
  id: string;
  state: PluginState;
  reason?: string;
  pid?: number;
  restarts: number;
  startedAt?: number;
  lastExit?: InstanceExit;
  entries: EntryInfo[];
  /** Event types the plugin handles (from its handshake; "*" = all). */
  handshakeEvents: string[];
  /** Last stderr lines of the current or last process (kept for quarantine reports and the UI). */
  stderrTail: string[];
  inFlight: number;
  queued: number;
}

export interface SupervisorHooks {
  onState(status: PluginStatus, previous: PluginState): void;
  onLog(record: StderrRecord & { plugin: string; pid: number; source: "stderr" | "protocol" }): void;
  /** Lets the host attach its notification and reverse-RPC handlers to each new process. */
  wirePeer(peer: RpcPeer, manifest: PluginManifest): void;
  config(manifest: PluginManifest): Record<string, unknown>;
}

export interface InvokeOptions {
  signal?: AbortSignalLike;
  /** Asks the plugin to stop but keeps waiting for its answer (see RequestOptions.cancelSignal). */
  cancelSignal?: AbortSignalLike;
  timeoutMs: number;
  /** Called when the call leaves the queue and is sent to the plugin. */
  onStart?: () => void;
  /** Called once when the call ends, however it ends (saves the caller a promise layer on the hot path). */
  onSettled?: () => void;
  /** Fail with BUSY instead of queueing when no slot is free. */
  noQueue?: boolean;
}

const HEALTH_FAILURES_BEFORE_RESTART = 3;

/** Keeps one plugin running: start, handshake, health checks, restarts with backoff, quarantine, stop. */
export class PluginSupervisor {
  private state: PluginState = "stopped";
  private reason: string | undefined;
  private instance: PluginInstance | undefined;
  private lastInstance: PluginInstance | undefined;
  private readonly tracker: RestartTracker;
  readonly limiter: ConcurrencyLimiter;
  private restartTimer: NodeJS.Timeout | undefined;
  private healthTimer: NodeJS.Timeout | undefined;
  private healthFailures = 0;
  private restarts = 0;
  private startedAt: number | undefined;
  private starting: Promise<void> | undefined;

  constructor(
    readonly manifest: PluginManifest,
    private readonly host: HostInfo,
    private readonly hooks: SupervisorHooks,
    private readonly reaper: Reaper,
  ) {
    this.tracker = new RestartTracker(manifest.restart);
    this.limiter = new ConcurrencyLimiter(manifest.id, manifest.limits.maxConcurrency, manifest.limits.maxQueue);
  }

  get id(): string {
    return this.manifest.id;
  }

  get currentState(): PluginState {
    return this.state;
  }

  /** The current process id, or -1 when none runs. */
  get pid(): number {
    return this.instance?.pid ?? -1;
  }

  get peer(): RpcPeer | undefined {
    return this.instance?.peer;
  }

  status(): PluginStatus {
    const inst = this.instance ?? this.lastInstance;
    return {
      id: this.manifest.id,
      state: this.state,
      ...(this.reason ? { reason: this.reason } : {}),
      ...(this.instance && this.instance.pid > 0 ? { pid: this.instance.pid } : {}),
      restarts: this.restarts,
      ...(this.startedAt ? { startedAt: this.startedAt } : {}),
      ...(this.lastInstance?.exitInfo ? { lastExit: this.lastInstance.exitInfo } : {}),
      entries: this.instance?.entries ?? this.lastInstance?.entries ?? [],
      handshakeEvents: this.instance?.handshake?.events ?? [],
      stderrTail: inst?.stderr.lastLines() ?? [],
      inFlight: this.limiter.inFlight,
      queued: this.limiter.queued,
    };
  }

  entry(id: string): EntryInfo | undefined {
    return this.instance?.entryById.get(id);
  }

  /** Starts the plugin (a no-op if it is running). Rejects with the reason if it could not be made ready. */
  start(): Promise<void> {
    if (this.state === "ready" || this.state === "degraded") return Promise.resolve();
    if (this.starting) return this.starting;
    this.clearRestart();
    if (this.state === "quarantined" || this.state === "unavailable") this.tracker.reset();
    this.starting = this.spawnAndHandshake(false).finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  async stop(): Promise<void> {
    this.clearRestart();
    if (this.starting) await this.starting.catch(() => undefined);
    const inst = this.instance;
    if (!inst) {
      if (this.state === "crashed") this.setState("stopped", "stopped by request");
      return;
    }
    this.setState("stopping");
    this.stopHealth();
    this.limiter.rejectAll(RpcError.of("PLUGIN_UNAVAILABLE", `plugin '${this.id}' is stopping`));
    await inst.stop();
    this.setState("stopped", "stopped by request");
  }

  /**
   * Kills the current process so the restart policy brings up a fresh one (a run that ignored its cancellation).
   * Counts as a crash for backoff and quarantine.
   */
  recycle(reason = "a run ignored its cancellation"): boolean {
    const inst = this.instance;
    if (!inst || this.starting) return false;
    // Detached first, so its exit is not taken for a crash (no backoff, no quarantine count): this is a restart
    // the host asked for, whatever the restart policy says.
    this.instance = undefined;
    this.stopHealth();
    this.limiter.rejectAll(RpcError.of("PLUGIN_CRASHED", `plugin '${this.id}' was restarted: ${reason}`));
    this.setState("starting", `restarting: ${reason}`);
    inst.kill();
    this.restarts++;
    this.starting = inst
      .waitExit()
      .then(() => this.spawnAndHandshake(true))
      .catch(() => undefined)
      .finally(() => {
        this.starting = undefined;
      });
    return true;
  }

  /** Kills the process group at once; for the host's exit paths. */
  killNow(): void {
    this.clearRestart();
    this.stopHealth();
    this.instance?.kill();
  }

  /**
   * Sends one call, waiting in the bounded queue if all `maxConcurrency` slots are busy. Written with plain promise
   * chains rather than async/await: this is the hot path of every invoke (see bench/rpc.mjs).
   */
  invoke(params: InvokeParams, opts: InvokeOptions): Promise<unknown> {
    try {
      this.assertUsable();
    } catch (e) {
      opts.onSettled?.();
      return Promise.reject(e);
    }
    if (this.limiter.tryAcquire()) return this.send(params, opts, opts.timeoutMs);
    if (opts.noQueue) {
      opts.onSettled?.();
      return Promise.reject(
        RpcError.of(
          "BUSY",
          `plugin '${this.id}' has no free slot (max_concurrency ${this.limiter.limit}) for a nested call; it fails at once rather than wait on its own callers`,
          { plugin: this.id, inFlight: this.limiter.inFlight },
        ),
      );
    }
    const queuedAt = performance.now();
    return this.limiter.acquire(opts.signal, opts.timeoutMs).then(
      () => {
        const remaining = Math.floor(opts.timeoutMs - (performance.now() - queuedAt));
        try {
          this.assertUsable();
          if (remaining <= 0)
            throw RpcError.of("TIMEOUT", `timed out after ${opts.timeoutMs} ms before the call started`);
        } catch (e) {
          this.limiter.release();
          opts.onSettled?.();
          throw e;
        }
        return this.send(params, opts, remaining);
      },
      (e: unknown) => {
        opts.onSettled?.();
        throw e;
      },
    );
  }

  private send(params: InvokeParams, opts: InvokeOptions, timeoutMs: number): Promise<unknown> {
    const inst = this.instance!;
    opts.onStart?.();
    params.timeoutMs = timeoutMs;
    const call = new InvokeCall(this, inst, opts.onSettled);
    const promise = new Promise<unknown>((resolve, reject) => {
      call.done = resolve;
      call.fail = reject;
    });
    let json: string;
    try {
      json = encodeInvokeParams(params);
    } catch (e) {
      call.reject(
        RpcError.of("INVALID_INPUT", `the input cannot be sent as JSON: ${(e as Error).message}`, {
          plugin: this.id,
          entry: params.entry,
        }),
      );
      return promise;
    }
    inst.peer.requestJson(
      Methods.invoke,
      json,
      { timeoutMs, signal: opts.signal, cancelSignal: opts.cancelSignal },
      call,
    );
    return promise;
  }

  /** @internal The end of a call sent by send(), whichever way it ended (see InvokeCall). */
  callEnded(call: InvokeCall): void {
    this.limiter.release();
    call.onSettled?.();
  }

  private assertUsable(): void {
    if (this.state !== "ready" && this.state !== "degraded") {
      throw RpcError.of(
        "PLUGIN_UNAVAILABLE",
        `plugin '${this.id}' is ${this.state}${this.reason ? `: ${this.reason}` : ""}`,
        {
          plugin: this.id,
          state: this.state,
        },
      );
    }
  }

  /**
   * @internal A call that failed because the process died says so, with the stderr tail, instead of "connection
   * closed".
   */
  async explainFailure(e: unknown, inst: PluginInstance): Promise<unknown> {
    if (!(e instanceof RpcError) || e.symbol !== "CONNECTION_CLOSED") return e;
    // stdout usually closes a moment before the exit status is known; wait briefly to report how it ended.
    if (!inst.exitInfo) await Promise.race([inst.waitExit(), new Promise((r) => setTimeout(r, 500).unref())]);
    const exit = inst.exitInfo;
    if (exit?.requested) return RpcError.of("PLUGIN_UNAVAILABLE", `plugin '${this.id}' was stopped during the call`);
    const how = exit
      ? exit.signal
        ? `killed by ${exit.signal}`
        : `exited with code ${exit.code}`
      : "closed its connection";
    return RpcError.of("PLUGIN_CRASHED", `plugin '${this.id}' ${how} during the call`, {
      plugin: this.id,
      exitCode: exit?.code ?? null,
      signal: exit?.signal ?? null,
      stderrTail: inst.stderr.lastLines().slice(-10),
    });
  }

  private async spawnAndHandshake(isRestart: boolean): Promise<void> {
    this.setState("starting", isRestart ? `restart ${this.restarts}` : undefined);
    let inst: PluginInstance;
    try {
      inst = new PluginInstance(
        this.manifest,
        {
          onLog: (r) => this.hooks.onLog({ ...r, plugin: this.id }),
          onExit: (exit) => this.onExit(inst, exit),
          wirePeer: (peer) => this.hooks.wirePeer(peer, this.manifest),
        },
        this.reaper,
      );
    } catch (e) {
      this.setState("unavailable", `could not start: ${(e as Error).message}`);
      throw RpcError.of("PLUGIN_UNAVAILABLE", `plugin '${this.id}' could not start: ${(e as Error).message}`);
    }
    this.instance = inst;
    this.lastInstance = inst;
    try {
      await inst.doHandshake(this.host, this.hooks.config(this.manifest));
    } catch (e) {
      const err = e instanceof RpcError ? e : RpcError.of("PLUGIN_UNAVAILABLE", String((e as Error).message ?? e));
      this.instance = undefined;
      inst.kill();
      await inst.waitExit();
      if (isRestart) {
        // A restart that fails its handshake counts as one more crash, so a broken plugin ends in quarantine.
        this.afterCrash(`restart failed: ${err.message}`, false);
      } else {
        this.setState("unavailable", err.message);
      }
      throw err;
    }
    if (this.instance !== inst) return; // stopped while starting
    this.startedAt = Date.now();
    this.healthFailures = 0;
    this.setState("ready");
    this.startHealth(inst);
  }

  private onExit(inst: PluginInstance, exit: InstanceExit): void {
    if (this.instance !== inst) return; // handshake failures and stops are handled where they happen
    this.instance = undefined;
    this.stopHealth();
    const how = exit.signal ? `killed by ${exit.signal}` : `exited with code ${exit.code}`;
    this.limiter.rejectAll(RpcError.of("PLUGIN_CRASHED", `plugin '${this.id}' ${how}`));
    if (exit.requested) return;
    this.afterCrash(how, exit.code === 0 && exit.signal === null);
  }

  private afterCrash(how: string, cleanExit: boolean): void {
    const next = this.tracker.onExit(Date.now(), cleanExit);
    if (next.action === "stop") {
      this.setState(
        cleanExit ? "stopped" : "crashed",
        `process ${how}; restart policy '${this.manifest.restart.policy}'`,
      );
    } else if (next.action === "quarantine") {
      const tail = this.lastInstance?.stderr.lastLines().slice(-5).join(" | ");
      this.setState(
        "quarantined",
        `crashed ${next.crashes} times within ${this.manifest.restart.windowMs} ms (last: ${how})${tail ? `; stderr: ${tail}` : ""}`,
      );
    } else {
      this.setState("crashed", `process ${how}; restarting in ${next.delayMs} ms (attempt ${next.attempt})`);
      this.restartTimer = setTimeout(() => {
        this.restartTimer = undefined;
        this.restarts++;
        this.starting = this.spawnAndHandshake(true)
          .catch(() => undefined)
          .finally(() => {
            this.starting = undefined;
          });
      }, next.delayMs);
    }
  }

  private startHealth(inst: PluginInstance): void {
    const every = this.manifest.limits.healthIntervalMs;
    if (every <= 0) return;
    this.healthTimer = setInterval(() => {
      inst.peer.request(Methods.health, {}, { timeoutMs: Math.min(every, this.manifest.limits.rpcTimeoutMs) }).then(
        (res) => {
          this.healthFailures = 0;
          const degraded = (res as { status?: string } | null)?.status === "degraded";
          if (degraded && this.state === "ready") this.setState("degraded", "the plugin reports itself degraded");
          if (!degraded && this.state === "degraded") this.setState("ready");
        },
        (e: Error) => {
          if (this.instance !== inst) return;
          this.healthFailures++;
          if (this.healthFailures >= HEALTH_FAILURES_BEFORE_RESTART) {
            this.hooks.onLog({
              level: "error",
              msg: `health check failed ${this.healthFailures} times; killing it`,
              plugin: this.id,
              pid: inst.pid,
              source: "protocol",
            });
            inst.kill(); // the exit goes through the crash path: restart per policy
          } else if (this.state === "ready") {
            this.setState("degraded", `health check failed: ${e.message}`);
          }
        },
      );
    }, every);
    this.healthTimer.unref();
  }

  private stopHealth(): void {
    if (this.healthTimer) clearInterval(this.healthTimer);
    this.healthTimer = undefined;
  }

  private clearRestart(): void {
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
  }

  private setState(state: PluginState, reason?: string): void {
    const previous = this.state;
    this.state = state;
    this.reason = reason;
    this.hooks.onState(this.status(), previous);
  }
}

/**
 * One invoke sent to the plugin: the peer hands the answer straight to it (a ResponseSink), so a call costs one
 * promise (the caller's) instead of a chain of them, and the slot is released as soon as the answer is read.
 */
class InvokeCall implements ResponseSink {
  done!: (value: unknown) => void;
  fail!: (err: unknown) => void;

  constructor(
    private readonly sup: PluginSupervisor,
    private readonly inst: PluginInstance,
    readonly onSettled: (() => void) | undefined,
  ) {}

  resolve(res: unknown): void {
    this.sup.callEnded(this);
    this.done(res !== null && typeof res === "object" && "output" in res ? (res as { output: unknown }).output : res);
  }

  reject(err: RpcError): void {
    this.sup.callEnded(this);
    if (err.symbol === "CONNECTION_CLOSED") this.sup.explainFailure(err, this.inst).then(this.fail);
    else this.fail(err);
  }
}
