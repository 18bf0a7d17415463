import WebSocket from "ws";
import type { LogEntry } from "./log-entry.js";

export interface FollowOptions {
  /** The server's base URL (http or https). */
  url: string;
  id: string;
  lines: number;
  level?: string;
  /** Admin token, sent as the Authorization header of the upgrade. */
  token?: string;
  onEntries(entries: LogEntry[]): void;
  signal?: AbortSignal;
}

export interface FollowEnd {
  code: number;
  reason: string;
  /** The server's `{"type":"error"}` frame, when it refused the tail. */
  error?: { code: string; message: string };
}

/** `plugd logs -f`: a client of WS /ws/logs/:id. Resolves when the socket closes (server, network, or `signal`). */
export function followLogs(opts: FollowOptions): Promise<FollowEnd> {
  const q = new URLSearchParams({ lines: String(opts.lines), ...(opts.level ? { level: opts.level } : {}) });
  const wsUrl = `${opts.url.replace(/^http/, "ws")}/ws/logs/${encodeURIComponent(opts.id)}?${q}`;
  const ws = new WebSocket(wsUrl, { headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {} });
  let error: FollowEnd["error"];
  return new Promise((resolve, reject) => {
    const onAbort = () => ws.close(1000, "client done");
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    ws.on("message", (data) => {
      let frame: { type?: string; logs?: LogEntry[]; error?: FollowEnd["error"] };
      try {
        frame = JSON.parse(data.toString());
      } catch {
        return;
      }
      if ((frame.type === "initial" || frame.type === "append") && frame.logs) opts.onEntries(frame.logs);
      else if (frame.type === "error") error = frame.error;
    });
    // An HTTP answer instead of an upgrade (401, 403, 404…) or a refused connection.
    ws.on("unexpected-response", (_req, res) => {
      reject(new Error(`the server refused the log stream: HTTP ${res.statusCode}`));
      ws.terminate();
    });
    ws.on("error", (err) => reject(err));
    ws.on("close", (code, reason) => {
      opts.signal?.removeEventListener("abort", onAbort);
      resolve({ code, reason: reason.toString(), ...(error ? { error } : {}) });
    });
  });
}

/** One entry as a terminal line: time, level, optional run id, message. */
export function formatLogEntry(e: LogEntry): string {
  const run = e.run_id ? ` [run ${e.run_id.slice(0, 8)}]` : "";
  return `${e.timestamp || "-".repeat(24)} ${e.level.padEnd(7)}${run} ${e.message}`;
}
