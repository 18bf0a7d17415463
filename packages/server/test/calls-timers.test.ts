import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveSettings } from "../src/config/settings.js";
import { type RunningServer, startServer } from "../src/server.js";
import { EXAMPLES, eventually, fixture, sleep } from "./helpers.js";

let server: RunningServer;
let dataDir: string;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "plugd-calls-"));
  server = await startServer(
    resolveSettings({ host: "127.0.0.1", port: 0, dataDir, pluginsDir: EXAMPLES, autoStart: false }),
    {
      logger: pino({ level: "silent" }),
    },
  );
  for (const id of ["relay-a", "relay-b", "ticker"]) server.host.add(fixture(id));
  await Promise.all(["relay-a", "relay-b"].map((id) => server.host.start(id)));
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
  return (await res.json()) as any;
}

describe("plugin-to-plugin calls", () => {
  it("records a nested call as a run with its parent run id", async () => {
    const r = await run("relay-a", "relay", { path: ["relay-b"] });
    expect(r.status).toBe("succeeded");
    expect(r.result.reached).toBe("relay-b");
    const child = await server.engine.get(r.result.run);
    expect(child).toMatchObject({ plugin_id: "relay-b", parent_run_id: r.run_id, status: "succeeded" });
  });

  it("refuses A → B → A at once with CIRCULAR_CALL instead of deadlocking", async () => {
    const started = Date.now();
    const r = await run("relay-a", "relay", { path: ["relay-b", "relay-a"] });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(r.status).toBe("failed");
    expect(r.error.code).toBe("CIRCULAR_CALL");
    expect(r.error.message).toContain("relay-a → relay-b → relay-a");
  });

  it("fails a call to an unknown plugin with PLUGIN_NOT_FOUND", async () => {
    const r = await run("relay-a", "relay", { path: ["ghost"] });
    expect(r.status).toBe("failed");
    expect(r.error.code).toBe("PLUGIN_NOT_FOUND");
  });
});

describe("timers", () => {
  it("fires a plugin's timer on schedule as runs and skips overlapping firings", async () => {
    await server.host.start("ticker");
    await eventually(
      () => (server.timers.list().find((t) => t.entry === "tick")?.fired ?? 0) >= 2,
      5000,
      "two firings",
    );
    await sleep(300);
    const t = server.timers.list().find((x) => x.entry === "tick")!;
    expect(t.interval_ms).toBe(100);
    expect(t.skipped).toBeGreaterThan(0);
    const listed = (await (await fetch(`${server.url}/plugin/timers?plugin_id=ticker`)).json()) as any;
    expect(listed.timers).toEqual([expect.objectContaining({ plugin: "ticker", entry: "tick", interval_ms: 100 })]);
    expect(listed.timers[0].skipped).toBeGreaterThan(0);
    const res = await fetch(`${server.url}/runs?plugin_id=ticker`);
    const { runs } = (await res.json()) as { runs: any[] };
    expect(runs.length).toBeGreaterThanOrEqual(2);
    expect(runs.every((r) => r.task_id === "timer:tick")).toBe(true);
    expect(runs.some((r) => r.status === "succeeded")).toBe(true);
    await server.host.stop("ticker");
    const fired = server.timers.list().length;
    expect(fired).toBe(0);
  });
});
