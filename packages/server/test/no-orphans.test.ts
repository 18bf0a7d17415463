import { spawn } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { EXAMPLES, eventually, FIXTURES, isAlive, ROOT } from "./helpers.js";

/** Starts a real host process with plugins, kills the host with `signal`, and checks every plugin process is gone. */
async function killHostAndCheck(signal: NodeJS.Signals) {
  const dirs = [path.join(EXAMPLES, "hello-ts"), path.join(FIXTURES, "ignore-sigterm"), path.join(FIXTURES, "forker")];
  const child = spawn(process.execPath, [path.join(ROOT, "test/fixtures/hosts/host-then-wait.mjs"), ...dirs], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const line = await new Promise<string>((resolve, reject) => {
    let buf = "";
    child.stdout!.on("data", (c: Buffer) => {
      buf += c.toString();
      if (buf.includes("\n")) resolve(buf.split("\n")[0]!);
    });
    child.on("exit", (code) => reject(new Error(`host exited early with ${code}`)));
  });
  const { pids } = JSON.parse(line) as { pids: number[] };
  expect(pids).toHaveLength(4);
  for (const pid of pids) expect(isAlive(pid)).toBe(true);
  const killedAt = Date.now();
  child.kill(signal);
  await eventually(() => pids.every((p) => !isAlive(p)), 2000, `every plugin process to exit after host ${signal}`);
  return Date.now() - killedAt;
}

describe("no orphans", () => {
  it("leaves no plugin process alive when the host is killed with SIGKILL", async () => {
    const ms = await killHostAndCheck("SIGKILL");
    expect(ms).toBeLessThan(2000);
  });

  it("leaves no plugin process alive when the host gets SIGTERM", async () => {
    await killHostAndCheck("SIGTERM");
  });
});
