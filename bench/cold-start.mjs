// Cold start of a TypeScript plugin (spawn → handshake answered, through PluginHost as bench/rpc.mjs measures it)
// against `node -e 0` (spawn → exit), and what it is made of, all in one run, rounds interleaved:
//   floor (ESM)      an ES module with no imports that answers the handshake with hello-ts's exact bytes: what Node
//                    and the host cost before any SDK code (the least an ES-module plugin can cost)
//   floor (CJS)      the same file as CommonJS
//   sdk bundle       examples/plugins/hello-ts on @plugd/sdk as shipped: one file, dist/index.bundle.js
//   sdk files        the same plugin on tsc's dist/ (sdk + protocol, ~16 ES modules): what the SDK cost before the
//                    bundle
//   cjs + cjs bundle the plugin and the SDK both as CommonJS (esbuild), for comparison only: plugins are ES modules
// Usage: node bench/cold-start.mjs [--quick]   (after `npm run build`)
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { loadManifest, PluginHost } from "../packages/server/dist/index.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const N = process.argv.includes("--quick") ? 10 : 30;
const cleanEnv = { PATH: process.env.PATH, HOME: process.env.HOME };
const hello = path.join(root, "examples/plugins/hello-ts");
const sdk = path.join(root, "packages/sdk");

const pct = (a, p) => [...a].sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(p * a.length))];

/** hello-ts's answer to a handshake, as bytes on its stdout. */
function helloAnswer() {
  const body = JSON.stringify({
    jsonrpc: "2.0",
    id: 1,
    method: "plugin/handshake",
    params: { protocolVersion: "1.0", plugin: { id: "hello-ts", config: {} } },
  });
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(hello, "dist/index.js")], { env: cleanEnv });
    let out = "";
    child.stdout.on("data", (c) => {
      out += c;
      const m = /^Content-Length: (\d+)\r\n\r\n/.exec(out);
      if (m && out.length >= m[0].length + Number(m[1])) {
        child.stdin.end();
        resolve(JSON.parse(out.slice(m[0].length, m[0].length + Number(m[1]))).result);
      }
    });
    child.on("error", reject);
    child.stdin.write(`Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  });
}

/** Answers every request (the handshake with `result`) without any import: Node's own cost. */
const floorSource = (result) => `
const result = ${JSON.stringify(result)};
let buf = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (c) => {
  buf += c;
  for (;;) {
    const h = buf.indexOf("\\r\\n\\r\\n");
    if (h < 0) return;
    const len = Number(/Content-Length: (\\d+)/i.exec(buf.slice(0, h))[1]);
    if (buf.length < h + 4 + len) return;
    const msg = JSON.parse(buf.slice(h + 4, h + 4 + len));
    buf = buf.slice(h + 4 + len);
    if (msg.id === undefined) continue;
    const out = JSON.stringify({ jsonrpc: "2.0", id: msg.id, result: msg.method === "plugin/handshake" ? result : null });
    process.stdout.write("Content-Length: " + Buffer.byteLength(out) + "\\r\\n\\r\\n" + out);
    if (msg.method === "plugin/shutdown") process.stdout.write("", () => process.exit(0));
  }
});
process.stdin.on("end", () => process.exit(0));
`;

/** A plugin folder `dir` with hello-ts's manifest under a new id, `entry` as its entry, and package.json `type`. */
function pluginDir(dir, id, type, entry, source) {
  fs.mkdirSync(path.join(dir, path.dirname(entry)), { recursive: true });
  const toml = fs
    .readFileSync(path.join(hello, "plugin.toml"), "utf8")
    .replace(/^id = .*$/m, `id = "${id}"`)
    .replace(/^entry = .*$/m, `entry = "${entry}"`);
  fs.writeFileSync(path.join(dir, "plugin.toml"), toml);
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ type }));
  fs.writeFileSync(path.join(dir, entry), source);
  return dir;
}

/** node_modules/@plugd/sdk in `dir`: the package.json `exports` given, and the SDK's dist/ linked beside it. */
function fakeSdk(dir, exports, files = {}) {
  const pkg = path.join(dir, "node_modules/@plugd/sdk");
  fs.mkdirSync(pkg, { recursive: true });
  fs.writeFileSync(path.join(pkg, "package.json"), JSON.stringify({ name: "@plugd/sdk", exports }));
  fs.symlinkSync(path.join(sdk, "dist"), path.join(pkg, "dist"), "dir");
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(pkg, name), text);
}

async function main() {
  if (!fs.existsSync(path.join(sdk, "dist/index.bundle.js"))) throw new Error("run `npm run build` first");
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "plugd-cold-"));
  try {
    const result = await helloAnswer();
    const helloJs = fs.readFileSync(path.join(hello, "dist/index.js"), "utf8");
    const dirs = {};
    dirs["floor (ESM)"] = pluginDir(
      path.join(tmp, "floor-esm"),
      "floor-esm",
      "module",
      "floor.js",
      floorSource(result),
    );
    dirs["floor (CJS)"] = pluginDir(
      path.join(tmp, "floor-cjs"),
      "floor-cjs",
      "commonjs",
      "floor.js",
      floorSource(result),
    );
    dirs["sdk bundle"] = hello;
    dirs["sdk files"] = pluginDir(path.join(tmp, "files"), "files", "module", "dist/index.js", helloJs);
    // The package as it was before the bundle: "exports" to tsc's dist/index.js, which imports @plugd/protocol.
    fakeSdk(dirs["sdk files"], { ".": { default: "./dist/index.js" } });
    const cjs = await build({
      entryPoints: [path.join(hello, "dist/index.js")],
      format: "cjs",
      platform: "node",
      target: "node20",
      write: false,
      logLevel: "warning",
    });
    const sdkCjs = await build({
      entryPoints: [path.join(sdk, "dist/index.js")],
      bundle: true,
      format: "cjs",
      platform: "node",
      target: "node20",
      write: false,
      logLevel: "warning",
    });
    dirs["cjs + cjs bundle"] = pluginDir(
      path.join(tmp, "cjs"),
      "cjs",
      "commonjs",
      "dist/index.js",
      cjs.outputFiles[0].text,
    );
    fakeSdk(dirs["cjs + cjs bundle"], { ".": { require: "./index.cjs" } }, { "index.cjs": sdkCjs.outputFiles[0].text });

    const host = new PluginHost({ exitHandlers: false });
    const ids = {};
    for (const [name, dir] of Object.entries(dirs)) {
      const m = loadManifest(dir);
      host.add({ ...m, limits: { ...m.limits, healthIntervalMs: 0 } });
      ids[name] = m.id;
    }
    const spawnExit = () =>
      new Promise((resolve) => {
        const t = performance.now();
        spawn(process.execPath, ["-e", "0"], { env: cleanEnv, stdio: "ignore" }).on("exit", () =>
          resolve(performance.now() - t),
        );
      });
    const times = { "node -e 0": [] };
    for (const name of Object.keys(dirs)) times[name] = [];
    // one warm-up round (disk cache), then N interleaved rounds
    for (let round = -1; round < N; round++) {
      const t0 = await spawnExit();
      if (round >= 0) times["node -e 0"].push(t0);
      for (const [name, id] of Object.entries(ids)) {
        const t = performance.now();
        await host.start(id);
        const dt = performance.now() - t;
        await host.stop(id);
        if (round >= 0) times[name].push(dt);
      }
    }
    await host.close();

    console.log(`# cold start, node ${process.version}, ${N} interleaved rounds (median; p25 in brackets)\n`);
    const base = pct(times["node -e 0"], 0.5);
    const base25 = pct(times["node -e 0"], 0.25);
    for (const [name, a] of Object.entries(times)) {
      const what = name === "node -e 0" ? "spawn→exit" : "spawn→handshake";
      const p50 = pct(a, 0.5);
      const p25 = pct(a, 0.25);
      console.log(
        `${name.padEnd(18)} ${what.padEnd(16)} ${p50.toFixed(1).padStart(6)} ms ${(p50 / base).toFixed(2)}×  [${p25.toFixed(1).padStart(5)} ms ${(p25 / base25).toFixed(2)}×]`,
      );
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
process.exit(0);
