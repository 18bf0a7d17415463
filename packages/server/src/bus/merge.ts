import type { TopicRing } from "./ring.js";
import type { BusRecord } from "./types.js";

/**
 * Walks the records of several topics of one store in seq order (a k-way merge over the rings with a binary heap),
 * so a store-wide read or query costs O(limit · log topics) instead of sorting every record. `visit` returns
 * whether to go on. One topic, the common case, skips the heap.
 */

interface Cursor {
  ring: TopicRing;
  /** Next logical index to visit. */
  i: number;
  /** Seq of the record at i. */
  seq: number;
  /** Exclusive end (asc) or inclusive start (desc) of the range. */
  end: number;
}

/** Newest first, records with seq > afterSeq. */
export function scanDesc(rings: TopicRing[], afterSeq: number, visit: (r: BusRecord) => boolean): void {
  if (rings.length === 1) {
    const ring = rings[0] as TopicRing;
    const lo = afterSeq > 0 ? ring.indexAfter(afterSeq) : 0;
    for (let i = ring.size - 1; i >= lo; i--) if (!visit(ring.at(i))) return;
    return;
  }
  const heap: Cursor[] = [];
  for (const ring of rings) {
    const lo = afterSeq > 0 ? ring.indexAfter(afterSeq) : 0;
    const i = ring.size - 1;
    if (i >= lo) heap.push({ ring, i, seq: ring.at(i).seq, end: lo });
  }
  const greater = (a: Cursor, b: Cursor) => a.seq > b.seq;
  heapify(heap, greater);
  while (heap.length > 0) {
    const top = heap[0] as Cursor;
    if (!visit(top.ring.at(top.i))) return;
    top.i--;
    if (top.i >= top.end) {
      top.seq = top.ring.at(top.i).seq;
      siftDown(heap, 0, greater);
    } else pop(heap, greater);
  }
}

/** Oldest first, records with seq > afterSeq. */
export function scanAsc(rings: TopicRing[], afterSeq: number, visit: (r: BusRecord) => boolean): void {
  if (rings.length === 1) {
    const ring = rings[0] as TopicRing;
    const n = ring.size;
    for (let i = ring.indexAfter(afterSeq); i < n; i++) if (!visit(ring.at(i))) return;
    return;
  }
  const heap: Cursor[] = [];
  for (const ring of rings) {
    const i = ring.indexAfter(afterSeq);
    if (i < ring.size) heap.push({ ring, i, seq: ring.at(i).seq, end: ring.size });
  }
  const less = (a: Cursor, b: Cursor) => a.seq < b.seq;
  heapify(heap, less);
  while (heap.length > 0) {
    const top = heap[0] as Cursor;
    if (!visit(top.ring.at(top.i))) return;
    top.i++;
    if (top.i < top.end) {
      top.seq = top.ring.at(top.i).seq;
      siftDown(heap, 0, less);
    } else pop(heap, less);
  }
}

type Before = (a: Cursor, b: Cursor) => boolean;

function heapify(h: Cursor[], before: Before): void {
  for (let i = (h.length >> 1) - 1; i >= 0; i--) siftDown(h, i, before);
}

function pop(h: Cursor[], before: Before): void {
  const last = h.pop() as Cursor;
  if (h.length > 0) {
    h[0] = last;
    siftDown(h, 0, before);
  }
}

function siftDown(h: Cursor[], i: number, before: Before): void {
  const n = h.length;
  const item = h[i] as Cursor;
  for (;;) {
    const l = 2 * i + 1;
    if (l >= n) break;
    const r = l + 1;
    const c = r < n && before(h[r] as Cursor, h[l] as Cursor) ? r : l;
    if (!before(h[c] as Cursor, item)) break;
    h[i] = h[c] as Cursor;
    i = c;
  }
  h[i] = item;
}
