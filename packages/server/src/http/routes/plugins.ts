import type { Static } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import type { PluginView } from "../../host/host.js";
import type { AppContext } from "../context.js";
import { notFound } from "../errors.js";
import { PluginIdParams, StatusQuery } from "../schemas.js";

const iso = () => new Date().toISOString();

/** The reference's coarse status (running|stopped|load_failed) beside plugd's precise state. */
export function coarseStatus(v: PluginView): string {
  if (v.state === "ready" || v.state === "degraded") return "running";
  if (v.state === "load_failed") return "load_failed";
  return "stopped";
}

export function pluginInfo(v: PluginView) {
  const m = v.manifest;
  return {
    id: v.id,
    name: v.name,
    version: v.version,
    description: v.description,
    status: coarseStatus(v),
    state: v.state,
    reason: v.reason ?? null,
    pid: v.pid ?? null,
    restarts: v.restarts,
    auto_start: m?.autoStart ?? false,
    dependencies: m?.dependencies ?? [],
    entries: v.entries.map((e) => ({
      id: e.id,
      name: e.name ?? e.id,
      description: e.description ?? "",
      input_schema: e.inputSchema ?? null,
      output_schema: e.outputSchema ?? null,
      timeout: e.timeoutMs !== undefined ? e.timeoutMs / 1000 : null,
      kind: e.kind ?? "entry",
      metadata: e.metadata ?? {},
    })),
    stderr_tail: v.state === "quarantined" || v.state === "unavailable" || v.state === "crashed" ? v.stderrTail : [],
    ...(v.loadError ? { load_error: v.loadError } : {}),
  };
}

function statusRecord(v: PluginView) {
  return {
    plugin_id: v.id,
    status: { status: coarseStatus(v), state: v.state, reason: v.reason ?? null, pid: v.pid ?? null },
    updated_at: iso(),
    source: "plugd",
  };
}

export function pluginRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get("/plugins", { schema: { tags: ["plugins"], summary: "Plugins with their state and entries" } }, async () => {
    const plugins = ctx.host.list().map(pluginInfo);
    return { plugins, message: plugins.length ? "" : "no plugins registered" };
  });

  app.get<{ Querystring: Static<typeof StatusQuery> }>(
    "/plugin/status",
    { schema: { tags: ["plugins"], summary: "State of one or all plugins", querystring: StatusQuery } },
    async (req) => {
      const id = req.query.plugin_id;
      if (id) {
        const v = ctx.host.get(id);
        if (!v) {
          throw notFound("PLUGIN_NOT_FOUND", `no plugin '${id}' is loaded`, {
            available: ctx.host.list().map((p) => p.id),
          });
        }
        return { ...statusRecord(v), time: iso() };
      }
      return { plugins: Object.fromEntries(ctx.host.list().map((v) => [v.id, statusRecord(v)])), time: iso() };
    },
  );

  const action = (verb: "start" | "stop" | "reload", done: string) =>
    app.post<{ Params: Static<typeof PluginIdParams> }>(
      `/plugin/:id/${verb}`,
      {
        schema: {
          tags: ["plugins"],
          summary: `${verb[0]!.toUpperCase()}${verb.slice(1)} a plugin`,
          params: PluginIdParams,
        },
      },
      async (req) => {
        const v = await ctx.host[verb](req.params.id);
        return { success: true, plugin_id: v.id, message: done, state: v.state, pid: v.pid ?? null };
      },
    );
  action("start", "Plugin started successfully");
  action("stop", "Plugin stopped successfully");
  action("reload", "Plugin reloaded successfully");
}
