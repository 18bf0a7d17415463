// POST /runs with wait:true on hello-ts's echo entry, under load (autocannon over loopback), beside a fastify
// hello-world route measured in the same run. Target: ≥ 0.5× the hello-world rate. A third line, a fastify route that
// only calls PluginHost.invoke (no run record, no events), shows what the run engine and its persistence cost on top
// of the HTTP and plugin round trips. autocannon runs in a process of its own (bench/lib/load.mjs): in the servers'
// process it took its share of their event loop, which capped the baseline most (hello-world measured 21–24k req/s
// that way on a 2-core machine, 31–38k with the load outside) and so flattered every ratio to it.
// Usage: node bench/http.mjs [--quick]

import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import Fastify from "fastify";
import pino from "pino";
import { resolveSettings } from "../packages/server/dist/config/settings.js";
import { loadManifest, PluginHost } from "../packages/server/dist/index.js";
import { startServer } from "../packages/server/dist/server.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const quick = process.argv.includes("--quick");
const duration = quick ? 3 : 10;
const connections = 32;

/** autocannon in its own process (bench/lib/load.mjs), so the servers measured here keep their event loop. */
function load(opts) {
  return new Promise((resolve, reject) => {
    const args = [
      path.join(root, "bench/lib/load.mjs"),
      JSON.stringify({ duration, connections, pipelining: 1, ...opts }),
    ];
    execFile(process.execPath, args, { maxBuffer: 1 << 20 }, (err, stdout) =>
      err ? reject(err) : resolve(JSON.parse(stdout.trim().split("\n").pop())),
    );
  });
}

const fmt = (n) => Math.round(n).toLocaleString("en-US");

// Baseline: fastify hello-world.
const hello = Fastify({ logger: false });
hello.get("/", async () => ({ hello: "world" }));
hello.post("/", async (req) => req.body);
await hello.listen({ host: "127.0.0.1", port: 0 });
const helloUrl = `http://127.0.0.1:${hello.server.address().port}/`;
await load({ url: helloUrl, duration: 1 });
const base = await load({
  url: helloUrl,
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ text: "hi" }),
});
await hello.close();

// Between the two: HTTP + a plugin round trip, without the run engine.
const host = new PluginHost({ exitHandlers: false });
const manifest = loadManifest(path.join(root, "examples/plugins/hello-ts"));
host.add({ ...manifest, limits: { ...manifest.limits, healthIntervalMs: 0, maxConcurrency: 1024, maxQueue: 4096 } });
await host.start("hello-ts");
const bare = Fastify({ logger: false });
bare.post("/", async (req) => ({ result: await host.invoke("hello-ts", "echo", req.body.args) }));
await bare.listen({ host: "127.0.0.1", port: 0 });
const bareOpts = {
  url: `http://127.0.0.1:${bare.server.address().port}/`,
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ args: { text: "hi" } }),
};
await load({ ...bareOpts, duration: 1 });
const invokeOnly = await load(bareOpts);
await bare.close();
await host.close();

// plugd: POST /runs wait:true → echo
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "plugd-bench-"));
const server = await startServer(
  resolveSettings({ host: "127.0.0.1", port: 0, dataDir, pluginsDir: path.join(root, "examples/plugins") }),
  { logger: pino({ level: "error" }) },
);
if (server.host.get("hello-ts")?.state !== "ready") await server.host.start("hello-ts");
const body = JSON.stringify({ plugin_id: "hello-ts", entry_id: "echo", args: { text: "hi" }, wait: true });
const opts = { url: `${server.url}/runs`, method: "POST", headers: { "content-type": "application/json" }, body };
await load({ ...opts, duration: 1 });
const runs = await load(opts);
await server.close();
fs.rmSync(dataDir, { recursive: true, force: true });

const line = (name, r) =>
  console.log(
    `${name.padEnd(34)} ${fmt(r.requests.average).padStart(8)} req/s   p50 ${String(r.latency.p50).padStart(5)} ms   p99 ${String(r.latency.p99).padStart(5)} ms   errors ${r.errors + r.non2xx}`,
  );
console.log(`# http bench: ${connections} connections, ${duration} s each, loopback\n`);
line("fastify hello-world POST (baseline)", base);
line("fastify + host.invoke (no engine)", invokeOnly);
line("plugd POST /runs wait:true (echo)", runs);
console.log(
  `\nratio: ${(runs.requests.average / base.requests.average).toFixed(2)}× the hello-world rate (target ≥ 0.5×); ` +
    `the route without the run engine: ${(invokeOnly.requests.average / base.requests.average).toFixed(2)}×`,
);
process.exit(0);
