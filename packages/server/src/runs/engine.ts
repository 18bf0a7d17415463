import type { ExportParams, ProgressParams } from "@plugd/protocol";
import { ErrorCodes, RpcError } from "@plugd/protocol";
import type { Logger } from "pino";
import type { NestedCall, PluginHost } from "../host/host.js";
import type { ExportItem, RunError, RunEvent, RunRecord, RunStatus, Storage } from "../store/types.js";
import { failEnvelope, isEnvelope, okEnvelope, type ResultEnvelope } from "./envelope.js";
import { newId } from "./ids.js";
import { type RunEntry, RunJournal } from "./journal.js";
import { RunSignal } from "./signal.js";
import { canTransition, isTerminal } from "./state-machine.js";
import type { RunTokens } from "./tokens.js";

export interface CreateRunInput {
  plugin_id: string;
  entry_id: string;
  args?: Record<string, unknown>;
  task_id?: string;
  trace_id?: string;
  idempotency_key?: string;
  /** Per-run timeout; the entry's own timeout wins over it, the server default applies when neither is set. */
  timeout_ms?: number;
  parent_run_id?: string;
  /** Plugin ids of the calls this run is nested in (plugin-to-plugin calls). */
  call_chain?: string[];
  /**
   * The caller hears of the run only when it ends (`wait: true`, a plugin-to-plugin call): the run may be written
   * when it ends instead of when it starts (see RunJournal). Ignored with an idempotency key.
   */
  reported_at_end?: boolean;
}

export interface EngineOptions {
  defaultTimeoutMs: number;
  cancelGraceMs: number;
  progressMinIntervalMs: number;
  /** How long a run reported at its end may stay unwritten while it runs (0: written when it starts). */
  holdMs: number;
  logger: Logger;
}

export interface CreatedRun {
  run: RunRecord;
  run_token: string;
  expires_at: number;
  /** False when an idempotency key matched an existing run. */
  created: boolean;
}

export type RunListener = (ev: RunEvent, run: RunRecord) => void;

interface LiveRun {
  run: RunRecord;
  entry: RunEntry;
  abort: RunSignal;
  cancel: RunSignal;
  graceTimer?: NodeJS.Timeout;
  progressTimer?: NodeJS.Timeout;
  lastProgressAt: number;
  progressDirty: boolean;
  done: Promise<RunRecord>;
  resolveDone: (r: RunRecord) => void;
}

const now = () => Date.now() / 1000;

/**
 * Runs: one call of an entry, recorded from `queued` to a terminal state. The engine owns the state machine and
 * everything a run accumulates (progress, output, exports, result envelope); the store persists, the host executes.
 */
export class RunEngine {
  private readonly live = new Map<string, LiveRun>();
  private readonly listeners = new Map<string, Set<RunListener>>();
  private readonly global = new Set<RunListener>();
  private closing = false;
  private readonly journal: RunJournal;

  constructor(
    private readonly store: Storage,
    private readonly host: PluginHost,
    private readonly tokens: RunTokens,
    private readonly opts: EngineOptions,
  ) {
    this.journal = new RunJournal(store, {
      holdMs: opts.holdMs,
      onEvent: (ev, run) => this.notify(ev, run),
      onError: (err, runId) => opts.logger.error({ err, run_id: runId }, "could not write a run's changes"),
    });
  }

  /** Ends runs a previous process left in flight: nothing stays non-terminal across a restart. */
  async recover(): Promise<number> {
    const failed = await this.store.failUnfinishedRuns(
      {
        code: "SERVER_RESTARTED",
        message: "the server restarted while this run was in flight; start it again",
        details: { reason: "server_restarted" },
      },
      now(),
    );
    return failed.length;
  }

  async create(input: CreateRunInput): Promise<CreatedRun> {
    if (this.closing) throw RpcError.of("PLUGIN_UNAVAILABLE", "the server is shutting down; no new runs are accepted");
    if (input.idempotency_key) {
      const existing = await this.store.findRunByIdempotencyKey(input.idempotency_key);
      if (existing) {
        if (existing.plugin_id !== input.plugin_id || existing.entry_id !== input.entry_id) {
          throw new HttpLikeError(
            409,
            "IDEMPOTENCY_KEY_REUSED",
            `idempotency_key '${input.idempotency_key}' was used for another call (${existing.plugin_id}.${existing.entry_id})`,
          );
        }
        return { run: existing, ...this.tokenFor(existing.run_id), created: false };
      }
    }
    const args = input.args ?? {};
    // 4xx before anything is recorded: unknown plugin or entry, plugin not running, input not fitting its schema.
    const spec = this.host.check(input.plugin_id, input.entry_id, stripCtx(args));
    const t = now();
    const run: RunRecord = {
      run_id: newId(),
      plugin_id: input.plugin_id,
      entry_id: input.entry_id,
      status: "queued",
      created_at: t,
      updated_at: t,
      started_at: null,
      finished_at: null,
      task_id: input.task_id ?? null,
      trace_id: input.trace_id ?? null,
      idempotency_key: input.idempotency_key ?? null,
      parent_run_id: input.parent_run_id ?? null,
      args,
      timeout_ms: input.timeout_ms ?? null,
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
    };
    if (input.idempotency_key) {
      // Inserted at once, alone: the unique index settles two requests racing with the same new key.
      try {
        await this.store.insertRun(run);
      } catch (e) {
        // The loser returns the winner's run.
        const winner = await this.store.findRunByIdempotencyKey(input.idempotency_key);
        if (winner) return { run: winner, ...this.tokenFor(winner.run_id), created: false };
        throw e;
      }
    }
    const entry = this.journal.open(run, {
      hold: input.reported_at_end === true && !input.idempotency_key,
      stored: input.idempotency_key !== undefined,
    });
    let resolveDone!: (r: RunRecord) => void;
    const live: LiveRun = {
      run,
      entry,
      abort: new RunSignal(),
      cancel: new RunSignal(),
      lastProgressAt: 0,
      progressDirty: false,
      done: new Promise((r) => {
        resolveDone = r;
      }),
      resolveDone,
    };
    this.live.set(run.run_id, live);
    this.emit(live, "status", { status: "queued" });
    // A caller told of the run now is told only once it is on disk; a held run is written as it ends.
    if (!entry.held) {
      try {
        await this.journal.settle(entry);
      } catch (e) {
        // Not stored, so not started: the caller gets the error instead of a run id.
        this.live.delete(run.run_id);
        throw e;
      }
    }
    const timeoutMs = spec.timeoutMs ?? input.timeout_ms ?? this.opts.defaultTimeoutMs;
    void this.execute(live, timeoutMs, input.call_chain);
    return { run, ...this.tokenFor(run.run_id), created: true };
  }

  async get(runId: string): Promise<RunRecord | undefined> {
    const live = this.live.get(runId);
    if (!live) return this.store.getRun(runId);
    // Ended in memory, its end (result, exports) still being written: answered once it is, so a reader who sees
    // "succeeded" finds the result export too.
    if (isTerminal(live.run.status)) return live.done;
    // Someone knows of the run: it is written now, not when it ends — and before they act on it (an upload's blob
    // row needs the run's row).
    // A failed write was logged by the journal; the reader still gets the run as it is in memory.
    if (!live.entry.stored) await this.journal.settle(live.entry).catch(() => undefined);
    return live.run;
  }

  /** Resolves with the run once it is terminal (or as it is when `timeoutMs` passes first). */
  async waitFor(runId: string, timeoutMs?: number): Promise<RunRecord | undefined> {
    const live = this.live.get(runId);
    if (!live) return this.store.getRun(runId);
    if (!timeoutMs) return live.done;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<RunRecord>((r) => {
      timer = setTimeout(() => r(live.run), timeoutMs);
    });
    try {
      const run = await Promise.race([live.done, timeout]);
      // Timed out as it was ending: answer once the end is stored.
      if (isTerminal(run.status)) return await live.done;
      // Answered before it ended: the caller gets its id, so it must be on disk first.
      await this.journal.settle(live.entry);
      return run;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * queued → canceled at once. running → cancel_requested: the plugin is asked to stop and given a grace period;
   * if it has not finished by then its process is recycled and the run ends canceled. Other states: unchanged.
   */
  async cancel(runId: string, reason = "cancelled by request"): Promise<RunRecord | undefined> {
    const live = this.live.get(runId);
    if (!live) return this.store.getRun(runId);
    // Already ending: nothing to cancel; answered once its end is stored.
    if (isTerminal(live.run.status)) return live.done;
    this.journal.release(live.entry);
    const { run } = live;
    if (run.status === "queued") {
      live.abort.abort();
      run.cancel_requested = true;
      run.cancel_reason = reason;
      run.cancel_requested_at = now();
      await this.finish(live, "canceled", { code: "CANCELED", message: `canceled before it started: ${reason}` });
    } else if (run.status === "running") {
      run.cancel_requested = true;
      run.cancel_reason = reason;
      run.cancel_requested_at = now();
      this.transition(live, "cancel_requested");
      live.cancel.abort();
      live.graceTimer = setTimeout(() => {
        if (isTerminal(live.run.status)) return;
        this.opts.logger.warn(
          { plugin: run.plugin_id, run_id: run.run_id },
          `run ignored its cancellation for ${this.opts.cancelGraceMs} ms; restarting the plugin`,
        );
        live.abort.abort();
        this.host.recycle(run.plugin_id);
      }, this.opts.cancelGraceMs);
      // The caller is told the cancel was requested — as it is now, not as it may be once that is on disk (the
      // plugin may have stopped by then).
      const answer = { ...run };
      await this.journal.settle(live.entry);
      return answer;
    }
    return live.run;
  }

  async listExports(
    runId: string,
    after: string | undefined,
    limit: number,
  ): Promise<{ items: ExportItem[]; next_after: string | null }> {
    const items = await this.store.listExports(runId, after, limit);
    return { items, next_after: items.length === limit ? items[items.length - 1]!.export_item_id : null };
  }

  /** Live events of one run. Returns the unsubscribe function. */
  subscribe(runId: string, fn: RunListener): () => void {
    const live = this.live.get(runId);
    if (live) this.journal.release(live.entry);
    let set = this.listeners.get(runId);
    if (!set) {
      set = new Set();
      this.listeners.set(runId, set);
    }
    set.add(fn);
    return () => {
      set!.delete(fn);
      if (set!.size === 0) this.listeners.delete(runId);
    };
  }

  /** Every run's events (the bus mirrors them). */
  subscribeAll(fn: RunListener): () => void {
    this.global.add(fn);
    return () => this.global.delete(fn);
  }

  get inFlight(): number {
    return this.live.size;
  }

  /**
   * A plugin-to-plugin call (reverse RPC `host/call`), recorded as a run with its parent so every call is visible;
   * resolves with the output or rejects with the callee's error (its code kept).
   */
  async call(req: NestedCall): Promise<unknown> {
    const { run } = await this.create({
      plugin_id: req.plugin,
      entry_id: req.entry,
      args: (req.input ?? {}) as Record<string, unknown>,
      call_chain: req.chain,
      reported_at_end: true,
      ...(req.parentRunId ? { parent_run_id: req.parentRunId } : {}),
      ...(req.timeoutMs ? { timeout_ms: req.timeoutMs } : {}),
    });
    const done = await this.waitFor(run.run_id);
    if (done?.status === "succeeded") return done.result;
    const err = done?.error ?? { code: "ENTRY_FAILED", message: `the call ended ${done?.status}` };
    const known = ErrorCodes[err.code as keyof typeof ErrorCodes];
    throw new RpcError(known ?? ErrorCodes.ENTRY_FAILED, err.message, {
      code: err.code,
      run_id: run.run_id,
      details: err.details,
    });
  }

  /** Stops accepting runs and fails the ones in flight with a clear reason. */
  async shutdown(reason = "the server shut down while this run was in flight"): Promise<void> {
    this.closing = true;
    await Promise.all(
      [...this.live.values()].map(async (live) => {
        live.abort.abort();
        await this.finish(live, "failed", { code: "SERVER_SHUTDOWN", message: reason }, true);
        // A run that ended just before is still being written by its own finish.
        await live.done;
      }),
    );
  }

  private tokenFor(runId: string): { run_token: string; expires_at: number } {
    const { token, expires_at } = this.tokens.issue(runId);
    return { run_token: token, expires_at };
  }

  private async execute(live: LiveRun, timeoutMs: number, callChain?: string[]): Promise<void> {
    const { run } = live;
    try {
      const output = await this.host.invoke(run.plugin_id, run.entry_id, stripCtx(run.args), {
        runId: run.run_id,
        ...(callChain?.length ? { callChain } : {}),
        timeoutMs,
        signal: live.abort,
        cancelSignal: live.cancel,
        ...invokeMeta(run),
        onStart: () => {
          if (run.status !== "queued") return;
          run.started_at = now();
          this.transition(live, "running");
        },
        onProgress: (p) => this.progress(live, p),
        onOutput: (o) => this.emit(live, "output", { chunk: o.chunk, stream: o.stream ?? "stdout" }),
        onExport: (e) => this.addExport(live, e),
      });
      if (isTerminal(run.status)) return;
      if (isEnvelope(output)) {
        if (output.success) this.succeed(live, output.data, output);
        else
          this.fail(
            live,
            output.error ?? { code: "ENTRY_FAILED", message: output.message || "the entry reported failure" },
            output,
          );
      } else {
        this.succeed(live, output, okEnvelope(output, run.trace_id));
      }
    } catch (e) {
      if (isTerminal(run.status)) return;
      const err = e instanceof RpcError ? e : RpcError.of("ENTRY_FAILED", (e as Error)?.message ?? String(e));
      if (err.symbol === "TIMEOUT") {
        void this.finish(
          live,
          "timeout",
          { code: "TIMEOUT", message: err.message, details: { timeoutMs } },
          false,
          true,
        );
      } else if (run.cancel_requested) {
        void this.finish(
          live,
          "canceled",
          { code: "CANCELED", message: `canceled: ${run.cancel_reason}` },
          false,
          true,
        );
      } else {
        this.fail(live, toRunError(err));
      }
    }
  }

  private succeed(live: LiveRun, data: unknown, envelope: ResultEnvelope): void {
    const { run } = live;
    run.result = data;
    run.progress = 1;
    run.stage ??= "done";
    run.message ??= "done";
    this.systemExport(live, envelope);
    void this.finish(live, "succeeded", null);
  }

  private fail(live: LiveRun, error: RunError, envelope?: ResultEnvelope): void {
    this.systemExport(live, envelope ?? failEnvelope(error, live.run.trace_id));
    void this.finish(live, "failed", error);
  }

  private systemExport(live: LiveRun, envelope: ResultEnvelope): void {
    const item = this.addItem(live, {
      export_item_id: newId(),
      run_id: live.run.run_id,
      type: "json",
      category: "system",
      created_at: now(),
      label: "trigger_response",
      description: null,
      text: null,
      json: envelope,
      url: null,
      binary_url: null,
      binary: null,
      mime: "application/json",
      metadata: { kind: "trigger_response" },
    });
    live.run.result_refs.push(item.export_item_id);
  }

  private addExport(live: LiveRun, e: ExportParams): void {
    this.addItem(live, {
      export_item_id: newId(),
      run_id: live.run.run_id,
      type: e.type,
      category: "user",
      created_at: now(),
      label: e.label ?? null,
      description: e.description ?? null,
      text: e.type === "text" ? String(e.data ?? "") : null,
      json: e.type === "json" ? (e.data ?? null) : null,
      url: e.type === "url" ? (e.url ?? String(e.data ?? "")) : null,
      binary_url: e.type === "binary_url" ? (e.url ?? String(e.data ?? "")) : null,
      binary: e.type === "binary" ? String(e.data ?? "") : null,
      mime: e.mime ?? null,
      metadata: e.metadata ?? {},
    });
  }

  private addItem(live: LiveRun, item: Omit<ExportItem, "seq">): Omit<ExportItem, "seq"> {
    this.journal.export(live.entry, item);
    this.emit(live, "export", exportEvent(item));
    return item;
  }

  /** Progress is applied at once but persisted and fanned out at most every progressMinIntervalMs per run. */
  private progress(live: LiveRun, p: ProgressParams): void {
    const { run } = live;
    if (isTerminal(run.status)) return;
    if (typeof p.progress === "number") run.progress = Math.max(0, Math.min(1, p.progress));
    if (p.stage !== undefined) run.stage = p.stage;
    if (p.message !== undefined) run.message = p.message;
    if (p.step !== undefined) run.step = p.step;
    if (p.stepTotal !== undefined) run.step_total = p.stepTotal;
    if (p.eta !== undefined) run.eta_seconds = p.eta;
    if (p.metrics) run.metrics = { ...run.metrics, ...p.metrics };
    live.progressDirty = true;
    const wait = live.lastProgressAt + this.opts.progressMinIntervalMs - Date.now();
    if (wait <= 0) this.flushProgress(live);
    else live.progressTimer ??= setTimeout(() => this.flushProgress(live), wait);
  }

  private flushProgress(live: LiveRun): void {
    if (live.progressTimer) clearTimeout(live.progressTimer);
    live.progressTimer = undefined;
    if (!live.progressDirty) return;
    live.progressDirty = false;
    live.lastProgressAt = Date.now();
    const { run } = live;
    run.rev++;
    run.updated_at = now();
    this.journal.state(live.entry);
    this.emit(live, "progress", progressView(run));
  }

  private transition(live: LiveRun, to: RunStatus): boolean {
    const { run } = live;
    if (!canTransition(run.status, to)) {
      this.opts.logger.warn({ run_id: run.run_id, from: run.status, to }, "illegal run transition ignored");
      return false;
    }
    run.status = to;
    run.rev++;
    run.updated_at = now();
    this.journal.state(live.entry);
    this.emit(live, "status", { status: to });
    return true;
  }

  /**
   * Commits a terminal state. `force` also ends queued/running runs on shutdown, outside the transition table;
   * `lenient` allows `canceled`/`timeout` straight from running (the plugin answered before the cancel landed).
   * Resolves (and resolves the run's `done`) once the terminal state is on disk.
   */
  private async finish(
    live: LiveRun,
    to: RunStatus,
    error: RunError | null,
    force = false,
    lenient = false,
  ): Promise<void> {
    const { run } = live;
    if (isTerminal(run.status)) return;
    if (!force && !canTransition(run.status, to)) {
      if (!(lenient && run.status === "running" && to === "canceled")) {
        this.opts.logger.warn({ run_id: run.run_id, from: run.status, to }, "illegal run transition ignored");
        return;
      }
    }
    // The state changes synchronously so a racing completion sees the run terminal.
    if (live.graceTimer) clearTimeout(live.graceTimer);
    if (live.progressTimer) clearTimeout(live.progressTimer);
    if (live.progressDirty) {
      live.progressDirty = false;
      this.emit(live, "progress", progressView(run));
    }
    run.status = to;
    run.error = error;
    run.finished_at = now();
    run.updated_at = run.finished_at;
    run.rev++;
    this.journal.state(live.entry);
    this.emit(live, "status", { status: to, ...(error ? { error } : {}) });
    try {
      await this.journal.settle(live.entry);
    } catch {
      // Logged by the journal; the run still ends for everyone waiting on it.
    }
    // Only now: until the store has the terminal state, readers get the run from memory.
    this.live.delete(run.run_id);
    live.resolveDone(run);
  }

  /** Records an event; listeners hear of it once it is on disk (RunJournal). */
  private emit(live: LiveRun, type: RunEvent["type"], data: unknown): void {
    this.journal.event(live.entry, type, data, now());
  }

  private notify(ev: RunEvent, run: RunRecord): void {
    const set = this.listeners.get(run.run_id);
    if (set) for (const fn of set) this.tell(fn, ev, run);
    for (const fn of this.global) this.tell(fn, ev, run);
  }

  /** One listener's failure is its own: the other listeners, and the journal that called, go on. */
  private tell(fn: RunListener, ev: RunEvent, run: RunRecord): void {
    try {
      fn(ev, run);
    } catch (err) {
      this.opts.logger.error({ err, run_id: run.run_id, event: ev.type }, "a run event listener failed");
    }
  }
}

/** An error the HTTP layer maps straight to a status code. */
export class HttpLikeError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

/** N.E.K.O clients put `_ctx` into args; it is context for the runtime, not input for the schema. */
function stripCtx(args: Record<string, unknown>): Record<string, unknown> {
  if (!("_ctx" in args)) return args;
  const { _ctx, ...rest } = args;
  return rest;
}

/** The invoke's `meta`: the parent run, and the caller's `_ctx` (N.E.K.O entries receive it as an argument). */
function invokeMeta(run: RunRecord): { meta?: Record<string, unknown> } {
  const ctx = run.args._ctx;
  const meta: Record<string, unknown> = {
    ...(run.parent_run_id ? { parentRunId: run.parent_run_id } : {}),
    ...(typeof ctx === "object" && ctx !== null && !Array.isArray(ctx) ? { ctx } : {}),
  };
  return Object.keys(meta).length ? { meta } : {};
}

function toRunError(err: RpcError): RunError {
  const data = (err.data ?? {}) as { details?: unknown; hint?: string };
  const details = data.details ?? (Object.keys(data).length ? data : undefined);
  return { code: err.symbol, message: err.message, ...(details !== undefined ? { details } : {}) };
}

function progressView(run: RunRecord) {
  return {
    progress: run.progress,
    stage: run.stage,
    message: run.message,
    step: run.step,
    step_total: run.step_total,
    eta_seconds: run.eta_seconds,
    metrics: run.metrics,
  };
}

function exportEvent(item: Omit<ExportItem, "seq">) {
  return { export_item_id: item.export_item_id, export_type: item.type, category: item.category, label: item.label };
}
