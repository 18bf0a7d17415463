import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { resolveSettings } from "../src/config/settings.js";
import { type RunningServer, startServer } from "../src/server.js";
import { EXAMPLES, until } from "./helpers.js";

// N.E.K.O plugin folders (examples/plugins/neko-*) run unmodified by the real server: started from their plugin.toml
// as `python -m plugd.neko_runner module:Class`, driven through POST /runs and WS /ws/run. The folders are copied to a
// temporary plugins dir, because a config update from the plugin rewrites its plugin.toml.

let server: RunningServer;
let dataDir: string;
let pluginsDir: string;
let token: string;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "plugd-neko-data-"));
  pluginsDir = fs.mkdtempSync(path.join(os.tmpdir(), "plugd-neko-plugins-"));
  for (const id of ["neko-notes", "neko-clock"]) {
    fs.cpSync(path.join(EXAMPLES, id), path.join(pluginsDir, id), {
      recursive: true,
      filter: (src) => !src.includes("__pycache__"),
    });
  }
  // A N.E.K.O folder whose entry module does not exist: it must fail with the runner's message, not a hang.
  fs.mkdirSync(path.join(pluginsDir, "neko-broken"));
  fs.writeFileSync(
    path.join(pluginsDir, "neko-broken", "plugin.toml"),
    '[plugin]\nid = "neko-broken"\nname = "Broken"\nentry = "plugin.plugins.nowhere:Nothing"\n',
  );
  // autoStart on: neko-notes has [plugin_runtime] auto_start = true, neko-clock and neko-broken do not.
  server = await startServer(resolveSettings({ host: "127.0.0.1", port: 0, dataDir, pluginsDir }), {
    logger: pino({ level: "silent" }),
  });
  token = fs.readFileSync(path.join(dataDir, "admin.token"), "utf8").trim();
  await until(() => expect(server.host.get("neko-notes")?.state).toBe("ready"), 15_000);
}, 30_000);

afterAll(async () => {
  await server?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
  fs.rmSync(pluginsDir, { recursive: true, force: true });
});

async function call(method: string, p: string, body?: unknown) {
  const res = await fetch(`${server.url}${p}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { "content-type": "application/json" } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as any };
}

async function run(plugin: string, entry: string, args: Record<string, unknown> = {}) {
  const r = await call("POST", "/runs", { plugin_id: plugin, entry_id: entry, args, wait: true });
  expect(r.status).toBe(200);
  return r.body;
}

async function exportsOf(runId: string): Promise<any[]> {
  return (await call("GET", `/runs/${runId}/export`)).body.items;
}

function ws() {
  const sock = new WebSocket(`${server.url.replace("http", "ws")}/ws/run`);
  const frames: any[] = [];
  sock.on("message", (d) => frames.push(JSON.parse(d.toString())));
  const opened = new Promise((r) => sock.on("open", r));
  return { sock, frames, opened };
}

describe("a N.E.K.O plugin folder under plugd", () => {
  it("auto-starts from [plugin_runtime] and declares its decorated entries, schemas inferred from type hints", async () => {
    const { body } = await call("GET", "/plugins");
    const notes = body.plugins.find((p: any) => p.id === "neko-notes");
    expect(notes.status).toBe("running");
    const entries = Object.fromEntries(notes.entries.map((e: any) => [e.id, e]));
    expect(Object.keys(entries).sort()).toEqual(
      ["add", "announce", "clear", "context", "list", "settings", "summarize"].sort(),
    );
    expect(entries.add.input_schema).toMatchObject({ properties: { text: { type: "string" } }, required: ["text"] });
    expect(server.host.get("neko-clock")?.state).not.toBe("ready");
  });

  it("ran the startup lifecycle (config read, loguru-style log line in the plugin's log)", async () => {
    await until(async () => {
      const { body } = await call("GET", "/plugin/neko-notes/logs?search=notes%20ready");
      expect(body.logs.map((l: any) => l.message).join("\n")).toContain("notes ready: max 3 notes, prefix 'Note'");
    });
  });

  it("serves sync and async entries with keyword arguments, extras dropped, Ok unwrapped", async () => {
    await run("neko-notes", "clear");
    const added = await run("neko-notes", "add", { text: "buy milk", tags: ["home"] });
    expect(added.status).toBe("succeeded");
    expect(added.result).toEqual({ count: 1, note: "Note 1: buy milk" });
    await run("neko-notes", "add", { text: "call mom" });
    const listed = await run("neko-notes", "list", { tag: "home" });
    expect(listed.status).toBe("succeeded");
    expect(listed.result).toEqual([{ text: "buy milk", tags: ["home"] }]);
  });

  it("fails a run with the plugin's own error code from Err(SdkError(code=...)), in the error and the envelope", async () => {
    const r = await run("neko-notes", "add", { text: "   " });
    expect(r.status).toBe("failed");
    expect(r.error).toMatchObject({ code: "EMPTY_NOTE", message: "a note needs some text" });
    const envelope = (await exportsOf(r.run_id)).find((e) => e.label === "trigger_response");
    expect(envelope.json).toMatchObject({ success: false, error: { code: "EMPTY_NOTE" } });

    await run("neko-notes", "add", { text: "third" });
    const full = await run("neko-notes", "add", { text: "fourth" });
    expect(full.status).toBe("failed");
    expect(full.error).toEqual({ code: "NOTES_FULL", message: "at most 3 notes", details: { max_notes: 3 } });
  });

  it("refuses input that does not fit the inferred schema before the plugin sees it", async () => {
    const r = await call("POST", "/runs", { plugin_id: "neko-notes", entry_id: "add", args: { tags: [] } });
    expect(r.status).toBe(400);
  });

  it("passes _ctx: the run id plus what the caller put in args._ctx", async () => {
    const r = await run("neko-notes", "context", { _ctx: { lanlan_name: "neko", lang: "en" } });
    expect(r.status).toBe("succeeded");
    expect(r.result).toMatchObject({ run_id: r.run_id, lanlan_name: "neko", lang: "en" });
    expect(r.result.entry_timeout).toBeGreaterThan(0);
  });

  it("records run_update progress and export_push exports on the run", async () => {
    const r = await run("neko-notes", "summarize");
    expect(r.status).toBe("succeeded");
    expect(r.result).toEqual({ count: 3, run_id: r.run_id });
    const rec = (await call("GET", `/runs/${r.run_id}`)).body;
    expect(rec).toMatchObject({ status: "succeeded", progress: 1, step: 3, step_total: 3 });
    const items = await exportsOf(r.run_id);
    expect(items.find((e) => e.label === "summary")).toMatchObject({
      type: "text",
      text: "3 note(s)\n- buy milk\n- call mom\n- third",
    });
    expect(items.find((e) => e.label === "stats")).toMatchObject({ type: "json", json: { count: 3 } });
  });

  it("streams the run over WS /ws/run: progress, exports and the final state", async () => {
    const created = (
      await call("POST", "/runs", { plugin_id: "neko-notes", entry_id: "summarize", args: { delay_ms: 300 } })
    ).body;
    const c = ws();
    await c.opened;
    c.sock.send(JSON.stringify({ type: "auth", token: created.run_token }));
    await until(() => expect(c.frames.some((f) => f.data?.payload?.status === "succeeded")).toBe(true), 10_000);
    const changes = c.frames.filter((f) => f.event === "bus.change").map((f) => f.data);
    expect(changes.some((d) => d.bus === "runs" && d.payload.stage === "reading" && d.payload.progress < 1)).toBe(true);
    expect(changes.filter((d) => d.bus === "export").length).toBeGreaterThanOrEqual(2);
    c.sock.send(JSON.stringify({ type: "req", id: "1", method: "export.list", params: { limit: 10 } }));
    await until(() => expect(c.frames.some((f) => f.type === "resp" && f.id === "1")).toBe(true));
    const listed = c.frames.find((f) => f.type === "resp" && f.id === "1").result.items;
    expect(listed.map((e: any) => e.label)).toEqual(expect.arrayContaining(["summary", "stats", "trigger_response"]));
    c.sock.close();
  });

  it("push_message (v1 and v2 signatures) answers {submitted} and shows in GET /plugin/messages", async () => {
    const v1 = await run("neko-notes", "announce", { text: "hello v1", priority: 4 });
    expect(v1.status).toBe("succeeded");
    expect(v1.result).toMatchObject({ submitted: true, message_id: expect.any(String) });
    const v2 = await run("neko-notes", "announce", { text: "hello v2", v2: true });
    expect(v2.result).toMatchObject({ submitted: true });
    const { body } = await call("GET", "/plugin/messages?plugin_id=neko-notes");
    const byId = Object.fromEntries(body.messages.map((m: any) => [m.message_id, m]));
    expect(byId[v1.result.message_id]).toMatchObject({
      plugin_id: "neko-notes",
      source: "neko-notes",
      message_type: "text",
      content: "hello v1",
      priority: 4,
      description: "announcement",
      metadata: { kind: "announcement" },
    });
    expect(byId[v2.result.message_id]).toMatchObject({
      content: "hello v2",
      parts: [{ type: "text", text: "hello v2" }],
      visibility: ["chat"],
      ai_behavior: "read",
    });
  });

  it("reads config from the business tables and updates it through host/updateConfig", async () => {
    const before = await run("neko-notes", "settings");
    expect(before.result).toEqual({
      config: { notes: { max_notes: 3, prefix: "Note" } },
      max_notes: 3,
      missing: "default",
    });
    const after = await run("neko-notes", "settings", { max_notes: 5 });
    expect(after.status).toBe("succeeded");
    expect(after.result.max_notes).toBe(5);
    // saved in the plugin's config, and delivered to the running plugin (its config_change lifecycle reloads it)
    const cfg = (await call("GET", "/plugin/neko-notes/config")).body;
    expect(cfg.config.notes.max_notes).toBe(5);
    await until(async () => expect((await run("neko-notes", "add", { text: "fourth" })).status).toBe("succeeded"));
  });
});

describe("a N.E.K.O timer and lifecycle under plugd", () => {
  it("starts on request, runs startup (message + store), and the HOST fires the timer as runs", async () => {
    expect((await call("POST", "/plugin/neko-clock/start")).status).toBe(200);
    await until(async () => {
      const { body } = await call("GET", "/plugin/timers?plugin_id=neko-clock");
      expect(body.timers[0]).toMatchObject({ entry: "tick", interval_ms: 1000 });
      expect(body.timers[0].fired).toBeGreaterThanOrEqual(2);
    }, 10_000);
    const runs = (await call("GET", "/runs?plugin_id=neko-clock")).body.runs;
    const ticks = runs.filter((r: any) => r.task_id === "timer:tick" && r.status === "succeeded");
    expect(ticks.length).toBeGreaterThanOrEqual(1);
    expect(ticks[0].result).toEqual({ ticks: expect.any(Number) }); // ok(data=...) envelope: data is the result
    const status = await run("neko-clock", "status");
    expect(status.result).toMatchObject({ starts: 1, stops: 0 });
    expect(status.result.ticks).toBeGreaterThanOrEqual(1);
    const { body } = await call("GET", "/plugin/messages?plugin_id=neko-clock");
    expect(body.messages.find((m: any) => m.content === "clock started")).toMatchObject({
      message_type: "text",
      metadata: { message_type: "proactive_notification" },
      priority: 2,
    });
  });

  it("calls another plugin's entry with self.plugins.call_entry (a nested run)", async () => {
    const r = await run("neko-clock", "note_time");
    expect(r.status).toBe("succeeded");
    expect(r.result.count).toBeGreaterThan(0);
    const children = (await call("GET", "/runs?plugin_id=neko-notes")).body.runs.filter(
      (x: any) => x.parent_run_id === r.run_id,
    );
    expect(children).toEqual([expect.objectContaining({ entry_id: "add", status: "succeeded" })]);
  });

  it("runs the shutdown lifecycle on stop; the store survives a restart", async () => {
    expect((await call("POST", "/plugin/neko-clock/stop")).status).toBe(200);
    const { body } = await call("GET", "/plugin/messages?plugin_id=neko-clock");
    expect(body.messages.some((m: any) => m.content === "clock stopped")).toBe(true);
    expect((await call("GET", "/plugin/timers?plugin_id=neko-clock")).body.timers).toEqual([]);
    expect((await call("POST", "/plugin/neko-clock/start")).status).toBe(200);
    const status = await run("neko-clock", "status");
    expect(status.result).toMatchObject({ starts: 2, stops: 1 });
    expect(fs.existsSync(path.join(dataDir, "plugin-data", "neko-clock", "store.db"))).toBe(true);
    await call("POST", "/plugin/neko-clock/stop");
  });
});

describe("a N.E.K.O plugin that cannot be loaded", () => {
  it("fails to start with the runner's reason instead of hanging", async () => {
    const started = Date.now();
    const r = await call("POST", "/plugin/neko-broken/start");
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(Date.now() - started).toBeLessThan(10_000);
    const reason = "plugd.neko_runner: cannot import module 'plugin.plugins.nowhere'";
    const broken = (await call("GET", "/plugins")).body.plugins.find((p: any) => p.id === "neko-broken");
    expect(broken.state).not.toBe("ready");
    expect(broken.stderr_tail.join("\n")).toContain(reason);
    await until(async () => {
      const { body } = await call("GET", "/plugin/neko-broken/logs?level=ERROR");
      expect(body.logs.map((l: any) => l.message).join("\n")).toContain(reason);
    });
  });
});
