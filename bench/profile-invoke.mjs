// CPU profiles of the invoke path, both sides: runs hello-ts `echo` invokes through PluginHost (pipelined, then
// sequential) with the plugin started under --cpu-prof, and prints the top self-time functions of each side.
// Usage: node --cpu-prof --cpu-prof-dir=/tmp/prof/host bench/profile-invoke.mjs [--w=256] [--ms=3000] [--seq=10000]
//        [--dir=/tmp/prof] [--payload=100]
// Then: node bench/profile-summary.mjs /tmp/prof/host/*.cpuprofile /tmp/prof/plugin/*.cpuprofile
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
const MS = Number(arg("ms", 3000));
const SEQ = Number(arg("seq", 10000));
const dir = arg("dir", "/tmp/prof");
const size = Number(arg("payload", 88));
fs.mkdirSync(path.join(dir, "plugin"), { recursive: true });

const host = new PluginHost({ exitHandlers: false });
const m = loadManifest(path.join(root, "examples/plugins/hello-ts"));
const profiled = arg("plugin-prof", "1") === "1";
host.add({
  ...m,
  start: {
    ...m.start,
    args: profiled ? ["--cpu-prof", `--cpu-prof-dir=${path.join(dir, "plugin")}`, ...m.start.args] : m.start.args,
  },
  limits: { ...m.limits, healthIntervalMs: 0, maxConcurrency: 1024, maxQueue: 4096 },
});
await host.start("hello-ts");
const payload = { data: "x".repeat(size) };
const invoke = () => host.invoke("hello-ts", "echo", payload);

let done = 0;
let stop = false;
await new Promise((resolve) => {
  let live = 0;
  const one = () => {
    if (stop) {
      if (--live === 0) resolve();
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
  const t0 = performance.now();
  setTimeout(() => {
    stop = true;
    console.log(`pipelined W=${W}: ${Math.round(done / ((performance.now() - t0) / 1000))} inv/s`);
  }, MS);
});
const t1 = performance.now();
for (let i = 0; i < SEQ; i++) await invoke();
console.log(`sequential: ${Math.round(SEQ / ((performance.now() - t1) / 1000))} inv/s`);
await host.close();
