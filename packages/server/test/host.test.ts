import { ErrorCodes, type ProgressParams, type RpcError } from "@plugd/protocol";
import { afterEach, describe, expect, it } from "vitest";
import type { LogRecord, PluginHost, StateChange } from "../src/host/host.js";
import { eventually, example, fixture, isAlive, newHost, sleep, waitForState } from "./helpers.js";

let hosts: PluginHost[] = [];
function host(...args: Parameters<typeof newHost>): PluginHost {
  const h = newHost(...args);
  hosts.push(h);
  return h;
}
afterEach(async () => {
  await Promise.all(hosts.map((h) => h.close()));
  hosts = [];
});

const err = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: RpcError) => e,
  );

describe("PluginHost with the hello-ts example", () => {
  it("starts it, lists its entries and invokes them", async () => {
    const h = host(example("hello-ts"));
    await h.start("hello-ts");
    const view = h.get("hello-ts")!;
    expect(view.state).toBe("ready");
    expect(view.pid).toBeGreaterThan(0);
    expect(view.entries.map((e) => e.id)).toEqual(expect.arrayContaining(["echo", "greet", "count", "report"]));
    expect(await h.invoke("hello-ts", "echo", { text: "hé ✓" })).toEqual({ text: "hé ✓" });
    expect(await h.invoke("hello-ts", "greet", { name: "Ada" })).toBe("Hello, Ada!");
  });

  it("streams progress, output and exports of a run to its caller", async () => {
    const h = host(example("hello-ts"));
    await h.start("hello-ts");
    const progress: ProgressParams[] = [];
    const chunks: string[] = [];
    const exports: string[] = [];
    await h.invoke(
      "hello-ts",
      "count",
      { to: 3, delayMs: 5 },
      {
        onProgress: (p) => progress.push(p),
        onOutput: (o) => chunks.push(o.chunk),
      },
    );
    expect(progress.length).toBeGreaterThanOrEqual(3);
    expect(progress.at(-1)!.progress).toBe(1);
    expect(chunks.length).toBeGreaterThan(0);
    await h.invoke("hello-ts", "report", {}, { onExport: (e) => exports.push(e.type) });
    expect(exports).toEqual(expect.arrayContaining(["text", "json"]));
  });

  it("refuses invalid input before the plugin sees it, and unknown entries and plugins", async () => {
    const h = host(example("hello-ts"));
    await h.start("hello-ts");
    const bad = await err(h.invoke("hello-ts", "count", { to: "ten" }));
    expect(bad.code).toBe(ErrorCodes.INVALID_INPUT);
    expect(bad.message).toContain("/to");
    expect((await err(h.invoke("hello-ts", "nope", {}))).code).toBe(ErrorCodes.ENTRY_NOT_FOUND);
    expect((await err(h.invoke("ghost", "echo", {}))).code).toBe(ErrorCodes.PLUGIN_NOT_FOUND);
  });

  it("cancels a running call: the plugin sees the cancellation and stays usable", async () => {
    const h = host(example("hello-ts"));
    await h.start("hello-ts");
    const ac = new AbortController();
    const steps: number[] = [];
    const call = h.invoke(
      "hello-ts",
      "count",
      { to: 1000, delayMs: 20 },
      {
        signal: ac.signal,
        onProgress: (p) => steps.push(p.step ?? 0),
      },
    );
    await eventually(() => steps.length >= 2, 5000, "two progress steps");
    ac.abort();
    expect((await err(call)).code).toBe(ErrorCodes.CANCELLED);
    const seen = steps.length;
    await sleep(150);
    // The plugin stopped counting: no more progress arrives for that run.
    expect(steps.length).toBeLessThanOrEqual(seen + 1);
    expect(await h.invoke("hello-ts", "echo", { text: "still here" })).toEqual({ text: "still here" });
  });

  it("times a call out", async () => {
    const h = host(example("hello-ts"));
    await h.start("hello-ts");
    const started = Date.now();
    const e = await err(h.invoke("hello-ts", "count", { to: 100, delayMs: 50 }, { timeoutMs: 200 }));
    expect(e.code).toBe(ErrorCodes.TIMEOUT);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("turns stderr into structured log records", async () => {
    const h = host(example("hello-ts"));
    const logs: LogRecord[] = [];
    h.on("log", (l) => logs.push(l));
    await h.start("hello-ts");
    await h.invoke("hello-ts", "echo", { text: "x" });
    await h.stop("hello-ts");
    for (const l of logs) {
      expect(l.plugin).toBe("hello-ts");
      expect(typeof l.msg).toBe("string");
      expect(["trace", "debug", "info", "warn", "error", "fatal"]).toContain(l.level);
    }
  });
});

describe("supervision", () => {
  it("marks a plugin that never answers the handshake unavailable, others unaffected", async () => {
    const h = host(fixture("hang-handshake", { limits: { handshakeTimeoutMs: 300 } }), example("hello-ts"));
    const [hang] = await Promise.allSettled([h.start("hang-handshake"), h.start("hello-ts")]);
    expect(hang.status).toBe("rejected");
    const v = h.get("hang-handshake")!;
    expect(v.state).toBe("unavailable");
    expect(v.reason).toContain("300 ms");
    expect(h.get("hello-ts")!.state).toBe("ready");
    expect(await h.invoke("hello-ts", "echo", { a: 1 })).toEqual({ a: 1 });
  });

  it("refuses a plugin that speaks another protocol major version", async () => {
    const h = host(fixture("version-mismatch"));
    const e = await err(h.start("version-mismatch"));
    expect(e.code).toBe(ErrorCodes.VERSION_MISMATCH);
    expect(h.get("version-mismatch")!.state).toBe("unavailable");
    expect(h.get("version-mismatch")!.reason).toMatch(/2\.0/);
  });

  it("restarts a crashing plugin with backoff, then quarantines it with its stderr tail", async () => {
    const h = host(fixture("crashy", { restart: { policy: "on-failure", maxRetries: 2, windowMs: 60_000 } }));
    const changes: Array<StateChange & { at: number }> = [];
    h.on("state", (c) => changes.push({ ...c, at: Date.now() }));
    await h.start("crashy");
    await waitForState(h, "crashy", "quarantined", 15_000);
    const states = changes.map((c) => c.state);
    expect(states.filter((s) => s === "crashed").length).toBe(2);
    expect(states.filter((s) => s === "ready").length).toBe(3);
    const view = h.get("crashy")!;
    expect(view.restarts).toBe(2);
    expect(view.reason).toContain("crashed 3 times");
    expect(view.stderrTail.join("\n")).toContain("crashy: about to crash");
    // Backoff: each restart waited at least half its exponential delay (base 20 ms, doubled).
    const crashAt = changes.filter((c) => c.state === "crashed").map((c) => c.at);
    const startAt = changes
      .filter((c) => c.state === "starting")
      .map((c) => c.at)
      .slice(1);
    expect(startAt[0]! - crashAt[0]!).toBeGreaterThanOrEqual(9);
    expect(startAt[1]! - crashAt[1]!).toBeGreaterThanOrEqual(19);
    // Quarantine is sticky: no restart happens by itself.
    await sleep(300);
    expect(h.get("crashy")!.state).toBe("quarantined");
  });

  it("fails calls in flight with PLUGIN_CRASHED when the process dies", async () => {
    const h = host(fixture("crashy", { restart: { policy: "never" } }));
    await h.start("crashy");
    const e = await err(h.invoke("crashy", "wait", {}));
    expect(e.code).toBe(ErrorCodes.PLUGIN_CRASHED);
    expect(h.get("crashy")!.state).toBe("crashed");
  });

  it("enforces the concurrency limit with a bounded queue", async () => {
    const h = host(fixture("counter", { limits: { maxConcurrency: 1, maxQueue: 1 } }));
    await h.start("counter");
    const first = h.invoke("counter", "slow", { ms: 300 });
    const second = h.invoke("counter", "slow", { ms: 10 });
    const third = await err(h.invoke("counter", "slow", { ms: 10 }));
    expect(third.code).toBe(ErrorCodes.BUSY);
    expect(third.message).toContain("max_concurrency 1");
    await Promise.all([first, second]);
    expect(h.get("counter")!.inFlight).toBe(0);
  });

  it("kills a plugin that ignores shutdown and SIGTERM with SIGKILL", async () => {
    const h = host(fixture("ignore-sigterm", { limits: { shutdownTimeoutMs: 300 } }));
    await h.start("ignore-sigterm");
    const pid = h.get("ignore-sigterm")!.pid!;
    const started = Date.now();
    await h.stop("ignore-sigterm");
    expect(Date.now() - started).toBeLessThan(3000);
    expect(h.get("ignore-sigterm")!.lastExit?.signal).toBe("SIGKILL");
    expect(isAlive(pid)).toBe(false);
  });

  it("kills the grandchild a plugin forked when it stops", async () => {
    const h = host(fixture("forker"));
    await h.start("forker");
    const { pid, childPid } = (await h.invoke("forker", "pids", {})) as { pid: number; childPid: number };
    expect(isAlive(childPid)).toBe(true);
    await h.stop("forker");
    await eventually(() => !isAlive(childPid) && !isAlive(pid), 2000, "forker and its grandchild to exit");
  });

  it("survives a plugin writing garbage to stdout and reports it in the plugin's log", async () => {
    const h = host(fixture("stdout-spam"));
    const logs: LogRecord[] = [];
    h.on("log", (l) => logs.push(l));
    await h.start("stdout-spam");
    for (let i = 0; i < 5; i++) expect(await h.invoke("stdout-spam", "spam", {})).toBeDefined();
    await eventually(
      () => logs.some((l) => l.level === "warn" && l.msg.includes("not protocol frames")),
      2000,
      "a garbage warning",
    );
  });

  it("refuses an oversize frame and stays usable", async () => {
    const h = host(fixture("huge-frame", { limits: { maxMessageBytes: 64 * 1024 } }));
    await h.start("huge-frame");
    expect(((await h.invoke("huge-frame", "big", { bytes: 1000 })) as string).length).toBe(1000);
    const e = await err(h.invoke("huge-frame", "big", { bytes: 200_000 }));
    expect(e.code).toBe(ErrorCodes.MESSAGE_TOO_LARGE);
    expect(((await h.invoke("huge-frame", "big", { bytes: 10 })) as string).length).toBe(10);
  });
});

describe("a compiled plugin that was not built", () => {
  it("fails to start with 'command not found' and how to build it, not a handshake timeout", async () => {
    const m = fixture("counter");
    const h = host({
      ...m,
      id: "unbuilt",
      start: { ...m.start, command: `${m.dir}/bin/unbuilt`, args: [] },
    });
    const e = await err(h.start("unbuilt"));
    expect(e.message).toContain("command not found");
    expect(e.message).toContain("bin/unbuilt");
    expect(h.get("unbuilt")).toMatchObject({ state: "unavailable" });
  });
});
