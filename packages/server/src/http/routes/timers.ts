import type { Static } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import type { AppContext } from "../context.js";
import { StatusQuery } from "../schemas.js";

export function timerRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get<{ Querystring: Static<typeof StatusQuery> }>(
    "/plugin/timers",
    {
      schema: {
        tags: ["plugins"],
        summary: "Interval timers the host fires for running plugins: firings, skipped overlaps, the run in flight",
        querystring: StatusQuery,
      },
    },
    async (req) => {
      const timers = ctx.timers.list().filter((t) => !req.query.plugin_id || t.plugin === req.query.plugin_id);
      return { timers, count: timers.length, time: new Date().toISOString() };
    },
  );
}
