import { ErrorCodes } from "@plugd/protocol";
import { describe, expect, it } from "vitest";
import { RestartTracker } from "../src/supervisor/backoff.js";
import { ConcurrencyLimiter } from "../src/supervisor/concurrency.js";
import { pluginEnvironment } from "../src/supervisor/environment.js";
import { parseLine, StderrLines } from "../src/supervisor/stderr-lines.js";

const policy = {
  policy: "on-failure" as const,
  maxRetries: 3,
  backoffBaseMs: 100,
  backoffCapMs: 1000,
  windowMs: 10_000,
};

describe("RestartTracker", () => {
  it("backs off exponentially with jitter, capped", () => {
    const lo = new RestartTracker(policy, () => 0);
    const hi = new RestartTracker(policy, () => 1);
    expect([1, 2, 3, 4, 5, 6].map((n) => lo.delayFor(n))).toEqual([50, 100, 200, 400, 500, 500]);
    expect([1, 2, 3, 4, 5, 6].map((n) => hi.delayFor(n))).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it("quarantines after maxRetries crashes inside the window, forgets old crashes", () => {
    const t = new RestartTracker(policy, () => 0.5);
    expect(t.onExit(0, false)).toMatchObject({ action: "restart", attempt: 1 });
    expect(t.onExit(1, false)).toMatchObject({ action: "restart", attempt: 2 });
    expect(t.onExit(2, false)).toMatchObject({ action: "restart", attempt: 3 });
    expect(t.onExit(3, false)).toEqual({ action: "quarantine", crashes: 4 });
    const u = new RestartTracker(policy);
    for (let i = 0; i < 10; i++) expect(u.onExit(i * 20_000, false).action).toBe("restart");
  });

  it("follows the policy for clean exits", () => {
    expect(new RestartTracker({ ...policy, policy: "never" }).onExit(0, false)).toEqual({ action: "stop" });
    expect(new RestartTracker(policy).onExit(0, true)).toEqual({ action: "stop" });
    expect(new RestartTracker({ ...policy, policy: "always" }).onExit(0, true).action).toBe("restart");
  });
});

describe("ConcurrencyLimiter", () => {
  it("runs up to the limit, queues up to maxQueue, refuses the rest with BUSY", async () => {
    const l = new ConcurrencyLimiter("p", 2, 1);
    await l.acquire();
    await l.acquire();
    const queued = l.acquire();
    await expect(l.acquire()).rejects.toMatchObject({ code: ErrorCodes.BUSY });
    expect([l.inFlight, l.queued]).toEqual([2, 1]);
    l.release();
    await queued;
    expect([l.inFlight, l.queued]).toEqual([2, 0]);
  });

  it("drops a queued call on abort or timeout", async () => {
    const l = new ConcurrencyLimiter("p", 1, 5);
    await l.acquire();
    const ac = new AbortController();
    const a = l.acquire(ac.signal);
    const b = l.acquire(undefined, 30);
    ac.abort();
    await expect(a).rejects.toMatchObject({ code: ErrorCodes.CANCELLED });
    await expect(b).rejects.toMatchObject({ code: ErrorCodes.TIMEOUT });
    expect(l.queued).toBe(0);
  });
});

describe("StderrLines", () => {
  it("splits lines across chunks, parses levels, rate-limits with a summary", () => {
    let now = 0;
    const out: Array<{ level: string; msg: string }> = [];
    const s = new StderrLines(
      (r) => out.push(r),
      { linesPerSecond: 3, tailLines: 4, maxLineBytes: 100 },
      () => now,
    );
    s.push("ERROR: disk full\nhal");
    s.push('f a line\n{"level":40,"msg":"pino warn","x":1}\n');
    s.push("four\nfive\nsix\n");
    expect(out.map((r) => r.msg)).toEqual(["ERROR: disk full", "half a line", "pino warn"]);
    expect(out.map((r) => r.level)).toEqual(["error", "info", "warn"]);
    now = 1500;
    s.push("seven\n");
    expect(out.slice(3).map((r) => r.msg)).toEqual(["3 lines suppressed (over 3 lines/s)", "seven"]);
    expect(s.lastLines()).toEqual(["four", "five", "six", "seven"]);
  });

  it("parses common level prefixes", () => {
    expect(parseLine("[warn] careful").level).toBe("warn");
    expect(parseLine("WARNING: x").level).toBe("warn");
    expect(parseLine('{"level":"debug","message":"m"}')).toMatchObject({ level: "debug", msg: "m" });
    expect(parseLine("plain").level).toBe("info");
  });
});

describe("pluginEnvironment", () => {
  it("passes only the allowlist and the manifest's env", () => {
    const env = pluginEnvironment(
      { LOG_LEVEL: "debug" },
      { PLUGD_PLUGIN_ID: "x" },
      {
        PATH: "/bin",
        HOME: "/root",
        PLUGD_ADMIN_TOKEN: "secret",
        AWS_SECRET_ACCESS_KEY: "s",
        NODE_OPTIONS: "--inspect",
      },
    );
    expect(env).toEqual({ PATH: "/bin", HOME: "/root", PLUGD_PLUGIN_ID: "x", LOG_LEVEL: "debug" });
  });
});
