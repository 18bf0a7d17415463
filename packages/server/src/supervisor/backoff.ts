import type { RestartPolicy } from "../manifest/types.js";

/**
 * Decides, after each crash, whether to restart and when. Exponential backoff with jitter spreads restarts of
 * plugins that crashed together; more than `maxRetries` crashes inside `windowMs` means a crash loop → quarantine.
 */
export class RestartTracker {
  private crashes: number[] = [];

  constructor(
    private readonly policy: RestartPolicy,
    private readonly random: () => number = Math.random,
  ) {}

  /** Records a crash (exit code/signal as given) and returns the next step. */
  onExit(
    now: number,
    cleanExit: boolean,
  ):
    | { action: "stop" }
    | { action: "restart"; delayMs: number; attempt: number }
    | { action: "quarantine"; crashes: number } {
    if (this.policy.policy === "never") return { action: "stop" };
    if (cleanExit && this.policy.policy === "on-failure") return { action: "stop" };
    this.crashes = this.crashes.filter((t) => now - t < this.policy.windowMs);
    this.crashes.push(now);
    const attempt = this.crashes.length;
    if (attempt > this.policy.maxRetries) return { action: "quarantine", crashes: attempt };
    return { action: "restart", delayMs: this.delayFor(attempt), attempt };
  }

  /** "Equal jitter": half the exponential delay is fixed, half random, so restarts never come back-to-back. */
  delayFor(attempt: number): number {
    const exp = Math.min(this.policy.backoffCapMs, this.policy.backoffBaseMs * 2 ** (attempt - 1));
    return Math.round(exp / 2 + this.random() * (exp / 2));
  }

  reset(): void {
    this.crashes = [];
  }

  get recentCrashes(): number {
    return this.crashes.length;
  }
}
