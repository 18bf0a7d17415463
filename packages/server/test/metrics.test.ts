import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveSettings } from "../src/config/settings.js";
import { percentile } from "../src/metrics/execution-stats.js";
import { Ring } from "../src/metrics/ring.js";
import { type RunningServer, startServer } from "../src/server.js";
import { EXAMPLES, sleep } from "./helpers.js";

const INTERVAL_MS = 100;
const HISTORY = 15;

let server: RunningServer;
let url: string;
let dataDir: string;
let token: string;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "plugd-metrics-"));
  server = await startServer(resolveSettings({ host: "127.0.0.1", port: 0, dataDir, pluginsDir: EXAMPLES }), {
    logger: pino({ level: "silent" }),
    // Fast sampling and a short history so the bounds show within a test; a low watchdog threshold so a short block
    // of the test's own event loop (the server shares it) is enough.
    metrics: { intervalMs: INTERVAL_MS, historySize: HISTORY, warnMs: 300 },
  });
  url = server.url;
  token = fs.readFileSync(path.join(dataDir, "admin.token"), "utf8").trim();
  if (server.host.get("hello-ts")?.state !== "ready") await server.host.start("hello-ts");
});

afterAll(async () => {
  await server?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

async function get(p: string, auth = true) {
  const res = await fetch(`${url}${p}`, { headers: auth ? { authorization: `Bearer ${token}` } : {} });
  const text = await res.text();
  let body: any = text;
  try {
    body = JSON.parse(text);
  } catch {
    // /metrics is text
  }
  return { status: res.status, body, headers: res.headers };
}

async function startRun(entry: string, args: Record<string, unknown>): Promise<string> {
  const res = await fetch(`${url}/runs`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ plugin_id: "hello-ts", entry_id: entry, args }),
  });
  expect(res.status).toBeLessThan(300);
  return ((await res.json()) as { run_id: string }).run_id;
}

async function runStatus(runId: string): Promise<string> {
  return (await get(`/runs/${runId}`)).body.status;
}

/** The value of one sample line of the Prometheus text, e.g. metric `plugd_plugin_cpu_percent{plugin="hello-ts"}`. */
function promValue(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("process sampling", () => {
  it("shows a CPU-burning run in cpu_percent (JSON and /metrics), then counts it with its latency", async () => {
    const runId = await startRun("burn", { ms: 1500 });
    let maxJson = 0;
    let maxProm = 0;
    let status = "queued";
    while (!["succeeded", "failed", "canceled", "timeout"].includes(status)) {
      const m = (await get("/plugin/metrics/hello-ts")).body;
      maxJson = Math.max(maxJson, m.metrics?.cpu_percent ?? 0);
      const prom = (await get("/metrics")).body as string;
      maxProm = Math.max(maxProm, promValue(prom, 'plugd_plugin_cpu_percent{plugin="hello-ts"}') ?? 0);
      status = await runStatus(runId);
      await sleep(INTERVAL_MS);
    }
    expect(status).toBe("succeeded");
    expect(maxJson).toBeGreaterThan(20);
    expect(maxProm).toBeGreaterThan(20);

    // The run's end reaches the next sample.
    await sleep(INTERVAL_MS * 3);
    const m = (await get("/plugin/metrics/hello-ts")).body.metrics;
    expect(m.total_executions).toBeGreaterThanOrEqual(1);
    expect(m.successful_executions).toBeGreaterThanOrEqual(1);
    expect(m.avg_execution_time).toBeGreaterThan(1.2);
    expect(m.p50_execution_time).toBeGreaterThan(1.2);
    expect(m.p99_execution_time).toBeGreaterThanOrEqual(m.p50_execution_time);

    const prom = (await get("/metrics")).body as string;
    expect(
      promValue(prom, 'plugd_plugin_executions_total{plugin="hello-ts",outcome="succeeded"}'),
    ).toBeGreaterThanOrEqual(1);
    expect(
      promValue(prom, 'plugd_plugin_execution_duration_seconds_bucket{le="2.5",plugin="hello-ts"}'),
    ).toBeGreaterThanOrEqual(1);
    expect(promValue(prom, 'plugd_plugin_execution_duration_seconds_bucket{le="1",plugin="hello-ts"}')).toBe(0);
  });

  it("answers the reference's shapes for all plugins and one plugin", async () => {
    const all = (await get("/plugin/metrics")).body;
    expect(all.count).toBe(all.metrics.length);
    const hello = all.metrics.find((m: any) => m.plugin_id === "hello-ts");
    const pid = server.host.get("hello-ts")!.pid;
    expect(hello).toMatchObject({
      plugin_id: "hello-ts",
      pid,
      timestamp: expect.any(String),
      cpu_percent: expect.any(Number),
      memory_percent: expect.any(Number),
      pending_requests: 0,
      queue_size: 0,
      restarts: 0,
    });
    // A Node process: tens of MB resident and a handful of threads.
    expect(hello.memory_mb).toBeGreaterThan(5);
    expect(hello.num_threads).toBeGreaterThanOrEqual(2);
    const sum = all.metrics.reduce((a: number, m: any) => a + m.memory_mb, 0);
    expect(all.global.total_memory_mb).toBeCloseTo(sum, 1);
    expect(all.global.active_plugins).toBe(all.metrics.length);
    expect(all.global.total_threads).toBe(all.metrics.reduce((a: number, m: any) => a + m.num_threads, 0));

    const one = (await get("/plugin/metrics/hello-ts")).body;
    expect(one).toMatchObject({ plugin_id: "hello-ts", plugin_running: true, process_alive: true });
    expect(one.metrics.pid).toBe(pid);

    const stopped = (await get("/plugin/metrics/hello-go")).body;
    expect(stopped).toMatchObject({
      plugin_id: "hello-go",
      metrics: null,
      plugin_running: false,
      process_alive: false,
    });
    expect((await get("/plugin/metrics/no-such-plugin")).status).toBe(404);
  });

  it("counts canceled runs as not successful and shows pending requests while a run is in flight", async () => {
    const before = (await get("/plugin/metrics/hello-ts")).body.metrics;
    const runId = await startRun("count", { to: 100, delayMs: 50 });
    let pending = 0;
    for (let i = 0; i < 20 && pending === 0; i++) {
      await sleep(INTERVAL_MS);
      pending = (await get("/plugin/metrics/hello-ts")).body.metrics.pending_requests;
    }
    expect(pending).toBe(1);
    const prom = (await get("/metrics")).body as string;
    expect(promValue(prom, 'plugd_plugin_pending_requests{plugin="hello-ts"}')).toBe(1);
    await fetch(`${url}/runs/${runId}/cancel`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: "{}",
    });
    for (let i = 0; i < 100 && (await runStatus(runId)) !== "canceled"; i++) await sleep(20);
    await sleep(INTERVAL_MS * 3);
    const after = (await get("/plugin/metrics/hello-ts")).body.metrics;
    expect(after.total_executions).toBe(before.total_executions + 1);
    expect(after.failed_executions).toBe(before.failed_executions + 1);
    expect(after.successful_executions).toBe(before.successful_executions);
    expect(
      promValue((await get("/metrics")).body, 'plugd_plugin_executions_total{plugin="hello-ts",outcome="canceled"}'),
    ).toBe(1);
  });
});

describe("history", () => {
  it("is bounded by the history size and filtered by limit, start_time and end_time", async () => {
    // The tests above ran for well over HISTORY sampling intervals.
    const full = (await get("/plugin/metrics/hello-ts/history?limit=1000")).body;
    expect(full).toMatchObject({ plugin_id: "hello-ts", count: HISTORY, time: expect.any(String) });
    expect(full.history).toHaveLength(HISTORY);
    const times = full.history.map((m: any) => Date.parse(m.timestamp));
    expect([...times].sort((a, b) => a - b)).toEqual(times); // oldest first

    const five = (await get("/plugin/metrics/hello-ts/history?limit=5")).body;
    expect(five.count).toBe(5);
    // The newest five (a sample may have landed between the two requests).
    expect(Date.parse(five.history[0].timestamp)).toBeGreaterThanOrEqual(times[HISTORY - 6]);

    const since = full.history[HISTORY - 3].timestamp;
    const recent = (await get(`/plugin/metrics/hello-ts/history?limit=1000&start_time=${since}`)).body;
    expect(recent.count).toBeGreaterThanOrEqual(3);
    expect(recent.history.every((m: any) => Date.parse(m.timestamp) >= Date.parse(since))).toBe(true);

    const old = (await get("/plugin/metrics/hello-ts/history?end_time=2000-01-01T00:00:00Z")).body;
    expect(old.count).toBe(0);
    expect((await get("/plugin/metrics/hello-ts/history?limit=0")).status).toBe(400);
    expect((await get("/plugin/metrics/hello-ts/history?start_time=soon")).status).toBe(400);
  });
});

describe("GET /metrics", () => {
  it("serves plugd's own registry in the Prometheus text format, with Node process metrics", async () => {
    const r = await get("/metrics");
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toContain("text/plain");
    const text = r.body as string;
    for (const name of [
      "plugd_plugin_cpu_percent",
      "plugd_plugin_memory_bytes",
      "plugd_plugin_threads",
      "plugd_plugin_queue_size",
      "plugd_plugin_restarts",
      "plugd_event_loop_lag_seconds",
      "process_cpu_user_seconds_total",
      "nodejs_heap_size_used_bytes",
    ]) {
      expect(text).toContain(`# TYPE ${name} `);
    }
    expect(promValue(text, 'plugd_plugin_state{plugin="hello-ts",state="ready"}')).toBe(1);
    expect(promValue(text, 'plugd_plugin_state{plugin="hello-ts",state="stopped"}')).toBe(0);
    expect(promValue(text, 'plugd_plugin_state{plugin="hello-go",state="stopped"}')).toBe(1);
    expect(promValue(text, 'plugd_plugin_threads{plugin="hello-ts"}')).toBeGreaterThanOrEqual(2);
  });

  it("needs the admin token", async () => {
    expect((await get("/metrics", false)).status).toBe(401);
    expect((await get("/plugin/metrics", false)).status).toBe(401);
  });
});

describe("event-loop watchdog", () => {
  it("logs a blocked event loop and reports the lag as plugd_event_loop_lag_seconds", async () => {
    // vitest runs the server in this process: blocking here blocks the server's loop.
    const until = performance.now() + 900;
    while (performance.now() < until) {
      // busy
    }
    await sleep(600); // a heartbeat after the block
    const text = (await get("/metrics")).body as string;
    expect(promValue(text, "plugd_event_loop_lag_seconds")).toBeGreaterThan(0.3);
    expect(promValue(text, "plugd_event_loop_blocked_total")).toBeGreaterThanOrEqual(1);
    const logs = (await get("/plugin/_server/logs?level=warn&search=event%20loop%20blocked")).body;
    expect(logs.logs.length).toBeGreaterThanOrEqual(1);
    expect(logs.logs.at(-1).message).toMatch(/^event loop blocked for \d+ ms$/);
  });
});

describe("units", () => {
  it("percentiles are nearest-rank; the ring keeps the newest items, oldest first", () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect([percentile(xs, 50), percentile(xs, 95), percentile(xs, 99), percentile([], 50)]).toEqual([50, 95, 99, 0]);
    const r = new Ring<number>(3);
    for (let i = 1; i <= 5; i++) r.push(i);
    expect(r.toArray()).toEqual([3, 4, 5]);
    expect(r.last()).toBe(5);
  });
});
