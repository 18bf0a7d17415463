// CPU per invoke on each side of the invoke path, a steadier figure than throughput on a shared, noisy machine:
// host = this process (process.cpuUsage), plugin = the hello-ts process (/proc/<pid>/stat), user and system time.
//   1. PluginHost.invoke → hello-ts `echo`, pipelined (W in flight) and sequential.
//   2. Plugin alone: a minimal driver writes pre-encoded request frames and counts answers by their header, so the
//      plugin side (SDK runtime + RpcPeer + framing) is measured without the host's costs.
// Usage: node bench/invoke-cpu.mjs [--w=256] [--ms=2000] [--reps=3] [--payload=88] [--only=host|plugin]
// Profile the plugin alone: PLUGIN_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof/alone" node bench/invoke-cpu.mjs --only=plugin
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { loadManifest, PluginHost } from "../packages/server/dist/index.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..");
const arg = (k, d) => {
  const a = process.argv.find((x) => x.startsWith(`--${k}=`));
  return a ? a.slice(k.length + 3) : d;
};
const W = Number(arg("w", 256));
const MS = Number(arg("ms", 2000));
const REPS = Number(arg("reps", 3));
const SIZE = Number(arg("payload", 88));
const only = arg("only", "");
const payload = { data: "x".repeat(SIZE) };
const TICK = 100; // USER_HZ on Linux

const procCpu = (pid) => {
  const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return [(Number(f[11]) / TICK) * 1e6, (Number(f[12]) / TICK) * 1e6];
};
const selfCpu = () => {
  const u = process.cpuUsage();
  return [u.user, u.system];
};
const per = (a, b, n) => `${((a[0] - b[0]) / n).toFixed(2)} + ${((a[1] - b[1]) / n).toFixed(2)} sys`;

async function measure(label, pid, run) {
  const h0 = selfCpu();
  const p0 = procCpu(pid);
  const t0 = performance.now();
  const n = await run();
  const secs = (performance.now() - t0) / 1000;
  const h1 = selfCpu();
  const p1 = procCpu(pid);
  console.log(
    `${label.padEnd(28)} ${String(Math.round(n / secs)).padStart(8)}/s  host ${per(h1, h0, n)} µs/inv  plugin ${per(p1, p0, n)} µs/inv`,
  );
}

if (only !== "plugin") {
  const host = new PluginHost({ exitHandlers: false });
  const m = loadManifest(path.join(root, "examples/plugins/hello-ts"));
  host.add({ ...m, limits: { ...m.limits, healthIntervalMs: 0, maxConcurrency: 1024, maxQueue: 4096 } });
  await host.start("hello-ts");
  const pid = host.get("hello-ts").pid;
  const invoke = () => host.invoke("hello-ts", "echo", payload);
  const pipe = (ms) =>
    new Promise((resolve) => {
      let done = 0;
      let stop = false;
      let live = 0;
      const one = () => {
        if (stop) {
          if (--live === 0) resolve(done);
          return;
        }
        invoke().then(() => {
          done++;
          one();
        });
      };
      for (let i = 0; i < W; i++) {
        live++;
        one();
      }
      setTimeout(() => {
        stop = true;
      }, ms);
    });
  await pipe(500);
  for (let r = 0; r < REPS; r++) await measure(`host.invoke W=${W}`, pid, () => pipe(MS));
  await measure("host.invoke sequential", pid, async () => {
    for (let i = 0; i < 10000; i++) await invoke();
    return 10000;
  });
  await host.close();
}

if (only !== "host") {
  const nodeArgs = (process.env.PLUGIN_NODE_ARGS ?? "").split(" ").filter(Boolean); // e.g. "--cpu-prof"
  const child = spawn(process.execPath, [...nodeArgs, path.join(root, "examples/plugins/hello-ts/dist/index.js")], {
    stdio: ["pipe", "pipe", "inherit"],
    env: { PATH: process.env.PATH },
  });
  const enc = (o) => {
    const j = JSON.stringify(o);
    return `Content-Length: ${Buffer.byteLength(j)}\r\n\r\n${j}`;
  };
  const frames = [];
  for (let i = 0; i < W; i++)
    frames.push(
      enc({
        jsonrpc: "2.0",
        id: i + 1,
        method: "plugin/invoke",
        params: { runId: `call-${i}`, entry: "echo", input: payload, timeoutMs: 60000 },
      }),
    );
  const offs = [0];
  for (const f of frames) offs.push(offs.at(-1) + Buffer.byteLength(f));
  const all = Buffer.from(frames.join(""));
  const header = Buffer.from("Content-Length: ");
  let pos = 0;
  let counted = 0;
  let onAnswers = null;
  let carry = Buffer.alloc(0);
  child.stdout.on("data", (c) => {
    const buf = carry.length ? Buffer.concat([carry, c]) : c;
    // A header split across chunks is found once: the carried tail is too short to hold a whole one.
    let n = 0;
    for (let i = buf.indexOf(header); i >= 0; i = buf.indexOf(header, i + 1)) n++;
    carry = buf.subarray(Math.max(0, buf.length - header.length + 1));
    counted += n;
    onAnswers?.(n);
  });
  const sendFrames = (n) => {
    const parts = [];
    while (n > 0) {
      const take = Math.min(n, W - pos);
      parts.push(all.subarray(offs[pos], offs[pos + take]));
      pos = (pos + take) % W;
      n -= take;
    }
    child.stdin.write(parts.length === 1 ? parts[0] : Buffer.concat(parts));
  };
  child.stdin.write(
    enc({
      jsonrpc: "2.0",
      id: 0,
      method: "plugin/handshake",
      params: { protocolVersion: "1.0", host: { name: "bench", version: "1" }, plugin: { id: "hello-ts", config: {} } },
    }),
  );
  await new Promise((r) => {
    onAnswers = () => r();
  });
  const pipe = (ms) =>
    new Promise((resolve) => {
      let stop = false;
      const start = counted;
      let live = W;
      onAnswers = (n) => {
        live -= n;
        if (!stop) {
          live += n;
          sendFrames(n);
        } else if (live <= 0) resolve(counted - start);
      };
      sendFrames(W);
      setTimeout(() => {
        stop = true;
      }, ms);
    });
  await pipe(500);
  for (let r = 0; r < REPS; r++) await measure(`plugin alone W=${W}`, child.pid, () => pipe(MS));
  child.stdin.end(); // the plugin exits on end of input (and writes its profile if asked to)
  await new Promise((r) => child.on("exit", r));
}
process.exit(0);
