import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["packages/*/test/**/*.test.ts", "test/**/*.test.ts", "conformance/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Tests spawn real processes; keep CPU contention on a 2-core box predictable.
    maxWorkers: 2,
    // Rebuilds the SDK's bundle (its runtime entry) from dist/, so a bare `tsc -b` before vitest is enough.
    globalSetup: ["./packages/sdk/scripts/bundle.mjs"],
    reporters: process.env.CI ? ["default", "json"] : ["default"],
    outputFile: { json: ".ci/results.json" },
  },
});
