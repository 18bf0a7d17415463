/** A fixed-capacity buffer that drops its oldest item: bounded history without shifting arrays on every push. */
export class Ring<T> {
  private readonly items: T[] = [];
  private next = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`ring capacity must be ≥ 1 (got ${capacity})`);
  }

  push(item: T): void {
    if (this.items.length < this.capacity) this.items.push(item);
    else this.items[this.next] = item;
    this.next = (this.next + 1) % this.capacity;
  }

  get size(): number {
    return this.items.length;
  }

  /** Oldest first. */
  toArray(): T[] {
    if (this.items.length < this.capacity) return this.items.slice();
    return [...this.items.slice(this.next), ...this.items.slice(0, this.next)];
  }

  last(): T | undefined {
    if (this.items.length === 0) return undefined;
    return this.items[(this.next - 1 + this.items.length) % this.items.length];
  }
}
