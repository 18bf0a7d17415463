import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { resolveSettings } from "../src/config/settings.js";
import { RunJournal } from "../src/runs/journal.js";
import { RunSignal } from "../src/runs/signal.js";
import { type RunningServer, startServer } from "../src/server.js";
import { SqliteStore } from "../src/store/sqlite/index.js";
import type { RunEvent, RunRecord } from "../src/store/types.js";
import { EXAMPLES, exportRecord, runRecord, sleep } from "./helpers.js";

/** Polls an async condition (the store answers through promises). */
async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await sleep(5);
  }
}

describe("RunJournal over a real SQLite file", () => {
  let dir: string;
  let store: SqliteStore;
  const heard: RunEvent[] = [];
  const errors: unknown[] = [];
  const journal = (holdMs: number) =>
    new RunJournal(store, {
      holdMs,
      onEvent: (ev) => heard.push(ev),
      onError: (err) => errors.push(err),
    });

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "plugd-journal-"));
  });
  afterEach(async () => {
    heard.length = 0;
    errors.length = 0;
    await store?.close();
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("writes a run, its events and exports at the end of the turn; listeners hear events only once stored", async () => {
    store = SqliteStore.open(path.join(dir, "a.db"));
    const j = journal(0);
    const run = runRecord("r1");
    const entry = j.open(run, { hold: false });
    j.event(entry, "status", { status: "queued" }, 1);
    run.status = "running";
    j.state(entry);
    j.event(entry, "status", { status: "running" }, 2);
    expect(await store.getRun("r1")).toBeUndefined();
    expect(heard).toEqual([]);
    await j.settle(entry);
    expect((await store.getRun("r1"))?.status).toBe("running");
    expect((await store.listRunEvents("r1", 0, 10)).map((e) => e.seq)).toEqual([1, 2]);
    expect(heard.map((e) => [e.seq, (e.data as { status: string }).status])).toEqual([
      [1, "queued"],
      [2, "running"],
    ]);
    // Later changes update the stored row (not a second insert) and continue the seq.
    run.status = "succeeded";
    j.state(entry);
    j.export(entry, exportRecord("x1", "r1", { text: "hi" }));
    j.event(entry, "status", { status: "succeeded" }, 3);
    await j.settle(entry);
    expect((await store.getRun("r1"))?.status).toBe("succeeded");
    expect((await store.listExports("r1", undefined, 10)).map((e) => e.text)).toEqual(["hi"]);
    expect((await store.listRunEvents("r1", 0, 10)).map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(errors).toEqual([]);
  });

  it("holds a run until it settles, however many turns pass", async () => {
    store = SqliteStore.open(path.join(dir, "b.db"));
    const j = journal(60_000);
    const run = runRecord("held");
    const entry = j.open(run, { hold: true });
    j.event(entry, "status", { status: "queued" }, 1);
    await sleep(20);
    expect(await store.getRun("held")).toBeUndefined();
    expect(heard).toEqual([]);
    run.status = "succeeded";
    j.state(entry);
    j.event(entry, "status", { status: "succeeded" }, 2);
    await j.settle(entry);
    expect((await store.getRun("held"))?.status).toBe("succeeded");
    expect(heard.map((e) => e.seq)).toEqual([1, 2]);
  });

  it("writes a held run once its hold runs out, or once someone asks about it", async () => {
    store = SqliteStore.open(path.join(dir, "c.db"));
    const j = journal(30);
    const timedOut = j.open(runRecord("slow"), { hold: true });
    j.event(timedOut, "status", { status: "queued" }, 1);
    const asked = new RunJournal(store, { holdMs: 60_000, onEvent: () => {}, onError: () => {} });
    const entry = asked.open(runRecord("asked"), { hold: true });
    asked.release(entry);
    await until(async () => (await store.getRun("asked")) !== undefined, 1_000, "the released run stored");
    await until(async () => (await store.getRun("slow")) !== undefined, 2_000, "the run whose hold ran out stored");
    // The row is visible as soon as the writer thread commits; listeners hear of it once the commit is reported.
    await j.settle(timedOut);
    await asked.settle(entry);
    expect(heard.map((e) => e.run_id)).toEqual(["slow"]);
  });

  it("rejects the waiters of a batch the store could not write, and still tells listeners", async () => {
    store = SqliteStore.open(path.join(dir, "d.db"));
    // A row with the same id already there: the batch's insert fails, and with it the whole batch.
    await store.insertRun(runRecord("lost"));
    const j = journal(0);
    const other = j.open(runRecord("innocent"), { hold: false });
    const entry = j.open(runRecord("lost"), { hold: false });
    j.event(entry, "status", { status: "queued" }, 1);
    await expect(j.settle(entry)).rejects.toMatchObject({ code: "SQLITE_CONSTRAINT_PRIMARYKEY" });
    // The batch failed as a whole; the run that did nothing wrong is then written alone.
    await expect(j.settle(other)).resolves.toBeUndefined();
    expect(await store.getRun("innocent")).toBeDefined();
    expect(errors).toHaveLength(1);
    // Still failing later, for whoever asks.
    await expect(j.settle(entry)).rejects.toMatchObject({ code: "SQLITE_CONSTRAINT_PRIMARYKEY" });
    expect(heard.map((e) => e.seq)).toEqual([1]);
  });
});

describe("RunSignal", () => {
  it("fires its listeners once, not removed ones nor ones added after", () => {
    const s = new RunSignal();
    const calls: string[] = [];
    const a = () => calls.push("a");
    const b = () => calls.push("b");
    s.addEventListener("abort", a);
    s.addEventListener("abort", b);
    s.removeEventListener("abort", a);
    s.abort("why");
    s.abort("again");
    s.addEventListener("abort", a);
    expect(calls).toEqual(["b"]);
    expect(s).toMatchObject({ aborted: true, reason: "why" });
  });
});

describe("runs reported at their end (POST /runs with wait: true)", () => {
  let server: RunningServer;
  let dataDir: string;
  let token: string;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "plugd-journal-http-"));
    server = await startServer(resolveSettings({ host: "127.0.0.1", port: 0, dataDir, pluginsDir: EXAMPLES }), {
      logger: pino({ level: "silent" }),
    });
    if (server.host.get("hello-ts")?.state !== "ready") await server.host.start("hello-ts");
    token = fs.readFileSync(path.join(dataDir, "admin.token"), "utf8").trim();
  });
  afterAll(async () => {
    await server?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const post = async (body: unknown) => {
    const res = await fetch(`${server.url}/runs`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return (await res.json()) as { run_id: string; status: string; run: RunRecord };
  };

  it("stores the finished run, every event and the result export before answering", async () => {
    const r = await post({ plugin_id: "hello-ts", entry_id: "echo", args: { text: "hi" }, wait: true });
    expect(r.status).toBe("succeeded");
    // Read straight from the store: the answer came only after the write.
    const stored = await server.store.getRun(r.run_id);
    expect(stored).toMatchObject({ status: "succeeded", result: { text: "hi" } });
    const events = await server.store.listRunEvents(r.run_id, 0, 10);
    expect(events.map((e) => [e.seq, e.type])).toEqual([
      [1, "status"],
      [2, "status"],
      [3, "export"],
      [4, "status"],
    ]);
    expect((await server.store.listExports(r.run_id, undefined, 10)).map((e) => e.label)).toEqual(["trigger_response"]);
  });

  it("mirrors such a run into the bus as one runs record (its end state) and one export record", async () => {
    const r = await post({ plugin_id: "hello-ts", entry_id: "echo", args: { text: "mirror" }, wait: true });
    const ofRun = (store: "runs" | "export") =>
      server.bus
        .recent(store, { topic: "hello-ts", limit: 1000 })
        .filter((x) => (x.payload as { run_id?: string }).run_id === r.run_id);
    await until(async () => ofRun("export").length > 0, 2_000, "the export record");
    const runs = ofRun("runs");
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ type: "add", payload: { status: "succeeded" } });
    expect(ofRun("export")).toHaveLength(1);
  });

  it("never shows a run ended before its end is stored: who sees it succeeded finds its result export", async () => {
    const get = async (p: string) =>
      (await fetch(`${server.url}${p}`, { headers: { authorization: `Bearer ${token}` } })).json() as Promise<any>;
    for (let i = 0; i < 30; i++) {
      const { run_id } = await post({ plugin_id: "hello-ts", entry_id: "echo", args: { text: `n${i}` } });
      // Poll as fast as the server answers: the window between the end in memory and on disk is well under 1 ms.
      let run = await get(`/runs/${run_id}`);
      while (run.status !== "succeeded") run = await get(`/runs/${run_id}`);
      const exp = await get(`/runs/${run_id}/export`);
      expect(exp.items.map((x: { label: string }) => x.label)).toContain("trigger_response");
    }
  });

  it("goes on when a run event listener throws", async () => {
    const heard: string[] = [];
    const offBad = server.engine.subscribeAll(() => {
      throw new Error("listener bug");
    });
    const offGood = server.engine.subscribeAll((ev) => heard.push(ev.type));
    try {
      const r = await post({ plugin_id: "hello-ts", entry_id: "echo", args: { text: "x" }, wait: true });
      expect(r.status).toBe("succeeded");
      expect(heard).toEqual(["status", "status", "export", "status"]);
    } finally {
      offBad();
      offGood();
    }
  });

  it("stores a run still going when wait_timeout_ms answers first", async () => {
    const r = await post({
      plugin_id: "hello-ts",
      entry_id: "count",
      args: { to: 3, delayMs: 300 },
      wait: true,
      wait_timeout_ms: 10,
    });
    expect(["queued", "running"]).toContain(r.status);
    expect(await server.store.getRun(r.run_id)).toBeDefined();
    await until(async () => (await server.store.getRun(r.run_id))?.status === "succeeded", 5_000, "the run to end");
  });
});
