#!/usr/bin/env node
// The `plugd` command. A committed file (dist/ is built after `npm ci` links bins, and npm skips a bin whose file is
// missing), so `npx plugd` works in a fresh checkout.
import fs from "node:fs";

const main = new URL("../dist/cli/main.js", import.meta.url);
if (!fs.existsSync(main)) {
  process.stderr.write("plugd: the server is not built yet; run `npm run build` (or `npm ci`) in the plugd checkout\n");
  process.exit(2);
}
await import(main.href);
