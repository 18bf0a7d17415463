/**
 * Every SDK's conformance plugin against every vector: one describe per SDK (conformance/sdks.json), one test per
 * vector (conformance/vectors/*.json). A plugin that cannot be built fails every test with the reason, so a missing
 * toolchain or a broken build is visible instead of silently skipped.
 */
import { beforeAll, describe, expect, it } from "vitest";
import {
  ensureBuilt,
  formatResult,
  loadSdks,
  loadVectors,
  REPO_ROOT,
  resolveSpec,
  runVector,
  type SdkSpec,
} from "./driver.js";

const sdks = loadSdks();
const vectors = loadVectors();

/** A first Rust build compiles serde and friends; give it time, once. */
const BUILD_TIMEOUT_MS = 15 * 60_000;
/** Above the driver's own 30 s cap per vector, so its detailed report wins over vitest's bare timeout. */
const VECTOR_TIMEOUT_MS = 45_000;

describe.each(Object.entries(sdks))("%s SDK", (name: string, spec: SdkSpec) => {
  let notReady: string | null = null;

  beforeAll(async () => {
    notReady = await ensureBuilt(spec, REPO_ROOT, BUILD_TIMEOUT_MS);
  }, BUILD_TIMEOUT_MS + 30_000);

  for (const vector of vectors) {
    it(
      vector.name,
      async () => {
        if (notReady) expect.fail(`${name}: ${notReady}`);
        const { command, env } = resolveSpec(spec);
        const result = await runVector(command, REPO_ROOT, vector, env);
        // The whole report as the message: vector, step, expected and actual for every failure, plus stderr.
        if (!result.ok) expect.fail(formatResult(result));
      },
      VECTOR_TIMEOUT_MS,
    );
  }
});
