import { Packr, Unpackr } from "msgpackr";
import type { BusRecord } from "../bus/types.js";

/**
 * Wire encoding of the message plane (reference §5.2): JSON or msgpack, detected per frame. Records travel in the
 * reference's event shape `{seq, ts, store, topic, payload, index}`; each record's encoding is made once and
 * cached, so a record read by many get_recent calls, or published on PUB and then read, is encoded only once and
 * a reply is mostly a copy of cached bytes.
 */

export type Encoding = "json" | "msgpack";

/** Records off: plain maps that any msgpack implementation (pyzmq + msgpack, ormsgpack) reads. Reused, not per call. */
export const packr = new Packr({ useRecords: false });
export const unpackr = new Unpackr({ useRecords: false });

export interface WireIndex {
  id: string;
  plugin_id: string | null;
  source: string;
  kind: string;
  type: string;
  priority: number;
  timestamp: number;
}

export interface WireEvent {
  seq: number;
  ts: number;
  store: string;
  topic: string;
  payload?: unknown;
  index: WireIndex;
}

export function wireIndex(r: BusRecord): WireIndex {
  return {
    id: r.id,
    plugin_id: r.plugin_id,
    source: r.source,
    kind: r.kind,
    type: r.type,
    priority: r.priority,
    timestamp: r.timestamp,
  };
}

export function wireEvent(r: BusRecord): WireEvent {
  return { seq: r.seq, ts: r.timestamp, store: r.store, topic: r.topic, payload: r.payload, index: wireIndex(r) };
}

/** "light" items: the index without the payload. */
export function lightEvent(r: BusRecord): WireEvent {
  return { seq: r.seq, ts: r.timestamp, store: r.store, topic: r.topic, index: wireIndex(r) };
}

// Keyed by the record itself: an evicted record and its encodings are collected together.
const msgpackCache = new WeakMap<BusRecord, Buffer>();
const jsonCache = new WeakMap<BusRecord, string>();

export function eventMsgpack(r: BusRecord): Buffer {
  let b = msgpackCache.get(r);
  if (b === undefined) {
    b = packr.pack(wireEvent(r));
    msgpackCache.set(r, b);
  }
  return b;
}

export function eventJson(r: BusRecord): string {
  let s = jsonCache.get(r);
  if (s === undefined) {
    s = toJson(wireEvent(r));
    jsonCache.set(r, s);
  }
  return s;
}

export function encodeItem(r: BusRecord, enc: Encoding, light: boolean): Buffer | string {
  if (light) return enc === "msgpack" ? packr.pack(lightEvent(r)) : toJson(lightEvent(r));
  return enc === "msgpack" ? eventMsgpack(r) : eventJson(r);
}

/** JSON with bytes as base64 (as the reference's JSON side does) instead of Buffer's {type,data} array form. */
export function toJson(v: unknown): string {
  return JSON.stringify(v, bytesAsBase64) ?? "null";
}

function bytesAsBase64(this: unknown, key: string, value: unknown): unknown {
  // toJSON has already run when the replacer sees a Buffer, so look at the holder's original value.
  const orig = (this as Record<string, unknown>)[key];
  if (orig instanceof Uint8Array) return Buffer.from(orig.buffer, orig.byteOffset, orig.byteLength).toString("base64");
  // msgpack carries 64-bit integers that JSON.stringify would throw on.
  if (typeof value === "bigint") return value.toString();
  return value;
}

export function encode(v: unknown, enc: Encoding): Buffer {
  return enc === "msgpack" ? packr.pack(v) : Buffer.from(toJson(v));
}

/**
 * A msgpack envelope is a map, so its first byte is a fixmap (0x80-0x8f), map16 (0xde) or map32 (0xdf); none of
 * them can start a JSON text. Everything else is tried as JSON.
 */
export function detectEncoding(buf: Uint8Array): Encoding {
  const b = buf[0] ?? 0;
  return (b & 0xf0) === 0x80 || b === 0xde || b === 0xdf ? "msgpack" : "json";
}

export function decode(buf: Buffer, enc: Encoding): unknown {
  return enc === "msgpack" ? unpackr.unpack(buf) : JSON.parse(buf.toString("utf8"));
}

// ---- a minimal msgpack writer for the fixed part of replies, around cached item bytes ----

export class MsgpackWriter {
  private buf: Buffer;
  private pos = 0;
  constructor(capacity: number) {
    this.buf = Buffer.allocUnsafe(capacity);
  }
  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
  byte(b: number): this {
    this.room(1);
    this.buf[this.pos++] = b;
    return this;
  }
  raw(b: Uint8Array): this {
    this.room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }
  str(s: string): this {
    const n = Buffer.byteLength(s);
    this.room(n + 5);
    if (n < 32) this.buf[this.pos++] = 0xa0 | n;
    else if (n < 0x100) {
      this.buf[this.pos++] = 0xd9;
      this.buf[this.pos++] = n;
    } else if (n < 0x10000) {
      this.buf[this.pos++] = 0xda;
      this.buf.writeUInt16BE(n, this.pos);
      this.pos += 2;
    } else {
      this.buf[this.pos++] = 0xdb;
      this.buf.writeUInt32BE(n, this.pos);
      this.pos += 4;
    }
    this.pos += this.buf.write(s, this.pos, "utf8");
    return this;
  }
  mapHeader(n: number): this {
    if (n < 16) return this.byte(0x80 | n);
    this.room(3);
    this.buf[this.pos++] = 0xde;
    this.buf.writeUInt16BE(n, this.pos);
    this.pos += 2;
    return this;
  }
  arrayHeader(n: number): this {
    this.room(5);
    if (n < 16) this.buf[this.pos++] = 0x90 | n;
    else if (n < 0x10000) {
      this.buf[this.pos++] = 0xdc;
      this.buf.writeUInt16BE(n, this.pos);
      this.pos += 2;
    } else {
      this.buf[this.pos++] = 0xdd;
      this.buf.writeUInt32BE(n, this.pos);
      this.pos += 4;
    }
    return this;
  }
  /** Strings, booleans, null and small non-negative integers inline; anything else through msgpackr. */
  value(v: unknown): this {
    if (typeof v === "string") return this.str(v);
    if (v === null || v === undefined) return this.byte(0xc0);
    if (v === true) return this.byte(0xc3);
    if (v === false) return this.byte(0xc2);
    if (typeof v === "number" && Number.isInteger(v) && v >= 0 && v < 128) return this.byte(v);
    return this.raw(packr.pack(v));
  }
  get length(): number {
    return this.pos;
  }
  done(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}
