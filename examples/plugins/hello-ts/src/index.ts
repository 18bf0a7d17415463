import { definePlugin, entry, PluginError } from "@plugd/sdk";

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(t);
        reject(new PluginError("CANCELLED", "the count was cancelled"));
      },
      { once: true },
    );
  });

export default definePlugin({
  name: "Hello (TypeScript)",
  version: "0.1.0",
  entries: {
    echo: entry({
      description: "Returns its input unchanged",
      input: { type: "object" },
      handler: (input: Record<string, unknown>) => input,
    }),

    greet: entry({
      description: "Greets someone with the configured prefix",
      input: { type: "object", properties: { name: { type: "string", minLength: 1 } }, required: ["name"] },
      handler: (input: { name: string }, ctx) => {
        const prefix = (ctx.config.greeting as { prefix?: string } | undefined)?.prefix ?? "Hello";
        return `${prefix}, ${input.name}!`;
      },
    }),

    count: entry({
      description: "Counts to `to`, one step every `delayMs`, with progress and output; honours cancel",
      input: {
        type: "object",
        properties: {
          to: { type: "integer", minimum: 1, maximum: 100000 },
          delayMs: { type: "integer", minimum: 0, default: 100 },
        },
        required: ["to"],
      },
      handler: async (input: { to: number; delayMs?: number }, ctx) => {
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
      handler: (input: { title?: string }, ctx) => {
        const title = input.title ?? "report";
        ctx.export.text(`# ${title}\nall good\n`, { label: "summary.md", mime: "text/markdown" });
        ctx.export.json({ title, items: 2 }, { label: "data" });
        return { title, exports: 2 };
      },
    }),

    burn: entry({
      description: "Burns CPU for `ms` milliseconds (for metrics)",
      input: { type: "object", properties: { ms: { type: "integer", minimum: 1, maximum: 60000 } }, required: ["ms"] },
      handler: (input: { ms: number }) => {
        const until = Date.now() + input.ms;
        let x = 0;
        while (Date.now() < until) x += Math.sqrt(x + 1);
        return { burned: input.ms };
      },
    }),
  },
});
