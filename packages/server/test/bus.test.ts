import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  BusError,
  type BusLimits,
  type BusRecord,
  compileGuardedRegex,
  createBus,
  DEFAULT_BUS_LIMITS,
  type LocalBus,
  type PublishInput,
  type PublishResult,
  type StoreName,
} from "../src/bus/index.js";

let dir: string;
const opened: LocalBus[] = [];

function bus(limits: Partial<BusLimits> = {}, dataDir: string | null = dir): LocalBus {
  const b = createBus({ dataDir, limits, log: { warn() {}, error() {} } });
  opened.push(b);
  return b;
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "plugd-bus-"));
});

afterEach(async () => {
  for (const b of opened.splice(0)) await b.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function ok(r: PublishResult): BusRecord {
  if (!r.submitted) throw new Error(`refused: ${r.code} ${r.reason}`);
  return r.record;
}

function refusedCode(r: PublishResult): string {
  if (r.submitted) throw new Error("expected a refusal");
  return r.code;
}

function busErrorCode(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof BusError) return err.code;
    throw err;
  }
  throw new Error("expected a BusError");
}

const msg = (i: number, patch: Partial<PublishInput> = {}): PublishInput => ({
  store: "messages",
  topic: "all",
  plugin_id: `p${i % 3}`,
  source: i % 2 ? "odd" : "even",
  kind: i % 4 === 0 ? "alert" : "note",
  type: "text",
  priority: i % 5,
  timestamp: 1_000 + i,
  payload: { i, content: `message number ${i}` },
  ...patch,
});

describe("publishing and reading", () => {
  it("assigns a per-store seq from 1, fills id/timestamp/defaults, and reads recent/since", () => {
    const b = bus({}, null);
    const a = ok(b.publish({ store: "messages", payload: { x: 1 } }));
    expect(a).toMatchObject({
      store: "messages",
      topic: "all",
      seq: 1,
      plugin_id: null,
      source: "",
      kind: "",
      type: "",
    });
    expect(a.priority).toBe(0);
    expect(typeof a.id).toBe("string");
    expect(Math.abs(a.timestamp - Date.now() / 1000)).toBeLessThan(5);
    expect(ok(b.publish({ store: "events", topic: "t" })).seq).toBe(1);
    expect(ok(b.publish({ store: "messages", topic: "other", id: "given" })).seq).toBe(2);
    expect(ok(b.publish({ store: "messages" })).payload).toBeNull();

    expect(b.recent("messages").map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(b.recent("messages", { topic: "all" }).map((r) => r.seq)).toEqual([1, 3]);
    expect(b.recent("messages", { limit: 2 }).map((r) => r.seq)).toEqual([2, 3]);
    expect(b.since("messages", 1).map((r) => r.seq)).toEqual([2, 3]);
    expect(b.since("messages", 1, { topic: "other" }).map((r) => r.id)).toEqual(["given"]);
    expect(b.since("messages", 3)).toEqual([]);
    expect(b.recent("messages", { topic: "missing" })).toEqual([]);
    expect(busErrorCode(() => b.recent("nope" as StoreName))).toBe("INVALID_STORE");
  });

  it("merges topics of a store in seq order, whatever the interleaving", () => {
    const b = bus({ maxRecordsPerTopic: 50 }, null);
    let x = 7;
    const rnd = () => {
      x = (x * 1103515245 + 12345) % 2 ** 31;
      return x;
    };
    for (let i = 0; i < 400; i++) ok(b.publish(msg(i, { topic: `t${rnd() % 7}` })));
    // Brute force over everything the rings still hold.
    const all = b
      .topics("messages")
      .flatMap((t) => b.recent("messages", { topic: t.topic, limit: 1000 }))
      .sort((p, q) => p.seq - q.seq);
    expect(b.recent("messages", { limit: 1000 }).map((r) => r.seq)).toEqual(all.map((r) => r.seq));
    expect(b.since("messages", 250, { limit: 1000 }).map((r) => r.seq)).toEqual(
      all.filter((r) => r.seq > 250).map((r) => r.seq),
    );
    const q = b.query({ store: "messages", plugin_id: "p1", limit: 1000 });
    expect(q.map((r) => r.seq)).toEqual(
      all
        .filter((r) => r.plugin_id === "p1")
        .map((r) => r.seq)
        .reverse(),
    );
    const asc = b.query({ store: "messages", kind: "alert", after_seq: 300, order: "asc", limit: 5 });
    expect(asc.map((r) => r.seq)).toEqual(
      all
        .filter((r) => r.kind === "alert" && r.seq > 300)
        .slice(0, 5)
        .map((r) => r.seq),
    );
  });

  it("clamps limits to maxQueryLimit", () => {
    const b = bus({ maxQueryLimit: 10, defaultQueryLimit: 4 }, null);
    for (let i = 0; i < 30; i++) ok(b.publish(msg(i)));
    expect(b.recent("messages", { limit: 1000 })).toHaveLength(10);
    expect(b.recent("messages")).toHaveLength(4);
    expect(b.query({ store: "messages", limit: 1000 })).toHaveLength(10);
    expect(b.since("messages", 0, { limit: 0 })).toHaveLength(0);
  });
});

describe("filters", () => {
  let b: LocalBus;
  beforeEach(() => {
    b = bus({}, null);
    for (let i = 0; i < 40; i++) ok(b.publish(msg(i, { topic: i < 20 ? "a" : "b" })));
  });

  const seqs = (rs: BusRecord[]) => rs.map((r) => r.payload as { i: number }).map((p) => p.i);

  it("exact fields, priority_min, time range, topic, order and after_seq", () => {
    expect(seqs(b.query({ store: "messages", plugin_id: "p2", limit: 100 }))).toEqual([
      38, 35, 32, 29, 26, 23, 20, 17, 14, 11, 8, 5, 2,
    ]);
    expect(seqs(b.query({ store: "messages", source: "odd", kind: "alert", limit: 100 }))).toEqual([]);
    expect(seqs(b.query({ store: "messages", kind: "alert", type: "text", limit: 3 }))).toEqual([36, 32, 28]);
    expect(seqs(b.query({ store: "messages", priority_min: 4, limit: 100 }))).toEqual([39, 34, 29, 24, 19, 14, 9, 4]);
    expect(seqs(b.query({ store: "messages", since_ts: 1_010, until_ts: 1_012, limit: 100 }))).toEqual([12, 11, 10]);
    expect(seqs(b.query({ store: "messages", topic: "b", priority_min: 4, limit: 100 }))).toEqual([39, 34, 29, 24]);
    expect(seqs(b.query({ store: "messages", topic: "a", order: "asc", after_seq: 15, limit: 100 }))).toEqual([
      15, 16, 17, 18, 19,
    ]);
    expect(b.query({ store: "events" })).toEqual([]);
  });

  it("regex filters on every field, with flags", () => {
    const q = (
      field: "topic" | "plugin_id" | "source" | "kind" | "type" | "payload",
      pattern: string,
      flags?: string,
    ) => seqs(b.query({ store: "messages", limit: 100, regex: [{ field, pattern, flags }] }));
    expect(q("topic", "^b$")).toHaveLength(20);
    expect(q("plugin_id", "^p[01]$")).toHaveLength(27);
    expect(q("source", "^ODD$", "i")).toHaveLength(20);
    expect(q("kind", "ale")).toHaveLength(10);
    expect(q("type", "^text$")).toHaveLength(40);
    expect(q("payload", '"content":"message number 3[0-9]"')).toEqual([39, 38, 37, 36, 35, 34, 33, 32, 31, 30]);
    // Several filters all apply.
    expect(
      seqs(
        b.query({
          store: "messages",
          regex: [
            { field: "payload", pattern: "number 1" },
            { field: "source", pattern: "even" },
          ],
        }),
      ),
    ).toEqual([18, 16, 14, 12, 10]);
  });

  it("a filter of the wrong type is a BusError, not a silent no-match", () => {
    expect(busErrorCode(() => b.query({ store: "messages", plugin_id: 5 as unknown as string }))).toBe("BAD_FILTER");
    expect(busErrorCode(() => b.query({ store: "messages", priority_min: "x" as unknown as number }))).toBe(
      "BAD_FILTER",
    );
    expect(
      busErrorCode(() => b.query({ store: "messages", regex: [{ field: "nope" as "topic", pattern: "x" }] })),
    ).toBe("BAD_FILTER");
  });
});

describe("regex guard (ReDoS)", () => {
  const limits = DEFAULT_BUS_LIMITS;

  it("refuses long, invalid and unsafe patterns up front with their codes", () => {
    const code = (p: string, f?: string) => busErrorCode(() => compileGuardedRegex(p, f, limits));
    expect(code("a".repeat(129))).toBe("REGEX_TOO_LONG");
    expect(compileGuardedRegex("a".repeat(128), "", limits).test("a".repeat(128))).toBe(true);
    expect(code("(unclosed")).toBe("REGEX_INVALID");
    expect(code("a", "g")).toBe("REGEX_INVALID");
    expect(code("a", "ii")).toBe("REGEX_INVALID");
    expect(code(5 as unknown as string)).toBe("REGEX_INVALID");
    for (const p of [
      "(a+)+b",
      "(a*)*b",
      "(?:a+){2,}",
      "((ab)*)+c",
      "(x+x+)+y",
      "(\\w+\\s?)*$",
      "(a|aa)*b",
      "(a|a)+$",
      "(.*a){20}",
      "(a)\\1",
      "(?<n>a)\\k<n>",
      ".*a.*b.*c.*d",
    ]) {
      expect(code(p), p).toBe("REGEX_UNSAFE");
    }
  });

  it("accepts ordinary patterns, and bounds the polynomial ones by cutting the subject", () => {
    for (const p of ["^plugin-[0-9]+$", "error|warn", "\\d{1,3}(\\.\\d{1,3}){3}", "(foo|bar)?baz", "[a-z]+@x\\.com"]) {
      expect(() => compileGuardedRegex(p, "i", limits), p).not.toThrow();
    }
    expect(compileGuardedRegex(".*b", "", limits).maxSubject).toBe(1024);
    const two = compileGuardedRegex(".*a.*b", "", limits);
    expect(two.maxSubject).toBeLessThan(1024);
    expect(two.maxSubject).toBeGreaterThanOrEqual(64);
    // The adversarial subject that takes seconds unguarded stays cheap.
    const t0 = performance.now();
    expect(two.test("a".repeat(100_000))).toBe(false);
    expect(performance.now() - t0).toBeLessThan(100);
    // An anchored pattern has one start position, so it keeps more of the subject.
    expect(compileGuardedRegex("^.*a.*b", "", limits).maxSubject).toBeGreaterThan(two.maxSubject);
  });

  it("a query whose regexes exceed the time budget fails with REGEX_TIMEOUT", () => {
    const b = bus({ regexBudgetMs: 5, maxRecordsPerTopic: 5_000 }, null);
    const long = "x".repeat(1_000);
    for (let i = 0; i < 5_000; i++) ok(b.publish({ store: "messages", payload: long }));
    const t0 = performance.now();
    expect(
      busErrorCode(() => b.query({ store: "messages", limit: 1, regex: [{ field: "payload", pattern: ".*y" }] })),
    ).toBe("REGEX_TIMEOUT");
    expect(performance.now() - t0).toBeLessThan(500);
    // The same filter on fewer records fits the budget.
    expect(b.query({ store: "messages", limit: 1, regex: [{ field: "payload", pattern: "^x" }] })).toHaveLength(1);
  });

  it("queries and subscriptions surface the guard's codes", () => {
    const b = bus({}, null);
    expect(busErrorCode(() => b.query({ store: "messages", regex: [{ field: "type", pattern: "(a+)+" }] }))).toBe(
      "REGEX_UNSAFE",
    );
    expect(busErrorCode(() => b.subscribe({ regex: [{ field: "type", pattern: "[" }] }, () => {}))).toBe(
      "REGEX_INVALID",
    );
  });
});

describe("bounds and eviction", () => {
  it("evicts the oldest records of a topic and counts every eviction", () => {
    const b = bus({ maxRecordsPerTopic: 5 }, null);
    for (let i = 0; i < 12; i++) ok(b.publish(msg(i)));
    for (let i = 0; i < 3; i++) ok(b.publish(msg(i, { topic: "quiet" })));
    const info = Object.fromEntries(b.topics("messages").map((t) => [t.topic, t]));
    expect(info.all).toMatchObject({ count: 5, evicted: 7, last_seq: 12, count_total: 12 });
    expect(info.quiet).toMatchObject({ count: 3, evicted: 0, last_seq: 15 });
    expect(b.recent("messages", { topic: "all" }).map((r) => r.seq)).toEqual([8, 9, 10, 11, 12]);
    expect(b.since("messages", 0, { topic: "all" }).map((r) => r.seq)).toEqual([8, 9, 10, 11, 12]);
    expect(b.topics()).toHaveLength(2);
    expect(b.topics("events")).toEqual([]);
  });

  it("refuses what breaks a limit, with a code, and counts it", () => {
    const b = bus({ maxPayloadBytes: 1_000, maxTopicNameLength: 10, maxTopicsPerStore: 2 }, null);
    expect(refusedCode(b.publish({ store: "messages", payload: "x".repeat(2_000) }))).toBe("PAYLOAD_TOO_LARGE");
    expect(refusedCode(b.publish({ store: "messages", topic: "t".repeat(11) }))).toBe("TOPIC_NAME_TOO_LONG");
    ok(b.publish({ store: "messages", topic: "t1" }));
    ok(b.publish({ store: "messages", topic: "t2" }));
    expect(refusedCode(b.publish({ store: "messages", topic: "t3" }))).toBe("TOO_MANY_TOPICS");
    ok(b.publish({ store: "messages", topic: "t1" })); // an existing topic is still fine
    ok(b.publish({ store: "events", topic: "t3" })); // the bound is per store
    expect(refusedCode(b.publish({ store: "nope" as StoreName }))).toBe("INVALID_STORE");
    expect(refusedCode(b.publish({ store: "messages", topic: "" }))).toBe("INVALID_TOPIC");
    expect(refusedCode(b.publish({ store: "messages", topic: "*" }))).toBe("INVALID_TOPIC");
    expect(refusedCode(b.publish({ store: "messages", topic: "t1", source: 5 as unknown as string }))).toBe(
      "INVALID_INPUT",
    );
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(refusedCode(b.publish({ store: "messages", topic: "t1", payload: cyclic }))).toBe("PAYLOAD_INVALID");
    expect(refusedCode(b.publish(null as unknown as PublishInput))).toBe("INVALID_INPUT");
    expect(b.stats().refused).toEqual({
      PAYLOAD_TOO_LARGE: 1,
      TOPIC_NAME_TOO_LONG: 1,
      TOO_MANY_TOPICS: 1,
      INVALID_STORE: 1,
      INVALID_TOPIC: 2,
      INVALID_INPUT: 2,
      PAYLOAD_INVALID: 1,
    });
    // A refused record takes no seq and creates no topic.
    expect(b.topics("messages").map((t) => t.topic)).toEqual(["t1", "t2"]);
    expect(ok(b.publish({ store: "messages", topic: "t2" })).seq).toBe(4);
  });

  it("publishMany answers per input, in order; a trusted size bound skips re-measuring", () => {
    const b = bus({ maxPayloadBytes: 1_000 }, null);
    const res = b.publishMany([msg(1), { store: "messages", payload: "x".repeat(2_000) }, msg(2)]);
    expect(res.map((r) => r.submitted)).toEqual([true, false, true]);
    expect(refusedCode(res[1] as PublishResult)).toBe("PAYLOAD_TOO_LARGE");
    // The caller vouches that no payload exceeds 400 bytes (≤ half the limit): no per-record measuring.
    const trusted = b.publishMany([msg(3), msg(4)], { payloadBytesUpperBound: 400 });
    expect(trusted.every((r) => r.submitted)).toBe(true);
    // A bound above half the limit is not trusted.
    expect(
      b.publishMany([{ store: "messages", payload: "x".repeat(2_000) }], { payloadBytesUpperBound: 600 })[0]?.submitted,
    ).toBe(false);
  });

  it("clearTopic empties a topic without counting evictions", () => {
    const b = bus({}, null);
    for (let i = 0; i < 5; i++) ok(b.publish(msg(i)));
    expect(b.clearTopic("messages", "all")).toBe(5);
    expect(b.recent("messages", { topic: "all" })).toEqual([]);
    expect(b.topics("messages")[0]).toMatchObject({ count: 0, evicted: 0, last_seq: 5 });
    expect(ok(b.publish(msg(9))).seq).toBe(6);
  });
});

describe("persistence", () => {
  it("keeps records, seqs, counters and created_at across close and reopen", async () => {
    const a = bus({ maxRecordsPerTopic: 100 });
    for (let i = 0; i < 150; i++) ok(a.publish(msg(i)));
    for (let i = 0; i < 10; i++) ok(a.publish(msg(i, { store: "events", topic: `e${i % 2}` })));
    ok(a.publish({ store: "runs", topic: "r", payload: { bin: Buffer.from([1, 2, 3]), nested: { list: [1, "a"] } } }));
    const before = a.topics();
    await a.close();
    expect(fs.existsSync(path.join(dir, "bus.db"))).toBe(true);

    const b = bus({ maxRecordsPerTopic: 100 });
    expect(b.topics()).toEqual(before);
    const recs = b.recent("messages", { topic: "all", limit: 1000 });
    expect(recs).toHaveLength(100);
    expect(recs[0]).toMatchObject({ seq: 51, plugin_id: "p2", source: "even", kind: "note", priority: 0 });
    expect(recs[0]?.payload).toEqual({ i: 50, content: "message number 50" });
    expect(b.topics("messages")[0]).toMatchObject({ evicted: 50, count: 100 });
    const run = b.recent("runs")[0];
    expect(Buffer.from((run?.payload as { bin: Uint8Array } | undefined)?.bin ?? [])).toEqual(Buffer.from([1, 2, 3]));
    expect(b.recent("events", { topic: "e1" }).map((r) => r.seq)).toEqual([2, 4, 6, 8, 10]);
    // Seqs go on where they stopped, never reused.
    expect(ok(b.publish(msg(0))).seq).toBe(151);
    expect(ok(b.publish({ store: "events", topic: "e0" })).seq).toBe(11);
    expect(ok(b.publish({ store: "memory" })).seq).toBe(1);
  });

  it("flush() writes what is buffered; a second process sees it; disk is pruned to the bound", async () => {
    const a = bus({ maxRecordsPerTopic: 100, flushIntervalMs: 60_000, flushMaxRecords: 1_000_000 });
    for (let i = 0; i < 1_000; i++) {
      ok(a.publish(msg(i)));
      if (i % 50 === 49) await a.flush();
    }
    await a.flush();
    const db = new Database(path.join(dir, "bus.db"), { readonly: true });
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    const onDisk = db.prepare("SELECT SUM(count) AS n, MIN(first_seq) AS lo FROM bus_chunks").get() as {
      n: number;
      lo: number;
    };
    db.close();
    // The bound plus at most one partly evicted chunk.
    expect(onDisk.n).toBeGreaterThanOrEqual(100);
    expect(onDisk.n).toBeLessThanOrEqual(150);
    expect(onDisk.lo).toBeGreaterThan(800);

    const b = bus({ maxRecordsPerTopic: 100 });
    expect(b.recent("messages", { topic: "all", limit: 1000 }).map((r) => r.seq)).toEqual(
      Array.from({ length: 100 }, (_, k) => 901 + k),
    );
  });

  it("after a crash (unflushed records lost) a seq is still never reused", async () => {
    const a = createBus({ dataDir: dir, limits: { flushIntervalMs: 600_000, flushMaxRecords: 1_000_000 } });
    for (let i = 0; i < 10; i++) ok(a.publish(msg(i)));
    await a.flush();
    for (let i = 10; i < 15; i++) ok(a.publish(msg(i)));
    // `a` is never closed: its last five records never reach the disk, as in a crash.
    const b = bus();
    expect(b.recent("messages").map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(ok(b.publish(msg(99))).seq).toBeGreaterThan(15);
  });

  it("a lower bound at restart trims the oldest records and counts them as evicted", async () => {
    const a = bus({ maxRecordsPerTopic: 50 });
    for (let i = 0; i < 40; i++) ok(a.publish(msg(i)));
    await a.close();
    const b = bus({ maxRecordsPerTopic: 30 });
    expect(b.recent("messages", { limit: 1000 })).toHaveLength(30);
    expect(b.topics("messages")[0]).toMatchObject({ count: 30, evicted: 10 });
  });

  it("a snapshot replace (clearTopic) survives a restart", async () => {
    const a = bus();
    for (let i = 0; i < 5; i++) ok(a.publish(msg(i)));
    a.clearTopic("messages", "all");
    ok(a.publish(msg(7)));
    await a.close();
    const b = bus();
    expect(b.recent("messages").map((r) => (r.payload as { i: number }).i)).toEqual([7]);
  });

  it("refuses to publish after close", async () => {
    const a = bus();
    await a.close();
    expect(refusedCode(a.publish(msg(1)))).toBe("BUS_CLOSED");
    await a.close(); // idempotent
  });
});

describe("subscriptions", () => {
  it("delivers synchronously to matching subscribers only", () => {
    const b = bus({}, null);
    const got: Record<string, number[]> = { all: [], events: [], alerts: [], topicB: [], regex: [] };
    const seqOf = (k: string) => (r: BusRecord) => got[k]?.push((r.payload as { i: number }).i);
    b.subscribe({}, seqOf("all"));
    b.subscribe({ store: "events" }, seqOf("events"));
    b.subscribe({ store: "messages", kind: "alert", priority_min: 1 }, seqOf("alerts"));
    b.subscribe({ topic: "b" }, seqOf("topicB"));
    b.subscribe({ regex: [{ field: "payload", pattern: 'number 1[0-9]"' }] }, seqOf("regex"));
    for (let i = 0; i < 20; i++) {
      const r = b.publish(msg(i, { topic: i % 2 ? "b" : "a" }));
      // Delivered before publish returned.
      expect(got.all?.at(-1)).toBe(i);
      ok(r);
    }
    b.publish({ store: "events", topic: "b", payload: { i: 100 } });
    expect(got.all).toHaveLength(21);
    expect(got.events).toEqual([100]);
    expect(got.alerts).toEqual([4, 8, 12, 16]);
    expect(got.topicB).toEqual([1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 100]);
    expect(got.regex).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    expect(b.stats().subscribers).toBe(5);
  });

  it("unsubscribes (also from inside a callback) and survives a throwing subscriber", () => {
    const warned: unknown[] = [];
    const b = createBus({ dataDir: null, log: { warn: (o) => warned.push(o), error() {} } });
    opened.push(b);
    const seen: number[] = [];
    const later: number[] = [];
    b.subscribe({}, () => {
      throw new Error("boom");
    });
    const off = b.subscribe({}, (r) => {
      seen.push(r.seq);
      if (r.seq === 2) off();
    });
    b.subscribe({}, (r) => later.push(r.seq));
    for (let i = 0; i < 4; i++) ok(b.publish(msg(i)));
    expect(seen).toEqual([1, 2]);
    expect(later).toEqual([1, 2, 3, 4]);
    expect(warned).toHaveLength(4);
    off(); // twice is harmless
    expect(b.stats().subscribers).toBe(2);
  });

  it("refused records are not delivered", () => {
    const b = bus({ maxPayloadBytes: 100 }, null);
    const seen: BusRecord[] = [];
    b.subscribe({}, (r) => seen.push(r));
    b.publish({ store: "messages", payload: "y".repeat(500) });
    expect(seen).toEqual([]);
  });
});
