import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveSettings } from "../src/config/settings.js";
import { type RunningServer, startServer } from "../src/server.js";
import { EXAMPLES, fixture, until } from "./helpers.js";

// Cancel as the reference §2.1 has it: running → cancel_requested, `$/cancelRequest` to the plugin, a grace period,
// then the process is recycled if the plugin did not comply.

let server: RunningServer;
let dataDir: string;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "plugd-cancel-"));
  server = await startServer(
    resolveSettings({
      host: "127.0.0.1",
      port: 0,
      dataDir,
      pluginsDir: EXAMPLES,
      autoStart: false,
      runCancelGraceMs: 300,
    }),
    { logger: pino({ level: "silent" }) },
  );
  server.host.add(fixture("counter"));
  await server.host.start("counter");
});
afterAll(async () => {
  await server?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

async function post(url: string, body: unknown) {
  const res = await fetch(`${server.url}${url}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return (await res.json()) as any;
}
const get = async (url: string) => (await (await fetch(`${server.url}${url}`)).json()) as any;

describe("cancel", () => {
  it("a run that honours the cancel ends canceled without a restart", async () => {
    const pid = server.host.get("counter")?.pid;
    const { run_id } = await post("/runs", { plugin_id: "counter", entry_id: "slow", args: { ms: 30_000 } });
    await until(async () => expect((await get(`/runs/${run_id}`)).status).toBe("running"));
    await post(`/runs/${run_id}/cancel`, {});
    await until(async () => expect((await get(`/runs/${run_id}`)).status).toBe("canceled"));
    expect(server.host.get("counter")?.pid).toBe(pid);
  });

  it("a run that ignores the cancel is canceled after the grace period and its process recycled", async () => {
    const pid = server.host.get("counter")?.pid;
    const { run_id } = await post("/runs", { plugin_id: "counter", entry_id: "stubborn", args: { ms: 30_000 } });
    await until(async () => expect((await get(`/runs/${run_id}`)).status).toBe("running"));
    const started = Date.now();
    const after = await post(`/runs/${run_id}/cancel`, { reason: "user pressed stop" });
    expect(after.status).toBe("cancel_requested");
    await until(async () => expect((await get(`/runs/${run_id}`)).status).toBe("canceled"), 5000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    const run = await get(`/runs/${run_id}`);
    expect(run.cancel_reason).toBe("user pressed stop");
    // A new process serves the next run.
    await until(async () => {
      const view = server.host.get("counter");
      expect(view?.state).toBe("ready");
      expect(view?.pid).toBeGreaterThan(0);
      expect(view?.pid).not.toBe(pid);
    }, 5000);
    expect(() => process.kill(pid as number, 0)).toThrow(); // the old process is gone
    expect(server.host.get("counter")?.restarts).toBe(1);
    const next = await post("/runs", { plugin_id: "counter", entry_id: "fast", args: { ok: 1 }, wait: true });
    expect(next).toMatchObject({ status: "succeeded", result: { ok: 1 } });
  });
});
