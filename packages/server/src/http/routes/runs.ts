import type { Static } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import type { RunEvent, RunRecord, RunStatus } from "../../store/types.js";
import { TERMINAL_STATUSES } from "../../store/types.js";
import type { AppContext } from "../context.js";
import { ApiError, notFound } from "../errors.js";
import { CancelBody, CreateRunBody, ExportQuery, RunIdParams, RunsQuery } from "../schemas.js";

const SSE_HEARTBEAT_MS = 15_000;
const SSE_REPLAY_PAGE = 500;

export async function requireRun(ctx: AppContext, runId: string): Promise<RunRecord> {
  const run = await ctx.engine.get(runId);
  if (!run) throw notFound("RUN_NOT_FOUND", `no run '${runId}'`, { hint: "Run ids come from POST /runs." });
  return run;
}

export function runRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.post<{ Body: CreateRunBody }>(
    "/runs",
    {
      schema: {
        tags: ["runs"],
        summary: "Start a run of a plugin entry",
        description: "Returns at once with the run id and a run token, or with `wait: true` when the run is finished.",
        body: CreateRunBody,
      },
    },
    async (req) => {
      const body = req.body;
      const wait = body.wait === true;
      // The body is schema-checked: its other fields are the run's input (wait/wait_timeout_ms are ignored there).
      const created = await ctx.engine.create(wait ? { ...body, reported_at_end: true } : body);
      const { run_id } = created.run;
      // A new run is reported as created, "queued", even if it already started by the time this is serialised.
      if (!wait) {
        const status = created.created ? "queued" : created.run.status;
        return {
          run_id,
          run_token: created.run_token,
          expires_at: created.expires_at,
          status,
          created: created.created,
        };
      }
      const run = (await ctx.engine.waitFor(run_id, body.wait_timeout_ms)) ?? created.run;
      return {
        run_id,
        run_token: created.run_token,
        expires_at: created.expires_at,
        status: run.status,
        created: created.created,
        run,
        result: run.result,
        error: run.error,
      };
    },
  );

  app.get<{ Querystring: Static<typeof RunsQuery> }>(
    "/runs",
    { schema: { tags: ["runs"], summary: "Recent runs, newest first", querystring: RunsQuery } },
    async (req) => {
      const status = req.query.status?.split(",").filter(Boolean) as RunStatus[] | undefined;
      const runs = await ctx.store.listRuns({
        ...(req.query.plugin_id ? { plugin_id: req.query.plugin_id } : {}),
        ...(status?.length ? { status } : {}),
        limit: req.query.limit,
      });
      return { runs, count: runs.length };
    },
  );

  app.get<{ Params: Static<typeof RunIdParams> }>(
    "/runs/:run_id",
    { schema: { tags: ["runs"], summary: "A run record", params: RunIdParams } },
    async (req) => requireRun(ctx, req.params.run_id),
  );

  app.post<{ Params: Static<typeof RunIdParams>; Body: Static<typeof CancelBody> }>(
    "/runs/:run_id/cancel",
    { schema: { tags: ["runs"], summary: "Cancel a run", params: RunIdParams, body: CancelBody } },
    async (req) => {
      await requireRun(ctx, req.params.run_id);
      return ctx.engine.cancel(req.params.run_id, req.body?.reason ?? "cancelled by request");
    },
  );

  app.get<{ Params: Static<typeof RunIdParams>; Querystring: Static<typeof ExportQuery> }>(
    "/runs/:run_id/export",
    {
      schema: {
        tags: ["runs"],
        summary: "A run's exports, oldest first",
        params: RunIdParams,
        querystring: ExportQuery,
      },
    },
    async (req) => {
      await requireRun(ctx, req.params.run_id);
      try {
        return await ctx.engine.listExports(req.params.run_id, req.query.after, req.query.limit);
      } catch (e) {
        if ((e as { code?: string }).code === "EXPORT_CURSOR_NOT_FOUND") {
          throw new ApiError(400, "EXPORT_CURSOR_NOT_FOUND", `'after' is not an export of run ${req.params.run_id}`, {
            hint: "Pass the next_after value of the previous page.",
          });
        }
        throw e;
      }
    },
  );

  app.get<{ Params: Static<typeof RunIdParams>; Querystring: { after?: number } }>(
    "/runs/:run_id/events",
    {
      schema: {
        tags: ["runs"],
        summary: "Server-sent events of a run (resumable with Last-Event-ID)",
        params: RunIdParams,
        querystring: { type: "object", properties: { after: { type: "integer", minimum: 0 } } },
      },
    },
    async (req, reply) => {
      const run = await requireRun(ctx, req.params.run_id);
      const header = req.headers["last-event-id"];
      const fromHeader = typeof header === "string" && /^\d+$/.test(header) ? Number(header) : undefined;
      let last = fromHeader ?? req.query.after ?? 0;

      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache, no-transform",
        connection: "keep-alive",
        "x-accel-buffering": "no",
      });
      let closed = false;
      const send = (ev: RunEvent) => {
        if (closed || ev.seq <= last) return;
        last = ev.seq;
        res.write(
          `id: ${ev.seq}\nevent: ${ev.type}\ndata: ${JSON.stringify({ ...(ev.data as object), run_id: ev.run_id, seq: ev.seq, time: ev.time })}\n\n`,
        );
        if (ev.type === "status" && TERMINAL_STATUSES.has((ev.data as { status: RunStatus }).status)) finish();
      };
      // Subscribe before replaying so nothing falls between the two; events are de-duplicated by seq.
      const buffered: RunEvent[] = [];
      let replaying = true;
      const unsubscribe = ctx.engine.subscribe(run.run_id, (ev) => (replaying ? buffered.push(ev) : send(ev)));
      const heartbeat = setInterval(() => res.write(": ping\n\n"), SSE_HEARTBEAT_MS);
      const finish = () => {
        if (closed) return;
        closed = true;
        clearInterval(heartbeat);
        unsubscribe();
        res.end();
      };
      req.raw.on("close", finish);
      res.write(": plugd run events\n\n");
      for (;;) {
        const page = await ctx.store.listRunEvents(run.run_id, last, SSE_REPLAY_PAGE);
        for (const ev of page) send(ev);
        if (page.length < SSE_REPLAY_PAGE || closed) break;
      }
      replaying = false;
      for (const ev of buffered) send(ev);
      // A run that finished before we subscribed and whose events were all seen: nothing more will come.
      const now = await ctx.engine.get(run.run_id);
      if (now && TERMINAL_STATUSES.has(now.status) && !closed) finish();
    },
  );
}
