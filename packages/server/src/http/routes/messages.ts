import type { Static } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import type { AppContext } from "../context.js";
import { MessagesQuery } from "../schemas.js";

export function messageRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get<{ Querystring: Static<typeof MessagesQuery> }>(
    "/plugin/messages",
    { schema: { tags: ["messages"], summary: "Messages plugins pushed, newest first", querystring: MessagesQuery } },
    async (req) => {
      const messages = await ctx.store.listMessages({
        ...(req.query.plugin_id ? { plugin_id: req.query.plugin_id } : {}),
        ...(req.query.priority_min !== undefined ? { priority_min: req.query.priority_min } : {}),
        limit: req.query.max_count,
      });
      return { messages, count: messages.length, time: new Date().toISOString() };
    },
  );
}
