import fs from "node:fs";
import path from "node:path";

/** A small client of the plugd HTTP API for the CLI (Node's fetch). */

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

export const ExitCodes = {
  OK: 0,
  RUN_FAILED: 1,
  USAGE: 2,
  UNREACHABLE: 3,
  NOT_FOUND: 4,
  CANCELED: 130,
} as const;

export function baseUrl(flag?: string): string {
  return (flag ?? process.env.PLUGD_URL ?? "http://127.0.0.1:48912").replace(/\/+$/, "");
}

/**
 * The admin token for admin routes: PLUGD_TOKEN, else the token file of the data dir (PLUGD_DATA_DIR or ./.plugd),
 * which works when the CLI runs beside the server it talks to.
 */
export function adminToken(): string | undefined {
  if (process.env.PLUGD_TOKEN) return process.env.PLUGD_TOKEN;
  try {
    return (
      fs.readFileSync(path.join(process.env.PLUGD_DATA_DIR ?? ".plugd", "admin.token"), "utf8").trim() || undefined
    );
  } catch {
    return undefined;
  }
}

export async function api<T>(url: string, path: string, init: RequestInit = {}): Promise<T> {
  let res: Response;
  const token = adminToken();
  try {
    res = await fetch(`${url}${path}`, {
      ...init,
      headers: {
        ...(init.body ? { "content-type": "application/json" } : {}),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...init.headers,
      },
    });
  } catch (e) {
    throw new CliError(
      `cannot reach plugd at ${url} (${(e as Error & { cause?: Error }).cause?.message ?? (e as Error).message}). Start it with 'plugd serve' or set --url / PLUGD_URL.`,
      ExitCodes.UNREACHABLE,
    );
  }
  const text = await res.text();
  const body = text ? JSON.parse(text) : null;
  if (!res.ok) {
    const err = body?.error ?? { code: `HTTP_${res.status}`, message: text };
    const hint = err.details?.hint ? `\n  hint: ${err.details.hint}` : "";
    const available = err.details?.available ? `\n  available: ${err.details.available.join(", ")}` : "";
    throw new CliError(
      `${err.code}: ${err.message}${available}${hint}`,
      res.status === 404 ? ExitCodes.NOT_FOUND : ExitCodes.RUN_FAILED,
    );
  }
  return body as T;
}

export interface SseEvent {
  id?: string;
  event: string;
  data: any;
}

/** Reads a server-sent-events stream, yielding parsed events until the server ends it or `signal` aborts. */
export async function* sse(url: string, signal?: AbortSignal): AsyncGenerator<SseEvent> {
  const res = await fetch(url, { headers: { accept: "text/event-stream" }, ...(signal ? { signal } : {}) });
  if (!res.ok || !res.body) throw new CliError(`event stream failed: HTTP ${res.status}`, ExitCodes.RUN_FAILED);
  const decoder = new TextDecoder();
  let buf = "";
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true });
    for (let i = buf.indexOf("\n\n"); i >= 0; i = buf.indexOf("\n\n")) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const ev: SseEvent = { event: "message", data: "" };
      const data: string[] = [];
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue;
        const [k, ...rest] = line.split(":");
        const v = rest.join(":").replace(/^ /, "");
        if (k === "id") ev.id = v;
        else if (k === "event") ev.event = v;
        else if (k === "data") data.push(v);
      }
      if (data.length === 0) continue;
      try {
        ev.data = JSON.parse(data.join("\n"));
      } catch {
        ev.data = data.join("\n");
      }
      yield ev;
    }
  }
}
