import { execFile, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Packr, Unpackr } from "msgpackr";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Dealer, Push, Subscriber } from "zeromq";
import { type BusLimits, createBus, type LocalBus } from "../src/bus/index.js";
import { type MessagePlane, type MessagePlaneSettings, startMessagePlane } from "../src/message-plane/index.js";

// Driven by real ZeroMQ clients: zeromq DEALER/PUSH/SUB here, and pyzmq in message-plane-client.py. Every plane
// binds free ports (port 0), so test files running in parallel never collide.

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false });
const HERE = path.dirname(fileURLToPath(import.meta.url));
const PYTHON = process.env.PLUGD_PYTHON ?? "python3";

type Enc = "json" | "msgpack";
interface Reply {
  v: number;
  req_id: string;
  ok: boolean;
  result: any;
  error: { code: string; message: string; details?: unknown } | null;
}

const dirs: string[] = [];
const cleanups: (() => Promise<void> | void)[] = [];

async function plane(
  limits: Partial<BusLimits> = {},
  settings: Partial<MessagePlaneSettings> = {},
): Promise<{ bus: LocalBus; mp: MessagePlane }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "plugd-mp-"));
  dirs.push(dir);
  const bus = createBus({ dataDir: dir, limits, log: { warn() {}, error() {} } });
  const mp = await startMessagePlane(bus, { rpcPort: 0, pubPort: 0, ingestPort: 0, ...settings });
  cleanups.push(async () => {
    await mp.close();
    await bus.close();
  });
  return { bus, mp };
}

function encode(v: unknown, enc: Enc): Buffer {
  return enc === "json" ? Buffer.from(JSON.stringify(v)) : packr.pack(v);
}

function isMsgpackMap(b: Buffer): boolean {
  const first = b[0] ?? 0;
  return (first & 0xf0) === 0x80 || first === 0xde || first === 0xdf;
}

function decodeReply(b: Buffer, enc: Enc): Reply {
  if (enc === "msgpack") {
    // A msgpack reply is a map: fixmap/map16/map32, which can never begin a JSON text.
    expect(isMsgpackMap(b)).toBe(true);
    return unpackr.unpack(b) as Reply;
  }
  expect(b[0]).toBe(0x7b); // "{"
  return JSON.parse(b.toString()) as Reply;
}

class Client {
  readonly dealer = new Dealer({ linger: 0, receiveTimeout: 10_000 });
  private n = 0;
  constructor(endpoint: string) {
    this.dealer.connect(endpoint);
    cleanups.push(() => this.dealer.close());
  }
  async call(op: string, args: Record<string, unknown> = {}, enc: Enc = "msgpack"): Promise<Reply> {
    const req_id = `t${++this.n}`;
    await this.dealer.send(encode({ v: 1, op, req_id, args }, enc));
    const [b] = await this.dealer.receive();
    const r = decodeReply(b as Buffer, enc);
    expect(r.req_id).toBe(req_id);
    expect(r.v).toBe(1);
    return r;
  }
  async ok(op: string, args: Record<string, unknown> = {}, enc: Enc = "msgpack"): Promise<any> {
    const r = await this.call(op, args, enc);
    if (!r.ok) throw new Error(`${op} failed: ${JSON.stringify(r.error)}`);
    expect(r.error).toBeNull();
    return r.result;
  }
  async err(op: string, args: Record<string, unknown> = {}, enc: Enc = "msgpack"): Promise<string> {
    const r = await this.call(op, args, enc);
    expect(r.ok).toBe(false);
    expect(r.result).toBeNull();
    return r.error?.code ?? "";
  }
  /** Sends raw frames; returns the reply frames. */
  async raw(frames: Buffer | Buffer[]): Promise<Buffer[]> {
    await this.dealer.send(frames);
    return (await this.dealer.receive()) as Buffer[];
  }
}

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe("RPC ops", () => {
  for (const enc of ["json", "msgpack"] as const) {
    it(`every op answers in ${enc}, in the request's encoding`, async () => {
      const { mp } = await plane();
      const c = new Client(mp.endpoints.rpc);
      expect(await c.ok("ping", {}, enc)).toMatchObject({ ok: true });
      const health = await c.ok("health", {}, enc);
      expect(health).toMatchObject({ ok: true, rpc: { requests: 2 }, ingest: { frames: 0 } });

      const seqs: number[] = [];
      for (let i = 0; i < 6; i++) {
        const r = await c.ok(
          "bus.publish",
          {
            store: "events",
            topic: "t",
            payload: {
              i,
              plugin_id: `p${i % 2}`,
              source: "src",
              kind: "k",
              message_type: "m",
              priority: i,
              event_id: `e${i}`,
            },
          },
          enc,
        );
        expect(r.accepted).toBe(true);
        expect(r.event).toMatchObject({
          store: "events",
          topic: "t",
          payload: { i },
          index: { id: `e${i}`, plugin_id: `p${i % 2}`, source: "src", kind: "k", type: "m", priority: i },
        });
        seqs.push(r.event.seq);
      }
      expect(seqs).toEqual([1, 2, 3, 4, 5, 6]);
      // A non-map payload is wrapped; explicit index fields beside the payload win over the payload's.
      const wrapped = await c.ok("bus.publish", { store: "events", topic: "u", payload: "hi", plugin_id: "x" }, enc);
      expect(wrapped.event).toMatchObject({ payload: { value: "hi" }, index: { plugin_id: "x" } });

      const recent = await c.ok("bus.get_recent", { store: "events", topic: "t", limit: 3 }, enc);
      expect(recent).toMatchObject({ store: "events", topic: "t", light: false });
      expect(recent.items.map((x: any) => x.payload.i)).toEqual([3, 4, 5]);
      expect(Object.keys(recent.items[0]).sort()).toEqual(["index", "payload", "seq", "store", "topic", "ts"]);

      const since = await c.ok("bus.get_since", { store: "events", after_seq: 4 }, enc);
      expect(since).toMatchObject({ store: "events", topic: null, after_seq: 4 });
      expect(since.items.map((x: any) => x.seq)).toEqual([5, 6, 7]);
      const sinceT = await c.ok("bus.get_since", { bus: "events", topic: "*", after_seq: 6, light: true }, enc);
      expect(sinceT.items).toEqual([
        {
          seq: 7,
          ts: expect.any(Number),
          store: "events",
          topic: "u",
          index: expect.objectContaining({ plugin_id: "x" }),
        },
      ]);

      const q = await c.ok("bus.query", { store: "events", plugin_id: "p1", priority_min: 2 }, enc);
      expect(q.items.map((x: any) => x.payload.i)).toEqual([5, 3]);
      const qr = await c.ok(
        "bus.query",
        { store: "events", topic: "t", regex: [{ field: "payload", pattern: '"i":[24]' }], order: "asc" },
        enc,
      );
      expect(qr.items.map((x: any) => x.payload.i)).toEqual([2, 4]);
      const qt = await c.ok("bus.query", { store: "events", since_ts: 0, until_ts: 1, limit: 5 }, enc);
      expect(qt.items).toEqual([]);

      const topics = await c.ok("bus.list_topics", { store: "events" }, enc);
      expect(topics.stores).toEqual(["messages", "events", "lifecycle", "runs", "export", "memory"]);
      expect(topics.topic_count).toBe(2);
      expect(topics.topics.map((t: any) => t.topic)).toEqual(["u", "t"]); // last_ts, newest first
      expect(topics.topics[1]).toMatchObject({ count: 6, count_total: 6, evicted: 0, last_seq: 6 });
      expect((await c.ok("bus.list_topics", {}, enc)).store).toBe("messages");

      const replay = await c.ok(
        "bus.replay",
        {
          store: "events",
          plan: {
            kind: "unary",
            op: "limit",
            params: { n: 2 },
            child: { kind: "get", params: { params: { topic: "t", max_count: 100, plugin_id: "p0" } } },
          },
        },
        enc,
      );
      expect(replay.items.map((x: any) => x.payload.i)).toEqual([4, 2]);
    });
  }

  it("bus.replay: the plan grammar of the reference", async () => {
    const { bus, mp } = await plane();
    const c = new Client(mp.endpoints.rpc);
    for (let i = 0; i < 10; i++) {
      bus.publish({
        store: "lifecycle",
        topic: i < 5 ? "a" : "b",
        id: `id${i}`,
        plugin_id: `p${i % 3}`,
        kind: i % 2 ? "odd" : "even",
        priority: i,
        timestamp: 100 + (i % 4),
        payload: { i, content: `text ${i}`, tag: i % 2 ? "x" : "y", rank: 10 - i },
      });
    }
    const get = (params: Record<string, unknown> = {}) => ({
      kind: "get",
      params: { params: { max_count: 100, ...params } },
    });
    const unary = (op: string, params: Record<string, unknown>, child: unknown) => ({
      kind: "unary",
      op,
      params,
      child,
    });
    const binary = (op: string, left: unknown, right: unknown) => ({ kind: "binary", op, left, right });
    const run = async (plan: unknown) =>
      ((await c.ok("bus.replay", { store: "lifecycle", plan })).items as any[]).map((x) => x.payload.i);

    expect(await run(get())).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    expect(await run(get({ topic: "a", priority_min: 3 }))).toEqual([4, 3]);
    expect(await run(get({ limit: 2 }))).toEqual([9, 8]);
    expect(await run(unary("sort", { by: "rank" }, get()))).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    expect(await run(unary("sort", { by: ["timestamp", "rank"], reverse: true }, get()))).toEqual([
      3, 7, 2, 6, 1, 5, 9, 0, 4, 8,
    ]);
    expect(await run(unary("filter", { plugin_id: "p1", kind: "odd" }, get()))).toEqual([7, 1]);
    expect(await run(unary("filter", { flt: { tag: "x" }, priority_min: 6 }, get()))).toEqual([]);
    expect(await run(unary("filter", { kind_re: "^ev", since_ts: 102 }, get()))).toEqual([6, 2]);
    expect(await run(unary("filter", { content_re: "text [1-3]$" }, get()))).toEqual([3, 2, 1]);
    // An invalid regex: strict (default) matches nothing, non-strict ignores the filter.
    expect(await run(unary("filter", { content_re: "(" }, get()))).toEqual([]);
    expect(await run(unary("filter", { content_re: "(", strict: false }, get({ limit: 2 })))).toEqual([9, 8]);
    expect(await run(unary("where_eq", { field: "tag", value: "x" }, get()))).toEqual([9, 7, 5, 3, 1]);
    expect(await run(unary("where_in", { field: "i", values: [1, 4, 42] }, get()))).toEqual([4, 1]);
    expect(await run(unary("where_contains", { field: "content", value: "t 8" }, get()))).toEqual([8]);
    expect(await run(unary("where_regex", { field: "plugin_id", pattern: "^p2$" }, get()))).toEqual([8, 5, 2]);
    expect(
      await run(unary("where_regex", { field: "plugin_id", pattern: "[", strict: false }, get({ limit: 1 }))),
    ).toEqual([9]);
    expect(await run(binary("merge", get({ topic: "a", limit: 2 }), get({ topic: "b", limit: 2 })))).toEqual([
      9, 8, 4, 3,
    ]);
    expect(await run(binary("merge", get({ topic: "a" }), get({ topic: "a" })))).toEqual([4, 3, 2, 1, 0]);
    expect(await run(binary("intersection", get({ plugin_id: "p0" }), get({ topic: "b" })))).toEqual([9, 6]);
    expect(await run(binary("difference", get({ topic: "a" }), get({ plugin_id: "p0" })))).toEqual([4, 2, 1]);
    // `trace` is an alias of `plan`.
    const t = await c.ok("bus.replay", { store: "lifecycle", trace: get({ limit: 1 }) });
    expect(t.items).toHaveLength(1);

    let deep: unknown = get();
    for (let i = 0; i < 16; i++) deep = unary("limit", { n: 5 }, deep);
    expect(await c.err("bus.replay", { store: "lifecycle", plan: deep })).toBe("BAD_ARGS");
    expect(await c.err("bus.replay", { store: "lifecycle", plan: { kind: "nope" } })).toBe("UNSUPPORTED_PLAN");
    expect(await c.err("bus.replay", { store: "lifecycle", plan: unary("explode", {}, get()) })).toBe(
      "UNSUPPORTED_PLAN",
    );
    expect(await c.err("bus.replay", { store: "lifecycle" })).toBe("BAD_ARGS");
    expect(
      await c.err("bus.replay", {
        store: "lifecycle",
        plan: unary("where_regex", { field: "x", pattern: "(a+)+" }, get()),
      }),
    ).toBe("REGEX_UNSAFE");
  });

  it("several clients with many requests in flight each get their own replies", async () => {
    const { bus, mp } = await plane();
    for (let i = 0; i < 100; i++) bus.publish({ store: "messages", payload: { i } });
    const clients = Array.from({ length: 4 }, () => new Dealer({ linger: 0, receiveTimeout: 10_000 }));
    for (const d of clients) {
      d.connect(mp.endpoints.rpc);
      cleanups.push(() => d.close());
    }
    await Promise.all(
      clients.map(async (d, k) => {
        for (let i = 0; i < 200; i++) {
          await d.send(
            packr.pack({
              v: 1,
              op: "bus.get_recent",
              req_id: `c${k}-${i}`,
              args: { topic: "all", limit: 1 + (i % 5) },
            }),
          );
        }
        for (let i = 0; i < 200; i++) {
          const [b] = await d.receive();
          const r = unpackr.unpack(b as Buffer) as Reply;
          expect(r.req_id).toBe(`c${k}-${i}`);
          expect(r.result.items).toHaveLength(1 + (i % 5));
        }
      }),
    );
  });
});

describe("bad requests never take the plane down", () => {
  it("answers every malformed frame with an error code", async () => {
    const { mp } = await plane();
    const c = new Client(mp.endpoints.rpc);
    const rawReply = async (body: Buffer): Promise<Reply> => {
      const [b] = await c.raw(body);
      const buf = b as Buffer;
      return isMsgpackMap(buf) ? (unpackr.unpack(buf) as Reply) : (JSON.parse(buf.toString()) as Reply);
    };
    const codeOf = async (body: Buffer) => (await rawReply(body)).error?.code;
    expect(await codeOf(Buffer.from("not json at all"))).toBe("BAD_ENCODING");
    expect(await codeOf(Buffer.from([0xc1, 0x00, 0xff]))).toBe("BAD_ENCODING");
    expect(await codeOf(Buffer.alloc(0))).toBe("BAD_ENCODING");
    expect(await codeOf(Buffer.from([0x85, 0xa1]))).toBe("BAD_ENCODING"); // truncated msgpack map
    expect(await codeOf(Buffer.from("[1,2]"))).toBe("BAD_ENVELOPE");
    expect(await codeOf(Buffer.from('"ping"'))).toBe("BAD_ENVELOPE");
    const j = (o: unknown) => Buffer.from(JSON.stringify(o));
    expect(await codeOf(j({ v: 1, req_id: "a" }))).toBe("BAD_ENVELOPE"); // no op
    expect(await codeOf(j({ v: 1, req_id: "a", op: 5 }))).toBe("BAD_ENVELOPE");
    expect(await codeOf(j({ req_id: "a", op: "ping" }))).toBe("BAD_ENVELOPE"); // no v (strict)
    expect(await codeOf(j({ v: 2, req_id: "a", op: "ping" }))).toBe("UNSUPPORTED_VERSION");
    expect(await codeOf(j({ v: 1, req_id: "a", op: "ping", extra: 1 }))).toBe("BAD_ENVELOPE");
    expect(await codeOf(j({ v: 1, req_id: "x".repeat(65), op: "ping" }))).toBe("BAD_ENVELOPE");
    expect(await codeOf(j({ v: 1, op: "ping" }))).toBe("BAD_ENVELOPE");
    expect(await codeOf(j({ v: 1, req_id: "a", op: "ping", args: [1] }))).toBe("BAD_ENVELOPE");
    expect(await codeOf(j({ v: 1, req_id: "a", op: "ping", from_plugin: "x".repeat(129) }))).toBe("BAD_ENVELOPE");
    expect(await codeOf(packr.pack({ v: 1, req_id: "a", op: "bus.nope" }))).toBe("UNKNOWN_OP");
    // The req_id of an invalid envelope is still echoed when it can be read.
    expect((await rawReply(j({ v: 2, req_id: "keep", op: "ping" }))).req_id).toBe("keep");

    const args = (a: Record<string, unknown>, op = "bus.get_recent") => c.err(op, { topic: "all", ...a });
    expect(await args({ limit: "ten" })).toBe("BAD_ARGS");
    expect(await args({ limit: 0 })).toBe("BAD_ARGS");
    expect(await args({ limit: 1.5 })).toBe("BAD_ARGS");
    expect(await args({ store: 5 })).toBe("BAD_ARGS");
    expect(await args({ store: "nope" })).toBe("INVALID_STORE");
    expect(await args({ topic: 7 })).toBe("BAD_ARGS");
    expect(await args({ topic: null })).toBe("BAD_ARGS"); // get_recent needs a topic
    expect(await args({ light: "yes" })).toBe("BAD_ARGS");
    expect(await args({ after_seq: -1 }, "bus.get_since")).toBe("BAD_ARGS");
    expect(await args({ priority_min: "x" }, "bus.query")).toBe("BAD_ARGS");
    expect(await args({ kind: "k".repeat(65) }, "bus.query")).toBe("BAD_ARGS");
    expect(await args({ regex: "x" }, "bus.query")).toBe("BAD_ARGS");
    expect(await args({ order: "sideways" }, "bus.query")).toBe("BAD_ARGS");
    expect(await args({ regex: [{ field: "type", pattern: "x".repeat(200) }] }, "bus.query")).toBe("REGEX_TOO_LONG");
    expect(await args({ regex: [{ field: "type", pattern: "(" }] }, "bus.query")).toBe("REGEX_INVALID");
    expect(await args({ regex: [{ field: "type", pattern: "(a|aa)*c" }] }, "bus.query")).toBe("REGEX_UNSAFE");
    expect(await c.err("bus.publish", { store: "messages" })).toBe("BAD_ARGS"); // no topic

    // A REQ-style envelope (an empty delimiter frame before the body) is echoed back in front of the reply.
    const frames = await c.raw([Buffer.alloc(0), packr.pack({ v: 1, req_id: "req", op: "ping" })]);
    expect(frames).toHaveLength(2);
    expect(frames[0]?.length).toBe(0);
    expect((unpackr.unpack(frames[1] as Buffer) as Reply).ok).toBe(true);

    // Still serving, and counting what went wrong.
    expect(await c.ok("ping")).toMatchObject({ ok: true });
    const stats = mp.stats().rpc;
    expect(stats.errors.BAD_ENCODING).toBe(4);
    expect(stats.errors.BAD_ARGS).toBeGreaterThanOrEqual(13);
  });

  it("validateMode warn tolerates a missing v and extra keys", async () => {
    const { mp } = await plane({}, { validateMode: "warn" });
    const c = new Client(mp.endpoints.rpc);
    const [b] = await c.raw(Buffer.from(JSON.stringify({ req_id: "w", op: "ping", extra: true })));
    expect(JSON.parse((b as Buffer).toString())).toMatchObject({ req_id: "w", ok: true });
  });

  it("refuses oversize payloads, names, topic counts, requests and results with codes", async () => {
    const { mp } = await plane({ maxTopicsPerStore: 2 }, { maxRequestBytes: 600 * 1024, maxResultBytes: 50_000 });
    const c = new Client(mp.endpoints.rpc);
    expect(await c.err("bus.publish", { store: "messages", topic: "t", payload: { s: "x".repeat(300 * 1024) } })).toBe(
      "PAYLOAD_TOO_LARGE",
    );
    expect(await c.err("bus.publish", { store: "messages", topic: "t".repeat(129), payload: {} })).toBe(
      "TOPIC_NAME_TOO_LONG",
    );
    await c.ok("bus.publish", { store: "messages", topic: "one", payload: {} });
    await c.ok("bus.publish", { store: "messages", topic: "two", payload: {} });
    expect(await c.err("bus.publish", { store: "messages", topic: "three", payload: {} })).toBe("TOO_MANY_TOPICS");
    expect(
      await c.err("bus.publish", { store: "messages", topic: "one", payload: { s: "x".repeat(700 * 1024) } }),
    ).toBe("REQUEST_TOO_LARGE");
    for (let i = 0; i < 100; i++)
      await c.ok("bus.publish", { store: "messages", topic: "one", payload: { s: "y".repeat(1000) } });
    expect(await c.err("bus.get_recent", { store: "messages", topic: "one", limit: 100 })).toBe("RESULT_TOO_LARGE");
    expect(await c.err("bus.get_recent", { store: "messages", topic: "one", limit: 100 }, "json")).toBe(
      "RESULT_TOO_LARGE",
    );
    expect((await c.ok("bus.get_recent", { store: "messages", topic: "one", limit: 10 })).items).toHaveLength(10);
  });
});

describe("INGEST", () => {
  it("100k messages pushed in batches are all stored and queryable", async () => {
    const { bus, mp } = await plane({ maxRecordsPerTopic: 200_000 });
    const push = new Push({ linger: 1000, sendHighWaterMark: 10_000 });
    push.connect(mp.endpoints.ingest);
    cleanups.push(() => push.close());
    const N = 100_000;
    for (let i = 0; i < N; i += 500) {
      const items = [];
      for (let n = i; n < i + 500; n++) {
        items.push({
          store: "messages",
          topic: "bulk",
          payload: { n, plugin_id: `p${n % 4}`, priority: n % 3, content: `m${n}` },
        });
      }
      await push.send(packr.pack({ items }));
    }
    await until(() => mp.stats().ingest.accepted === N, 20_000);
    expect(mp.stats().ingest).toMatchObject({ frames: 200, accepted: N, malformed: 0, badItems: 0, refused: {} });
    expect(bus.topics("messages")).toEqual([expect.objectContaining({ topic: "bulk", count: N, evicted: 0 })]);

    // Read them all back over RPC, 1000 at a time.
    const c = new Client(mp.endpoints.rpc);
    const seen: number[] = [];
    let after = 0;
    for (;;) {
      const r = await c.ok("bus.get_since", { store: "messages", topic: "bulk", after_seq: after, limit: 1000 });
      if (r.items.length === 0) break;
      for (const it of r.items) seen.push(it.payload.n);
      after = r.items.at(-1).seq;
    }
    expect(seen).toHaveLength(N);
    expect(seen.every((n, i) => n === i)).toBe(true);
    const q = await c.ok("bus.query", { store: "messages", topic: "bulk", plugin_id: "p3", priority_min: 2, limit: 3 });
    expect(q.items.map((x: any) => x.payload.n)).toEqual([99995, 99983, 99971]);
  });

  it("reads batches, bare arrays, single items and snapshots; counts and logs what it cannot use", async () => {
    const warnings: string[] = [];
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "plugd-mp-"));
    dirs.push(dir);
    const bus = createBus({ dataDir: dir, limits: { maxPayloadBytes: 1_000 }, log: { warn() {}, error() {} } });
    const mp = await startMessagePlane(bus, {
      rpcPort: 0,
      pubPort: 0,
      ingestPort: 0,
      log: { info() {}, warn: (_o, m) => warnings.push(m), error: (_o, m) => warnings.push(m) },
    });
    cleanups.push(async () => {
      await mp.close();
      await bus.close();
    });
    const push = new Push({ linger: 1000 });
    push.connect(mp.endpoints.ingest);
    cleanups.push(() => push.close());
    const item = (topic: string, payload: unknown, store = "runs") => ({ store, topic, payload });

    await push.send(packr.pack([item("arr", { a: 1 }), item("arr", { a: 2 })]));
    await push.send(packr.pack({ bus: "runs", topic: "single", payload: { run_id: "r-1", a: 3 } }));
    await push.send(packr.pack({ items: [item("mixed", { ok: 1 }), 42, { topic: "no-store" }, item("mixed", 7)] }));
    await push.send(packr.pack({ items: [item("big", { s: "z".repeat(2_000) }), item("big", { s: "small" })] }));
    await push.send(packr.pack({ items: [item("x", {}, "nope")] }));
    await push.send(packr.pack({ kind: "snapshot", store: "export", topic: "snap", items: [{ v: 1 }, { v: 2 }] }));
    await push.send(packr.pack({ kind: "snapshot", store: "export", topic: "snap", items: [{ v: 3 }] }));
    await push.send(
      packr.pack({ kind: "snapshot", store: "export", topic: "snap", mode: "append", items: [{ v: 4 }, 5] }),
    );
    await push.send(packr.pack({ kind: "snapshot", store: "export", items: [{ v: 9 }] }));
    await push.send(Buffer.from([0xc1, 0xc1]));
    await push.send(packr.pack("just a string"));
    await push.send(packr.pack({ neither: true }));
    await push.send([Buffer.from("two"), Buffer.from("frames")]);
    await push.send(packr.pack({ kind: "snapshot", store: "nope", items: [] }));
    await until(() => mp.stats().ingest.frames === 14);

    expect(mp.stats().ingest).toEqual({
      frames: 14,
      accepted: 2 + 1 + 2 + 1 + 2 + 1 + 1 + 1,
      malformed: 5,
      badItems: 3,
      refused: { PAYLOAD_TOO_LARGE: 1, INVALID_STORE: 1 },
    });
    expect(bus.recent("runs", { topic: "arr" }).map((r) => r.payload)).toEqual([{ a: 1 }, { a: 2 }]);
    expect(bus.recent("runs", { topic: "single" })[0]).toMatchObject({ id: "r-1", payload: { run_id: "r-1", a: 3 } });
    expect(bus.recent("runs", { topic: "mixed" }).map((r) => r.payload)).toEqual([{ ok: 1 }, { value: 7 }]);
    expect(bus.recent("runs", { topic: "big" }).map((r) => r.payload)).toEqual([{ s: "small" }]);
    // replace, then append
    expect(bus.recent("export", { topic: "snap" }).map((r) => r.payload)).toEqual([{ v: 3 }, { v: 4 }]);
    expect(bus.recent("export", { topic: "snapshot.all" }).map((r) => r.payload)).toEqual([{ v: 9 }]);
    expect(warnings.length).toBeGreaterThan(0);

    // The plane still works.
    const c = new Client(mp.endpoints.rpc);
    expect(await c.ok("ping")).toMatchObject({ ok: true });
  });
});

describe("PUB", () => {
  async function subscriber(endpoint: string, ...prefixes: string[]): Promise<Subscriber> {
    const s = new Subscriber({ linger: 0, receiveTimeout: 5_000 });
    s.connect(endpoint);
    for (const p of prefixes) s.subscribe(p);
    cleanups.push(() => s.close());
    return s;
  }

  it("publishes every accepted record (RPC, INGEST, in-process) to matching subscribers", async () => {
    const { bus, mp } = await plane();
    const all = await subscriber(mp.endpoints.pub, "messages.");
    const evOnly = await subscriber(mp.endpoints.pub, "events.only");
    await until(() => mp.stats().pub.subscriptions === 2);

    const c = new Client(mp.endpoints.rpc);
    await c.ok("bus.publish", { store: "messages", topic: "rpc", payload: { from: "rpc" } });
    const push = new Push({ linger: 1000 });
    push.connect(mp.endpoints.ingest);
    cleanups.push(() => push.close());
    await push.send(packr.pack({ items: [{ store: "messages", topic: "ingest", payload: { from: "ingest" } }] }));
    bus.publish({ store: "messages", topic: "local", payload: { from: "local" } });
    await c.err("bus.publish", { store: "messages", topic: "rpc", payload: { s: "x".repeat(300 * 1024) } }); // refused: not published
    bus.publish({ store: "events", topic: "only", payload: { from: "events" } });
    bus.publish({ store: "events", topic: "other", payload: { from: "nobody wants this" } });

    const got: [string, any][] = [];
    for (let i = 0; i < 3; i++) {
      const [t, body] = await all.receive();
      got.push([(t as Buffer).toString(), unpackr.unpack(body as Buffer)]);
    }
    got.sort((a, b) => a[1].seq - b[1].seq);
    // INGEST is a separate socket, so whether it lands before or after the in-process publish is a race.
    expect(got.map(([t]) => t).sort()).toEqual(["messages.ingest", "messages.local", "messages.rpc"]);
    expect(got[0]?.[1]).toMatchObject({ seq: 1, store: "messages", topic: "rpc", payload: { from: "rpc" }, index: {} });
    const [t, body] = await evOnly.receive();
    expect((t as Buffer).toString()).toBe("events.only");
    expect(unpackr.unpack(body as Buffer)).toMatchObject({ payload: { from: "events" } });
    // The record nobody subscribed to was never encoded or sent.
    expect(mp.stats().pub.sent).toBe(4);

    // Unsubscribing (and disconnecting) stops the feed for that prefix.
    all.unsubscribe("messages.");
    await until(() => mp.stats().pub.subscriptions === 1);
    evOnly.close();
    await until(() => mp.stats().pub.subscriptions === 0);
    bus.publish({ store: "messages", topic: "late", payload: {} });
    expect(mp.stats().pub.sent).toBe(4);
  });

  it("can publish JSON instead of msgpack", async () => {
    const { bus, mp } = await plane({}, { pubEncoding: "json" });
    const s = await subscriber(mp.endpoints.pub, "");
    await until(() => mp.stats().pub.subscriptions === 1);
    bus.publish({ store: "memory", topic: "m", payload: { bin: Buffer.from("hi") } });
    const [t, body] = await s.receive();
    expect((t as Buffer).toString()).toBe("memory.m");
    expect(JSON.parse((body as Buffer).toString())).toMatchObject({ store: "memory", payload: { bin: "aGk=" } });
  });
});

describe("lifecycle", () => {
  it("close() frees the ports; a port in use is a clear start error", async () => {
    const a = createBus({ dataDir: null });
    const first = await startMessagePlane(a, { rpcPort: 0, pubPort: 0, ingestPort: 0 });
    const ports = first.ports;
    expect(ports.rpc).toBeGreaterThan(0);
    await expect(startMessagePlane(a, { rpcPort: 0, pubPort: ports.pub, ingestPort: 0 })).rejects.toThrow(
      /cannot bind the PUB socket/,
    );
    await first.close();
    await first.close();
    const again = await startMessagePlane(a, { rpcPort: ports.rpc, pubPort: ports.pub, ingestPort: ports.ingest });
    expect(again.ports).toEqual(ports);
    await again.close();
    await a.close();
  });
});

describe("a Python (pyzmq) client", () => {
  let hasPyzmq = false;
  beforeAll(() => {
    hasPyzmq = spawnSync(PYTHON, ["-c", "import zmq"]).status === 0;
  });
  afterAll(() => {});

  it("runs every op over JSON and msgpack, reads PUB and pushes INGEST", async () => {
    // pyzmq is a test dependency (pip install pyzmq msgpack); without it this test fails rather than hide.
    expect(hasPyzmq, `${PYTHON} cannot import zmq: pip install pyzmq msgpack`).toBe(true);
    const { mp } = await plane();
    const out = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        PYTHON,
        [path.join(HERE, "message-plane-client.py"), mp.endpoints.rpc, mp.endpoints.pub, mp.endpoints.ingest],
        { timeout: 60_000 },
        (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    const last = out.stdout.trim().split("\n").at(-1) ?? "";
    let summary: { ok: boolean; msgpack: boolean; checks: number; failures: unknown[] };
    try {
      summary = JSON.parse(last);
    } catch {
      throw new Error(`python client printed no summary (exit ${out.code}): ${out.stdout}\n${out.stderr}`);
    }
    expect(summary.failures).toEqual([]);
    expect(summary.ok).toBe(true);
    expect(out.code).toBe(0);
    expect(summary.checks).toBeGreaterThan(summary.msgpack ? 90 : 40);
  });
});
