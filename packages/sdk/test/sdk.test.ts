import { ErrorCodes, Methods, RpcError } from "@plugd/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { handshakeParams, memoryHost, until } from "./helpers.js";

// Opt out of autostart and the console redirect before the SDK module loads: this process is vitest, not a plugin.
process.env.PLUGD_SDK_NO_AUTOSTART = "1";
const { definePlugin, entry, PluginError, serve, SDK_VERSION } = await import("../src/index.js");
type PluginDefinition = import("../src/index.js").PluginDefinition;

const closers: Array<() => void> = [];
afterEach(() => {
  for (const c of closers.splice(0)) c();
});

/** Serves `def` on in-memory streams and returns the host side. */
function connect(def: PluginDefinition) {
  const m = memoryHost();
  let shutdowns = 0;
  const plugin = serve(def, {
    input: m.pluginInput,
    output: m.pluginOutput,
    onShutdown: () => {
      shutdowns++;
    },
    onWarning: () => {},
  });
  closers.push(() => {
    m.host.close();
    plugin.close();
  });
  const invoke = (entryId: string, input: unknown = {}, runId = `r-${entryId}`, opts = {}) =>
    m.host.request<{ output: any }>(Methods.invoke, { runId, entry: entryId, input }, opts);
  return {
    ...m,
    plugin,
    invoke,
    shutdowns: () => shutdowns,
    handshake: (over = {}) => m.host.request<any>(Methods.handshake, handshakeParams(over)),
  };
}

async function rejection(p: Promise<unknown>): Promise<RpcError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(RpcError);
    return e as RpcError;
  }
  throw new Error("expected a rejection");
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("definePlugin / entry", () => {
  it("returns the definition unchanged and does not autostart when PLUGD_SDK_NO_AUTOSTART=1", () => {
    const def = { entries: { a: entry({ handler: () => 1 }) } };
    expect(definePlugin(def)).toBe(def);
  });
});

describe("handshake", () => {
  it("answers with protocol version, sdk, entries, timers, events and capabilities, after onStartup", async () => {
    const seen: unknown[] = [];
    const c = connect({
      name: "Test plugin",
      version: "1.2.3",
      entries: {
        echo: entry({
          description: "echo",
          input: { type: "object", properties: { text: { type: "string" } }, required: ["text"] },
          timeoutMs: 5000,
          streaming: true,
          handler: (i) => i,
        }),
        bare: entry({ handler: () => null }),
      },
      timers: { tick: { intervalMs: 1000, description: "every second", handler: () => {} } },
      events: { SyncStarted: () => {} },
      onStartup: async (ctx) => {
        await sleep(5);
        seen.push(ctx.id, ctx.config, ctx.dataDir);
      },
    });
    const r = await c.handshake({
      plugin: { id: "my-plugin", config: { greeting: { prefix: "Hi" } }, dataDir: "/tmp/d" },
    });
    expect(seen).toEqual(["my-plugin", { greeting: { prefix: "Hi" } }, "/tmp/d"]);
    expect(r).toEqual({
      protocolVersion: "1.0",
      name: "Test plugin",
      version: "1.2.3",
      sdk: { name: "@plugd/sdk", version: SDK_VERSION },
      entries: [
        {
          id: "echo",
          description: "echo",
          inputSchema: { type: "object", properties: { text: { type: "string" } }, required: ["text"] },
          timeoutMs: 5000,
          streaming: true,
        },
        { id: "bare" },
        { id: "tick", kind: "timer", intervalMs: 1000, description: "every second" },
      ],
      events: ["SyncStarted"],
      capabilities: expect.arrayContaining(["cancel", "progress", "output", "export"]),
    });
  });

  it("uses the host's plugin id as the name when the plugin gives none", async () => {
    const c = connect({ entries: {} });
    expect((await c.handshake()).name).toBe("test-plugin");
  });

  it("refuses another protocol major with 1011 VERSION_MISMATCH and does not start", async () => {
    let started = false;
    const c = connect({
      entries: {},
      onStartup: () => {
        started = true;
      },
    });
    const e = await rejection(c.handshake({ protocolVersion: "2.0" }));
    expect(e.code).toBe(ErrorCodes.VERSION_MISMATCH);
    expect(e.symbol).toBe("VERSION_MISMATCH");
    expect(e.message).toContain("2.0");
    expect(started).toBe(false);
    // a newer minor of the same major is fine
    expect((await c.handshake({ protocolVersion: "1.7" })).protocolVersion).toBe("1.0");
  });

  it("fails the handshake with the onStartup error", async () => {
    const c = connect({
      entries: {},
      onStartup: () => {
        throw new Error("no database");
      },
    });
    const e = await rejection(c.handshake());
    expect(e.code).toBe(ErrorCodes.ENTRY_FAILED);
    expect(e.symbol).toBe("STARTUP_FAILED");
    expect(e.message).toContain("no database");
  });
});

describe("invoke", () => {
  it("runs sync and async handlers and wraps the result as {output}", async () => {
    const c = connect({
      entries: {
        sync: entry<{ n: number }>({ handler: (i) => ({ twice: i.n * 2 }) }),
        async: entry<{ n: number }>({
          handler: async (i) => {
            await sleep(5);
            return i.n + 1;
          },
        }),
        nothing: entry({ handler: () => undefined }),
        ctx: entry({ handler: (_i, ctx) => ({ runId: ctx.runId, entryId: ctx.entryId, config: ctx.config }) }),
      },
    });
    await c.handshake({ config: { a: 1 } });
    expect(await c.invoke("sync", { n: 21 })).toEqual({ output: { twice: 42 } });
    expect(await c.invoke("async", { n: 1 })).toEqual({ output: 2 });
    expect(await c.invoke("nothing")).toEqual({ output: null });
    expect(await c.invoke("ctx", {}, "run-9")).toEqual({
      output: { runId: "run-9", entryId: "ctx", config: { a: 1 } },
    });
  });

  it("answers 1001 ENTRY_NOT_FOUND for an unknown entry, listing the ones there are", async () => {
    const c = connect({ entries: { a: entry({ handler: () => 1 }) } });
    await c.handshake();
    const e = await rejection(c.invoke("nope"));
    expect(e.code).toBe(ErrorCodes.ENTRY_NOT_FOUND);
    expect(e.data).toMatchObject({ code: "ENTRY_NOT_FOUND", entry: "nope", available: ["a"] });
    // inherited object keys are not entries
    expect((await rejection(c.invoke("toString"))).code).toBe(ErrorCodes.ENTRY_NOT_FOUND);
  });

  it("sends a PluginError as 1013 with its own code and details", async () => {
    const c = connect({
      entries: {
        sync: entry({
          handler: () => {
            throw new PluginError("CITY_UNKNOWN", "no such city", { city: "Atlantis" });
          },
        }),
        async: entry({
          handler: async () => {
            await sleep(1);
            throw new PluginError("MY_CODE", "boom");
          },
        }),
      },
    });
    await c.handshake();
    const e1 = await rejection(c.invoke("sync"));
    expect(e1.toObject()).toEqual({
      code: 1013,
      message: "no such city",
      data: { code: "CITY_UNKNOWN", details: { city: "Atlantis" } },
    });
    const e2 = await rejection(c.invoke("async"));
    expect(e2.toObject()).toEqual({ code: 1013, message: "boom", data: { code: "MY_CODE" } });
  });

  it("sends a plain Error as 1013 ENTRY_FAILED, sync or async", async () => {
    const c = connect({
      entries: {
        sync: entry({
          handler: () => {
            throw new TypeError("bad thing");
          },
        }),
        async: entry({ handler: () => Promise.reject(new Error("worse thing")) }),
      },
    });
    await c.handshake();
    const e1 = await rejection(c.invoke("sync"));
    expect(e1.code).toBe(1013);
    expect(e1.message).toBe("bad thing");
    expect(e1.data).toMatchObject({ code: "ENTRY_FAILED", type: "TypeError" });
    const e2 = await rejection(c.invoke("async"));
    expect(e2.code).toBe(1013);
    expect(e2.symbol).toBe("ENTRY_FAILED");
  });

  it("invokes timers by id with a run context", async () => {
    let ticks = 0;
    const c = connect({
      entries: {},
      timers: {
        tick: {
          intervalMs: 50,
          handler: (ctx) => {
            ticks++;
            return { run: ctx.runId };
          },
        },
      },
    });
    await c.handshake();
    expect(await c.invoke("tick", undefined, "t-1")).toEqual({ output: { run: "t-1" } });
    expect(ticks).toBe(1);
  });
});

describe("run notifications", () => {
  it("sends progress, output, exports and logs tagged with the run, before the answer", async () => {
    const c = connect({
      entries: {
        work: entry({
          handler: async (_i, ctx) => {
            ctx.progress({ progress: 0.5, stage: "fetch", message: "half", step: 1, stepTotal: 2, eta: 3 });
            ctx.progress(1);
            ctx.output("line 1\n");
            ctx.output("oops\n", "stderr");
            ctx.export.text("hello", { label: "t" });
            ctx.export.json({ a: 1 }, { label: "j", description: "data" });
            ctx.export.url("https://example.com/x", { label: "u" });
            ctx.export.binary(new Uint8Array([0, 1, 2, 255]), { label: "b" });
            ctx.export.binary(Buffer.from("hi"), { mime: "text/plain" });
            ctx.export.binaryUrl("https://example.com/b.png", { mime: "image/png" });
            ctx.log.info("fetched", { pages: 3 });
            ctx.log.warn("slow");
            await sleep(1);
            return "done";
          },
        }),
      },
    });
    await c.handshake();
    const order: string[] = [];
    c.host.onAnyNotification((method, params) => {
      order.push(method);
      c.notes.push({ method, params });
    });
    expect(await c.invoke("work", {}, "r-42")).toEqual({ output: "done" });
    expect(order.length).toBe(12);
    expect(c.notes.map((n) => [n.method, n.params])).toEqual([
      [
        "run/progress",
        { runId: "r-42", progress: 0.5, stage: "fetch", message: "half", step: 1, stepTotal: 2, eta: 3 },
      ],
      ["run/progress", { runId: "r-42", progress: 1 }],
      ["run/output", { runId: "r-42", chunk: "line 1\n" }],
      ["run/output", { runId: "r-42", chunk: "oops\n", stream: "stderr" }],
      ["run/export", { runId: "r-42", type: "text", label: "t", data: "hello" }],
      ["run/export", { runId: "r-42", type: "json", label: "j", description: "data", data: { a: 1 } }],
      ["run/export", { runId: "r-42", type: "url", label: "u", url: "https://example.com/x" }],
      ["run/export", { runId: "r-42", type: "binary", label: "b", mime: "application/octet-stream", data: "AAEC/w==" }],
      ["run/export", { runId: "r-42", type: "binary", mime: "text/plain", data: "aGk=" }],
      ["run/export", { runId: "r-42", type: "binary_url", mime: "image/png", url: "https://example.com/b.png" }],
      ["plugin/log", { level: "info", msg: "fetched", runId: "r-42", fields: { pages: 3 } }],
      ["plugin/log", { level: "warn", msg: "slow", runId: "r-42" }],
    ]);
  });

  it("logs from hooks carry no runId", async () => {
    const c = connect({ entries: {}, onStartup: (ctx) => ctx.log.error("starting", { x: 1 }) });
    await c.handshake();
    await until(() => c.notes.length === 1);
    expect(c.notes[0]).toEqual({ method: "plugin/log", params: { level: "error", msg: "starting", fields: { x: 1 } } });
  });
});

describe("cancellation", () => {
  it("aborts the handler's signal on $/cancelRequest and answers 1004 CANCELLED", async () => {
    let reason: unknown;
    const c = connect({
      entries: {
        wait: entry({
          handler: (_i, ctx) =>
            new Promise((_resolve, reject) => {
              ctx.signal.addEventListener("abort", () => {
                reason = ctx.signal.reason;
                reject(ctx.signal.reason);
              });
            }),
        }),
      },
    });
    await c.handshake();
    const ac = new AbortController();
    const p = c.invoke("wait", {}, "r-c", { cancelSignal: ac.signal });
    await sleep(10);
    const t = performance.now();
    ac.abort();
    const e = await rejection(p);
    expect(performance.now() - t).toBeLessThan(200);
    expect(e.code).toBe(ErrorCodes.CANCELLED);
    expect(e.symbol).toBe("CANCELLED");
    expect(reason).toBeInstanceOf(RpcError);
    expect((reason as RpcError).code).toBe(ErrorCodes.CANCELLED);
  });

  it("turns whatever a cancelled handler throws into 1004, except a PluginError of its own code", async () => {
    const c = connect({
      entries: {
        plain: entry({
          handler: (_i, ctx) =>
            new Promise((_r, reject) => ctx.signal.addEventListener("abort", () => reject(new Error("aborted!")))),
        }),
        named: entry({
          handler: (_i, ctx) =>
            new Promise((_r, reject) =>
              ctx.signal.addEventListener("abort", () => reject(new PluginError("CANCELLED", "stopped"))),
            ),
        }),
        timers: entry({
          handler: async (_i, ctx) => {
            const { setTimeout: wait } = await import("node:timers/promises");
            await wait(10_000, undefined, { signal: ctx.signal });
          },
        }),
        throwIf: entry({
          handler: async (_i, ctx) => {
            for (;;) {
              ctx.signal.throwIfAborted();
              await sleep(2);
            }
          },
        }),
        own: entry({
          handler: (_i, ctx) =>
            new Promise((_r, reject) =>
              ctx.signal.addEventListener("abort", () => reject(new PluginError("ROLLBACK_FAILED", "half done"))),
            ),
        }),
      },
    });
    await c.handshake();
    const cancel = async (name: string) => {
      const ac = new AbortController();
      const p = c.invoke(name, {}, `r-${name}`, { cancelSignal: ac.signal });
      await sleep(10);
      ac.abort();
      return rejection(p);
    };
    for (const name of ["plain", "named", "timers", "throwIf"]) {
      const e = await cancel(name);
      expect([name, e.code, e.symbol]).toEqual([name, 1004, "CANCELLED"]);
    }
    const own = await cancel("own");
    expect([own.code, own.symbol]).toEqual([1013, "ROLLBACK_FAILED"]);
  });

  it("cancels a nested host.call when its run is cancelled", async () => {
    const c = connect({
      entries: {
        outer: entry({ handler: (_i, ctx) => ctx.host.call("other", "slow", {}) }),
      },
    });
    let hostCallCancelled = false;
    c.host.onRequest(
      Methods.call,
      (_p, hctx) =>
        new Promise((_r, reject) => {
          hctx.signal.addEventListener("abort", () => {
            hostCallCancelled = true;
            reject(new Error("stopped"));
          });
        }),
    );
    await c.handshake();
    const ac = new AbortController();
    const p = c.invoke("outer", {}, "r-o", { cancelSignal: ac.signal });
    await sleep(10);
    ac.abort();
    expect((await rejection(p)).code).toBe(ErrorCodes.CANCELLED);
    await until(() => hostCallCancelled, 1000, "the host/call to see $/cancelRequest");
  });
});

describe("reverse calls", () => {
  it("round-trips every host/* request with the documented params", async () => {
    const seen: Array<[string, unknown]> = [];
    const c = connect({
      entries: {
        all: entry({
          handler: async (_i, ctx) => {
            const called = await ctx.host.call<{ temp: number }>(
              "weather",
              "today",
              { city: "Oslo" },
              { timeoutMs: 500 },
            );
            const pushed = await ctx.host.pushMessage({ source: "t", type: "text", content: "hi", priority: 2 });
            const emitted = await ctx.host.emitEvent("Synced", { n: 1 });
            const config = await ctx.host.getConfig();
            const updated = await ctx.host.updateConfig({ a: 2 });
            const status = await ctx.host.updateStatus({ healthy: true });
            const bus = await ctx.host.queryBus({ store: "events", limit: 1 });
            return { called, pushed, emitted, config, updated, status, bus };
          },
        }),
      },
    });
    for (const m of [
      Methods.call,
      Methods.pushMessage,
      Methods.emitEvent,
      Methods.getConfig,
      Methods.updateConfig,
      Methods.updateStatus,
      Methods.queryBus,
    ]) {
      c.host.onRequest(m, (p) => {
        seen.push([m, p]);
        if (m === Methods.call) return { temp: 3 };
        if (m === Methods.getConfig) return { a: 1 };
        if (m === Methods.updateConfig) return { a: 2 };
        if (m === Methods.queryBus) return [{ id: 1 }];
        return { submitted: true };
      });
    }
    await c.handshake();
    const r = await c.invoke("all", {}, "r-rev");
    expect(r.output).toEqual({
      called: { temp: 3 },
      pushed: { submitted: true },
      emitted: { submitted: true },
      config: { a: 1 },
      updated: { a: 2 },
      status: { submitted: true },
      bus: [{ id: 1 }],
    });
    expect(seen).toEqual([
      [
        "host/call",
        { plugin: "weather", entry: "today", input: { city: "Oslo" }, timeoutMs: 500, parentRunId: "r-rev" },
      ],
      ["host/pushMessage", { source: "t", type: "text", content: "hi", priority: 2 }],
      ["host/emitEvent", { type: "Synced", payload: { n: 1 } }],
      ["host/getConfig", {}],
      ["host/updateConfig", { patch: { a: 2 } }],
      ["host/updateStatus", { healthy: true }],
      ["host/queryBus", { store: "events", limit: 1 }],
    ]);
  });

  it("passes the host's error through (e.g. 1010 PERMISSION_DENIED)", async () => {
    const c = connect({
      entries: { call: entry({ handler: (_i, ctx) => ctx.host.call("x", "y") }) },
    });
    c.host.onRequest(Methods.call, () => {
      throw RpcError.of("PERMISSION_DENIED", "reverse RPC is off");
    });
    await c.handshake();
    const e = await rejection(c.invoke("call"));
    expect(e.code).toBe(ErrorCodes.PERMISSION_DENIED);
  });

  it("lets hooks call the host too, without a parent run", async () => {
    const seen: unknown[] = [];
    const c = connect({ entries: {}, onStartup: async (ctx) => void (await ctx.host.emitEvent("Up", {})) });
    c.host.onRequest(Methods.emitEvent, (p) => {
      seen.push(p);
      return { submitted: true };
    });
    await c.handshake();
    expect(seen).toEqual([{ type: "Up", payload: {} }]);
  });
});

describe("events, config, health, shutdown", () => {
  it("dispatches plugin/onEvent by type, falling back to '*'", async () => {
    const got: Array<[string, unknown]> = [];
    const c = connect({
      entries: {},
      events: {
        SyncStarted: (ev) => void got.push(["sync", ev.payload]),
        "*": async (ev) => void got.push(["any", ev.eventType]),
      },
    });
    await c.handshake();
    c.host.notify(Methods.onEvent, { eventType: "SyncStarted", payload: { n: 1 }, timestamp: 1 });
    c.host.notify(Methods.onEvent, { eventType: "Other", payload: null, timestamp: 2 });
    await until(() => got.length === 2);
    expect(got).toEqual([
      ["sync", { n: 1 }],
      ["any", "Other"],
    ]);
  });

  it("logs a failing event handler instead of dying", async () => {
    const c = connect({
      entries: {},
      events: {
        Boom: () => {
          throw new Error("handler broke");
        },
      },
    });
    await c.handshake();
    c.host.notify(Methods.onEvent, { eventType: "Boom", payload: null, timestamp: 1 });
    await until(() => c.notes.some((n) => n.method === Methods.log));
    expect(c.notes[0]!.params).toMatchObject({ level: "error", msg: expect.stringContaining("handler broke") });
    expect(await c.host.request(Methods.health)).toEqual({ status: "ok" });
  });

  it("updates ctx.config and calls onConfigChanged on plugin/configChanged", async () => {
    const changes: unknown[] = [];
    const c = connect({
      entries: { config: entry({ handler: (_i, ctx) => ctx.config }) },
      onConfigChanged: (config) => void changes.push(config),
    });
    await c.handshake({ config: { greeting: { prefix: "Hello" } } });
    expect((await c.invoke("config")).output).toEqual({ greeting: { prefix: "Hello" } });
    c.host.notify(Methods.configChanged, { config: { greeting: { prefix: "Hi" } } });
    await until(() => changes.length === 1);
    expect(changes).toEqual([{ greeting: { prefix: "Hi" } }]);
    expect((await c.invoke("config")).output).toEqual({ greeting: { prefix: "Hi" } });
  });

  it("answers plugin/health with {status: ok}", async () => {
    const c = connect({ entries: {} });
    await c.handshake();
    expect(await c.host.request(Methods.health)).toEqual({ status: "ok" });
  });

  it("runs onShutdown, answers {}, then calls the runner's onShutdown after the answer was written", async () => {
    const order: string[] = [];
    const c = connect({ entries: {}, onShutdown: async () => void order.push("hook") });
    // the answer must already be in the output stream when the runner is told to exit
    let answered = false;
    c.pluginOutput.on("data", (chunk: Buffer) => {
      if (chunk.toString().includes('"result":{}')) answered = true;
    });
    await c.handshake();
    const r = await c.host.request(Methods.shutdown, {});
    order.push("answer");
    expect(r).toEqual({});
    await until(() => c.shutdowns() === 1);
    expect(answered).toBe(true);
    expect(order).toEqual(["hook", "answer"]);
  });

  it("still shuts down when onShutdown throws", async () => {
    const c = connect({
      entries: {},
      onShutdown: () => {
        throw new Error("cleanup failed");
      },
    });
    await c.handshake();
    expect(await c.host.request(Methods.shutdown, {})).toEqual({});
    await until(() => c.shutdowns() === 1);
  });

  it("answers unknown methods with -32601 and garbage frames with -32700", async () => {
    const c = connect({ entries: {} });
    await c.handshake();
    expect((await rejection(c.host.request("plugin/nope"))).code).toBe(ErrorCodes.METHOD_NOT_FOUND);
    const replies: string[] = [];
    c.pluginOutput.on("data", (b: Buffer) => replies.push(b.toString()));
    c.pluginInput.write("Content-Length: 5\r\n\r\n{oops");
    await until(() => replies.join("").includes("-32700"));
    expect(replies.join("")).toContain('"id":null');
  });
});
