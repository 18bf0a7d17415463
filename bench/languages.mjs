// The Python, Go and Rust example plugins through the whole host stack (PluginHost → RpcPeer → the language's SDK →
// its `echo` entry → back): cold start (spawn → handshake done) beside the same language's bare start (`python -c
// pass` with the interpreter plugd resolves; a hello-world binary built with the same toolchain), and sequential /
// pipelined invoke. Targets: Python ready ≤ 1.5× bare Python; Go and Rust ready ≤ 5 ms.
// Usage: node bench/languages.mjs [--quick]   (builds the Go and Rust examples with their build.sh when they are not)
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { loadManifest, PluginHost } from "../packages/server/dist/index.js";
import { resolvePython } from "../packages/server/dist/manifest/parse.js";
import { medianOf, pipelined, sequential, spawnExit } from "./lib/measure.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const quick = process.argv.includes("--quick");
const N = quick ? { cold: 8, seq: 1000, warm: 100, ms: 800 } : { cold: 20, seq: 5000, warm: 500, ms: 2000 };
const env = { PATH: process.env.PATH, HOME: process.env.HOME };
const small = { data: "x".repeat(88) };

const fmt = (n, d = 1) => n.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });
const run = (cmd, args) => spawnExit(cmd, args, env);

/** A hello-world binary for the bare start of a compiled language, built into a temp dir; undefined without it. */
function helloBinary(lang, dir) {
  if (lang === "go") {
    const src = path.join(dir, "main.go");
    fs.writeFileSync(src, 'package main\n\nimport "os"\n\nfunc main() { os.Stdout.WriteString("") }\n');
    const out = path.join(dir, "hello-go");
    const r = spawnSync("go", ["build", "-o", out, src], { cwd: dir, env: { ...process.env, GOFLAGS: "-mod=mod" } });
    return r.status === 0 ? out : undefined;
  }
  const src = path.join(dir, "main.rs");
  fs.writeFileSync(src, "fn main() {}\n");
  const out = path.join(dir, "hello-rust");
  const r = spawnSync("rustc", ["-O", "-o", out, src], { cwd: dir });
  return r.status === 0 ? out : undefined;
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "plugd-bench-lang-"));
const python = resolvePython();
const languages = [
  { id: "hello-python", lang: "python", bare: () => run(python, ["-c", "pass"]), bareName: "python -c pass" },
  { id: "hello-go", lang: "go", binary: helloBinary("go", tmp), bareName: "Go hello-world" },
  { id: "hello-rust", lang: "rust", binary: helloBinary("rust", tmp), bareName: "Rust hello-world" },
];

console.log(
  `# languages bench (${quick ? "quick" : "full"}): medians of ${N.cold} cold starts, ${N.seq} sequential calls`,
);
const row = (a, b, c, d = "") => console.log(`${a.padEnd(18)} ${b.padEnd(30)} ${c.padStart(12)}  ${d}`);
let missing = 0;
for (const l of languages) {
  const dir = path.join(root, "examples/plugins", l.id);
  let m;
  try {
    m = loadManifest(dir);
  } catch (e) {
    console.log(`${l.id}: cannot load its manifest: ${e.message}`);
    missing++;
    continue;
  }
  const build = path.join(dir, "build.sh");
  if (m.start.command.startsWith("/") && !fs.existsSync(m.start.command) && fs.existsSync(build)) {
    console.log(`${l.id}: building it first (${path.relative(root, build)})`);
    spawnSync("sh", [build], { cwd: dir, stdio: "inherit" });
  }
  if (m.start.command.startsWith("/") && !fs.existsSync(m.start.command)) {
    console.log(`${l.id}: ${m.start.command} is not built; run ${path.relative(root, dir)}/build.sh first`);
    missing++;
    continue;
  }
  const bare = l.bare ?? (l.binary ? () => run(l.binary, []) : undefined);
  const bareMs = bare ? await medianOf(bare, N.cold) : undefined;

  const host = new PluginHost({ exitHandlers: false });
  host.add({ ...m, limits: { ...m.limits, healthIntervalMs: 0, maxConcurrency: 1024, maxQueue: 4096 } });
  const ready = await medianOf(async () => {
    const t = performance.now();
    await host.start(l.id);
    const ms = performance.now() - t;
    await host.stop(l.id);
    return ms;
  }, N.cold);
  await host.start(l.id);
  const invoke = () => host.invoke(l.id, "echo", small);
  const seq = await sequential(invoke, N.warm, N.seq);
  const p64 = await pipelined(invoke, 64, N.ms, N.ms / 4);
  await new Promise((r) => setTimeout(r, 200)); // let the last window's calls come back
  await host.close();

  if (bareMs !== undefined) row(l.id, `bare start (${l.bareName})`, `${fmt(bareMs)} ms`);
  const target = l.lang === "python" ? "target ≤ 1.5× bare" : "target ≤ 5 ms";
  const ratio = bareMs !== undefined ? `${(ready / bareMs).toFixed(2)}× bare; ` : "";
  row(l.id, "cold start (spawn → ready)", `${fmt(ready)} ms`, `${ratio}${target}`);
  row(l.id, "sequential invoke p50", `${fmt(seq.p50)} µs`, `p99 ${fmt(seq.p99)} µs`);
  row(l.id, "pipelined invoke W=64", `${fmt(p64, 0)} inv/s`);
}
fs.rmSync(tmp, { recursive: true, force: true });
process.exit(missing ? 1 : 0);
