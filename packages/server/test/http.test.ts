import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { loadOrCreateSecret } from "../src/config/secrets.js";
import { resolveSettings } from "../src/config/settings.js";
import { RunTokens } from "../src/runs/tokens.js";
import { type RunningServer, startServer } from "../src/server.js";
import { EXAMPLES, eventually, fixture, sleep } from "./helpers.js";

let server: RunningServer;
let url: string;
let dataDir: string;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "plugd-http-"));
  server = await startServer(
    resolveSettings({
      host: "127.0.0.1",
      port: 0,
      dataDir,
      pluginsDir: EXAMPLES,
      uploadMaxBytes: 1024,
      runCancelGraceMs: 500,
      bodyLimitBytes: 64 * 1024,
    }),
    { logger: pino({ level: "silent" }) },
  );
  url = server.url;
  server.host.add(fixture("counter", { limits: { maxConcurrency: 1, maxQueue: 10 } }));
  server.host.add(fixture("crashy", { restart: { policy: "never" } }));
  server.host.add(fixture("ignore-sigterm"));
  await server.host.start("counter");
  if (server.host.get("hello-ts")?.state !== "ready") await server.host.start("hello-ts");
});

afterAll(async () => {
  await server?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

async function call(method: string, p: string, body?: unknown, headers: Record<string, string> = {}) {
  const token = fs.readFileSync(path.join(dataDir, "admin.token"), "utf8").trim();
  const res = await fetch(`${url}${p}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { "content-type": "application/json" } : {}),
      ...headers,
    },
    ...(body !== undefined ? { body: typeof body === "string" ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let json: any = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = text;
  }
  return { status: res.status, body: json, headers: res.headers };
}

async function waitRun(runId: string, statuses = ["succeeded", "failed", "canceled", "timeout"]) {
  let run: any;
  const until = Date.now() + 10_000;
  for (;;) {
    run = (await call("GET", `/runs/${runId}`)).body;
    if (statuses.includes(run.status)) return run;
    if (Date.now() > until) throw new Error(`run ${runId} stuck in ${run.status}`);
    await sleep(20);
  }
}

describe("basic routes", () => {
  it("answers health, available, server info and the OpenAPI document", async () => {
    expect((await call("GET", "/health")).body).toMatchObject({ status: "ok" });
    expect((await call("GET", "/available")).body).toMatchObject({ available: true });
    const info = (await call("GET", "/server/info")).body;
    expect(info.registered_plugins).toContain("hello-ts");
    expect(info.running_plugins).toContain("hello-ts");
    const doc = (await call("GET", "/openapi.json")).body;
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(["/runs", "/runs/{run_id}", "/plugins"]));
  });

  it("answers unknown routes with a JSON 404", async () => {
    const r = await call("GET", "/nope");
    expect(r.status).toBe(404);
    expect(r.headers.get("x-error-code")).toBe("ROUTE_NOT_FOUND");
  });
});

describe("plugins", () => {
  it("lists plugins with state and entries with input schemas", async () => {
    const { plugins } = (await call("GET", "/plugins")).body;
    const hello = plugins.find((p: any) => p.id === "hello-ts");
    expect(hello.status).toBe("running");
    expect(hello.entries.find((e: any) => e.id === "count").input_schema).toMatchObject({ type: "object" });
  });

  it("reports status, stops and starts a plugin", async () => {
    expect((await call("GET", "/plugin/status?plugin_id=counter")).body.status.status).toBe("running");
    expect((await call("GET", "/plugin/status")).body.plugins.counter).toBeDefined();
    expect((await call("GET", "/plugin/status?plugin_id=ghost")).status).toBe(404);
    expect((await call("POST", "/plugin/counter/stop")).body).toMatchObject({ success: true, state: "stopped" });
    const r = await call("POST", "/runs", { plugin_id: "counter", entry_id: "fast", args: {} });
    expect(r.status).toBe(503);
    expect(r.body.error.code).toBe("PLUGIN_UNAVAILABLE");
    expect((await call("POST", "/plugin/counter/start")).body).toMatchObject({ success: true, state: "ready" });
    expect((await call("POST", "/plugin/ghost/start")).status).toBe(404);
  });
});

describe("runs", () => {
  it("creates a run, returns a token, and finishes with a result envelope export", async () => {
    const r = await call("POST", "/runs", { plugin_id: "hello-ts", entry_id: "echo", args: { text: "hi" } });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ status: "queued", run_token: expect.any(String), expires_at: expect.any(Number) });
    const run = await waitRun(r.body.run_id);
    expect(run).toMatchObject({ status: "succeeded", result: { text: "hi" }, progress: 1 });
    const exp = (await call("GET", `/runs/${run.run_id}/export`)).body;
    const envelope = exp.items.find((i: any) => i.label === "trigger_response");
    expect(envelope.json).toMatchObject({ success: true, code: 0, data: { text: "hi" }, error: null });
  });

  it("waits for the result with wait: true", async () => {
    const r = await call("POST", "/runs", {
      plugin_id: "hello-ts",
      entry_id: "greet",
      args: { name: "Ada" },
      wait: true,
    });
    expect(r.body).toMatchObject({ status: "succeeded", result: "Hello, Ada!" });
  });

  it("returns the same run for a repeated idempotency key", async () => {
    const body = { plugin_id: "hello-ts", entry_id: "echo", args: { n: 1 }, idempotency_key: `k-${Date.now()}` };
    const a = (await call("POST", "/runs", body)).body;
    const b = (await call("POST", "/runs", body)).body;
    expect(b.run_id).toBe(a.run_id);
    expect(b.created).toBe(false);
  });

  it("answers bad requests with 4xx and a clear message, never 500", async () => {
    const cases: Array<[unknown, number, string]> = [
      ["{not json", 400, "INVALID_JSON"],
      [{ plugin_id: 5, entry_id: "echo" }, 400, "VALIDATION_ERROR"],
      [{ entry_id: "echo" }, 400, "VALIDATION_ERROR"],
      [{ plugin_id: "ghost", entry_id: "echo" }, 404, "PLUGIN_NOT_FOUND"],
      [{ plugin_id: "hello-ts", entry_id: "nope" }, 404, "ENTRY_NOT_FOUND"],
      [{ plugin_id: "hello-ts", entry_id: "count", args: { to: "x" } }, 400, "INVALID_INPUT"],
      [{ plugin_id: "hello-ts", entry_id: "echo", args: { big: "x".repeat(100_000) } }, 413, "BODY_TOO_LARGE"],
    ];
    for (const [body, status, code] of cases) {
      const r = await call("POST", "/runs", body);
      expect([r.status, r.body.error.code], JSON.stringify(body).slice(0, 80)).toEqual([status, code]);
      expect(r.headers.get("x-error-code")).toBe(code);
      expect(r.body.error.message.length).toBeGreaterThan(5);
    }
    expect((await call("GET", "/runs/nope")).status).toBe(404);
    // `curl -d` without a header sends a form body: refused with what to add.
    const form = await fetch(`${server.url}/runs`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: JSON.stringify({ plugin_id: "hello-ts", entry_id: "echo" }),
    });
    expect(form.status).toBe(415);
    const formBody = (await form.json()) as any;
    expect(formBody.error).toMatchObject({
      code: "UNSUPPORTED_MEDIA_TYPE",
      details: { hint: expect.stringContaining("application/json") },
    });
  });

  it("cancels a queued run at once and a running one through the plugin", async () => {
    const running = (await call("POST", "/runs", { plugin_id: "counter", entry_id: "slow", args: { ms: 5000 } })).body;
    const queued = (await call("POST", "/runs", { plugin_id: "counter", entry_id: "slow", args: { ms: 10 } })).body;
    await waitRun(running.run_id, ["running"]);
    expect((await call("GET", `/runs/${queued.run_id}`)).body.status).toBe("queued");
    const q = (await call("POST", `/runs/${queued.run_id}/cancel`, { reason: "not needed" })).body;
    expect(q.status).toBe("canceled");
    const c = (await call("POST", `/runs/${running.run_id}/cancel`)).body;
    expect(c.status).toBe("cancel_requested");
    const done = await waitRun(running.run_id);
    expect(done.status).toBe("canceled");
    expect(done.cancel_requested).toBe(true);
  });

  it("fails a run with PLUGIN_CRASHED when its plugin dies mid-run", async () => {
    await server.host.start("crashy");
    const r = (await call("POST", "/runs", { plugin_id: "crashy", entry_id: "wait", args: {} })).body;
    const run = await waitRun(r.run_id);
    expect(run.status).toBe("failed");
    expect(run.error.code).toBe("PLUGIN_CRASHED");
  });

  it("times a run out", async () => {
    const r = (
      await call("POST", "/runs", {
        plugin_id: "hello-ts",
        entry_id: "count",
        args: { to: 100, delayMs: 50 },
        timeout_ms: 200,
      })
    ).body;
    const run = await waitRun(r.run_id);
    expect(run.status).toBe("timeout");
    expect(run.error.code).toBe("TIMEOUT");
  });
});

describe("uploads and blobs", () => {
  it("accepts an upload while the run runs, caps its size, and keeps blobs to their run", async () => {
    const run = (await call("POST", "/runs", { plugin_id: "counter", entry_id: "slow", args: { ms: 3000 } })).body;
    const other = (await call("POST", "/runs", { plugin_id: "hello-ts", entry_id: "echo", args: {}, wait: true })).body;
    await waitRun(run.run_id, ["running"]);
    const up = (await call("POST", `/runs/${run.run_id}/uploads`, { filename: "a.txt", mime: "text/plain" })).body;
    expect(up.upload_url).toBe(`/uploads/${up.upload_id}`);
    const put = await fetch(`${url}${up.upload_url}`, {
      method: "PUT",
      body: "hello blob",
      headers: { "content-type": "application/json" },
    });
    expect(await put.json()).toMatchObject({ ok: true, size: 10 });
    const get = await fetch(`${url}${up.blob_url}`);
    expect(await get.text()).toBe("hello blob");
    expect((await call("GET", `/runs/${other.run_id}/blobs/${up.blob_id}`)).status).toBe(404);

    const big = (await call("POST", `/runs/${run.run_id}/uploads`, {})).body;
    const tooBig = await fetch(`${url}${big.upload_url}`, { method: "PUT", body: "x".repeat(5000) });
    expect(tooBig.status).toBe(413);
    expect(fs.readdirSync(path.join(dataDir, "blobs/tmp"))).toEqual([]);

    const late = (await call("POST", `/runs/${other.run_id}/uploads`, {})).body;
    expect((await fetch(`${url}${late.upload_url}`, { method: "PUT", body: "x" })).status).toBe(409);
    await call("POST", `/runs/${run.run_id}/cancel`);
  });
});

describe("event streams", () => {
  async function readSse(p: string, headers: Record<string, string> = {}, stopAfter = Infinity) {
    const res = await fetch(`${url}${p}`, { headers });
    const events: Array<{ id: number; event: string; data: any }> = [];
    const reader = res.body!.getReader();
    let buf = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buf += Buffer.from(value).toString();
      for (let i = buf.indexOf("\n\n"); i >= 0; i = buf.indexOf("\n\n")) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const id = /^id: (\d+)$/m.exec(block)?.[1];
        const event = /^event: (.+)$/m.exec(block)?.[1];
        const data = /^data: (.+)$/m.exec(block)?.[1];
        if (id && event && data) events.push({ id: Number(id), event, data: JSON.parse(data) });
      }
      if (events.length >= stopAfter) {
        await reader.cancel();
        break;
      }
    }
    return events;
  }

  it("streams a run's events over SSE and resumes after a disconnect with Last-Event-ID", async () => {
    const r = (await call("POST", "/runs", { plugin_id: "hello-ts", entry_id: "count", args: { to: 5, delayMs: 30 } }))
      .body;
    const first = (await readSse(`/runs/${r.run_id}/events`, {}, 3)).slice(0, 3);
    expect(first.map((e) => e.id)).toEqual([1, 2, 3]);
    const rest = await readSse(`/runs/${r.run_id}/events`, { "Last-Event-ID": "3" });
    expect(rest[0]!.id).toBe(4);
    const all = [...first, ...rest];
    expect(all.map((e) => e.id)).toEqual(all.map((_, i) => i + 1));
    expect(all.at(-1)).toMatchObject({ event: "status", data: { status: "succeeded" } });
    expect(all.some((e) => e.event === "progress")).toBe(true);
  });

  function ws(q = "") {
    const sock = new WebSocket(`${url.replace("http", "ws")}/ws/run${q}`);
    const frames: any[] = [];
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      sock.on("close", (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    sock.on("message", (d) => frames.push(JSON.parse(d.toString())));
    const opened = new Promise((r) => sock.on("open", r));
    return { sock, frames, closed, opened };
  }

  it("authenticates /ws/run by query token or first frame, streams events and answers requests", async () => {
    const r = (await call("POST", "/runs", { plugin_id: "hello-ts", entry_id: "count", args: { to: 3, delayMs: 50 } }))
      .body;
    const a = ws(`?run_token=${encodeURIComponent(r.run_token)}`);
    const b = ws();
    await b.opened;
    b.sock.send(JSON.stringify({ type: "auth", token: r.run_token }));
    for (const c of [a, b]) {
      await eventually(() => c.frames.some((f) => f.event === "session.ready"), 3000, "session.ready");
      expect(c.frames[0]).toMatchObject({
        type: "event",
        event: "session.ready",
        data: { run_id: r.run_id, perm: "read" },
      });
    }
    await eventually(() => b.frames.some((f) => f.data?.payload?.status === "succeeded"), 5000, "succeeded frame");
    b.sock.send(JSON.stringify({ type: "req", id: "1", method: "run.get" }));
    b.sock.send(JSON.stringify({ type: "req", id: "2", method: "export.list", params: { limit: 10 } }));
    b.sock.send(JSON.stringify({ type: "req", id: "3", method: "nope" }));
    await eventually(() => b.frames.filter((f) => f.type === "resp").length === 3, 3000, "three responses");
    const resp = Object.fromEntries(b.frames.filter((f) => f.type === "resp").map((f) => [f.id, f]));
    expect(resp["1"].result).toMatchObject({ run_id: r.run_id, status: "succeeded" });
    expect(resp["2"].result.items.length).toBeGreaterThan(0);
    expect(resp["3"]).toMatchObject({ ok: false, error: "unknown method" });
    a.sock.close();
    b.sock.close();
  });

  it("closes /ws/run with 1008 for a bad, tampered or missing token", async () => {
    const r = (await call("POST", "/runs", { plugin_id: "hello-ts", entry_id: "echo", args: {} })).body;
    const bad = ws("?run_token=garbage");
    expect((await bad.closed).code).toBe(1008);
    const [body, sig] = r.run_token.split(".");
    const tampered = ws(`?run_token=${body}x.${sig}`);
    expect((await tampered.closed).code).toBe(1008);
    const expired = new RunTokens(loadOrCreateSecret(dataDir, "run-token.secret"), 3_600_000).issue(
      r.run_id,
      Date.now() - 7_200_000,
    ).token;
    const old = ws(`?run_token=${expired}`);
    const closed = await old.closed;
    expect(closed).toMatchObject({ code: 1008 });
    expect(closed.reason).toContain("expired");
    const silent = ws();
    await silent.opened;
    silent.sock.send(JSON.stringify({ type: "hello" }));
    expect((await silent.closed).code).toBe(1008);
  });
});
