import type { FastifyInstance } from "fastify";
import type { WebSocket } from "ws";
import { Defaults } from "../../config/defaults.js";
import type { RunTokenPayload } from "../../runs/tokens.js";
import type { RunEvent, RunRecord } from "../../store/types.js";
import type { AppContext } from "../context.js";

/** Close codes of the reference §2.3. */
const POLICY = 1008;
const INTERNAL = 1011;
const SLOW = 1013;

/**
 * `WS /ws/run`: one run's live events for whoever holds its run token — given as `?run_token=` (seed) or as a
 * first frame `{"type":"auth","token"}` within 5 s (reference). Then `session.ready`, `bus.change` events,
 * `req`/`resp` for `run.get` and `export.list`, and a ping/pong heartbeat.
 */
export function runSocketRoute(app: FastifyInstance, ctx: AppContext, limits = Defaults.ws): void {
  app.get<{ Querystring: { run_token?: string } }>(
    "/ws/run",
    {
      websocket: true,
      schema: { tags: ["runs"], summary: "WebSocket stream of one run (auth: run token)", hide: true },
    },
    (socket: WebSocket, req) => {
      let authed = false;
      let unsubscribe: (() => void) | undefined;
      let queued = 0;
      let lastPong = Date.now();
      const timers: NodeJS.Timeout[] = [];

      const send = (frame: unknown) => {
        if (socket.readyState !== socket.OPEN) return;
        if (queued >= limits.maxQueuedFrames) {
          socket.close(SLOW, "slow client");
          return;
        }
        queued++;
        socket.send(JSON.stringify(frame), () => {
          queued--;
        });
      };
      const cleanup = () => {
        for (const t of timers) clearTimeout(t);
        unsubscribe?.();
      };
      socket.on("close", cleanup);
      socket.on("error", cleanup);

      const authenticate = async (token: unknown) => {
        let payload: RunTokenPayload;
        try {
          payload = ctx.tokens.verify(String(token ?? ""));
        } catch (e) {
          socket.close(POLICY, `invalid token: ${(e as Error).message}`.slice(0, 120));
          return;
        }
        const run = await ctx.engine.get(payload.run_id);
        if (!run) {
          socket.close(POLICY, "run not found");
          return;
        }
        authed = true;
        send({
          type: "event",
          event: "session.ready",
          data: { run_id: run.run_id, perm: payload.perm, exp: payload.exp },
        });
        unsubscribe = ctx.engine.subscribe(run.run_id, (ev, r) => send(toFrame(ev, r)));
        const ping = setInterval(() => {
          if (Date.now() - lastPong > limits.pongTimeoutMs) {
            socket.close(INTERNAL, "heartbeat timeout");
            return;
          }
          send({ type: "ping" });
        }, limits.pingIntervalMs);
        timers.push(ping);
        socket.on("message", (data) => void onRequest(run.run_id, data.toString()));
      };

      const onRequest = async (runId: string, text: string) => {
        let msg: { type?: string; id?: unknown; method?: string; params?: Record<string, unknown> };
        try {
          msg = JSON.parse(text);
        } catch {
          send({ type: "error", error: "frame is not JSON" });
          return;
        }
        if (msg.type === "pong") {
          lastPong = Date.now();
          return;
        }
        if (msg.type === "ping") {
          send({ type: "pong" });
          return;
        }
        if (msg.type !== "req") return;
        const id = msg.id;
        try {
          if (msg.method === "run.get") {
            send({ type: "resp", id, ok: true, result: await ctx.engine.get(runId) });
          } else if (msg.method === "export.list") {
            const limit = Math.min(Math.max(Number(msg.params?.limit ?? 200) || 200, 1), 500);
            const after = typeof msg.params?.after === "string" ? msg.params.after : undefined;
            send({ type: "resp", id, ok: true, result: await ctx.engine.listExports(runId, after, limit) });
          } else {
            send({ type: "resp", id, ok: false, error: "unknown method" });
          }
        } catch (e) {
          send({ type: "resp", id, ok: false, error: (e as Error).message });
        }
      };

      if (req.query.run_token) {
        void authenticate(req.query.run_token);
        return;
      }
      timers.push(
        setTimeout(() => {
          if (!authed) socket.close(POLICY, "auth required");
        }, limits.authTimeoutMs),
      );
      socket.once("message", (data, isBinary) => {
        const raw = data as Buffer;
        if (isBinary || raw.length > limits.maxAuthFrameBytes) {
          socket.close(POLICY, "invalid auth");
          return;
        }
        let msg: { type?: string; token?: unknown };
        try {
          msg = JSON.parse(raw.toString());
        } catch {
          socket.close(POLICY, "invalid auth");
          return;
        }
        if (msg?.type !== "auth") {
          socket.close(POLICY, "auth required");
          return;
        }
        void authenticate(msg.token);
      });
    },
  );
}

/** A run event as the reference's `bus.change` frame. */
export function toFrame(ev: RunEvent, run: RunRecord) {
  if (ev.type === "export") {
    const d = ev.data as { export_item_id: string; export_type: string };
    return {
      type: "event",
      event: "bus.change",
      data: {
        bus: "export",
        op: "add",
        payload: {
          source: "export",
          kind: "export",
          type: "add",
          id: d.export_item_id,
          run_id: run.run_id,
          export_item_id: d.export_item_id,
          export_type: d.export_type,
          created_at: ev.time,
          rev: run.rev,
          plugin_id: run.plugin_id,
        },
      },
    };
  }
  if (ev.type === "output" || ev.type === "log") {
    return {
      type: "event",
      event: `run.${ev.type}`,
      data: { run_id: run.run_id, seq: ev.seq, ...(ev.data as object) },
    };
  }
  return {
    type: "event",
    event: "bus.change",
    data: {
      bus: "runs",
      op: ev.seq === 1 ? "add" : "change",
      payload: {
        source: "runs",
        kind: "runs",
        type: ev.seq === 1 ? "add" : "change",
        priority: 0,
        timestamp: ev.time,
        id: run.run_id,
        run_id: run.run_id,
        status: run.status,
        progress: run.progress,
        stage: run.stage,
        message: run.message,
        step: run.step,
        step_total: run.step_total,
        eta_seconds: run.eta_seconds,
        metrics: run.metrics,
        updated_at: run.updated_at,
        rev: run.rev,
        plugin_id: run.plugin_id,
        entry_id: run.entry_id,
        ...(run.task_id ? { task_id: run.task_id } : {}),
        ...(run.error ? { error: run.error } : {}),
      },
    },
  };
}
