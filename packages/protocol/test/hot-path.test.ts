import { describe, expect, it } from "vitest";
import { ErrorCodes } from "../src/errors.js";
import { IdTable } from "../src/id-table.js";
import { encodeInvokeParams } from "../src/methods.js";
import { rawPeer as raw } from "./helpers.js";

describe("RpcPeer envelope fast path", () => {
  it("reads requests whose envelope is not the usual shape exactly as the usual ones", async () => {
    const { peer, next, send } = raw();
    peer.onRequest("echo", (p) => p ?? "none");
    send('{"jsonrpc":"2.0","id":1,"method":"echo","params":{"a":[1,2,{"b":"}"}]}}');
    send('{"jsonrpc": "2.0", "id": 2, "method": "echo", "params": "spaced"}');
    send('{"jsonrpc":"2.0","id":"s-3","method":"echo","params":3}');
    send('{"jsonrpc":"2.0","id":4,"method":"echo"}');
    send('{"jsonrpc":"2.0","id":5,"method":"echo","params":5,"extra":true}');
    send('{"jsonrpc":"2.0","id":6,"method":"ec\\u0068o","params":6}');
    send('{"jsonrpc":"2.0","id":7,"method":"echo","params":{"x":1},"params":"last wins"}');
    send('{"jsonrpc":"2.0","id":08,"method":"echo","params":8}');
    send('{"jsonrpc":"2.0","id":9,"method":"echo","params":{"broken":}');
    send('{"jsonrpc":"2.0","id":10,"method":"echo","params":"é ✓"}');
    const r = await next(10);
    expect(r[0]).toEqual({ jsonrpc: "2.0", id: 1, result: { a: [1, 2, { b: "}" }] } });
    expect(r[1]).toEqual({ jsonrpc: "2.0", id: 2, result: "spaced" });
    expect(r[2]).toEqual({ jsonrpc: "2.0", id: "s-3", result: 3 });
    expect(r[3]).toEqual({ jsonrpc: "2.0", id: 4, result: "none" });
    expect(r[4]).toEqual({ jsonrpc: "2.0", id: 5, result: 5 });
    expect(r[5]).toEqual({ jsonrpc: "2.0", id: 6, result: 6 });
    expect(r[6]).toEqual({ jsonrpc: "2.0", id: 7, result: "last wins" });
    expect(r[7]).toMatchObject({ id: null, error: { code: ErrorCodes.PARSE_ERROR } });
    expect(r[8]).toMatchObject({ id: null, error: { code: ErrorCodes.PARSE_ERROR } });
    expect(r[9]).toEqual({ jsonrpc: "2.0", id: 10, result: "é ✓" });
  });

  it("matches responses in any shape, errors and late answers included", async () => {
    const { peer, next, send, warnings } = raw();
    const calls = [peer.request("a"), peer.request("b"), peer.request("c"), peer.request("d")];
    const sent = await next(4);
    expect(sent.map((m) => m.id)).toEqual([1, 2, 3, 4]);
    send('{"jsonrpc":"2.0","id":1,"result":{"output":"x"}}');
    send('{"jsonrpc":"2.0","id":2,"error":{"code":1002,"message":"bad"}}');
    send('{"id":3,"jsonrpc":"2.0","result":null}');
    send('{"jsonrpc":"2.0","id":4,"result":1,"error":{"code":1,"message":"both"}}');
    send('{"jsonrpc":"2.0","id":77,"result":"late"}');
    const settled = await Promise.allSettled(calls);
    expect(settled[0]).toEqual({ status: "fulfilled", value: { output: "x" } });
    expect(settled[1]).toMatchObject({ status: "rejected", reason: { code: 1002, message: "bad" } });
    expect(settled[2]).toEqual({ status: "fulfilled", value: null });
    expect(settled[3]).toMatchObject({ status: "rejected", reason: { message: "both" } });
    await new Promise((r) => setTimeout(r, 5));
    expect(warnings.map((w) => w.kind)).toEqual(["unknown_response"]);
  });

  it("writes envelopes as JSON.stringify would", async () => {
    const { peer, next, texts } = raw();
    peer.onRequest("r", (p) => p);
    void peer.request("m/x", { k: [1, "two"] });
    peer.notify("n", { a: 1 });
    peer.notify("bare");
    void peer.request("bare");
    await next(4);
    expect(texts).toEqual([
      JSON.stringify({ jsonrpc: "2.0", id: 1, method: "m/x", params: { k: [1, "two"] } }),
      JSON.stringify({ jsonrpc: "2.0", method: "n", params: { a: 1 } }),
      JSON.stringify({ jsonrpc: "2.0", method: "bare" }),
      JSON.stringify({ jsonrpc: "2.0", id: 2, method: "bare" }),
    ]);
  });

  it("answers a result that cannot be serialized with an error instead of throwing", async () => {
    const { peer, next, send } = raw();
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    peer.onRequest("cycle", () => cyclic);
    peer.onRequest("big", () => 10n);
    peer.onRequest("fn", () => () => 1);
    send('{"jsonrpc":"2.0","id":1,"method":"cycle"}');
    send('{"jsonrpc":"2.0","id":2,"method":"big"}');
    send('{"jsonrpc":"2.0","id":3,"method":"fn"}');
    const r = await next(3);
    expect(r[0]).toMatchObject({ id: 1, error: { code: ErrorCodes.INTERNAL_ERROR } });
    expect(r[1]).toMatchObject({ id: 2, error: { code: ErrorCodes.INTERNAL_ERROR } });
    expect(r[2]).toEqual({ jsonrpc: "2.0", id: 3, result: null });
  });

  it("rejects a request whose params cannot be serialized, and stays usable", async () => {
    const { peer, next, send } = raw();
    await expect(peer.request("x", { n: 1n })).rejects.toThrow(/BigInt/);
    const p = peer.request("y", 1);
    const [m] = await next(1);
    expect(m).toEqual({ jsonrpc: "2.0", id: m.id, method: "y", params: 1 });
    send(`{"jsonrpc":"2.0","id":${m.id},"result":2}`);
    expect(await p).toBe(2);
  });

  it("requestJson hands the answer, or why there is none, to the sink", async () => {
    const { peer, next, send } = raw();
    const got: unknown[] = [];
    const sink = { resolve: (v: unknown) => got.push(["ok", v]), reject: (e: Error) => got.push(["err", e.message]) };
    peer.requestJson("m", '{"a":1}', {}, sink);
    const [m] = await next(1);
    expect(m.params).toEqual({ a: 1 });
    send(`{"jsonrpc":"2.0","id":${m.id},"result":{"b":2}}`);
    await new Promise((r) => setTimeout(r, 5));
    peer.requestJson("big", JSON.stringify("z".repeat(2000)), {}, sink);
    peer.requestJson("t", undefined, { timeoutMs: 10 }, sink);
    await new Promise((r) => setTimeout(r, 40));
    peer.close("bye");
    peer.requestJson("late", undefined, {}, sink);
    expect(got).toEqual([
      ["ok", { b: 2 }],
      ["err", expect.stringContaining("message limit")],
      ["err", "'t' timed out after 10 ms"],
      ["err", expect.stringContaining("connection closed")],
    ]);
  });
});

describe("encodeInvokeParams", () => {
  it("is JSON.stringify of the params", () => {
    const cases = [
      { runId: "r1", entry: "echo", input: { a: 1, s: 'q"\\\n✓' } },
      { runId: "r\u2028", entry: "e", input: undefined, timeoutMs: 5 },
      { runId: "r", entry: "e", input: [1, null], callChain: ["a", "b"], meta: { parentRunId: "p" }, timeoutMs: 60000 },
      { runId: "r", entry: "e", input: { d: new Date(0) }, timeoutMs: Number.POSITIVE_INFINITY },
      { runId: "r", entry: "e", input: null, callChain: undefined, meta: undefined },
    ];
    for (const c of cases) expect(encodeInvokeParams(c)).toBe(JSON.stringify(c));
    expect(() => encodeInvokeParams({ runId: "r", entry: "e", input: 1n })).toThrow();
  });
});

describe("IdTable", () => {
  it("keeps entries whose slots collide, in order, and grows", () => {
    const t = new IdTable<string>(16);
    for (let id = 1; id <= 200; id++) t.set(id, `v${id}`);
    expect(t.size).toBe(200);
    for (let id = 1; id <= 200; id++) expect(t.get(id)).toBe(`v${id}`);
    expect(t.entries().map(([id]) => id)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    for (let id = 1; id <= 200; id += 2) expect(t.delete(id)).toBe(true);
    expect(t.delete(1)).toBe(false);
    expect(t.size).toBe(100);
    expect(t.get(3)).toBeUndefined();
    expect(t.get(4)).toBe("v4");
    expect(t.get("4")).toBeUndefined();
    expect(t.has(200)).toBe(true);
    t.clear();
    expect(t.size).toBe(0);
    expect(t.get(4)).toBeUndefined();
  });

  it("serves ids far apart, as a request stuck for a long time and the ones after it", () => {
    const t = new IdTable<number>(16);
    t.set(1, 1);
    for (let id = 2; id < 100_000; id++) {
      t.set(id, id);
      expect(t.get(id)).toBe(id);
      t.delete(id);
    }
    expect(t.get(1)).toBe(1);
    expect(t.size).toBe(1);
    t.set(2 ** 40 + 1, 5);
    expect(t.get(2 ** 40 + 1)).toBe(5);
    expect(t.get(1)).toBe(1);
  });
});
