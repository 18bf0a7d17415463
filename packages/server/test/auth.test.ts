import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { rotateAdminToken } from "../src/auth/admin-token.js";
import { resolveSettings } from "../src/config/settings.js";
import { type RunningServer, startServer } from "../src/server.js";
import { EXAMPLES } from "./helpers.js";

let server: RunningServer;
let dataDir: string;
const token = () => fs.readFileSync(path.join(dataDir, "admin.token"), "utf8").trim();

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "plugd-auth-"));
  server = await startServer(resolveSettings({ host: "127.0.0.1", port: 0, dataDir, pluginsDir: EXAMPLES }), {
    logger: pino({ level: "silent" }),
  });
});
afterAll(async () => {
  await server?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const ADMIN: Array<[string, string]> = [
  ["GET", "/server/info"],
  ["POST", "/plugin/hello-ts/reload"],
  ["POST", "/plugin/hello-ts/start"],
  ["GET", "/auth/csrf"],
];

async function req(method: string, p: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${server.url}${p}`, { method, headers });
  const body = (await res.json().catch(() => null)) as any;
  return { status: res.status, code: body?.error?.code as string | undefined, body };
}

describe("admin auth", () => {
  it("creates the token file with mode 0600", () => {
    const st = fs.statSync(path.join(dataDir, "admin.token"));
    expect(st.mode & 0o777).toBe(0o600);
    expect(token().length).toBeGreaterThanOrEqual(32);
  });

  it("refuses admin routes without a token (401), with a wrong one (403), accepts the right one", async () => {
    for (const [method, p] of ADMIN) {
      expect(await req(method, p), `${method} ${p} without token`).toMatchObject({
        status: 401,
        code: "AUTH_REQUIRED",
      });
      expect(await req(method, p, { authorization: "Bearer nope" }), `${method} ${p} wrong token`).toMatchObject({
        status: 403,
        code: "AUTH_INVALID",
      });
      const ok = await req(method, p, { authorization: `Bearer ${token()}` });
      expect(ok.status, `${method} ${p} right token: ${JSON.stringify(ok.body)}`).toBe(200);
    }
  });

  it("keeps the seed's open routes open", async () => {
    for (const p of ["/health", "/available", "/plugins", "/plugin/status", "/plugin/messages"]) {
      expect((await req("GET", p)).status, p).toBe(200);
    }
  });

  it("refuses a foreign Origin and a foreign Host, even with the token", async () => {
    const auth = { authorization: `Bearer ${token()}` };
    expect(await req("GET", "/server/info", { ...auth, origin: "https://evil.example" })).toMatchObject({
      status: 403,
      code: "ORIGIN_NOT_ALLOWED",
    });
    // fetch will not send a forged Host header; node:http will (as a DNS-rebinding page's browser would).
    const status = await new Promise<number>((resolve, reject) => {
      const u = new URL(server.url);
      http
        .get({ host: u.hostname, port: u.port, path: "/health", headers: { host: "evil.example" } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
        .on("error", reject);
    });
    expect(status).toBe(403);
    expect((await req("GET", "/server/info", { ...auth, origin: "http://localhost:5173" })).status).toBe(200);
  });

  it("requires the CSRF token on state-changing browser requests", async () => {
    const auth = { authorization: `Bearer ${token()}` };
    const browser = { ...auth, origin: "http://127.0.0.1:48912", "sec-fetch-site": "same-origin" };
    expect(await req("POST", "/plugin/hello-ts/start", browser)).toMatchObject({
      status: 403,
      code: "CSRF_VALIDATION_FAILED",
    });
    const { csrf_token } = (await req("GET", "/auth/csrf", auth)).body;
    expect((await req("POST", "/plugin/hello-ts/start", { ...browser, "x-csrf-token": csrf_token })).status).toBe(200);
    // Native clients (no Origin, no Sec-Fetch-*) need no CSRF token.
    expect((await req("POST", "/plugin/hello-ts/start", auth)).status).toBe(200);
  });

  it("picks up a rotated token without a restart", async () => {
    const old = token();
    const fresh = rotateAdminToken(dataDir);
    expect(fresh).not.toBe(old);
    expect((await req("GET", "/server/info", { authorization: `Bearer ${old}` })).status).toBe(403);
    expect((await req("GET", "/server/info", { authorization: `Bearer ${fresh}` })).status).toBe(200);
  });

  it("refuses to bind beyond loopback without auth", async () => {
    await expect(
      startServer(resolveSettings({ host: "0.0.0.0", port: 0, dataDir, pluginsDir: EXAMPLES, authEnabled: false }), {
        logger: pino({ level: "silent" }),
      }),
    ).rejects.toThrow(/without authentication/);
  });
});

describe("WS /ws/admin", () => {
  function open(headers: Record<string, string> = {}) {
    const sock = new WebSocket(`${server.url.replace("http", "ws")}/ws/admin`, { headers });
    const frames: any[] = [];
    sock.on("message", (d) => frames.push(JSON.parse(d.toString())));
    const closed = new Promise<number>((r) => sock.on("close", (code) => r(code)));
    const opened = new Promise((r) => sock.on("open", r));
    return { sock, frames, closed, opened };
  }
  const until = async (check: () => boolean, what: string) => {
    const end = Date.now() + 5000;
    while (!check()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };

  it("closes with 1008 for a wrong first-frame token", async () => {
    const c = open();
    await c.opened;
    c.sock.send(JSON.stringify({ type: "auth", token: "wrong" }));
    expect(await c.closed).toBe(1008);
  });

  it("authenticates by first frame, streams run changes and answers requests", async () => {
    const c = open();
    await c.opened;
    c.sock.send(JSON.stringify({ type: "auth", token: token() }));
    await until(() => c.frames.some((f) => f.event === "session.ready"), "session.ready");
    c.sock.send(JSON.stringify({ type: "subscribe", plugin_id: "hello-ts" }));
    await until(() => c.frames.some((f) => f.event === "subscribed"), "subscribed");
    c.sock.send(
      JSON.stringify({
        type: "req",
        id: "c1",
        method: "run.create",
        params: { plugin_id: "hello-ts", entry_id: "echo", args: { a: 1 } },
      }),
    );
    await until(() => c.frames.some((f) => f.data?.payload?.status === "succeeded"), "a succeeded bus.change");
    c.sock.send(JSON.stringify({ type: "req", id: "l1", method: "runs.list", params: { plugin_id: "hello-ts" } }));
    c.sock.send(JSON.stringify({ type: "req", id: "x", method: "nope" }));
    await until(() => c.frames.filter((f) => f.type === "resp").length >= 3, "three responses");
    const resp = Object.fromEntries(c.frames.filter((f) => f.type === "resp").map((f) => [f.id, f]));
    expect(resp.c1).toMatchObject({ ok: true, result: { plugin_id: "hello-ts" } });
    expect(resp.l1.result.length).toBeGreaterThan(0);
    expect(resp.x).toMatchObject({ ok: false, error: "unknown method" });
    c.sock.close();
  });

  it("streams bus records of the stores asked for, filtered, and answers bus.query", async () => {
    const c = open();
    await c.opened;
    c.sock.send(JSON.stringify({ type: "auth", token: token() }));
    await until(() => c.frames.some((f) => f.event === "session.ready"), "session.ready");
    c.sock.send(JSON.stringify({ type: "subscribe", stores: ["nope"] }));
    await until(() => c.frames.some((f) => f.code === "BAD_SUBSCRIPTION"), "a refused subscription");
    c.sock.send(JSON.stringify({ type: "subscribe", stores: ["messages"], filter: { priority_min: 5 } }));
    await until(() => c.frames.some((f) => f.event === "subscribed"), "subscribed");
    server.bus.publish({ store: "messages", topic: "t", plugin_id: "x", priority: 1, payload: { n: "low" } });
    server.bus.publish({ store: "events", topic: "t", plugin_id: "x", priority: 9, payload: { n: "event" } });
    server.bus.publish({ store: "messages", topic: "t", plugin_id: "x", priority: 7, payload: { n: "high" } });
    await until(() => c.frames.some((f) => f.event === "bus.record"), "a bus.record");
    c.sock.send(
      JSON.stringify({ type: "req", id: "q", method: "bus.query", params: { store: "messages", topic: "t" } }),
    );
    await until(() => c.frames.some((f) => f.id === "q"), "the bus.query answer");
    const records = c.frames.filter((f) => f.event === "bus.record").map((f) => f.data.payload.n);
    expect(records).toEqual(["high"]);
    const q = c.frames.find((f) => f.id === "q");
    expect(q.result.items.map((r: any) => r.payload.n)).toEqual(["high", "low"]);
    c.sock.close();
  });
});
