import { type CompiledFilter, matchesFilter } from "./filter.js";
import { NO_BUDGET } from "./regex-guard.js";
import type { BusRecord, StoreName } from "./types.js";

interface Sub {
  filter: CompiledFilter;
  fn: (r: BusRecord) => void;
  active: boolean;
}

/**
 * Live subscribers, grouped by store so a record only meets the subscribers that can want it. Lists are replaced,
 * never mutated, so a subscriber may unsubscribe (or subscribe) from inside its own callback.
 */
export class Subscriptions {
  private byStore = new Map<StoreName | "*", Sub[]>();
  private total = 0;

  constructor(private readonly onError: (err: unknown, r: BusRecord) => void) {}

  get size(): number {
    return this.total;
  }

  add(filter: CompiledFilter, fn: (r: BusRecord) => void): () => void {
    const key = filter.store ?? "*";
    const sub: Sub = { filter, fn, active: true };
    this.byStore.set(key, [...(this.byStore.get(key) ?? []), sub]);
    this.total++;
    return () => {
      if (!sub.active) return;
      sub.active = false;
      const list = (this.byStore.get(key) ?? []).filter((s) => s !== sub);
      if (list.length) this.byStore.set(key, list);
      else this.byStore.delete(key);
      this.total--;
    };
  }

  /** Synchronous; a throwing subscriber is reported and skipped, it never fails the publish. */
  deliver(r: BusRecord): void {
    if (this.total === 0) return;
    const a = this.byStore.get(r.store);
    const b = this.byStore.get("*");
    if (a) this.run(a, r);
    if (b) this.run(b, r);
  }

  private run(list: Sub[], r: BusRecord): void {
    for (const s of list) {
      // An unsubscribe during this very delivery takes effect at once.
      if (!s.active || !matchesFilter(s.filter, r, NO_BUDGET)) continue;
      try {
        s.fn(r);
      } catch (err) {
        this.onError(err, r);
      }
    }
  }
}
