#!/usr/bin/env node
// Bundles the SDK and @plugd/protocol, as tsc emitted them in dist/, into one ESM file: dist/index.bundle.js, the
// package's runtime entry ("exports" default; the types stay tsc's dist/*.d.ts).
//
// Why: in a plugin's cold start the SDK's cost was Node's ESM loader, per module (resolve, read, compile, link),
// not the code it runs. With the 16 files of dist/ (sdk + protocol) hello-ts took ~41 ms from spawn to handshake
// answered; with this one file ~35 ms (bench/cold-start.mjs measures both, and an import-free floor). Nothing is
// minified or renamed: the bundle is tsc's JavaScript concatenated, with a source map back to the .ts sources.
//
// Runs after `tsc -b` (root `npm run build` and `prepare`, scripts/test-all.mjs) and as vitest's globalSetup, so a
// test run never spawns plugins on a bundle older than dist/. Usage: node packages/sdk/scripts/bundle.mjs
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const pkg = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const entry = path.join(pkg, "dist/index.js");
const outfile = path.join(pkg, "dist/index.bundle.js");

export async function bundle() {
  if (!fs.existsSync(entry)) throw new Error(`${path.relative(process.cwd(), entry)} is missing: run \`tsc -b\` first`);
  const result = await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node20",
    // Node's own modules stay imports; @plugd/protocol (the only other dependency) is inlined.
    packages: "bundle",
    external: ["node:*"],
    sourcemap: "linked",
    sourcesContent: false,
    // Function and class names as written, even if two modules used the same top-level name.
    keepNames: true,
    write: false,
    logLevel: "warning",
  });
  // Written under a temporary name and renamed: a plugin starting meanwhile (a parallel test run) never reads half
  // a file.
  for (const file of result.outputFiles) {
    const tmp = `${file.path}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, file.contents);
    fs.renameSync(tmp, file.path);
  }
}

/**
 * vitest globalSetup: tests that spawn TypeScript plugins run them on a bundle of the current dist/ (after a bare
 * `tsc -b` too). Without dist/ there is nothing to bundle, and those tests fail on their own as they always did.
 */
export default async function setup() {
  if (fs.existsSync(entry)) await bundle();
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await bundle();
