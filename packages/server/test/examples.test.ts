import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveSettings } from "../src/config/settings.js";
import { type RunningServer, startServer } from "../src/server.js";
import { EXAMPLES, until } from "./helpers.js";

// The four hello examples, each started by plugd from its own plugin.toml (Go and Rust built by `npm test` first),
// driven the same way through the HTTP API: a config-driven greeting, a streamed count with progress, a cancel that
// the plugin honours, input refused by the host before the plugin sees it.

const EXAMPLE_PLUGINS = [
  { id: "hello-ts", delayKey: "delayMs" },
  { id: "hello-python", delayKey: "delay_ms" },
  { id: "hello-go", delayKey: "delayMs" },
  { id: "hello-rust", delayKey: "delayMs" },
] as const;

let server: RunningServer;
let dataDir: string;

beforeAll(async () => {
  for (const [id, bin] of [
    ["hello-go", "bin/hello-go"],
    ["hello-rust", "target/release/hello-rust"],
  ]) {
    if (!fs.existsSync(path.join(EXAMPLES, id as string, bin as string))) {
      throw new Error(`${id} is not built: run \`npm test\` (it builds it) or examples/plugins/${id}/build.sh`);
    }
  }
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "plugd-examples-"));
  server = await startServer(
    resolveSettings({ host: "127.0.0.1", port: 0, dataDir, pluginsDir: EXAMPLES, autoStart: false }),
    { logger: pino({ level: "silent" }) },
  );
  await Promise.all(EXAMPLE_PLUGINS.map((p) => server.host.start(p.id)));
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
  return { status: res.status, body: (await res.json()) as any };
}
const get = async (url: string) => (await (await fetch(`${server.url}${url}`)).json()) as any;

describe.each(EXAMPLE_PLUGINS)("$id", ({ id, delayKey }) => {
  it("greets with the prefix from its plugin.toml", async () => {
    const r = await post("/runs", { plugin_id: id, entry_id: "greet", args: { name: "Ada" }, wait: true });
    expect(r.body.status, JSON.stringify(r.body.error)).toBe("succeeded");
    expect(JSON.stringify(r.body.result)).toContain("Hello, Ada");
  });

  it("counts with progress and streamed output", async () => {
    const r = await post("/runs", { plugin_id: id, entry_id: "count", args: { to: 3, [delayKey]: 10 }, wait: true });
    expect(r.body.status, JSON.stringify(r.body.error)).toBe("succeeded");
    expect(r.body.result).toMatchObject({ counted: 3 });
    const run = await get(`/runs/${r.body.run_id}`);
    expect(run.progress).toBe(1);
    const events = await (await fetch(`${server.url}/runs/${r.body.run_id}/events`)).text();
    expect(events).toContain("event: output");
    expect(events).toContain("event: progress");
  });

  it("stops counting when the run is cancelled", async () => {
    const r = await post("/runs", { plugin_id: id, entry_id: "count", args: { to: 10_000, [delayKey]: 20 } });
    await until(async () => expect((await get(`/runs/${r.body.run_id}`)).progress).toBeGreaterThan(0));
    expect((await post(`/runs/${r.body.run_id}/cancel`, {})).body.status).toBe("cancel_requested");
    await until(async () => expect((await get(`/runs/${r.body.run_id}`)).status).toBe("canceled"), 3000);
    // Cooperative: the plugin stopped by itself, no restart was needed.
    expect(server.host.get(id)?.restarts).toBe(0);
  });

  it("is protected by its input schema before the plugin sees the input", async () => {
    const r = await post("/runs", { plugin_id: id, entry_id: "count", args: { to: "many" } });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe("INVALID_INPUT");
  });
});
