import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveSettings } from "../src/config/settings.js";
import { type RunningServer, startServer } from "../src/server.js";
import { EXAMPLES, ROOT } from "./helpers.js";

const CLI = path.join(ROOT, "packages/server/dist/cli/main.js");
let server: RunningServer;
let dataDir: string;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "plugd-cli-"));
  server = await startServer(resolveSettings({ host: "127.0.0.1", port: 0, dataDir, pluginsDir: EXAMPLES }), {
    logger: pino({ level: "silent" }),
  });
  if (server.host.get("hello-ts")?.state !== "ready") await server.host.start("hello-ts");
});
afterAll(async () => {
  await server?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

function plugd(args: string[], opts: { interruptOn?: string; env?: Record<string, string> } = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, PLUGD_URL: server.url, PLUGD_DATA_DIR: dataDir, ...opts.env },
    });
    let stdout = "";
    let stderr = "";
    let interrupted = false;
    child.stdout.on("data", (c) => {
      stdout += c;
      // Ctrl-C once the run is visibly under way.
      if (opts.interruptOn && !interrupted && stdout.includes(opts.interruptOn)) {
        interrupted = true;
        child.kill("SIGINT");
      }
    });
    child.stderr.on("data", (c) => (stderr += c));
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("plugd CLI", () => {
  it("lists plugins as a table and as JSON", async () => {
    const t = await plugd(["plugins"]);
    expect(t.code).toBe(0);
    expect(t.stdout).toMatch(/^ID\s+STATE/);
    expect(t.stdout).toContain("hello-ts");
    const j = await plugd(["plugins", "--json"]);
    expect(JSON.parse(j.stdout).map((p: { id: string }) => p.id)).toContain("hello-ts");
  });

  it("calls an entry with key=value args, streams output, prints the result", async () => {
    const r = await plugd(["call", "hello-ts", "count", "to=3", "delayMs=10"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("1\n2\n3\n");
    expect(r.stdout).toContain('"counted": 3');
    const g = await plugd(["call", "hello-ts", "greet", "--args", '{"name":"Ada"}', "--json"]);
    expect(JSON.parse(g.stdout)).toMatchObject({ status: "succeeded", result: "Hello, Ada!" });
  });

  it("exits with meaningful codes and clear messages", async () => {
    const missing = await plugd(["call", "ghost", "echo"]);
    expect(missing.code).toBe(4);
    expect(missing.stderr).toContain("PLUGIN_NOT_FOUND");
    const bad = await plugd(["call", "hello-ts", "count", "--args", "{oops"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--args is not valid JSON");
    const invalid = await plugd(["call", "hello-ts", "count", "to=abc"]);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain("INVALID_INPUT");
    const down = await plugd(["plugins"], { env: { PLUGD_URL: "http://127.0.0.1:9" } });
    expect(down.code).toBe(3);
    expect(down.stderr).toContain("cannot reach plugd");
  });

  it("cancels the run on Ctrl-C", async () => {
    const r = await plugd(["call", "hello-ts", "count", "to=1000", "delayMs=20"], { interruptOn: "3\n" });
    expect(r.code).toBe(130);
    const { runs } = (await (await fetch(`${server.url}/runs?plugin_id=hello-ts&limit=1`)).json()) as { runs: any[] };
    expect(runs[0].status).toBe("canceled");
  });

  it("rotates the admin token", async () => {
    const before = fs.readFileSync(path.join(dataDir, "admin.token"), "utf8").trim();
    const r = await plugd(["token", "rotate", "--data-dir", dataDir]);
    expect(r.code).toBe(0);
    const after = fs.readFileSync(path.join(dataDir, "admin.token"), "utf8").trim();
    expect(after).not.toBe(before);
    expect(r.stdout.trim()).toBe(after);
    const info = await plugd(["start", "hello-ts"]);
    expect(info.code).toBe(0);
  });
});
