import { definePlugin, entry } from "@plugd/sdk";

/** Resolves after `ms`, or rejects with the run's cancellation as soon as it is cancelled. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

export default definePlugin({
  id: "hello-ts",
  name: "Hello (TypeScript)",
  version: "0.1.0",
  entries: {
    echo: entry({
      description: "Returns its input unchanged",
      input: { type: "object" },
      handler: (input) => input,
    }),

    greet: entry({
      description: "Greets someone with the configured prefix ([greeting] prefix in plugin.toml)",
      input: {
        type: "object",
        properties: { name: { type: "string", minLength: 1 } },
        required: ["name"],
      },
      handler: (input, ctx) => {
        const greeting = ctx.config.greeting as { prefix?: unknown } | undefined;
        const prefix = typeof greeting?.prefix === "string" ? greeting.prefix : "Hello";
        return `${prefix}, ${input.name}!`;
      },
    }),

    count: entry({
      description: "Counts to `to`, one step every `delayMs` ms, with progress and output; stops at once on cancel",
      streaming: true,
      input: {
        type: "object",
        properties: {
          to: { type: "integer", minimum: 1, maximum: 100000 },
          delayMs: { type: "integer", minimum: 0, maximum: 60000, default: 100 },
        },
        required: ["to"],
      },
      handler: async (input, ctx) => {
        const delay = input.delayMs ?? 100;
        for (let i = 1; i <= input.to; i++) {
          await sleep(delay, ctx.signal);
          ctx.progress({ progress: i / input.to, step: i, stepTotal: input.to, message: `${i} of ${input.to}` });
          ctx.output(`${i}\n`);
        }
        return { counted: input.to };
      },
    }),

    report: entry({
      description: "Emits a text and a JSON export and returns a summary",
      input: { type: "object", properties: { title: { type: "string" } } },
      handler: (input, ctx) => {
        const title = input.title ?? "report";
        ctx.export.text(`# ${title}\n\nall good\n`, { label: "summary.md", mime: "text/markdown" });
        ctx.export.json({ title, items: 2 }, { label: "data" });
        return { title, exports: 2 };
      },
    }),

    burn: entry({
      description: "Burns CPU for `ms` milliseconds (for metrics tests)",
      input: {
        type: "object",
        properties: { ms: { type: "integer", minimum: 1, maximum: 60000 } },
        required: ["ms"],
      },
      handler: (input) => {
        const until = performance.now() + input.ms;
        let x = 0;
        while (performance.now() < until) x += Math.sqrt(x + 1);
        return { burned: input.ms, x: x > 0 };
      },
    }),
  },
});
