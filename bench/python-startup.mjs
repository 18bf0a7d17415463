// Cold start of a Python plugin (spawn → handshake done, through PluginHost) against the interpreter alone
// (`python -c pass`, spawn → exit), both with the interpreter plugd resolves once (not a pyenv-style shim), and what
// the stdlib-only SDK's import adds (`python -c "import plugd"`). Also the shim cost plugd avoids: `python3` through
// `sh -c`, which is what a wrapper script costs at the least.
// Usage: node bench/python-startup.mjs [--quick]
import { spawn } from "node:child_process";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { loadManifest, PluginHost } from "../packages/server/dist/index.js";
import { pythonSdkDir, resolvePython } from "../packages/server/dist/manifest/parse.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const N = process.argv.includes("--quick") ? 6 : 20;
const python = resolvePython();
const env = { PATH: process.env.PATH, HOME: process.env.HOME, PYTHONPATH: pythonSdkDir() ?? "" };

const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const fmt = (n) => n.toFixed(1);

function spawnExit(cmd, args) {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    spawn(cmd, args, { env, stdio: "ignore" })
      .on("error", reject)
      .on("exit", (code) => (code === 0 ? resolve(performance.now() - t) : reject(new Error(`${cmd} exited ${code}`))));
  });
}

async function times(fn) {
  await fn(); // warm the page cache
  const out = [];
  for (let i = 0; i < N; i++) out.push(await fn());
  return median(out);
}

const bare = await times(() => spawnExit(python, ["-c", "pass"]));
const sdkImport = await times(() => spawnExit(python, ["-c", "import plugd"]));
const shim = await times(() => spawnExit("sh", ["-c", 'exec python3 -c "pass"']));

const host = new PluginHost({ exitHandlers: false });
const m = loadManifest(path.join(root, "examples/plugins/hello-python"));
host.add({ ...m, limits: { ...m.limits, healthIntervalMs: 0 } });
const plugin = await times(async () => {
  const t = performance.now();
  await host.start("hello-python");
  const ms = performance.now() - t;
  await host.stop("hello-python");
  return ms;
});
await host.close();

console.log(`python: ${python}  (median of ${N})`);
console.log(`  python -c pass (floor)          ${fmt(bare)} ms`);
console.log(`  python -c "import plugd"        ${fmt(sdkImport)} ms   ×${(sdkImport / bare).toFixed(2)} the floor`);
console.log(`  sh -c "exec python3 -c pass"    ${fmt(shim)} ms   ×${(shim / bare).toFixed(2)} the floor`);
console.log(`  hello-python spawn → handshake  ${fmt(plugin)} ms   ×${(plugin / bare).toFixed(2)} the floor`);
