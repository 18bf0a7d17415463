// `npm run bench`: every benchmark, one after the other (they share the 2 cores, so never in parallel).
// Each prints its own figures beside a baseline measured in the same run, and the ratios.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const only = args.filter((a) => !a.startsWith("--"));
const benches = [
  "rpc.mjs",
  "cold-start.mjs",
  "languages.mjs",
  "python-startup.mjs",
  "http.mjs",
  "message-plane.mjs",
  "store.mjs",
  "id-table.mjs",
].filter((b) => only.length === 0 || only.some((o) => b.startsWith(o)));
let failed = 0;
for (const b of benches) {
  console.log(`\n======== bench/${b} ========`);
  const r = spawnSync(process.execPath, [path.join(here, b), ...args.filter((a) => a.startsWith("--"))], {
    stdio: "inherit",
  });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
