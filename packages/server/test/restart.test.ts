import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { EXAMPLES, isAlive, ROOT } from "./helpers.js";

const CLI = path.join(ROOT, "packages/server/dist/cli/main.js");
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill("SIGKILL");
});

/** Starts `plugd serve` as a real process on a free port; resolves with its URL once it listens. */
function serve(dataDir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    [CLI, "serve", "--port", "0", "--data-dir", dataDir, "--plugins-dir", EXAMPLES, "--log-level", "warn"],
    {
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  children.push(child);
  return new Promise((resolve, reject) => {
    let err = "";
    child.stderr!.on("data", (c: Buffer) => {
      err += c.toString();
      const m = /listening on (http:\/\/\S+)/.exec(err);
      if (m) resolve({ child, url: m[1]! });
    });
    child.on("exit", (code) => reject(new Error(`plugd serve exited with ${code}: ${err}`)));
  });
}

async function post(url: string, body: unknown) {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return res.json() as Promise<any>;
}

describe("server restart", () => {
  it("ends runs left in flight by a killed server as failed (server_restarted) and keeps the rest readable", async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "plugd-restart-"));
    const first = await serve(dataDir);
    const done = await post(`${first.url}/runs`, {
      plugin_id: "hello-ts",
      entry_id: "echo",
      args: { keep: 1 },
      wait: true,
    });
    expect(done.status).toBe("succeeded");
    const inFlight = await post(`${first.url}/runs`, {
      plugin_id: "hello-ts",
      entry_id: "count",
      args: { to: 1000, delayMs: 50 },
    });
    const plugins = (await (await fetch(`${first.url}/plugins`)).json()) as { plugins: Array<{ pid: number | null }> };
    const pids = plugins.plugins.map((p) => p.pid).filter((p): p is number => !!p);
    first.child.kill("SIGKILL");
    await new Promise((r) => first.child.once("exit", r));

    const second = await serve(dataDir);
    const run = (await (await fetch(`${second.url}/runs/${inFlight.run_id}`)).json()) as any;
    expect(run.status).toBe("failed");
    expect(run.error).toMatchObject({ code: "SERVER_RESTARTED", details: { reason: "server_restarted" } });
    const kept = (await (await fetch(`${second.url}/runs/${done.run_id}`)).json()) as any;
    expect(kept).toMatchObject({ status: "succeeded", result: { keep: 1 } });
    // The killed server's plugins did not survive it.
    for (const pid of pids) expect(isAlive(pid)).toBe(false);

    // A clean SIGTERM fails what is in flight with a clear reason and exits 0.
    const again = await post(`${second.url}/runs`, {
      plugin_id: "hello-ts",
      entry_id: "count",
      args: { to: 1000, delayMs: 50 },
    });
    second.child.kill("SIGTERM");
    const code = await new Promise((r) => second.child.once("exit", r));
    expect(code).toBe(0);
    const third = await serve(dataDir);
    const ended = (await (await fetch(`${third.url}/runs/${again.run_id}`)).json()) as any;
    expect(ended.status).toBe("failed");
    expect(ended.error.code).toBe("SERVER_SHUTDOWN");
    third.child.kill("SIGTERM");
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
});
