// Top self-time functions of a .cpuprofile (node --cpu-prof), as a share of non-idle samples.
// Usage: node bench/profile-summary.mjs file.cpuprofile [more…] [--top=30]
import fs from "node:fs";

const top = Number(process.argv.find((a) => a.startsWith("--top="))?.slice(6) ?? 30);
for (const file of process.argv.slice(2).filter((a) => !a.startsWith("--"))) {
  const prof = JSON.parse(fs.readFileSync(file, "utf8"));
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const dt = prof.timeDeltas;
  for (let i = 0; i < prof.samples.length; i++) {
    const n = byId.get(prof.samples[i]);
    const f = n.callFrame;
    const key = `${f.functionName || "(anon)"} ${f.url.split("/").slice(-2).join("/")}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + (dt[i] ?? 0));
  }
  let total = 0;
  let idle = 0;
  for (const [k, v] of self) {
    total += v;
    if (k.startsWith("(idle)")) idle += v;
  }
  const busy = total - idle;
  console.log(`\n== ${file}: busy ${(busy / 1000).toFixed(0)} ms of ${(total / 1000).toFixed(0)} ms`);
  const rows = [...self].filter(([k]) => !k.startsWith("(idle)")).sort((a, b) => b[1] - a[1]);
  for (const [k, v] of rows.slice(0, top)) console.log(`${((100 * v) / busy).toFixed(1).padStart(5)}%  ${k}`);
}
