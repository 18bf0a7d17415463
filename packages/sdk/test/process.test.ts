/**
 * The SDK as a real plugin process: stdio, console redirect, exit on shutdown / stdin EOF / uncaught exception.
 * Runs the built SDK as plugins do: its bundle (dist/index.bundle.js), which `npm run build` and vitest's globalSetup
 * make from tsc's dist/.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { ErrorCodes, Methods, type RpcError } from "@plugd/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { handshakeParams, ROOT, spawnPlugin, until } from "./helpers.js";

const CONFORMANCE = path.join(ROOT, "conformance/plugins/ts/index.mjs");
const HELLO = path.join(ROOT, "examples/plugins/hello-ts/dist/index.js");

const running: Array<ReturnType<typeof spawnPlugin>> = [];
afterEach(() => {
  for (const p of running.splice(0)) p.kill();
});

function start(args: string[], env: Record<string, string> = {}) {
  const p = spawnPlugin(args, env);
  running.push(p);
  return p;
}

/** A plugin written inline: an ES module evaluated with the repository root as its base, so "@plugd/sdk" resolves. */
function inline(source: string) {
  return start(["--input-type=module", "-e", source]);
}

async function rejection(p: Promise<unknown>): Promise<RpcError> {
  try {
    await p;
  } catch (e) {
    return e as RpcError;
  }
  throw new Error("expected a rejection");
}

describe("conformance plugin over real stdio", () => {
  it("handshakes and runs every entry as conformance/README.md specifies", async () => {
    const p = start([CONFORMANCE]);
    const hs = await p.host.request<any>(
      Methods.handshake,
      handshakeParams({ plugin: { id: "conformance", config: {} } }),
    );
    expect(hs).toMatchObject({ protocolVersion: "1.0", sdk: { name: "@plugd/sdk", version: "0.1.0" } });
    expect(hs.entries.map((e: { id: string }) => e.id).sort()).toEqual(
      ["call", "echo", "export", "fail", "log", "noise", "progress", "slow"].sort(),
    );
    expect(hs.entries.find((e: { id: string }) => e.id === "progress").inputSchema).toEqual({
      type: "object",
      properties: { steps: { type: "integer" } },
      required: ["steps"],
    });
    const invoke = (entry: string, input: unknown, runId = `r-${entry}`) =>
      p.host.request<{ output: unknown }>(Methods.invoke, { runId, entry, input });

    expect(await invoke("echo", { a: [1, "x"] })).toEqual({ output: { a: [1, "x"] } });

    expect(await invoke("progress", { steps: 3 })).toEqual({ output: { steps: 3 } });
    expect(p.notes.splice(0).map((n) => [n.method, n.params])).toEqual([
      ["run/progress", { runId: "r-progress", progress: 1 / 3, step: 1, stepTotal: 3, message: "step 1" }],
      ["run/progress", { runId: "r-progress", progress: 2 / 3, step: 2, stepTotal: 3, message: "step 2" }],
      ["run/progress", { runId: "r-progress", progress: 1, step: 3, stepTotal: 3, message: "step 3" }],
      ["run/output", { runId: "r-progress", chunk: "done\n" }],
    ]);

    const fail = await rejection(invoke("fail", { code: "MY_CODE", message: "boom" }));
    expect(fail.toObject()).toEqual({ code: 1013, message: "boom", data: { code: "MY_CODE" } });

    expect(await invoke("export", {})).toEqual({ output: { exports: 2 } });
    expect(p.notes.splice(0).map((n) => n.params)).toEqual([
      { runId: "r-export", type: "text", label: "t", data: "hello" },
      { runId: "r-export", type: "json", label: "j", data: { a: 1 } },
    ]);

    p.host.onRequest(Methods.call, (params) => ({ seen: params }));
    expect(await invoke("call", { plugin: "p", entry: "e", input: { x: 1 } })).toEqual({
      output: { result: { seen: { plugin: "p", entry: "e", input: { x: 1 }, parentRunId: "r-call" } } },
    });

    expect(await invoke("log", {})).toEqual({ output: { ok: true } });
    expect(p.notes.splice(0)).toEqual([
      { method: "plugin/log", params: { level: "info", msg: "hello log", runId: "r-log" } },
    ]);

    expect(await invoke("noise", {})).toEqual({ output: { ok: true } });
    await until(() => p.stderr.includes("noise to stdout"), 2000, "the noise on stderr");
    expect(p.stdout).not.toContain("noise to stdout");
    expect(p.warnings).toEqual([]);

    const unknown = await rejection(invoke("nope", {}));
    expect([unknown.code, unknown.symbol]).toEqual([1001, "ENTRY_NOT_FOUND"]);
    expect(await p.host.request(Methods.health)).toEqual({ status: "ok" });
  });

  it("refuses a host of another major with 1011", async () => {
    const p = start([CONFORMANCE]);
    const e = await rejection(p.host.request(Methods.handshake, handshakeParams({ protocolVersion: "2.0" })));
    expect([e.code, e.symbol]).toEqual([ErrorCodes.VERSION_MISMATCH, "VERSION_MISMATCH"]);
  });

  it("cancels a slow entry promptly with 1004", async () => {
    const p = start([CONFORMANCE]);
    await p.host.request(Methods.handshake, handshakeParams());
    const ac = new AbortController();
    const call = p.host.request(
      Methods.invoke,
      { runId: "r-slow", entry: "slow", input: { ms: 10_000 } },
      { cancelSignal: ac.signal },
    );
    await new Promise((r) => setTimeout(r, 50));
    const t = Date.now();
    ac.abort();
    const e = await rejection(call);
    expect(Date.now() - t).toBeLessThan(500);
    expect(e.toObject()).toMatchObject({ code: 1004, data: { code: "CANCELLED" } });
    expect(await p.host.request(Methods.invoke, { runId: "r2", entry: "slow", input: { ms: 20 } })).toEqual({
      output: { slept: 20 },
    });
  });

  it("answers plugin/shutdown with {} and then exits 0 within 1 s", async () => {
    const p = start([CONFORMANCE]);
    await p.host.request(Methods.handshake, handshakeParams());
    const answer = await p.host.request(Methods.shutdown, {});
    const answeredAt = Date.now();
    expect(answer).toEqual({});
    const exit = await p.exited;
    expect(exit.code).toBe(0);
    expect(exit.at - answeredAt).toBeLessThan(1000);
  });

  it("exits within 1 s when stdin ends, even with a handler still running", async () => {
    const p = start([CONFORMANCE]);
    await p.host.request(Methods.handshake, handshakeParams());
    const pending = p.host.request(Methods.invoke, { runId: "r", entry: "slow", input: { ms: 30_000 } });
    pending.catch(() => {});
    await new Promise((r) => setTimeout(r, 50));
    const closedAt = Date.now();
    p.child.stdin!.end();
    const exit = await p.exited;
    expect(exit.code).toBe(0);
    expect(exit.at - closedAt).toBeLessThan(1000);
  });
});

describe("process behaviour", () => {
  it("sends every console method that would print to stdout to stderr, from the first line of the plugin", async () => {
    const p = inline(`
      import { definePlugin, entry } from "@plugd/sdk";
      console.log("top-level log");
      console.info("info line");
      console.debug("debug line");
      console.dir({ dir: 1 });
      console.table([{ a: 1 }]);
      console.count("counted");
      definePlugin({ entries: { hi: entry({ handler: () => { console.log("in handler"); return 1; } }) } });
    `);
    await p.host.request(Methods.handshake, handshakeParams());
    expect(await p.host.request(Methods.invoke, { runId: "r", entry: "hi", input: {} })).toEqual({ output: 1 });
    await until(() => p.stderr.includes("in handler"), 2000, "stderr output");
    for (const s of ["top-level log", "info line", "debug line", "dir: 1", "│", "counted: 1", "in handler"]) {
      expect(p.stderr).toContain(s);
      expect(p.stdout).not.toContain(s);
    }
    // nothing but frames on stdout
    expect(p.stdout.replace(/Content-Length: \d+\r\n\r\n\{[^\n]*?\}(?=Content-Length|$)/g, "")).toBe("");
    expect(p.warnings).toEqual([]);
  });

  it("logs an uncaught exception to stderr and exits 1", async () => {
    const p = inline(`
      import { definePlugin, entry } from "@plugd/sdk";
      definePlugin({ entries: { crash: entry({ handler: () => { setTimeout(() => { throw new Error("kaboom"); }, 1); return "ok"; } }) } });
    `);
    await p.host.request(Methods.handshake, handshakeParams());
    await p.host.request(Methods.invoke, { runId: "r", entry: "crash", input: {} });
    const exit = await p.exited;
    expect(exit.code).toBe(1);
    expect(p.stderr).toContain("uncaught exception");
    expect(p.stderr).toContain("kaboom");
  });

  it("exits on stdin EOF before any handshake", async () => {
    const p = start([CONFORMANCE]);
    await new Promise((r) => setTimeout(r, 100));
    const t = Date.now();
    p.child.stdin!.end();
    const exit = await p.exited;
    expect(exit.code).toBe(0);
    expect(exit.at - t).toBeLessThan(1000);
  });

  it("treats an RpcError from @plugd/protocol as its own, though its bundle carries a copy of the protocol", async () => {
    const p = inline(`
      import { RpcError } from "@plugd/protocol";
      import { definePlugin, entry, PluginError } from "@plugd/sdk";
      definePlugin({
        entries: {
          bad: entry({ handler: () => { throw RpcError.of("INVALID_INPUT", "bad input", { field: "x" }); } }),
          kinds: entry({ handler: () => {
            const e = new PluginError("MINE", "m");
            return { pluginError: e instanceof RpcError, plain: new Error("x") instanceof RpcError };
          } }),
        },
      });
    `);
    await p.host.request(Methods.handshake, handshakeParams());
    const e = await rejection(p.host.request(Methods.invoke, { runId: "r", entry: "bad", input: {} }));
    expect(e.code).toBe(ErrorCodes.INVALID_INPUT);
    expect(e.data).toMatchObject({ code: "INVALID_INPUT", field: "x" });
    expect(await p.host.request(Methods.invoke, { runId: "r2", entry: "kinds", input: {} })).toEqual({
      output: { pluginError: true, plain: false },
    });

    const q = inline(`
      import { RpcError } from "@plugd/protocol";
      import { definePlugin } from "@plugd/sdk";
      definePlugin({ onStartup: () => { throw RpcError.of("INVALID_INPUT", "refused"); }, entries: {} });
    `);
    const refused = await rejection(q.host.request(Methods.handshake, handshakeParams()));
    expect(refused.code).toBe(ErrorCodes.INVALID_INPUT);
    expect(refused.message).toBe("refused");
  });

  it("keeps the SDK's start-up lean: no schema library in its import graph", () => {
    const seen = new Set<string>();
    const bare: string[] = [];
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const src = readFileSync(file, "utf8");
      for (const m of src.matchAll(
        /^\s*(?:import|export)\b[^'"]*?from\s*["']([^"']+)["']|^\s*import\s*["']([^"']+)["']/gm,
      )) {
        const spec = (m[1] ?? m[2])!;
        if (spec.startsWith(".")) visit(path.resolve(path.dirname(file), spec));
        else if (spec === "@plugd/protocol") visit(path.join(ROOT, "packages/protocol/dist/index.js"));
        else bare.push(spec);
      }
    };
    visit(path.join(ROOT, "packages/sdk/dist/index.js"));
    expect([...seen].some((f) => f.endsWith("schemas.js"))).toBe(false);
    expect(bare.every((s) => s.startsWith("node:"))).toBe(true);
  });

  it("is one module at run time: the package's entry is the bundle, which imports only Node's own modules", () => {
    // One file instead of ~16 is most of a TypeScript plugin's cold start (bench/cold-start.mjs).
    const pkg = JSON.parse(readFileSync(path.join(ROOT, "packages/sdk/package.json"), "utf8"));
    expect(pkg.exports["."]).toEqual({ types: "./dist/index.d.ts", default: "./dist/index.bundle.js" });
    const src = readFileSync(path.join(ROOT, "packages/sdk/dist/index.bundle.js"), "utf8");
    const specs = [
      ...src.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s*["']([^"']+)["']|^\s*import\s*["']([^"']+)["']/gm),
    ];
    expect(specs.map((m) => m[1] ?? m[2]).every((s) => s!.startsWith("node:"))).toBe(true);
    expect(src).not.toMatch(/import\s*\(/);
    expect(src).not.toContain("typebox");
  });
});

describe("hello-ts example", () => {
  it("greets with the configured prefix, counts with progress and stops on cancel, reports exports", async () => {
    const p = start([HELLO]);
    const hs = await p.host.request<any>(
      Methods.handshake,
      handshakeParams({ plugin: { id: "hello-ts", config: { greeting: { prefix: "Hi" } } } }),
    );
    expect(hs.entries.map((e: { id: string }) => e.id)).toEqual(["echo", "greet", "count", "report", "burn"]);
    const invoke = (entry: string, input: unknown, opts = {}) =>
      p.host.request<{ output: unknown }>(Methods.invoke, { runId: `r-${entry}`, entry, input }, opts);

    expect(await invoke("echo", { text: "x" })).toEqual({ output: { text: "x" } });
    expect(await invoke("greet", { name: "Bob" })).toEqual({ output: "Hi, Bob!" });
    p.host.notify(Methods.configChanged, { config: { greeting: { prefix: "Hey" } } });
    expect(await invoke("greet", { name: "Ann" })).toEqual({ output: "Hey, Ann!" });

    expect(await invoke("count", { to: 3, delayMs: 1 })).toEqual({ output: { counted: 3 } });
    const counted = p.notes.splice(0);
    expect(counted.filter((n) => n.method === "run/progress").map((n) => n.params.step)).toEqual([1, 2, 3]);
    expect(counted.filter((n) => n.method === "run/output").map((n) => n.params.chunk)).toEqual(["1\n", "2\n", "3\n"]);

    const ac = new AbortController();
    const slow = invoke("count", { to: 1000, delayMs: 50 }, { cancelSignal: ac.signal });
    await new Promise((r) => setTimeout(r, 120));
    const t = Date.now();
    ac.abort();
    const e = await rejection(slow);
    expect(e.code).toBe(ErrorCodes.CANCELLED);
    expect(Date.now() - t).toBeLessThan(300);
    p.notes.splice(0);

    expect(await invoke("report", { title: "T" })).toEqual({ output: { title: "T", exports: 2 } });
    expect(p.notes.splice(0).map((n) => [n.params.type, n.params.label])).toEqual([
      ["text", "summary.md"],
      ["json", "data"],
    ]);

    const b = (await invoke("burn", { ms: 30 })).output as { burned: number };
    expect(b.burned).toBe(30);
  });
});
