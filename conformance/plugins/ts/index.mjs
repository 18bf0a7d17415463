// The TypeScript SDK's conformance plugin: exactly the entries conformance/README.md specifies, nothing else.
import { definePlugin, entry, PluginError } from "@plugd/sdk";

/** Waits `ms`, looking at the cancellation at least every 10 ms as the suite requires. */
async function sleepCancellable(ms, signal) {
  const until = performance.now() + ms;
  for (;;) {
    signal.throwIfAborted();
    const left = until - performance.now();
    if (left <= 0) return;
    await new Promise((resolve) => setTimeout(resolve, Math.min(10, left)));
  }
}

definePlugin({
  id: "conformance",
  name: "conformance",
  version: "0.1.0",
  entries: {
    echo: entry({
      input: { type: "object" },
      handler: (input) => input,
    }),

    progress: entry({
      input: { type: "object", properties: { steps: { type: "integer" } }, required: ["steps"] },
      handler: (input, ctx) => {
        const n = input.steps;
        for (let i = 1; i <= n; i++) ctx.progress({ progress: i / n, step: i, stepTotal: n, message: `step ${i}` });
        ctx.output("done\n");
        return { steps: n };
      },
    }),

    fail: entry({
      handler: (input) => {
        throw new PluginError(String(input?.code ?? "FAILED"), String(input?.message ?? "failed"));
      },
    }),

    slow: entry({
      handler: async (input, ctx) => {
        const ms = Number(input?.ms ?? 0);
        await sleepCancellable(ms, ctx.signal);
        return { slept: ms };
      },
    }),

    export: entry({
      handler: (_input, ctx) => {
        ctx.export.text("hello", { label: "t" });
        ctx.export.json({ a: 1 }, { label: "j" });
        return { exports: 2 };
      },
    }),

    call: entry({
      handler: async (input, ctx) => {
        const result = await ctx.host.call(input.plugin, input.entry, input.input);
        return { result };
      },
    }),

    noise: entry({
      handler: () => {
        console.log("noise to stdout");
        return { ok: true };
      },
    }),

    log: entry({
      handler: (_input, ctx) => {
        ctx.log.info("hello log");
        return { ok: true };
      },
    }),
  },
});
