import type { ExportItem, RunEvent, RunRecord, RunWrite, Storage } from "../store/types.js";

/** One run's changes not yet on disk. Created by `RunJournal.open`, owned by the engine's live run. */
export interface RunEntry {
  readonly run: RunRecord;
  /** The run's row exists in the store. */
  stored: boolean;
  stateDirty: boolean;
  events: RunEvent[];
  exports: Omit<ExportItem, "seq">[];
  lastSeq: number;
  /** Not written until the run ends or the hold times out: nobody outside knows of the run yet. */
  held: boolean;
  holdTimer: NodeJS.Timeout | undefined;
  /** In the batch of the next flush. */
  queued: boolean;
  /** Settled by the next flush's commit. */
  waiters: Waiter[];
  /** The commit of the last flush that included this run, until it settles. */
  inflight: Promise<void> | undefined;
  /** Why the last write of this run failed (cleared by the next that succeeds). */
  failure: unknown;
}

interface Waiter {
  resolve: () => void;
  reject: (e: unknown) => void;
}

export interface JournalOptions {
  /** How long a held run may stay unwritten (it is written at once when it ends). */
  holdMs: number;
  /** Told each event once it is on disk (or once writing it failed, so live readers still see the run end). */
  onEvent: (ev: RunEvent, run: RunRecord) => void;
  /** A run's changes could not be written (its waiters are rejected with `err`). */
  onError: (err: unknown, runId: string) => void;
}

/**
 * Write-behind for runs. The engine records state changes, events and exports here; the changes of every run made
 * in one event-loop turn are written in one transaction at the end of the turn (`setImmediate`), the state of a
 * run written once however often it changed in that turn. A run's events reach listeners only after they are on
 * disk, so whoever saw event N can resume from the store after it.
 *
 * A run can be *held*: its caller hears of it only when it ends (POST /runs with `wait: true`, a plugin-to-plugin
 * call), so it is written when it ends — one insert instead of an insert and two updates — or `holdMs` after it
 * started if still going, or as soon as someone else asks about it (`release`). A crash inside that window leaves
 * no record of the run; its caller, who never got its id, sees the request fail.
 */
export class RunJournal {
  private dirty: RunEntry[] = [];
  private scheduled = false;
  private readonly flushLater = () => this.flush();

  constructor(
    private readonly store: Storage,
    private readonly opts: JournalOptions,
  ) {}

  /** Starts tracking a run: `stored` when its row was inserted by the caller already. */
  open(run: RunRecord, o: { hold: boolean; stored?: boolean }): RunEntry {
    const entry: RunEntry = {
      run,
      stored: o.stored ?? false,
      stateDirty: !o.stored,
      events: [],
      exports: [],
      lastSeq: 0,
      held: o.hold && this.opts.holdMs > 0,
      holdTimer: undefined,
      queued: false,
      waiters: [],
      inflight: undefined,
      failure: undefined,
    };
    if (entry.held) {
      entry.holdTimer = setTimeout(() => this.release(entry), this.opts.holdMs);
      entry.holdTimer.unref();
    }
    this.queue(entry);
    return entry;
  }

  /** The run's record changed. */
  state(entry: RunEntry): void {
    entry.stateDirty = true;
    this.queue(entry);
  }

  /** Appends an event (seq assigned here: the run's owner is its only writer). */
  event(entry: RunEntry, type: RunEvent["type"], data: unknown, time: number): void {
    entry.events.push({ seq: ++entry.lastSeq, run_id: entry.run.run_id, type, data, time });
    this.queue(entry);
  }

  export(entry: RunEntry, item: Omit<ExportItem, "seq">): void {
    entry.exports.push(item);
    this.queue(entry);
  }

  /** Someone else knows of the run now (or its hold ran out): write it with the next batch. */
  release(entry: RunEntry): void {
    if (!entry.held) return;
    entry.held = false;
    clearTimeout(entry.holdTimer);
    this.queue(entry);
  }

  /** Resolves once everything recorded so far for this run is on disk; releases a hold. */
  settle(entry: RunEntry): Promise<void> {
    this.release(entry);
    if (entry.queued) return new Promise((resolve, reject) => entry.waiters.push({ resolve, reject }));
    if (entry.inflight) return entry.inflight;
    return entry.failure === undefined ? Promise.resolve() : Promise.reject(entry.failure);
  }

  private queue(entry: RunEntry): void {
    if (entry.held || entry.queued) return;
    entry.queued = true;
    this.dirty.push(entry);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushLater);
    }
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.dirty;
    this.dirty = [];
    const writes: RunWrite[] = new Array(batch.length);
    for (let i = 0; i < batch.length; i++) {
      const entry = batch[i]!;
      entry.queued = false;
      writes[i] = {
        ...(entry.stateDirty ? { run: entry.run, insert: !entry.stored } : {}),
        exports: entry.exports,
        events: entry.events,
      };
      entry.stateDirty = false;
      entry.exports = [];
      entry.events = [];
    }
    const waiters = batch.map((e) => e.waiters);
    for (const entry of batch) entry.waiters = [];
    const saved = this.store.saveRuns(writes);
    for (const entry of batch) entry.inflight = saved;
    saved.then(
      () => {
        for (let i = 0; i < batch.length; i++) this.done(saved, batch[i]!, writes[i]!, waiters[i]!, undefined);
      },
      (err: unknown) => {
        if (batch.length === 1) {
          this.done(saved, batch[0]!, writes[0]!, waiters[0]!, err ?? new Error("saveRuns failed"));
          return;
        }
        // One bad run must not take the others down: the batch is all-or-none, so each run is written alone.
        for (let i = 0; i < batch.length; i++) {
          const alone = this.store.saveRuns([writes[i]!]);
          batch[i]!.inflight = alone;
          alone.then(
            () => this.done(alone, batch[i]!, writes[i]!, waiters[i]!, undefined),
            (e: unknown) => this.done(alone, batch[i]!, writes[i]!, waiters[i]!, e ?? err),
          );
        }
      },
    );
  }

  private done(saved: Promise<void>, entry: RunEntry, w: RunWrite, waiters: Waiter[], err: unknown): void {
    if (err === undefined) {
      if (w.run) entry.stored = true;
      entry.failure = undefined;
    } else {
      this.opts.onError(err, entry.run.run_id);
      entry.failure = err;
      // A row that did not get written is written whole with the next change.
      if (w.run) entry.stateDirty = true;
    }
    if (entry.inflight === saved) entry.inflight = undefined;
    for (const ev of w.events) this.opts.onEvent(ev, entry.run);
    for (const x of waiters) (err === undefined ? x.resolve : x.reject)(err);
  }
}
