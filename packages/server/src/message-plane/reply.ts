import type { BusRecord } from "../bus/types.js";
import { type Encoding, encode, encodeItem, MsgpackWriter, toJson } from "./codec.js";
import { PlaneError, PROTOCOL_VERSION, type WireError } from "./envelope.js";
import type { OpResult } from "./ops.js";

/**
 * Reply frames `{v, req_id, ok, result, error}` in the request's encoding. A list of records is assembled from
 * each record's cached encoding (codec.ts) instead of encoding the whole result again, and its size is known before
 * anything is copied, so an oversized result costs nothing but the RESULT_TOO_LARGE reply.
 */

// msgpack of the fixed keys: {"v":1,"req_id":…,"ok":true,"error":null,"result":…}
const MP_HEAD = Buffer.from([0x85, 0xa1, 0x76, PROTOCOL_VERSION, 0xa6, ...Buffer.from("req_id")]);
const MP_OK_TAIL = Buffer.from([
  0xa2,
  0x6f,
  0x6b,
  0xc3,
  0xa5,
  ...Buffer.from("error"),
  0xc0,
  0xa6,
  ...Buffer.from("result"),
]);

export function encodeResult(enc: Encoding, reqId: string, res: OpResult, maxBytes: number): Buffer {
  if (res.kind === "value") {
    const buf = encode({ v: PROTOCOL_VERSION, req_id: reqId, ok: true, result: res.value, error: null }, enc);
    if (buf.length > maxBytes) throw tooLarge(buf.length, maxBytes);
    return buf;
  }
  return enc === "msgpack" ? itemsMsgpack(reqId, res, maxBytes) : itemsJson(reqId, res, maxBytes);
}

export function encodeError(enc: Encoding, reqId: string, error: WireError): Buffer {
  return encode({ v: PROTOCOL_VERSION, req_id: reqId, ok: false, result: null, error }, enc);
}

function tooLarge(size: number, max: number): PlaneError {
  return new PlaneError("RESULT_TOO_LARGE", `result is ${size} bytes or more; the limit is ${max}`, {
    limit: max,
  });
}

type Items = Extract<OpResult, { kind: "items" }>;

function itemsMsgpack(reqId: string, res: Items, maxBytes: number): Buffer {
  const parts = new Array<Buffer>(res.items.length);
  let total = 0;
  for (let i = 0; i < res.items.length; i++) {
    const b = encodeItem(res.items[i] as BusRecord, "msgpack", res.light) as Buffer;
    parts[i] = b;
    total += b.length;
    if (total > maxBytes) throw tooLarge(total, maxBytes);
  }
  const w = new MsgpackWriter(total + 256 + reqId.length * 3);
  w.raw(MP_HEAD)
    .str(reqId)
    .raw(MP_OK_TAIL)
    .mapHeader(res.head.length + 2);
  for (const [k, v] of res.head) w.str(k).value(v);
  w.str("light").value(res.light).str("items").arrayHeader(parts.length);
  for (const p of parts) w.raw(p);
  if (w.length > maxBytes) throw tooLarge(w.length, maxBytes);
  return w.done();
}

function itemsJson(reqId: string, res: Items, maxBytes: number): Buffer {
  const parts = new Array<string>(res.items.length);
  // Characters are a lower bound of UTF-8 bytes: enough to stop early; the exact size is checked at the end.
  let chars = 0;
  for (let i = 0; i < res.items.length; i++) {
    const s = encodeItem(res.items[i] as BusRecord, "json", res.light) as string;
    parts[i] = s;
    chars += s.length + 1;
    if (chars > maxBytes) throw tooLarge(chars, maxBytes);
  }
  let head = "";
  for (const [k, v] of res.head) head += `${JSON.stringify(k)}:${toJson(v)},`;
  const text = `{"v":${PROTOCOL_VERSION},"req_id":${JSON.stringify(reqId)},"ok":true,"result":{${head}"light":${res.light},"items":[${parts.join(",")}]},"error":null}`;
  const buf = Buffer.from(text);
  if (buf.length > maxBytes) throw tooLarge(buf.length, maxBytes);
  return buf;
}
