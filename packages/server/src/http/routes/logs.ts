import { type Static, Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import type { WebSocket } from "ws";
import { authenticateSocket } from "../../auth/guard.js";
import { Defaults } from "../../config/defaults.js";
import { parseIsoTime } from "../../logs/iso-time.js";
import { LEVEL_NAMES, type LogEntry, normalizeLevel } from "../../logs/log-entry.js";
import { isValidLogId, liveFileName, SERVER_LOG_ID } from "../../logs/log-files.js";
import { parseSearch } from "../../logs/regex-search.js";
import type { AppContext } from "../context.js";
import { ApiError, toErrorResponse } from "../errors.js";

const L = Defaults.logs;

const LogIdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) });

const LogsQuery = Type.Object({
  lines: Type.Integer({ minimum: 1, maximum: L.queryMaxLines, default: L.queryDefaultLines }),
  level: Type.Optional(Type.String({ description: `one of ${LEVEL_NAMES.join(", ")} (case-insensitive)` })),
  start_time: Type.Optional(Type.String({ description: "ISO 8601; no offset means UTC" })),
  end_time: Type.Optional(Type.String({ description: "ISO 8601; no offset means UTC" })),
  search: Type.Optional(
    Type.String({
      maxLength: 1000,
      description: "a substring (case-insensitive), or a regex written /pattern/flags (flags: i m s u v)",
    }),
  ),
});

/** WS /ws/logs/:id?lines=&level= (plugd's addition: the reference always sent 100 lines of every level). */
interface TailQuery {
  lines?: number;
  level?: string;
}

function levelParam(level: string | undefined): string | undefined {
  if (level === undefined || level === "") return undefined;
  const name = normalizeLevel(level);
  if (!name) {
    throw new ApiError(400, "VALIDATION_ERROR", `unknown level '${level}'`, { allowed: LEVEL_NAMES });
  }
  return name;
}

/** A log id the caller may read: `_server`, a loaded plugin, or a plugin gone since whose log file remains. */
function requireLog(ctx: AppContext, id: string): void {
  if (!isValidLogId(id)) {
    throw new ApiError(400, "INVALID_PLUGIN_ID", `invalid plugin id '${id}'`, {
      hint: "Plugin ids are letters, digits, '_' and '-'; '_server' names the server's own log.",
    });
  }
  if (id === SERVER_LOG_ID || ctx.host.get(id) || ctx.logs.exists(id)) return;
  throw new ApiError(404, "PLUGIN_NOT_FOUND", `no plugin '${id}' is loaded and it has no logs`, {
    available: [SERVER_LOG_ID, ...ctx.host.list().map((p) => p.id)],
  });
}

/** GET /plugin/:id/logs, GET /plugin/:id/logs/files, WS /ws/logs/:id (reference §1.9). */
export function logRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get<{ Params: Static<typeof LogIdParams>; Querystring: Static<typeof LogsQuery> }>(
    "/plugin/:id/logs",
    {
      schema: {
        tags: ["logs"],
        summary: "A plugin's (or _server's) log lines, newest last, filtered by level, time and search",
        params: LogIdParams,
        querystring: LogsQuery,
      },
    },
    async (req) => {
      const { id } = req.params;
      requireLog(ctx, id);
      const q = req.query;
      const level = levelParam(q.level);
      const startMs = parseIsoTime(q.start_time, "start_time");
      const endMs = parseIsoTime(q.end_time, "end_time");
      const search = q.search ? parseSearch(q.search, L.regexMaxLength) : undefined;
      const r = await ctx.logs.query(id, {
        lines: q.lines,
        ...(level ? { level } : {}),
        ...(startMs !== undefined ? { startMs } : {}),
        ...(endMs !== undefined ? { endMs } : {}),
        ...(search ? { search } : {}),
      });
      return {
        plugin_id: id,
        logs: r.logs,
        total_lines: r.total_lines,
        returned_lines: r.returned_lines,
        log_file: r.log_file ?? liveFileName(id),
      };
    },
  );

  app.get<{ Params: Static<typeof LogIdParams> }>(
    "/plugin/:id/logs/files",
    {
      schema: { tags: ["logs"], summary: "A log's files (live and rotated), newest first", params: LogIdParams },
    },
    async (req) => {
      const { id } = req.params;
      requireLog(ctx, id);
      const files = await ctx.logs.files(id);
      return { plugin_id: id, log_files: files, count: files.length, time: new Date().toISOString() };
    },
  );

  app.get<{ Params: Static<typeof LogIdParams>; Querystring: Record<string, string | undefined> }>(
    "/ws/logs/:id",
    { websocket: true, schema: { tags: ["logs"], summary: "Live log tail (WebSocket)", hide: true } },
    async (socket: WebSocket, req) => {
      // The guard let the upgrade through without a header; the token may come as the first frame.
      if (!(await authenticateSocket(socket, req, ctx.adminToken, ctx.settings.authEnabled, Defaults.ws.authTimeoutMs)))
        return;
      const id = req.params.id;
      let lines: number = L.tailInitialLines;
      let level: string | undefined;
      try {
        requireLog(ctx, id);
        const parsed = parseTailQuery(req.query);
        lines = parsed.lines ?? lines;
        level = levelParam(parsed.level);
      } catch (e) {
        const { body } = toErrorResponse(e);
        socket.send(JSON.stringify({ type: "error", error: body.error }));
        socket.close(1008, body.error.message.slice(0, 120));
        return;
      }
      tail(socket, ctx, id, lines, level);
    },
  );
}

function parseTailQuery(q: Record<string, string | undefined>): TailQuery {
  const out: TailQuery = {};
  if (q.lines !== undefined) {
    const n = Number(q.lines);
    if (!Number.isInteger(n) || n < 1 || n > L.queryMaxLines)
      throw new ApiError(400, "VALIDATION_ERROR", `lines must be an integer from 1 to ${L.queryMaxLines}`);
    out.lines = n;
  }
  if (q.level !== undefined) out.level = q.level;
  return out;
}

/**
 * The tail itself: `initial` (the last lines), then `append` frames as lines are written — pushed from the log
 * writer, batched per event-loop turn so a burst is one frame — and a `ping` after an idle stretch so proxies keep
 * the connection. Frames from the client are ignored (as in the reference).
 */
function tail(socket: WebSocket, ctx: AppContext, id: string, lines: number, level: string | undefined): void {
  if (socket.readyState !== socket.OPEN) return;
  let pending: LogEntry[] = [];
  let flushScheduled = false;
  let idle: NodeJS.Timeout | undefined;

  const send = (frame: unknown) => {
    if (socket.readyState !== socket.OPEN) return;
    if (socket.bufferedAmount > L.wsMaxBufferedBytes) {
      socket.close(1013, "slow client");
      return;
    }
    socket.send(JSON.stringify(frame));
    armIdle();
  };
  const armIdle = () => {
    if (idle) clearTimeout(idle);
    idle = setTimeout(() => send({ type: "ping" }), L.wsIdlePingMs);
  };
  const flush = () => {
    flushScheduled = false;
    if (pending.length === 0) return;
    const logs = pending;
    pending = [];
    send({ type: "append", logs });
  };

  let initial: ReturnType<AppContext["logs"]["tail"]>;
  try {
    initial = ctx.logs.tail(id, lines, level, L.queryMaxLines);
  } catch (e) {
    socket.close(1011, `cannot read the log: ${(e as Error).message}`.slice(0, 120));
    return;
  }
  // Same tick as the read above: the tail and the subscription meet exactly (writes are synchronous).
  const unsubscribe = ctx.logs.subscribe(id, (entry) => {
    if (level !== undefined && entry.level !== level) return;
    pending.push(entry);
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flush);
    }
  });
  const cleanup = () => {
    unsubscribe();
    if (idle) clearTimeout(idle);
    pending = [];
  };
  socket.on("close", cleanup);
  socket.on("error", cleanup);
  send({
    type: "initial",
    logs: initial.logs,
    log_file: initial.log_file ?? liveFileName(id),
    total_lines: initial.total_lines,
  });
}
