import { type Static, Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { Defaults } from "../../config/defaults.js";
import { parseIsoTime } from "../../logs/iso-time.js";
import type { AppContext } from "../context.js";
import { ApiError } from "../errors.js";

const PluginParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) });

const iso = () => new Date().toISOString();

function isAlive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    // Signal 0 checks that the process exists (and is ours) without touching it.
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** GET /plugin/metrics, /plugin/metrics/:id, /plugin/metrics/:id/history (reference §1.7) and GET /metrics (Prometheus). */
export function metricsRoutes(app: FastifyInstance, ctx: AppContext): void {
  const { collector, registry } = ctx.metrics;

  const requirePlugin = (id: string) => {
    const p = ctx.host.get(id);
    if (!p) {
      throw new ApiError(404, "PLUGIN_NOT_FOUND", `no plugin '${id}' is loaded`, {
        available: ctx.host.list().map((v) => v.id),
      });
    }
    return p;
  };

  app.get(
    "/plugin/metrics",
    { schema: { tags: ["metrics"], summary: "Latest sample of every running plugin, and totals" } },
    async () => {
      const metrics = collector.current();
      return { metrics, count: metrics.length, global: collector.global(metrics), time: iso() };
    },
  );

  app.get<{ Params: Static<typeof PluginParams> }>(
    "/plugin/metrics/:id",
    { schema: { tags: ["metrics"], summary: "Latest sample of one plugin", params: PluginParams } },
    async (req) => {
      const p = requirePlugin(req.params.id);
      const metrics = collector.latest(p.id) ?? null;
      const running = p.state === "ready" || p.state === "degraded";
      return {
        plugin_id: p.id,
        metrics,
        time: iso(),
        plugin_running: running,
        process_alive: isAlive(p.pid),
        ...(metrics === null
          ? {
              message: running ? "no sample yet; the first comes within one sampling interval" : `plugin is ${p.state}`,
            }
          : {}),
      };
    },
  );

  const HistoryQuery = Type.Object({
    limit: Type.Integer({
      minimum: 1,
      // The reference's bound (1000), or more when the history kept is larger.
      maximum: Math.max(ctx.metrics.historySize, Defaults.metrics.historySize),
      default: Defaults.metrics.historyDefaultLimit,
    }),
    start_time: Type.Optional(Type.String({ description: "ISO 8601; no offset means UTC" })),
    end_time: Type.Optional(Type.String({ description: "ISO 8601; no offset means UTC" })),
  });
  app.get<{ Params: Static<typeof PluginParams>; Querystring: Static<typeof HistoryQuery> }>(
    "/plugin/metrics/:id/history",
    {
      schema: {
        tags: ["metrics"],
        summary: "Samples of one plugin, oldest first: the newest `limit` in the time range",
        params: PluginParams,
        querystring: HistoryQuery,
      },
    },
    async (req) => {
      const p = requirePlugin(req.params.id);
      const startMs = parseIsoTime(req.query.start_time, "start_time");
      const endMs = parseIsoTime(req.query.end_time, "end_time");
      const history = collector.historyOf(p.id, {
        limit: req.query.limit,
        ...(startMs !== undefined ? { startMs } : {}),
        ...(endMs !== undefined ? { endMs } : {}),
      });
      return { plugin_id: p.id, history, count: history.length, time: iso() };
    },
  );

  app.get(
    "/metrics",
    { schema: { tags: ["metrics"], summary: "Prometheus metrics (text exposition format)" } },
    async (_req, reply) => {
      reply.header("content-type", registry.contentType);
      return registry.metrics();
    },
  );
}
