import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { resolveSettings } from "../src/config/settings.js";
import { type RunningServer, startServer } from "../src/server.js";
import { EXAMPLES, eventually, fixture, ROOT, sleep } from "./helpers.js";

let server: RunningServer;
let url: string;
let dataDir: string;
let token: string;
let pluginsRoot: string;

/**
 * A plugin written for this test: logs through the SDK logger (records carry the run id) and through console.error
 * (stderr lines carry the pid), at the level asked for.
 */
function writeChattyPlugin(root: string): void {
  const dir = path.join(root, "chatty");
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, "plugin.toml"),
    '[plugin]\nid = "chatty"\nname = "chatty (logs test)"\nversion = "0.1.0"\nruntime = "node"\nentry = "index.mjs"\n',
  );
  const sdk = path.join(ROOT, "packages/sdk/dist/index.js");
  fs.writeFileSync(
    path.join(dir, "index.mjs"),
    `import { definePlugin, entry } from ${JSON.stringify(`file://${sdk}`)};
definePlugin({
  entries: {
    say: entry({
      input: { type: "object", properties: { msg: { type: "string" }, level: { type: "string" }, stderr: { type: "boolean" } } },
      handler: (input, ctx) => {
        if (input.stderr) console.error(input.msg);
        else ctx.log[input.level ?? "info"](input.msg, { n: 1 });
        return { ok: true };
      },
    }),
  },
});
`,
  );
}

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "plugd-logs-"));
  pluginsRoot = fs.mkdtempSync(path.join(os.tmpdir(), "plugd-logs-plugins-"));
  writeChattyPlugin(pluginsRoot);
  server = await startServer(resolveSettings({ host: "127.0.0.1", port: 0, dataDir, pluginsDir: EXAMPLES }), {
    logger: pino({ level: "silent" }),
  });
  url = server.url;
  token = fs.readFileSync(path.join(dataDir, "admin.token"), "utf8").trim();
  server.host.add(fixture("chatty", {}, pluginsRoot));
  await server.host.start("chatty");
  if (server.host.get("hello-ts")?.state !== "ready") await server.host.start("hello-ts");
});

afterAll(async () => {
  await server?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
  fs.rmSync(pluginsRoot, { recursive: true, force: true });
});

async function get(p: string, auth = true) {
  const res = await fetch(`${url}${p}`, { headers: auth ? { authorization: `Bearer ${token}` } : {} });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function logsOf(id: string, query: Record<string, string | number> = {}) {
  const qs = new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)]));
  return get(`/plugin/${id}/logs?${qs}`);
}

/** Runs chatty's `say` and waits for it to finish. */
async function say(input: { msg: string; level?: string; stderr?: boolean }): Promise<string> {
  const res = await fetch(`${url}/runs`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ plugin_id: "chatty", entry_id: "say", args: input }),
  });
  const { run_id } = (await res.json()) as { run_id: string };
  for (const until = Date.now() + 10_000; Date.now() < until; await sleep(20)) {
    const run = (await get(`/runs/${run_id}`)).body;
    if (run.status === "succeeded") return run_id;
    if (["failed", "canceled", "timeout"].includes(run.status)) throw new Error(`say ${run.status}`);
  }
  throw new Error("say did not finish");
}

/** Polls the log until a line with `text` is there (plugin records arrive asynchronously over the protocol). */
async function waitForLine(id: string, text: string) {
  let found: any;
  for (const until = Date.now() + 5_000; Date.now() < until; await sleep(20)) {
    const r = await logsOf(id, { lines: 50, search: text });
    found = r.body.logs.find((l: any) => l.message.includes(text));
    if (found) return found;
  }
  throw new Error(`no log line with '${text}' in ${id}`);
}

function openSocket(p: string, headers: Record<string, string> = { authorization: `Bearer ${token}` }) {
  const ws = new WebSocket(`${url.replace("http", "ws")}${p}`, { headers });
  const frames: Array<{ frame: any; at: number }> = [];
  ws.on("message", (d) => frames.push({ frame: JSON.parse(d.toString()), at: performance.now() }));
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  return { ws, frames, closed, opened: new Promise<void>((r) => ws.once("open", () => r())) };
}

async function frameWhere(frames: Array<{ frame: any; at: number }>, pred: (f: any) => boolean, timeoutMs = 3_000) {
  for (const until = Date.now() + timeoutMs; Date.now() < until; await sleep(5)) {
    const hit = frames.find((f) => pred(f.frame));
    if (hit) return hit;
  }
  throw new Error(`no such frame; got ${JSON.stringify(frames.map((f) => f.frame.type))}`);
}

describe("log files on disk", () => {
  it("writes one JSON-lines file per plugin and _server.log, named as documented", async () => {
    const dir = path.join(dataDir, "logs");
    await eventually(() => fs.existsSync(path.join(dir, "hello-ts.log")), 5_000, "hello-ts.log");
    expect(fs.existsSync(path.join(dir, "_server.log"))).toBe(true);
    expect(fs.existsSync(path.join(dir, "chatty.log"))).toBe(true);
    const first = fs.readFileSync(path.join(dir, "hello-ts.log"), "utf8").split("\n")[0]!;
    expect(JSON.parse(first)).toMatchObject({ level: 30, plugin: "hello-ts", source: "host", msg: expect.any(String) });
  });

  it("tees the server logger to _server.log even when the console logger is silent", async () => {
    server.app.log.info("tee-marker-1");
    const r = await logsOf("_server", { lines: 5, search: "tee-marker-1" });
    expect(r.status).toBe(200);
    expect(r.body.logs).toHaveLength(1);
    expect(r.body.logs[0]).toMatchObject({ level: "INFO", file: "_server.log", message: "tee-marker-1" });
  });
});

describe("GET /plugin/:id/logs", () => {
  it("answers the reference's shape; lines bounds what comes back, oldest first", async () => {
    for (let i = 0; i < 5; i++) server.app.log.info(`shape-${i}`);
    const r = await logsOf("_server", { lines: 3 });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ plugin_id: "_server", returned_lines: 3, total_lines: 3, log_file: "_server.log" });
    expect(r.body.logs.map((l: any) => l.message)).toEqual(["shape-2", "shape-3", "shape-4"]);
    const [a, b] = r.body.logs;
    expect(b.line).toBe(a.line + 1);
    expect(Date.parse(a.timestamp)).toBeGreaterThan(Date.now() - 60_000);
    expect(a.pid).toBe(process.pid);
    expect((await logsOf("_server", { lines: 0 })).status).toBe(400);
    expect((await logsOf("_server", { lines: 10_001 })).status).toBe(400);
  });

  it("reads a plugin's records: SDK logs carry the run id and pid, stderr lines the pid", async () => {
    const runId = await say({ msg: "sdk-hello-1" });
    const sdkLine = await waitForLine("chatty", "sdk-hello-1");
    const pid = server.host.get("chatty")!.pid;
    expect(sdkLine).toMatchObject({ level: "INFO", file: "chatty.log", run_id: runId, pid });
    await say({ msg: "stderr-hello-1", stderr: true });
    const errLine = await waitForLine("chatty", "stderr-hello-1");
    expect(errLine.pid).toBe(pid);
  });

  it("filters by level: exact, case-insensitive, WARN = WARNING; unknown levels are a 400", async () => {
    server.app.log.warn("lvl-warn-1");
    server.app.log.error("lvl-error-1");
    server.app.log.info("lvl-info-1");
    const warn = await logsOf("_server", { lines: 100, level: "warning" });
    expect(warn.body.logs.length).toBeGreaterThan(0);
    expect(warn.body.logs.every((l: any) => l.level === "WARNING")).toBe(true);
    expect(warn.body.logs.map((l: any) => l.message)).toContain("lvl-warn-1");
    const warn2 = await logsOf("_server", { lines: 100, level: "WARN" });
    expect(warn2.body.logs.map((l: any) => l.message)).toEqual(warn.body.logs.map((l: any) => l.message));
    const err = await logsOf("_server", { lines: 100, level: "Error" });
    expect(err.body.logs.map((l: any) => l.message)).toEqual(expect.arrayContaining(["lvl-error-1"]));
    expect(err.body.logs.every((l: any) => l.level === "ERROR")).toBe(true);
    expect(err.body.logs.map((l: any) => l.message)).not.toContain("lvl-warn-1");

    await say({ msg: "plugin-warn-1", level: "warn" });
    await waitForLine("chatty", "plugin-warn-1");
    const pw = await logsOf("chatty", { level: "WARNING" });
    expect(pw.body.logs.map((l: any) => l.message)).toEqual(["plugin-warn-1"]);

    const bad = await logsOf("_server", { level: "LOUD" });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe("VALIDATION_ERROR");
  });

  it("filters by start_time and end_time (ISO; no offset means UTC)", async () => {
    server.app.log.info("time-before");
    await sleep(30);
    const mid = new Date().toISOString();
    await sleep(30);
    server.app.log.info("time-after");
    const after = await logsOf("_server", { lines: 1000, start_time: mid });
    const msgs = after.body.logs.map((l: any) => l.message);
    expect(msgs).toContain("time-after");
    expect(msgs).not.toContain("time-before");
    expect(after.body.logs.every((l: any) => Date.parse(l.timestamp) >= Date.parse(mid))).toBe(true);
    const before = await logsOf("_server", { lines: 1000, end_time: mid });
    expect(before.body.logs.map((l: any) => l.message)).toContain("time-before");
    expect(before.body.logs.map((l: any) => l.message)).not.toContain("time-after");
    const naive = await logsOf("_server", { lines: 1000, start_time: mid.replace("Z", "") });
    expect(naive.body.logs.map((l: any) => l.message)).toEqual(msgs);
    const window = await logsOf("_server", { lines: 1000, start_time: mid, end_time: mid });
    expect(window.body.logs).toEqual([]);
    expect((await logsOf("_server", { start_time: "yesterday" })).status).toBe(400);
  });

  it("searches a substring, case-insensitively", async () => {
    server.app.log.info("Needle-In-Haystack 42");
    server.app.log.info("just hay");
    const r = await logsOf("_server", { lines: 100, search: "needle-in-HAYSTACK" });
    expect(r.body.logs.map((l: any) => l.message)).toEqual(["Needle-In-Haystack 42"]);
    expect(r.body.total_lines).toBeGreaterThanOrEqual(1);
  });

  it("searches a regex written /…/flags; bad and overlong patterns are 400s", async () => {
    server.app.log.info("order 1234 shipped");
    server.app.log.info("order abc shipped");
    server.app.log.info("ORDER 99 SHIPPED");
    const r = await logsOf("_server", { lines: 100, search: "/^order \\d+ shipped$/" });
    expect(r.body.logs.map((l: any) => l.message)).toEqual(["order 1234 shipped"]);
    const ri = await logsOf("_server", { lines: 100, search: "/^order \\d+ shipped$/i" });
    expect(ri.body.logs.map((l: any) => l.message)).toEqual(["order 1234 shipped", "ORDER 99 SHIPPED"]);
    // lines caps the matches, newest kept.
    const one = await logsOf("_server", { lines: 1, search: "/^order \\d+ shipped$/i" });
    expect(one.body.logs.map((l: any) => l.message)).toEqual(["ORDER 99 SHIPPED"]);

    const invalid = await logsOf("_server", { search: "/(unclosed/" });
    expect(invalid.status).toBe(400);
    expect(invalid.body.error.code).toBe("INVALID_REGEX");
    const flags = await logsOf("_server", { search: "/x/g" });
    expect(flags.body.error.code).toBe("INVALID_REGEX");
    const long = await logsOf("_server", { search: `/${"a".repeat(201)}/` });
    expect(long.status).toBe(400);
    expect(long.body.error.code).toBe("REGEX_TOO_LONG");
  });

  it("stops a catastrophic regex within its time box with 400 REGEX_TIMEOUT; the server stays responsive", async () => {
    server.app.log.info(`${"a".repeat(5_000)}!`);
    // Warm the worker pool so the measurement below is the time box, not a worker's startup.
    await logsOf("_server", { lines: 1, search: "/warm/" });
    const started = performance.now();
    const pending = logsOf("_server", { lines: 100, search: "/(a+)+$/" });
    const health = await get("/health", false);
    expect(health.status).toBe(200);
    const r = await pending;
    const took = performance.now() - started;
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe("REGEX_TIMEOUT");
    expect(took).toBeLessThan(200 + 300);
    // The killed worker is replaced: the next regex search works.
    server.app.log.info("after-timeout-77");
    const next = await logsOf("_server", { lines: 10, search: "/after-timeout-\\d+/" });
    expect(next.body.logs.map((l: any) => l.message)).toEqual(["after-timeout-77"]);
  });

  it("knows _server, loaded plugins and nothing else", async () => {
    const missing = await logsOf("no-such-plugin");
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe("PLUGIN_NOT_FOUND");
    const traversal = await get("/plugin/a.b/logs");
    expect(traversal.status).toBe(400);
    expect(traversal.body.error.code).toBe("INVALID_PLUGIN_ID");
    // hello-go is loaded but never started: no file yet, an empty answer rather than a 404.
    const quiet = await logsOf("hello-go");
    expect(quiet.status).toBe(200);
    expect(quiet.body).toMatchObject({ plugin_id: "hello-go", logs: [], returned_lines: 0, log_file: "hello-go.log" });
  });

  it("needs the admin token", async () => {
    expect((await get("/plugin/_server/logs", false)).status).toBe(401);
  });
});

describe("GET /plugin/:id/logs/files", () => {
  it("lists the log's files with size and modification time, newest first", async () => {
    const r = await get("/plugin/hello-ts/logs/files");
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ plugin_id: "hello-ts", count: 1, time: expect.any(String) });
    const [f] = r.body.log_files;
    expect(f.filename).toBe("hello-ts.log");
    expect(f.size).toBe(fs.statSync(path.join(dataDir, "logs", "hello-ts.log")).size);
    expect(f.modified).toBeCloseTo(fs.statSync(path.join(dataDir, "logs", "hello-ts.log")).mtimeMs / 1000, 2);
    expect((await get("/plugin/no-such-plugin/logs/files")).status).toBe(404);
  });
});

describe("WS /ws/logs/:id", () => {
  it("sends the last lines, then appends each line as it is written (well within 200 ms)", async () => {
    for (let i = 0; i < 3; i++) server.app.log.info(`ws-initial-${i}`);
    const s = openSocket("/ws/logs/_server?lines=3");
    const initial = await frameWhere(s.frames, (f) => f.type === "initial");
    expect(initial.frame.log_file).toBe("_server.log");
    expect(initial.frame.logs.map((l: any) => l.message)).toEqual(["ws-initial-0", "ws-initial-1", "ws-initial-2"]);
    expect(initial.frame.total_lines).toBe(3);

    const loggedAt = performance.now();
    server.app.log.warn("ws-live-1");
    const append = await frameWhere(
      s.frames,
      (f) => f.type === "append" && f.logs.some((l: any) => l.message === "ws-live-1"),
    );
    expect(append.at - loggedAt).toBeLessThan(200);
    const line = append.frame.logs.find((l: any) => l.message === "ws-live-1");
    expect(line).toMatchObject({ level: "WARNING", file: "_server.log" });
    // The line number is the one a file query reports for the same line.
    const fromFile = (await logsOf("_server", { search: "ws-live-1" })).body.logs[0];
    expect(line.line).toBe(fromFile.line);
    s.ws.close();
  });

  it("streams a plugin's own records (SDK log calls) as the host receives them", async () => {
    const s = openSocket("/ws/logs/chatty");
    await frameWhere(s.frames, (f) => f.type === "initial");
    let receivedAt = 0;
    const onLog = (r: { plugin: string; msg: string }) => {
      if (r.plugin === "chatty" && r.msg === "ws-plugin-1") receivedAt = performance.now();
    };
    server.host.on("log", onLog);
    try {
      await say({ msg: "ws-plugin-1" });
      const append = await frameWhere(
        s.frames,
        (f) => f.type === "append" && f.logs.some((l: any) => l.message === "ws-plugin-1"),
      );
      expect(receivedAt).toBeGreaterThan(0);
      expect(append.at - receivedAt).toBeLessThan(200);
      expect(append.frame.logs.find((l: any) => l.message === "ws-plugin-1").run_id).toEqual(expect.any(String));
    } finally {
      server.host.off("log", onLog);
      s.ws.close();
    }
  });

  it("filters the tail by level when asked", async () => {
    const s = openSocket("/ws/logs/_server?level=error&lines=5");
    const initial = await frameWhere(s.frames, (f) => f.type === "initial");
    expect(initial.frame.logs.every((l: any) => l.level === "ERROR")).toBe(true);
    server.app.log.info("ws-level-info");
    server.app.log.error("ws-level-error");
    const append = await frameWhere(s.frames, (f) => f.type === "append");
    expect(append.frame.logs.map((l: any) => l.message)).toEqual(["ws-level-error"]);
    s.ws.close();
  });

  it("takes the admin token as a first frame; refuses a wrong one and unknown plugins with 1008", async () => {
    const a = openSocket("/ws/logs/_server", {});
    await a.opened;
    a.ws.send(JSON.stringify({ type: "auth", token }));
    await frameWhere(a.frames, (f) => f.type === "initial");
    a.ws.close();

    const b = openSocket("/ws/logs/_server", {});
    await b.opened;
    b.ws.send(JSON.stringify({ type: "auth", token: "wrong" }));
    expect((await b.closed).code).toBe(1008);

    const c = openSocket("/ws/logs/no-such-plugin");
    const err = await frameWhere(c.frames, (f) => f.type === "error");
    expect(err.frame.error.code).toBe("PLUGIN_NOT_FOUND");
    expect((await c.closed).code).toBe(1008);
  });
});

describe("rotation", () => {
  let small: RunningServer;
  let smallDir: string;

  beforeAll(async () => {
    smallDir = fs.mkdtempSync(path.join(os.tmpdir(), "plugd-logs-rot-"));
    small = await startServer(
      resolveSettings({ host: "127.0.0.1", port: 0, dataDir: smallDir, pluginsDir: EXAMPLES, autoStart: false }),
      { logger: pino({ level: "silent" }), logs: { maxBytes: 4_000, maxFiles: 3 } },
    );
  });

  afterAll(async () => {
    await small?.close();
    fs.rmSync(smallDir, { recursive: true, force: true });
  });

  it("rotates by size to .1, .2 and keeps no more than the retention count", async () => {
    const dir = path.join(smallDir, "logs");
    for (let i = 0; i < 200; i++) small.app.log.info(`rotate-${String(i).padStart(3, "0")} ${"x".repeat(60)}`);
    const names = fs
      .readdirSync(dir)
      .filter((n) => n.startsWith("_server.log"))
      .sort();
    expect(names).toEqual(["_server.log", "_server.log.1", "_server.log.2"]);
    for (const n of names) expect(fs.statSync(path.join(dir, n)).size).toBeLessThanOrEqual(4_000);

    const tok = fs.readFileSync(path.join(smallDir, "admin.token"), "utf8").trim();
    const files: any = await (
      await fetch(`${small.url}/plugin/_server/logs/files`, { headers: { authorization: `Bearer ${tok}` } })
    ).json();
    expect(files.count).toBe(3);
    expect(files.log_files[0].filename).toBe("_server.log");

    // A query reads across the live and rotated files, newest last, with line numbers per file.
    const r: any = await (
      await fetch(`${small.url}/plugin/_server/logs?lines=40&search=rotate-`, {
        headers: { authorization: `Bearer ${tok}` },
      })
    ).json();
    expect(r.returned_lines).toBe(40);
    const msgs = r.logs.map((l: any) => l.message.slice(0, 10));
    expect(msgs.at(-1)).toBe("rotate-199");
    expect(msgs[0]).toBe("rotate-160");
    expect(new Set(r.logs.map((l: any) => l.file)).size).toBeGreaterThan(1);
    const inRotated = r.logs.find((l: any) => l.file === "_server.log.1");
    const rotatedLines = fs.readFileSync(path.join(dir, "_server.log.1"), "utf8").split("\n");
    expect(JSON.parse(rotatedLines[inRotated.line - 1]!).msg).toBe(inRotated.message);
  });

  it("prunes files beyond a lowered retention at startup", async () => {
    const dir = path.join(smallDir, "logs");
    fs.writeFileSync(path.join(dir, "_server.log.7"), "{}\n");
    const { LogService } = await import("../src/logs/log-service.js");
    const svc = new LogService({
      dir,
      maxBytes: 2_000,
      maxFiles: 3,
      regexTimeoutMs: 200,
      regexQueryBudgetMs: 1_000,
      regexWorkers: 1,
    });
    expect(fs.existsSync(path.join(dir, "_server.log.7"))).toBe(false);
    await svc.close();
  });
});

describe("plugd logs (CLI)", () => {
  const CLI = path.join(ROOT, "packages/server/dist/cli/main.js");

  /** Runs the built CLI against this server; `until` (if given) gets each stdout chunk and may end the process. */
  function plugd(args: string[], until?: (stdout: string, child: ReturnType<typeof spawn>) => void) {
    return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [CLI, ...args], {
        env: { ...process.env, PLUGD_URL: url, PLUGD_DATA_DIR: dataDir },
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (c) => {
        stdout += c;
        until?.(stdout, child);
      });
      child.stderr.on("data", (c) => (stderr += c));
      child.on("exit", (code) => resolve({ code, stdout, stderr }));
    });
  }

  it("prints the last lines, filtered by level, and follows new ones until Ctrl-C", async () => {
    server.app.log.info("cli-info-1");
    server.app.log.error("cli-error-1");
    const last = await plugd(["logs", "_server", "-n", "2"]);
    expect(last.code).toBe(0);
    expect(last.stdout.trim().split("\n")).toHaveLength(2);
    expect(last.stdout).toMatch(/ERROR\s+cli-error-1\n$/);
    const errors = await plugd(["logs", "_server", "--level", "error", "--json"]);
    expect(
      errors.stdout
        .trim()
        .split("\n")
        .every((l) => JSON.parse(l).level === "ERROR"),
    ).toBe(true);

    let logged = false;
    const follow = await plugd(["logs", "_server", "-n", "1", "-f"], (out, child) => {
      if (!logged && out.includes("\n")) {
        logged = true;
        server.app.log.warn("cli-follow-1");
      }
      if (out.includes("cli-follow-1")) child.kill("SIGINT");
    });
    expect(follow.code).toBe(0);
    expect(follow.stdout).toMatch(/WARNING\s+cli-follow-1/);

    const missing = await plugd(["logs", "no-such-plugin"]);
    expect(missing.code).toBe(4);
    expect(missing.stderr).toContain("PLUGIN_NOT_FOUND");
  });
});
