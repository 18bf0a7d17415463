import type { Static } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { toMessageView } from "../../bridge/messages.js";
import type { AppContext } from "../context.js";
import { MessagesQuery } from "../schemas.js";

export function messageRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get<{ Querystring: Static<typeof MessagesQuery> }>(
    "/plugin/messages",
    {
      schema: {
        tags: ["messages"],
        summary: "Messages plugins pushed (the bus's `messages` store), newest first",
        querystring: MessagesQuery,
      },
    },
    async (req) => {
      const records = ctx.bus.query({
        store: "messages",
        ...(req.query.plugin_id ? { plugin_id: req.query.plugin_id } : {}),
        ...(req.query.priority_min !== undefined ? { priority_min: req.query.priority_min } : {}),
        limit: req.query.max_count,
      });
      const messages = records.map(toMessageView);
      return { messages, count: messages.length, time: new Date().toISOString() };
    },
  );
}
