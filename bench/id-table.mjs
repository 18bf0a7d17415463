// The peer's pending-request table: a Map against IdTable (packages/protocol/src/id-table.ts), as the peer uses it —
// ids 1, 2, 3… with `window` requests in flight, one set, one get and one delete per request. Prints the rate of each
// and the ratio.
// Usage: node bench/id-table.mjs [--quick]
import { performance } from "node:perf_hooks";
import { IdTable } from "../packages/protocol/dist/id-table.js";

const quick = process.argv.includes("--quick");
const N = quick ? 2_000_000 : 10_000_000;

function run(label, table, window) {
  const value = { method: "plugin/invoke" };
  for (let id = 1; id <= window; id++) table.set(id, value);
  const t0 = performance.now();
  for (let id = window + 1; id <= N + window; id++) {
    table.set(id, value);
    const old = id - window;
    if (table.get(old) !== value) throw new Error(`lost ${old}`);
    table.delete(old);
  }
  const ms = performance.now() - t0;
  return { label, window, rate: N / (ms / 1000) };
}

const fmt = (n) => Math.round(n).toLocaleString("en-US");
console.log(`# id-table bench, ${fmt(N)} requests per run`);
for (const window of [64, 256]) {
  const map = run("Map", new Map(), window);
  const tab = run("IdTable", new IdTable(), window);
  for (const r of [map, tab]) {
    const ratio = r === tab ? `  ${(tab.rate / map.rate).toFixed(2)}× Map` : "";
    console.log(
      `${r.label.padEnd(8)} in flight ${String(r.window).padStart(3)}  ${fmt(r.rate).padStart(12)} req/s${ratio}`,
    );
  }
}
