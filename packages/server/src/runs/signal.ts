import type { AbortSignalLike } from "@plugd/protocol";

/**
 * A one-shot abort signal for a run's invoke, without an EventTarget behind it. Every run carries two (abort and
 * cancel) that are almost never fired; two AbortControllers per run, with their listeners, were ~8% of the server's
 * CPU under `POST /runs` load (profiled with bench/http.mjs' workload).
 */
export class RunSignal implements AbortSignalLike {
  aborted = false;
  reason: unknown = undefined;
  private listeners: (() => void)[] | undefined = undefined;

  addEventListener(_type: "abort", listener: () => void): void {
    if (this.aborted) return;
    if (this.listeners) this.listeners.push(listener);
    else this.listeners = [listener];
  }

  removeEventListener(_type: "abort", listener: () => void): void {
    const i = this.listeners?.indexOf(listener) ?? -1;
    if (i >= 0) this.listeners!.splice(i, 1);
  }

  abort(reason?: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const listeners = this.listeners;
    this.listeners = undefined;
    if (listeners) for (const fn of listeners) fn();
  }
}
