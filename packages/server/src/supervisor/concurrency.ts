import { type AbortSignalLike, RpcError } from "@plugd/protocol";

interface Waiter {
  resolve: () => void;
  reject: (e: Error) => void;
  cleanup: () => void;
}

/**
 * At most `limit` calls in flight per plugin; up to `maxQueue` more wait in FIFO order; beyond that a call fails
 * at once with BUSY rather than piling up unbounded.
 */
export class ConcurrencyLimiter {
  private active = 0;
  private readonly queue: Waiter[] = [];

  constructor(
    private readonly pluginId: string,
    readonly limit: number,
    readonly maxQueue: number,
  ) {}

  get inFlight(): number {
    return this.active;
  }

  get queued(): number {
    return this.queue.length;
  }

  /** Takes a slot if one is free right now (the common case, with no promise). */
  tryAcquire(): boolean {
    if (this.active < this.limit && this.queue.length === 0) {
      this.active++;
      return true;
    }
    return false;
  }

  /** Resolves when a slot is free; the caller must call `release()` exactly once afterwards. */
  acquire(signal?: AbortSignalLike, timeoutMs = 0): Promise<void> {
    if (this.active < this.limit) {
      this.active++;
      return Promise.resolve();
    }
    if (this.queue.length >= this.maxQueue) {
      return Promise.reject(
        RpcError.of(
          "BUSY",
          `plugin '${this.pluginId}' is busy: ${this.active} calls running (max_concurrency ${this.limit}) and ${this.queue.length} queued (max_queue ${this.maxQueue})`,
          { plugin: this.pluginId, inFlight: this.active, queued: this.queue.length },
        ),
      );
    }
    if (signal?.aborted) return Promise.reject(abortError(signal));
    return new Promise<void>((resolve, reject) => {
      const leave = (err: Error) => {
        const i = this.queue.indexOf(waiter);
        if (i >= 0) this.queue.splice(i, 1);
        waiter.cleanup();
        reject(err);
      };
      const onAbort = () => leave(abortError(signal!));
      // Waiting in the queue counts towards the call's timeout.
      const timer =
        timeoutMs > 0
          ? setTimeout(
              () =>
                leave(
                  RpcError.of(
                    "TIMEOUT",
                    `timed out after ${timeoutMs} ms waiting for a free slot in plugin '${this.pluginId}'`,
                    {
                      timeoutMs,
                    },
                  ),
                ),
              timeoutMs,
            )
          : undefined;
      const waiter: Waiter = {
        resolve,
        reject,
        cleanup: () => {
          if (timer) clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.queue.push(waiter);
    });
  }

  release(): void {
    const next = this.queue.shift();
    if (next) {
      next.cleanup();
      next.resolve(); // the slot passes straight to the next waiter
    } else {
      this.active--;
    }
  }

  /** Fails every queued call (the plugin stopped or crashed). */
  rejectAll(err: Error): void {
    for (const w of this.queue.splice(0)) {
      w.cleanup();
      w.reject(err);
    }
  }
}

function abortError(signal: AbortSignalLike): RpcError {
  const reason = signal.reason;
  if (reason instanceof RpcError) return reason;
  return RpcError.of("CANCELLED", "the call was cancelled while waiting for a free slot");
}
