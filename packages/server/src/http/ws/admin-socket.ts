import type { FastifyInstance } from "fastify";
import type { WebSocket } from "ws";
import { authenticateSocket } from "../../auth/guard.js";
import { type BusFilter, type BusQuery, STORE_NAMES, type StoreName } from "../../bus/types.js";
import { Defaults } from "../../config/defaults.js";
import type { RunStatus } from "../../store/types.js";
import type { AppContext } from "../context.js";
import { toErrorResponse } from "../errors.js";
import { toFrame } from "./run-socket.js";

/**
 * `WS /ws/admin` (reference §2.4): every run's `bus.change` events (optionally for one plugin), and requests to list,
 * read, create and cancel runs and stop plugins. Authenticated by the admin token, as a header or a first frame
 * `{"type":"auth","token"}`.
 */
function isStore(x: unknown): x is StoreName {
  return typeof x === "string" && (STORE_NAMES as readonly string[]).includes(x);
}

export function adminSocketRoute(app: FastifyInstance, ctx: AppContext, limits = Defaults.ws): void {
  app.get("/ws/admin", { websocket: true, schema: { hide: true } }, async (socket: WebSocket, req) => {
    if (!(await authenticateSocket(socket, req, ctx.adminToken, ctx.settings.authEnabled, limits.authTimeoutMs)))
      return;
    let pluginFilter: string | null = null;
    let queued = 0;
    let lastPong = Date.now();
    const send = (frame: unknown) => {
      if (socket.readyState !== socket.OPEN) return;
      if (queued >= limits.maxQueuedFrames * 2) {
        socket.close(1013, "slow client");
        return;
      }
      queued++;
      socket.send(JSON.stringify(frame), () => {
        queued--;
      });
    };
    send({ type: "event", event: "session.ready", data: { role: "admin" } });
    const unsubscribe = ctx.engine.subscribeAll((ev, run) => {
      if (pluginFilter === null || run.plugin_id === pluginFilter) send(toFrame(ev, run));
    });
    const ping = setInterval(() => {
      if (Date.now() - lastPong > limits.pongTimeoutMs) socket.close(1011, "heartbeat timeout");
      else send({ type: "ping" });
    }, limits.pingIntervalMs);
    // Bus records of the stores a client asks for (a plugd extension of §2.4): `subscribe` with `stores`.
    let unsubscribeBus = () => {};
    socket.on("close", () => {
      clearInterval(ping);
      unsubscribe();
      unsubscribeBus();
    });

    socket.on("message", async (data) => {
      let msg: {
        type?: string;
        id?: unknown;
        method?: string;
        params?: Record<string, any>;
        plugin_id?: string | null;
        stores?: unknown;
        filter?: Record<string, unknown>;
      };
      try {
        msg = JSON.parse(data.toString());
      } catch {
        send({ type: "error", error: "frame is not JSON" });
        return;
      }
      if (msg.type === "pong") {
        lastPong = Date.now();
        return;
      }
      if (msg.type === "subscribe") {
        pluginFilter = typeof msg.plugin_id === "string" ? msg.plugin_id : null;
        const stores = Array.isArray(msg.stores) ? msg.stores.filter((x): x is StoreName => isStore(x)) : [];
        if (Array.isArray(msg.stores) && stores.length !== msg.stores.length) {
          send({
            type: "error",
            error: `unknown store in stores; known: ${STORE_NAMES.join(", ")}`,
            code: "BAD_SUBSCRIPTION",
          });
          return;
        }
        unsubscribeBus();
        unsubscribeBus = () => {};
        if (stores.length > 0) {
          try {
            const filter = { ...(msg.filter ?? {}), ...(pluginFilter ? { plugin_id: pluginFilter } : {}) };
            ctx.bus.compileFilter(filter as BusFilter); // refuses bad regexes / fields before subscribing
            const offs = stores.map((store) =>
              ctx.bus.subscribe({ ...(filter as BusFilter), store }, (r) =>
                send({ type: "event", event: "bus.record", data: r }),
              ),
            );
            unsubscribeBus = () => {
              for (const off of offs) off();
            };
          } catch (err) {
            send({
              type: "error",
              error: (err as Error).message,
              code: (err as { code?: string }).code ?? "BAD_FILTER",
            });
            return;
          }
        }
        send({ type: "event", event: "subscribed", data: { plugin_id: pluginFilter, stores } });
        return;
      }
      if (msg.type !== "req") return;
      const p = msg.params ?? {};
      try {
        let result: unknown;
        switch (msg.method) {
          case "runs.list":
            result = await ctx.store.listRuns({
              ...(typeof p.plugin_id === "string" ? { plugin_id: p.plugin_id } : {}),
              ...(Array.isArray(p.status) ? { status: p.status as RunStatus[] } : {}),
              limit: Math.min(Number(p.limit ?? 100) || 100, 1000),
            });
            break;
          case "run.get":
            result = (await ctx.engine.get(String(p.run_id))) ?? null;
            break;
          case "export.list":
            result = await ctx.engine.listExports(
              String(p.run_id),
              typeof p.after === "string" ? p.after : undefined,
              Math.min(Math.max(Number(p.limit ?? 200) || 200, 1), 500),
            );
            break;
          case "run.create": {
            const created = await ctx.engine.create({
              plugin_id: String(p.plugin_id),
              entry_id: String(p.entry_id),
              args: p.args ?? {},
            });
            result = created.run;
            break;
          }
          case "run.cancel":
            result =
              (await ctx.engine.cancel(
                String(p.run_id),
                typeof p.reason === "string" ? p.reason : "cancelled from /ws/admin",
              )) ?? null;
            break;
          case "plugin.stop":
            result = await ctx.host.stop(String(p.plugin_id));
            break;
          case "bus.query":
            result = { items: ctx.bus.query({ ...(p as BusQuery), store: isStore(p.store) ? p.store : "messages" }) };
            break;
          default:
            send({ type: "resp", id: msg.id, ok: false, error: "unknown method" });
            return;
        }
        send({ type: "resp", id: msg.id, ok: true, result });
      } catch (e) {
        const { body } = toErrorResponse(e);
        send({ type: "resp", id: msg.id, ok: false, error: body.error.message, code: body.error.code });
      }
    });
  });
}
