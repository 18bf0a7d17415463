import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveSettings } from "../src/config/settings.js";
import { type RunningServer, startServer } from "../src/server.js";
import { EXAMPLES, fixture, until } from "./helpers.js";

// The bus as the server wires it: real plugins push, emit and query through the reverse RPC; GET /plugin/messages
// reads the messages store; the server mirrors its own runs and lifecycle transitions; a restart keeps it all.

let server: RunningServer;
let dataDir: string;

async function start(): Promise<RunningServer> {
  const s = await startServer(
    resolveSettings({ host: "127.0.0.1", port: 0, dataDir, pluginsDir: EXAMPLES, autoStart: false }),
    { logger: pino({ level: "silent" }) },
  );
  for (const id of ["bus-talker", "listener"]) s.host.add(fixture(id));
  await Promise.all(["bus-talker", "listener"].map((id) => s.host.start(id)));
  return s;
}

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "plugd-bus-server-"));
  server = await start();
});
afterAll(async () => {
  await server?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

async function run(plugin: string, entry: string, args: unknown) {
  const res = await fetch(`${server.url}/runs`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ plugin_id: plugin, entry_id: entry, args, wait: true }),
  });
  const body = (await res.json()) as any;
  expect(body.status, JSON.stringify(body.error)).toBe("succeeded");
  return body.result;
}

async function get(url: string) {
  return (await (await fetch(`${server.url}${url}`)).json()) as any;
}

describe("messages from plugins", () => {
  it("a pushed message is answered {submitted} and served by GET /plugin/messages, newest first, filtered", async () => {
    const low = await run("bus-talker", "push", { source: "t", description: "low", priority: 1, content: "a" });
    expect(low).toMatchObject({ submitted: true, message_id: expect.any(String) });
    await run("bus-talker", "push", {
      source: "t",
      description: "high",
      priority: 5,
      type: "url",
      binary_url: "https://example.invalid/x.png",
      metadata: { k: 1 },
    });
    // The v2 form: parts, visibility, ai behaviour are kept.
    await run("bus-talker", "push", {
      parts: [{ type: "text", text: "hi" }],
      visibility: ["chat"],
      ai_behavior: "respond",
      priority: 2,
      description: "v2",
    });
    const all = await get("/plugin/messages?plugin_id=bus-talker");
    expect(all.messages.map((m: any) => m.description)).toEqual(["v2", "high", "low"]);
    expect(all.messages[1]).toMatchObject({
      plugin_id: "bus-talker",
      source: "t",
      message_type: "url",
      binary_url: "https://example.invalid/x.png",
      metadata: { k: 1 },
      timestamp: expect.any(Number),
    });
    expect(all.messages[0]).toMatchObject({ parts: [{ type: "text", text: "hi" }], visibility: ["chat"] });
    const high = await get("/plugin/messages?plugin_id=bus-talker&priority_min=3");
    expect(high.messages.map((m: any) => m.description)).toEqual(["high"]);
    expect((await get("/plugin/messages?plugin_id=bus-talker&max_count=1")).count).toBe(1);
    expect((await fetch(`${server.url}/plugin/messages?max_count=0`)).status).toBe(400);
  });

  it("a message that cannot be accepted is answered {submitted: false, reason}, never dropped silently", async () => {
    expect(await run("bus-talker", "push", { type: "video", content: "x" })).toMatchObject({
      submitted: false,
      code: "INVALID_MESSAGE",
      reason: expect.stringContaining("type must be one of"),
    });
    expect(await run("bus-talker", "push", { content: "x".repeat(300 * 1024) })).toMatchObject({
      submitted: false,
      reason: expect.any(String),
    });
  });
});

describe("events", () => {
  it("reach subscribed plugins through their manifest include/exclude, never the emitter", async () => {
    for (const type of ["order.created", "order.secret", "invoice.paid", "ping"]) {
      expect(await run("bus-talker", "emit", { type, payload: { type } })).toMatchObject({ submitted: true });
    }
    await until(async () => {
      const seen = (await run("listener", "seen", {})).seen;
      expect(seen.map((e: any) => e.type)).toEqual(["order.created", "ping"]);
    });
    const seen = (await run("listener", "seen", {})).seen;
    expect(seen[0]).toEqual({ type: "order.created", payload: { type: "order.created" }, from: "bus-talker" });
  });

  it("an event without a type is refused with a reason", async () => {
    expect(await run("bus-talker", "emit", { type: " " })).toMatchObject({ submitted: false, code: "INVALID_EVENT" });
  });
});

describe("queries and mirroring", () => {
  it("a plugin queries the stores; the server's runs and lifecycle are mirrored into them", async () => {
    const got = await run("bus-talker", "query", { store: "events", type: "ping" });
    expect(got.items).toHaveLength(1);
    expect(got.items[0]).toMatchObject({ store: "events", type: "ping", plugin_id: "bus-talker" });
    const runs = await run("bus-talker", "query", { store: "runs", plugin_id: "listener", limit: 100 });
    expect(runs.items.some((r: any) => r.payload.status === "succeeded")).toBe(true);
    const life = await run("bus-talker", "query", { store: "lifecycle", plugin_id: "listener" });
    expect(life.items.map((r: any) => r.type)).toContain("ready");
  });

  it("a bad query is an error with the bus's reason", async () => {
    const res = await fetch(`${server.url}/runs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ plugin_id: "bus-talker", entry_id: "query", args: { store: "nope" }, wait: true }),
    });
    const body = (await res.json()) as any;
    expect(body.status).toBe("failed");
    expect(body.error.message).toContain("unknown store");
    const bad = await fetch(`${server.url}/runs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        plugin_id: "bus-talker",
        entry_id: "query",
        args: { store: "events", regex: [{ field: "payload", pattern: "(a+)+$" }] },
        wait: true,
      }),
    });
    const b = (await bad.json()) as any;
    expect(b.status).toBe("failed");
  });
});

describe("host/updateConfig", () => {
  it("a plugin changes its own config; the running process receives it; protected fields are refused", async () => {
    const r = await run("bus-talker", "setConfig", { patch: { tuning: { level: 3 } }, mode: "temporary" });
    expect(r).toMatchObject({ success: true, hot_reloaded: true, config: { tuning: { level: 3 } } });
    await until(async () => expect((await run("bus-talker", "config", {})).tuning).toEqual({ level: 3 }));
    const res = await fetch(`${server.url}/runs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        plugin_id: "bus-talker",
        entry_id: "setConfig",
        args: { patch: { plugin: { id: "evil" } }, mode: "temporary" },
        wait: true,
      }),
    });
    const body = (await res.json()) as any;
    expect(body.status).toBe("failed");
    expect(body.error.message).toMatch(/plugin\.id|plugin/);
  });
});

describe("restart", () => {
  it("messages and events survive a restart of the server", async () => {
    await server.close();
    server = await start();
    const all = await get("/plugin/messages?plugin_id=bus-talker");
    expect(all.messages.map((m: any) => m.description)).toEqual(["v2", "high", "low"]);
    const got = await run("bus-talker", "query", { store: "events", type: "order.created" });
    expect(got.items).toHaveLength(1);
  });
});
