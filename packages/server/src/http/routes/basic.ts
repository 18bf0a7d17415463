import type { FastifyInstance } from "fastify";
import type { AppContext } from "../context.js";

const iso = () => new Date().toISOString();

export function basicRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get("/health", { schema: { tags: ["basic"], summary: "Liveness" } }, async () => ({ status: "ok", time: iso() }));

  app.get("/available", { schema: { tags: ["basic"], summary: "Ready to take runs" } }, async () => ({
    status: "ok",
    available: true,
    plugins_count: ctx.host.list().length,
    time: iso(),
  }));

  app.get("/server/info", { schema: { tags: ["basic"], summary: "Server and plugin process overview" } }, async () => {
    const plugins = ctx.host.list();
    const running = plugins.filter((p) => p.state === "ready" || p.state === "degraded");
    return {
      name: "plugd",
      version: ctx.version,
      sdk_version: ctx.version,
      protocol_version: "1.0",
      plugins_count: plugins.length,
      registered_plugins: plugins.map((p) => p.id),
      running_plugins_count: running.length,
      running_plugins: running.map((p) => p.id),
      running_plugins_status: Object.fromEntries(
        plugins.map((p) => [p.id, { alive: p.pid !== undefined, pid: p.pid ?? null, state: p.state }]),
      ),
      runs_in_flight: ctx.engine.inFlight,
      time: iso(),
    };
  });
}
