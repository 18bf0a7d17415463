#!/usr/bin/env node
// Runs every test suite of the repository — TypeScript (vitest), Python (pytest), Go (go test), Rust (cargo test) —
// after building what the tests start (TypeScript packages, the Go and Rust plugins), and prints one summary line
// "N passed, N failed" last, which CI reads. Usage: node scripts/test-all.mjs [--only ts,py,go,rust] [vitest args…]
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const argv = process.argv.slice(2);
const onlyIdx = argv.indexOf("--only");
const only = onlyIdx >= 0 ? new Set(argv[onlyIdx + 1].split(",")) : null;
const vitestArgs = onlyIdx >= 0 ? argv.filter((_, i) => i !== onlyIdx && i !== onlyIdx + 1) : argv;
const want = (k) => !only || only.has(k);
const have = (cmd) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;

let passed = 0;
let failed = 0;
const notes = [];

function run(label, cmd, args, opts = {}) {
  process.stderr.write(`\n=== ${label}: ${cmd} ${args.join(" ")}\n`);
  const r = spawnSync(cmd, args, {
    cwd: root,
    stdio: opts.capture ? ["inherit", "pipe", "inherit"] : "inherit",
    encoding: "utf8",
    env: { ...process.env, ...opts.env },
  });
  if (opts.capture && r.stdout) process.stdout.write(r.stdout);
  return r;
}

function step(label, cmd, args, opts) {
  const r = run(label, cmd, args, opts);
  if (r.status !== 0) {
    failed++;
    notes.push(`${label} failed (exit ${r.status})`);
    return false;
  }
  return true;
}

// 1. Build: TypeScript and the SDK's bundle (npm run build: tsc -b, then each package's "bundle" script), then the
// compiled plugins the tests spawn.
const built = step("build", "npm", ["run", "--silent", "build"]);
// vitest strips types without checking them: the tests are type-checked here (a wrong helper call fails the run).
if (built && want("ts")) step("typecheck tests", "npx", ["tsc", "-p", "tsconfig.tests.json"]);
for (const script of ["examples/plugins/hello-go/build.sh", "conformance/plugins/go/build.sh"]) {
  if (want("go") || want("ts") || want("conformance")) {
    if (fs.existsSync(path.join(root, script)) && have("go")) step(`build ${script}`, "sh", [script]);
  }
}
for (const script of ["examples/plugins/hello-rust/build.sh", "conformance/plugins/rust/build.sh"]) {
  if (fs.existsSync(path.join(root, script)) && have("cargo")) step(`build ${script}`, "sh", [script]);
}

// 2. vitest (TypeScript packages, server, conformance driver)
if (want("ts") && built) {
  const report = path.join(root, ".ci/results.json");
  fs.mkdirSync(path.dirname(report), { recursive: true });
  fs.rmSync(report, { force: true });
  run("vitest", "npx", [
    "vitest",
    "run",
    "--reporter=default",
    "--reporter=json",
    `--outputFile.json=${report}`,
    ...vitestArgs,
  ]);
  if (fs.existsSync(report)) {
    const r = JSON.parse(fs.readFileSync(report, "utf8"));
    passed += r.numPassedTests;
    failed += r.numFailedTests;
    // A suite that fails to load has no failed tests but is a failure.
    const broken = r.testResults.filter((t) => t.status === "failed" && t.assertionResults.length === 0);
    failed += broken.length;
    for (const b of broken)
      notes.push(`vitest: ${path.relative(root, b.name)} failed to run: ${(b.message || "").split("\n")[0]}`);
  } else {
    failed++;
    notes.push("vitest produced no report");
  }
}

// 3. pytest (Python SDK)
if (want("py") && fs.existsSync(path.join(root, "sdks/python/tests"))) {
  const junit = path.join(root, ".ci/pytest.xml");
  run("pytest", "python3", ["-m", "pytest", "-q", "sdks/python/tests", `--junitxml=${junit}`]);
  if (fs.existsSync(junit)) {
    const xml = fs.readFileSync(junit, "utf8");
    const m = /<testsuite[^>]*\btests="(\d+)"[^>]*/.exec(xml);
    const attr = (n) => Number(new RegExp(`\\b${n}="(\\d+)"`).exec(m?.[0] ?? "")?.[1] ?? 0);
    const bad = attr("failures") + attr("errors");
    passed += attr("tests") - bad - attr("skipped");
    failed += bad;
  } else {
    failed++;
    notes.push("pytest produced no report");
  }
}

// 4. go test (Go SDK)
if (want("go") && fs.existsSync(path.join(root, "sdks/go/go.mod")) && have("go")) {
  const r = run("go test", "sh", ["-c", "cd sdks/go && go vet ./... && go test -json ./..."], { capture: true });
  let p = 0;
  let f = 0;
  for (const line of (r.stdout ?? "").split("\n")) {
    try {
      const ev = JSON.parse(line);
      if (ev.Test && ev.Action === "pass") p++;
      if (ev.Test && ev.Action === "fail") f++;
    } catch {}
  }
  if (r.status !== 0 && f === 0) f = 1;
  passed += p;
  failed += f;
}

// 5. cargo test (Rust SDK)
if (want("rust") && fs.existsSync(path.join(root, "sdks/rust/Cargo.toml")) && have("cargo")) {
  const r = run("cargo test", "sh", ["-c", "cd sdks/rust && cargo test 2>&1"], { capture: true });
  for (const m of (r.stdout ?? "").matchAll(/test result: \w+\. (\d+) passed; (\d+) failed/g)) {
    passed += Number(m[1]);
    failed += Number(m[2]);
  }
  if (r.status !== 0 && !/(\d+) failed/.test(r.stdout ?? "")) failed++;
}

for (const n of notes) process.stderr.write(`! ${n}\n`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
