import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import * as rpc from "vscode-jsonrpc/node";
import { ErrorCodes } from "../src/errors.js";
import { RpcPeer } from "../src/peer.js";

/** vscode-jsonrpc (the Language Server Protocol's library) is the oracle: our peer must talk to it both ways. */
function connect() {
  const oursToTheirs = new PassThrough();
  const theirsToOurs = new PassThrough();
  const ours = new RpcPeer(theirsToOurs, oursToTheirs);
  const theirs = rpc.createMessageConnection(
    new rpc.StreamMessageReader(oursToTheirs),
    new rpc.StreamMessageWriter(theirsToOurs),
  );
  return { ours, theirs };
}

let open: rpc.MessageConnection[] = [];
afterEach(() => {
  for (const c of open) c.dispose();
  open = [];
});

describe("interop with vscode-jsonrpc", () => {
  it("our requests are answered by a vscode-jsonrpc peer", async () => {
    const { ours, theirs } = connect();
    open.push(theirs);
    theirs.onRequest("plugin/invoke", (p: { input: { text: string } }) => ({ output: p.input.text.toUpperCase() }));
    theirs.onRequest("fail", () => new rpc.ResponseError(1002, "bad input", { code: "INVALID_INPUT" }));
    theirs.listen();
    expect(await ours.request("plugin/invoke", { input: { text: "héllo" } })).toEqual({ output: "HÉLLO" });
    await expect(ours.request("fail")).rejects.toMatchObject({ code: ErrorCodes.INVALID_INPUT, message: "bad input" });
    const many = await Promise.all(
      Array.from({ length: 200 }, (_, i) => ours.request("plugin/invoke", { input: { text: `m${i}` } })),
    );
    expect(many[199]).toEqual({ output: "M199" });
  });

  it("a vscode-jsonrpc peer's requests and notifications reach ours", async () => {
    const { ours, theirs } = connect();
    open.push(theirs);
    const notes: unknown[] = [];
    ours.onRequest("host/call", (p: { n: number }) => ({ doubled: p.n * 2 }));
    ours.onNotification("run/progress", (p) => notes.push(p));
    theirs.listen();
    expect(await theirs.sendRequest("host/call", { n: 21 })).toEqual({ doubled: 42 });
    await theirs.sendNotification("run/progress", { runId: "r1", progress: 0.5 });
    await expect(theirs.sendRequest("missing", {})).rejects.toMatchObject({ code: ErrorCodes.METHOD_NOT_FOUND });
    await new Promise((r) => setTimeout(r, 10));
    expect(notes).toEqual([{ runId: "r1", progress: 0.5 }]);
  });

  it("cancellation crosses in both directions ($/cancelRequest)", async () => {
    const { ours, theirs } = connect();
    open.push(theirs);
    let theirsSawCancel = false;
    theirs.onRequest(
      "slow",
      (_p: unknown, token: rpc.CancellationToken) =>
        new Promise((resolve) => {
          token.onCancellationRequested(() => {
            theirsSawCancel = true;
            resolve(null);
          });
        }),
    );
    let oursSawCancel = false;
    ours.onRequest(
      "slow",
      (_p, ctx) =>
        new Promise((_r, reject) =>
          ctx.signal.addEventListener("abort", () => {
            oursSawCancel = true;
            reject(new Error("cancelled"));
          }),
        ),
    );
    theirs.listen();
    const ac = new AbortController();
    const p = ours.request("slow", {}, { signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    await expect(p).rejects.toMatchObject({ code: ErrorCodes.CANCELLED });

    const source = new rpc.CancellationTokenSource();
    const q = theirs.sendRequest("slow", {}, source.token);
    setTimeout(() => source.cancel(), 20);
    await expect(q).rejects.toBeDefined();
    await new Promise((r) => setTimeout(r, 20));
    expect(theirsSawCancel).toBe(true);
    expect(oursSawCancel).toBe(true);
  });
});
