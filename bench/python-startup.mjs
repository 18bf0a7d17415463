// Cold start of a Python plugin (spawn → handshake done, through PluginHost) against the interpreter alone
// (`python -c pass`, spawn → exit), both with the interpreter plugd resolves once (not a pyenv-style shim), and what
// the stdlib-only SDK's import adds (`python -c "import plugd"`). Also the shim cost plugd avoids: `python3` through
// `sh -c`, which is what a wrapper script costs at the least.
// Usage: node bench/python-startup.mjs [--quick]
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { loadManifest, PluginHost } from "../packages/server/dist/index.js";
import { pythonSdkDir, resolvePython } from "../packages/server/dist/manifest/parse.js";
import { medianOf, spawnExit } from "./lib/measure.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const N = process.argv.includes("--quick") ? 6 : 20;
const python = resolvePython();
const env = { PATH: process.env.PATH, HOME: process.env.HOME, PYTHONPATH: pythonSdkDir() ?? "" };

const fmt = (n) => n.toFixed(1);
const run = (cmd, args) => spawnExit(cmd, args, env);
const times = (fn) => medianOf(fn, N);

const bare = await times(() => run(python, ["-c", "pass"]));
const sdkImport = await times(() => run(python, ["-c", "import plugd"]));
const shim = await times(() => run("sh", ["-c", 'exec python3 -c "pass"']));

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
