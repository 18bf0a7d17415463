import type { BusRecord, StoreName } from "./types.js";

/**
 * One topic: a bounded ring of records in seq order. The array grows up to the capacity and is then overwritten
 * in place, so a busy topic costs no allocation per record and an idle one holds no pre-allocated slots.
 */
export class TopicRing {
  private buf: BusRecord[] = [];
  /** Index of the oldest record once the ring is full (0 while it is still growing). */
  private head = 0;
  /** Records pushed out by newer ones since the topic was created (also across restarts). */
  evicted = 0;
  /** Records ever accepted into this topic, evicted ones included. */
  countTotal = 0;
  lastSeq = 0;
  lastTs = 0;
  /** Write-behind bookkeeping of the bus: newest seq on disk, and evictions the disk already reflects. */
  flushedSeq = 0;
  flushedEvicted = 0;
  /** The topic frame of PUB (`<store>.<topic>`), built once. */
  readonly frame: string;

  constructor(
    readonly store: StoreName,
    readonly topic: string,
    private readonly capacity: number,
    readonly createdAt: number,
  ) {
    this.frame = `${store}.${topic}`;
  }

  get size(): number {
    return this.buf.length;
  }

  /** Seq of the oldest record still held, or lastSeq + 1 when empty (everything up to lastSeq is gone). */
  get minSeq(): number {
    const r = this.buf.length === 0 ? undefined : this.buf[this.head];
    return r ? r.seq : this.lastSeq + 1;
  }

  /** Adds the newest record; returns the record it evicted, if any. */
  push(r: BusRecord): BusRecord | undefined {
    this.countTotal++;
    this.lastSeq = r.seq;
    this.lastTs = r.timestamp;
    if (this.buf.length < this.capacity) {
      this.buf.push(r);
      return undefined;
    }
    const old = this.buf[this.head];
    this.buf[this.head] = r;
    this.head = this.head + 1 === this.capacity ? 0 : this.head + 1;
    this.evicted++;
    return old;
  }

  /** The i-th oldest record (0 = oldest). */
  at(i: number): BusRecord {
    const n = this.buf.length;
    let j = this.head + i;
    if (j >= n) j -= n;
    return this.buf[j] as BusRecord;
  }

  /** Logical index of the first record with seq > afterSeq (size when none). Seqs are increasing in a topic. */
  indexAfter(afterSeq: number): number {
    let lo = 0;
    let hi = this.buf.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.at(mid).seq <= afterSeq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Records from logical index `from` to the newest, oldest first. */
  from(from: number): BusRecord[] {
    const n = this.buf.length;
    const out = new Array<BusRecord>(Math.max(0, n - from));
    for (let i = from; i < n; i++) out[i - from] = this.at(i);
    return out;
  }

  /** The newest `limit` records, oldest first. */
  last(limit: number): BusRecord[] {
    const n = this.buf.length;
    const k = Math.min(limit, n);
    const out = new Array<BusRecord>(k);
    for (let i = 0; i < k; i++) out[i] = this.at(n - k + i);
    return out;
  }

  /** Drops every record (a snapshot "replace"); counters other than size stay. */
  clear(): number {
    const n = this.buf.length;
    this.buf = [];
    this.head = 0;
    return n;
  }
}
