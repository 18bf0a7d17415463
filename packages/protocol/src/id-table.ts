/**
 * The requests waiting for an answer, keyed by the ids this peer hands out (1, 2, 3…).
 *
 * A `Map` with one `set` and one `delete` per request rebuilds its hash table over and over as entries come and go;
 * an array slot per id, reused every `capacity` ids, does not (bench/id-table.mjs: 4–7× the rate of a Map). Ids in
 * flight are close together, so each has its own slot; an id whose slot is still taken by an older request (one that waits for a long time) goes to a small
 * overflow map, and the array doubles when the overflow grows.
 */
export class IdTable<T> {
  /** The id in each slot (-1: free) and its value; two flat arrays, so adding an entry allocates nothing. */
  private ids: Float64Array;
  private values: Array<T | undefined>;
  private mask: number;
  private readonly overflow = new Map<number | string, T>();
  private count = 0;

  constructor(capacity = 1024) {
    let cap = 16;
    while (cap < capacity) cap *= 2;
    this.ids = new Float64Array(cap).fill(-1);
    this.values = new Array<T | undefined>(cap).fill(undefined);
    this.mask = cap - 1;
  }

  get size(): number {
    return this.count;
  }

  get(id: number | string): T | undefined {
    if (typeof id === "number") {
      const i = id & this.mask;
      if (this.ids[i] === id) return this.values[i];
    }
    return this.overflow.size === 0 ? undefined : this.overflow.get(id);
  }

  has(id: number | string): boolean {
    return this.get(id) !== undefined;
  }

  /** Adds an entry. `id` must not be in the table already, and is a non-negative integer (the peer's own ids). */
  set(id: number, value: T): void {
    const i = id & this.mask;
    // Counted first: grow() recounts every entry, this one included.
    this.count++;
    if (this.ids[i] === -1) {
      this.ids[i] = id;
      this.values[i] = value;
    } else {
      this.overflow.set(id, value);
      if (this.overflow.size > this.ids.length >> 3) this.grow();
    }
  }

  delete(id: number | string): boolean {
    if (typeof id === "number") {
      const i = id & this.mask;
      if (this.ids[i] === id) {
        this.ids[i] = -1;
        this.values[i] = undefined;
        this.count--;
        return true;
      }
    }
    if (this.overflow.delete(id)) {
      this.count--;
      return true;
    }
    return false;
  }

  /** Every entry, oldest id first. */
  entries(): Array<[number, T]> {
    const all: Array<[number, T]> = [];
    for (let i = 0; i < this.ids.length; i++) if (this.ids[i] !== -1) all.push([this.ids[i]!, this.values[i] as T]);
    for (const [id, value] of this.overflow) all.push([id as number, value]);
    return all.sort((a, b) => a[0] - b[0]);
  }

  clear(): void {
    this.ids.fill(-1);
    this.values.fill(undefined);
    this.overflow.clear();
    this.count = 0;
  }

  private grow(): void {
    const all = this.entries();
    const cap = this.ids.length * 2;
    this.ids = new Float64Array(cap).fill(-1);
    this.values = new Array<T | undefined>(cap).fill(undefined);
    this.mask = cap - 1;
    this.overflow.clear();
    this.count = 0;
    for (const [id, value] of all) this.set(id, value);
  }
}
