// Invoke round trips to the hello-ts plugin through the whole host stack (PluginHost.invoke → RpcPeer → SDK →
// entry → back), measured in the same run as the baselines of reference/ipc-baselines.md: a raw echo child over the
// same kind of pipe (the floor), vscode-jsonrpc and the MCP SDK. Prints figures and ratios.
// Usage: node bench/rpc.mjs [--quick]
import { spawn } from "node:child_process";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { loadManifest, PluginHost } from "../packages/server/dist/index.js";
import { pipelined as measurePipelined, sequential as measureSequential, median, pct } from "./lib/measure.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..");
const quick = process.argv.includes("--quick");
const N = quick
  ? { seq: 2000, warm: 200, ms: 800, warmMs: 200, cold: 8 }
  : { seq: 20000, warm: 2000, ms: 2000, warmMs: 500, cold: 20 };
const cleanEnv = { PATH: process.env.PATH, HOME: process.env.HOME };
const small = { data: "x".repeat(88) };
const b64 = (n) =>
  Buffer.alloc((n * 3) / 4, 7)
    .toString("base64")
    .slice(0, n);

const fmt = (n, d = 0) => n.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });
const sequential = (fn, warm, n) => measureSequential(fn, warm, n);
const pipelined = (fn, w, ms = N.ms) => measurePipelined(fn, w, ms, N.warmMs);

// ---- raw floor: a Node echo child, one write per message, callback loop (reference method) ----
function rawEcho() {
  const child = spawn(process.execPath, [path.join(here, "children/raw-echo.mjs")], {
    env: cleanEnv,
    stdio: ["pipe", "pipe", "inherit"],
  });
  let expected = 0;
  let got = 0;
  let onDone = null;
  const seqData = (c) => {
    got += c.length;
    while (onDone && got >= expected) {
      got -= expected;
      const d = onDone;
      onDone = null;
      d();
    }
  };
  return {
    child,
    seq(size, warm, n) {
      const msg = Buffer.alloc(size, 120);
      // (Re)install the sequential reader: a pipelined run before replaces the data listener with its own.
      child.stdout.removeAllListeners("data");
      got = 0;
      child.stdout.on("data", seqData);
      return new Promise((resolve) => {
        const lat = [];
        let i = 0;
        let s = 0;
        let t0 = 0;
        const next = () => {
          if (i >= warm) lat.push(performance.now() - s);
          i++;
          if (i === warm) t0 = performance.now();
          if (i >= warm + n) {
            const secs = (performance.now() - t0) / 1000;
            resolve({ p50: median(lat) * 1000, p99: pct(lat, 99) * 1000, rate: n / secs });
            return;
          }
          send();
        };
        const send = () => {
          expected = size;
          onDone = next;
          s = performance.now();
          child.stdin.write(msg);
        };
        send();
      });
    },
    pipelined(size, w) {
      const msg = Buffer.alloc(size, 120);
      return new Promise((resolve) => {
        let received = 0;
        let counting = false;
        let done = 0;
        let stop = false;
        const onData = (c) => {
          received += c.length;
          const completed = Math.floor(received / size);
          received -= completed * size;
          if (counting) done += completed;
          if (!stop) for (let k = 0; k < completed; k++) child.stdin.write(msg);
        };
        child.stdout.removeAllListeners("data");
        child.stdout.on("data", onData);
        for (let k = 0; k < w; k++) child.stdin.write(msg);
        setTimeout(() => {
          counting = true;
          const t0 = performance.now();
          setTimeout(() => {
            stop = true;
            const rate = done / ((performance.now() - t0) / 1000);
            setTimeout(() => {
              child.stdout.removeListener("data", onData);
              resolve(rate);
            }, 50);
          }, N.ms);
        }, N.warmMs);
      });
    },
  };
}

async function vscodeClient() {
  const rpc = await import("vscode-jsonrpc/node");
  const child = spawn(process.execPath, [path.join(here, "children/vscode-echo.mjs")], {
    env: cleanEnv,
    stdio: ["pipe", "pipe", "inherit"],
  });
  const conn = rpc.createMessageConnection(
    new rpc.StreamMessageReader(child.stdout),
    new rpc.StreamMessageWriter(child.stdin),
  );
  conn.listen();
  return { child, call: (p) => conn.sendRequest("echo", p), close: () => conn.dispose() };
}

async function mcpClient() {
  const { Client } = await import("@modelcontextprotocol/sdk/client/index.js");
  const { StdioClientTransport } = await import("@modelcontextprotocol/sdk/client/stdio.js");
  const client = new Client({ name: "bench", version: "1.0.0" });
  await client.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: [path.join(here, "children/mcp-echo.mjs")],
      env: cleanEnv,
    }),
  );
  await client.listTools();
  return { call: (p) => client.callTool({ name: "echo", arguments: { text: p.data } }), close: () => client.close() };
}

async function coldStart() {
  const nodeTimes = [];
  const spawnExit = () =>
    new Promise((resolve) => {
      const t = performance.now();
      spawn(process.execPath, ["-e", "0"], { env: cleanEnv, stdio: "ignore" }).on("exit", () =>
        resolve(performance.now() - t),
      );
    });
  await spawnExit();
  for (let i = 0; i < N.cold; i++) nodeTimes.push(await spawnExit());
  const host = new PluginHost({ exitHandlers: false });
  const m = loadManifest(path.join(root, "examples/plugins/hello-ts"));
  host.add({ ...m, limits: { ...m.limits, healthIntervalMs: 0 } });
  const pluginTimes = [];
  await host.start("hello-ts");
  await host.stop("hello-ts");
  for (let i = 0; i < N.cold; i++) {
    const t = performance.now();
    await host.start("hello-ts");
    pluginTimes.push(performance.now() - t);
    await host.stop("hello-ts");
  }
  await host.close();
  return { node: median(nodeTimes), plugin: median(pluginTimes) };
}

async function main() {
  const out = [];
  const row = (stack, what, value, unit, ratio) => {
    out.push({ stack, what, value, unit, ratio });
    console.log(
      `${stack.padEnd(24)} ${what.padEnd(26)} ${fmt(value, unit === "µs" || unit === "ms" ? 1 : 0).padStart(12)} ${unit.padEnd(6)} ${ratio ?? ""}`,
    );
  };
  console.log(
    `# rpc bench (${quick ? "quick" : "full"}) node ${process.version}, ${N.seq} sequential round trips, ${N.ms} ms pipelined windows\n`,
  );

  const host = new PluginHost({ exitHandlers: false });
  const m = loadManifest(path.join(root, "examples/plugins/hello-ts"));
  host.add({ ...m, limits: { ...m.limits, healthIntervalMs: 0, maxConcurrency: 1024, maxQueue: 4096 } });
  await host.start("hello-ts");
  const invoke = (p) => host.invoke("hello-ts", "echo", p);

  const raw = rawEcho();
  const rawSeq = await raw.seq(32, N.warm, N.seq);
  const oursSeq = await sequential(() => invoke(small), N.warm, N.seq);
  row("raw echo (floor)", "sequential p50", rawSeq.p50, "µs");
  row(
    "plugd hello-ts invoke",
    "sequential p50",
    oursSeq.p50,
    "µs",
    `${(oursSeq.p50 / rawSeq.p50).toFixed(2)}× floor (target ≤ 1.3×)`,
  );
  row("raw echo (floor)", "sequential p99", rawSeq.p99, "µs");
  row("plugd hello-ts invoke", "sequential p99", oursSeq.p99, "µs", `${(oursSeq.p99 / rawSeq.p99).toFixed(2)}× floor`);

  const vs = await vscodeClient();
  const mcp = await mcpClient();
  const vsSeq = await sequential(() => vs.call(small), N.warm, N.seq);
  const mcpSeq = await sequential(() => mcp.call(small), N.warm, Math.floor(N.seq / 2));
  row("vscode-jsonrpc", "sequential p50", vsSeq.p50, "µs", `${(vsSeq.p50 / rawSeq.p50).toFixed(2)}× floor`);
  row("MCP SDK", "sequential p50", mcpSeq.p50, "µs", `${(mcpSeq.p50 / rawSeq.p50).toFixed(2)}× floor`);

  for (const w of [64, 256]) {
    const r = await raw.pipelined(32, w);
    const o = await pipelined(() => invoke(small), w);
    const v = await pipelined(() => vs.call(small), w);
    const c = await pipelined(() => mcp.call(small), w);
    row("raw echo (floor)", `pipelined W=${w}`, r, "msg/s");
    row(
      "plugd hello-ts invoke",
      `pipelined W=${w}`,
      o,
      "inv/s",
      `${(r / o).toFixed(2)}× below floor; ${(o / v).toFixed(1)}× vscode, ${(o / c).toFixed(1)}× MCP (targets ≥ 250k, ≥ 7×)`,
    );
    row("vscode-jsonrpc", `pipelined W=${w}`, v, "msg/s");
    row("MCP SDK", `pipelined W=${w}`, c, "msg/s");
  }
  vs.close();
  vs.child.kill();
  await mcp.close();

  for (const [size, label, w, seqN] of [
    [64 * 1024, "64 KiB", 8, quick ? 200 : 2000],
    [1024 * 1024, "1 MiB", 4, quick ? 20 : 200],
  ]) {
    const payload = { data: b64(size) };
    const r = await raw.seq(size, Math.ceil(seqN / 10), seqN);
    const o = await sequential(() => invoke(payload), Math.ceil(seqN / 10), seqN);
    const mbs = (rate) => (rate * size) / 1e6;
    row(
      "raw echo (floor)",
      `${label} sequential p50`,
      label === "1 MiB" ? r.p50 / 1000 : r.p50,
      label === "1 MiB" ? "ms" : "µs",
    );
    row(
      "plugd hello-ts invoke",
      `${label} sequential p50`,
      label === "1 MiB" ? o.p50 / 1000 : o.p50,
      label === "1 MiB" ? "ms" : "µs",
      `${(o.p50 / r.p50).toFixed(1)}× floor`,
    );
    const rp = await raw.pipelined(size, w);
    const op = await pipelined(() => invoke(payload), w);
    row("raw echo (floor)", `${label} pipelined W=${w}`, mbs(rp), "MB/s");
    row("plugd hello-ts invoke", `${label} pipelined W=${w}`, mbs(op), "MB/s", `${(rp / op).toFixed(1)}× below floor`);
  }
  raw.child.kill();
  await host.close();

  const cold = await coldStart();
  row("node -e 0", "cold start (spawn→exit)", cold.node, "ms");
  row(
    "plugd hello-ts",
    "cold start (spawn→handshake)",
    cold.plugin,
    "ms",
    `${(cold.plugin / cold.node).toFixed(2)}× node -e 0 (target ≤ 1.3×)`,
  );
  return out;
}

const results = await main();
if (process.env.BENCH_JSON)
  (await import("node:fs")).writeFileSync(process.env.BENCH_JSON, JSON.stringify(results, null, 2));
process.exit(0);
