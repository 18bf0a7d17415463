import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { ErrorCodes, RpcError } from "../src/errors.js";
import { type ProtocolWarning, RpcPeer } from "../src/peer.js";
import { rawPeer as raw } from "./helpers.js";

/** Two peers wired back to back over in-memory streams. */
function pair(opts: { maxMessageBytes?: number } = {}) {
  const aToB = new PassThrough();
  const bToA = new PassThrough();
  const warningsA: ProtocolWarning[] = [];
  const warningsB: ProtocolWarning[] = [];
  const a = new RpcPeer(bToA, aToB, { ...opts, onWarning: (w) => warningsA.push(w) });
  const b = new RpcPeer(aToB, bToA, { ...opts, onWarning: (w) => warningsB.push(w) });
  return { a, b, aToB, bToA, warningsA, warningsB };
}

describe("RpcPeer", () => {
  it("round-trips requests both ways and notifications", async () => {
    const { a, b } = pair();
    b.onRequest("add", (p: { x: number; y: number }) => p.x + p.y);
    a.onRequest("hello", async (p: string) => `hi ${p}`);
    const notes: unknown[] = [];
    b.onNotification("note", (p) => notes.push(p));
    expect(await a.request("add", { x: 2, y: 3 })).toBe(5);
    expect(await b.request("hello", "there")).toBe("hi there");
    a.notify("note", { n: 1 });
    await new Promise((r) => setTimeout(r, 10));
    expect(notes).toEqual([{ n: 1 }]);
  });

  it("answers many pipelined requests in order of completion", async () => {
    const { a, b } = pair();
    b.onRequest("echo", (p) => p);
    const results = await Promise.all(Array.from({ length: 1000 }, (_, i) => a.request("echo", i)));
    expect(results).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });

  it("coalesces messages sent in one turn into one write", async () => {
    const { a, b, aToB } = pair();
    b.onRequest("echo", (p) => p);
    let writes = 0;
    aToB.on("data", () => writes++);
    // ~75 bytes a frame: 40 stay under the 4 KiB eager-flush mark.
    await Promise.all(Array.from({ length: 40 }, (_, i) => a.request("echo", i)));
    expect(writes).toBe(1);
  });

  it("hands the other side a first slice at 4 KiB instead of waiting for the end of the turn", async () => {
    const { a, b, aToB } = pair();
    b.onRequest("echo", (p) => p);
    const sizes: number[] = [];
    aToB.on("data", (c: Buffer) => sizes.push(c.length));
    await Promise.all(Array.from({ length: 400 }, (_, i) => a.request("echo", i)));
    const total = sizes.reduce((x, y) => x + y, 0);
    // Several writes, each (but the last) just past 4 KiB: neither one per message nor one for the whole turn.
    expect(sizes.length).toBeGreaterThan(1);
    expect(sizes.length).toBeLessThanOrEqual(Math.ceil(total / 4096) + 1);
    for (const n of sizes.slice(0, -1)) {
      expect(n).toBeGreaterThanOrEqual(4096);
      expect(n).toBeLessThan(4096 + 200);
    }
  });

  it("maps thrown errors to error responses with codes", async () => {
    const { a, b } = pair();
    b.onRequest("fail", () => {
      throw RpcError.of("INVALID_INPUT", "bad input", { field: "x" });
    });
    b.onRequest("boom", async () => {
      throw new Error("kaput");
    });
    await expect(a.request("fail")).rejects.toMatchObject({ code: ErrorCodes.INVALID_INPUT, message: "bad input" });
    const err = (await a.request("boom").catch((e) => e)) as RpcError;
    expect(err.code).toBe(ErrorCodes.ENTRY_FAILED);
    expect(err.symbol).toBe("ENTRY_FAILED");
    await expect(a.request("nope")).rejects.toMatchObject({ code: ErrorCodes.METHOD_NOT_FOUND });
  });

  it("times out a request and tells the other side to cancel", async () => {
    const { a, b } = pair();
    let aborted = false;
    b.onRequest(
      "slow",
      (_p, ctx) =>
        new Promise((_r, reject) => {
          ctx.signal.addEventListener("abort", () => {
            aborted = true;
            reject(new Error("stopped"));
          });
        }),
    );
    const err = (await a.request("slow", null, { timeoutMs: 50 }).catch((e) => e)) as RpcError;
    expect(err.code).toBe(ErrorCodes.TIMEOUT);
    expect(err.message).toContain("50 ms");
    await new Promise((r) => setTimeout(r, 20));
    expect(aborted).toBe(true);
  });

  it("cancels through an AbortSignal and the handler sees it", async () => {
    const { a, b } = pair();
    const seen: string[] = [];
    b.onRequest(
      "slow",
      (_p, ctx) =>
        new Promise((_r, reject) => {
          ctx.signal.addEventListener("abort", () => {
            seen.push("aborted");
            reject(new Error("x"));
          });
        }),
    );
    const ac = new AbortController();
    const p = a.request("slow", null, { signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    await expect(p).rejects.toMatchObject({ code: ErrorCodes.CANCELLED });
    await new Promise((r) => setTimeout(r, 20));
    expect(seen).toEqual(["aborted"]);
    expect(a.pendingCount).toBe(0);
  });

  it("fails every pending request with a clear error when the connection closes", async () => {
    const { a, b, bToA } = pair();
    b.onRequest("never", () => new Promise(() => {}));
    const p1 = a.request("never");
    const p2 = a.request("never");
    await new Promise((r) => setTimeout(r, 10));
    bToA.end();
    for (const p of [p1, p2]) {
      const err = (await p.catch((e) => e)) as RpcError;
      expect(err.code).toBe(ErrorCodes.CONNECTION_CLOSED);
      expect(err.message).toMatch(/'never' \(id \d+\)/);
    }
    await expect(a.request("x")).rejects.toMatchObject({ code: ErrorCodes.CONNECTION_CLOSED });
  });

  it("refuses to send an oversize message and stays usable", async () => {
    const { a, b } = pair({ maxMessageBytes: 1000 });
    b.onRequest("echo", (p) => p);
    await expect(a.request("echo", "x".repeat(2000))).rejects.toMatchObject({ code: ErrorCodes.MESSAGE_TOO_LARGE });
    expect(await a.request("echo", "small")).toBe("small");
  });

  it("answers an oversize incoming request with MESSAGE_TOO_LARGE and goes on", async () => {
    const { peer, next, send, warnings } = raw();
    peer.onRequest("echo", (p) => p);
    send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "echo", params: "z".repeat(5000) }));
    send(JSON.stringify({ jsonrpc: "2.0", id: 2, method: "echo", params: "ok" }));
    const [r1, r2] = await next(2);
    expect(r1).toMatchObject({ id: 1, error: { code: ErrorCodes.MESSAGE_TOO_LARGE } });
    expect(r2).toEqual({ jsonrpc: "2.0", id: 2, result: "ok" });
    expect(warnings.map((w) => w.kind)).toContain("oversize");
  });

  it("fails a pending request whose response is oversize", async () => {
    const { a, b } = pair({ maxMessageBytes: 1000 });
    // b's own limit refuses to send it, and says so to a.
    b.onRequest("big", () => "y".repeat(5000));
    await expect(a.request("big")).rejects.toMatchObject({ code: ErrorCodes.MESSAGE_TOO_LARGE });
  });

  it("answers a request with a string id whose async result or error is oversize with MESSAGE_TOO_LARGE", async () => {
    const { peer, next, send } = raw();
    peer.onRequest("big", async () => "y".repeat(5000));
    peer.onRequest("loud", async () => {
      throw RpcError.of("INVALID_INPUT", "e".repeat(5000));
    });
    send(JSON.stringify({ jsonrpc: "2.0", id: "s-1", method: "big" }));
    send(JSON.stringify({ jsonrpc: "2.0", id: "s-2", method: "loud" }));
    const replies = await next(2);
    expect(replies).toEqual([
      expect.objectContaining({ id: "s-1", error: expect.objectContaining({ code: ErrorCodes.MESSAGE_TOO_LARGE }) }),
      expect.objectContaining({ id: "s-2", error: expect.objectContaining({ code: ErrorCodes.MESSAGE_TOO_LARGE }) }),
    ]);
  });

  it("answers malformed JSON with a parse error and invalid messages with invalid request", async () => {
    const { peer, next, send, toPeer } = raw();
    peer.onRequest("echo", (p) => p);
    send("{not json");
    send('{"id":3,"method":"echo"}');
    send('"just a string"');
    send('{"jsonrpc":"2.0","id":{"x":1},"method":"echo"}');
    toPeer.write("garbage line\n");
    send('{"jsonrpc":"2.0","id":4,"method":"echo","params":1}');
    const r = await next(5);
    expect(r[0]).toMatchObject({ id: null, error: { code: ErrorCodes.PARSE_ERROR } });
    expect(r[1]).toMatchObject({ id: 3, error: { code: ErrorCodes.INVALID_REQUEST } });
    expect(r[2]).toMatchObject({ id: null, error: { code: ErrorCodes.INVALID_REQUEST } });
    expect(r[3]).toMatchObject({ id: null, error: { code: ErrorCodes.INVALID_REQUEST } });
    expect(r[4]).toEqual({ jsonrpc: "2.0", id: 4, result: 1 });
  });

  it("handles batches: one array answer for the requests, none for notifications", async () => {
    const { peer, next, send } = raw();
    const notes: unknown[] = [];
    peer.onRequest("echo", async (p) => p);
    peer.onNotification("n", (p) => notes.push(p));
    send(
      JSON.stringify([
        { jsonrpc: "2.0", id: 1, method: "echo", params: "a" },
        { jsonrpc: "2.0", method: "n", params: "note" },
        { jsonrpc: "2.0", id: 2, method: "missing" },
        { foo: 1 },
      ]),
    );
    const [batch] = await next(1);
    expect(batch).toEqual([
      { jsonrpc: "2.0", id: 1, result: "a" },
      { jsonrpc: "2.0", id: 2, error: { code: ErrorCodes.METHOD_NOT_FOUND, message: "method not found: missing" } },
      { jsonrpc: "2.0", id: null, error: expect.objectContaining({ code: ErrorCodes.INVALID_REQUEST }) },
    ]);
    expect(notes).toEqual(["note"]);
    send("[]");
    expect((await next(1))[0]).toMatchObject({ id: null, error: { code: ErrorCodes.INVALID_REQUEST } });
  });

  it("reports garbage between frames as a warning and keeps serving", async () => {
    const { peer, next, send, toPeer, warnings } = raw();
    peer.onRequest("echo", (p) => p);
    toPeer.write("print from plugin\n");
    send('{"jsonrpc":"2.0","id":1,"method":"echo","params":"x"}');
    expect((await next(1))[0]).toEqual({ jsonrpc: "2.0", id: 1, result: "x" });
    expect(warnings.find((w) => w.kind === "garbage")?.text).toBe("print from plugin\n");
  });
});
