import { randomBytes } from "node:crypto";
import net from "node:net";
import type { FastifyReply, FastifyRequest } from "fastify";
import { ApiError } from "../http/errors.js";
import { type AdminToken, tokenMatches } from "./admin-token.js";

/** The routes that need the admin token (the seed's list); everything else stays open, as in the seed. */
const ADMIN_ROUTES: Array<[method: string | null, pattern: RegExp]> = [
  ["GET", /^\/server\/info$/],
  ["POST", /^\/plugin\/:id\/(start|stop|reload)$/],
  [null, /^\/plugin\/metrics(\/.*)?$/],
  [null, /^\/metrics$/],
  [null, /^\/plugin\/:id\/config(\/.*)?$/],
  [null, /^\/plugin\/:id\/logs(\/.*)?$/],
  [null, /^\/ws\/logs\/:id$/],
  [null, /^\/ws\/admin$/],
  [null, /^\/auth\/csrf$/],
];

export function isAdminRoute(method: string, routeUrl: string | undefined): boolean {
  if (!routeUrl) return false;
  return ADMIN_ROUTES.some(([m, re]) => (m === null || m === method) && re.test(routeUrl));
}

export interface GuardOptions {
  token: AdminToken;
  /** false only when started with --no-auth on loopback */
  authEnabled: boolean;
  trustedHosts: string[];
  trustedOrigins: string[];
  /** Expected in X-CSRF-Token on state-changing browser requests. */
  csrfToken: string;
}

export function newCsrfToken(): string {
  return randomBytes(18).toString("base64url");
}

const LOOPBACK_NAMES = new Set(["localhost", "127.0.0.1", "::1", "[::1]"]);

function hostname(hostHeader: string): string {
  if (hostHeader.startsWith("[")) return hostHeader.slice(0, hostHeader.indexOf("]") + 1);
  return hostHeader.replace(/:\d+$/, "");
}

function isLoopbackOrIp(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "");
  return LOOPBACK_NAMES.has(host) || LOOPBACK_NAMES.has(h) || net.isIP(h) !== 0;
}

function isLoopbackOrigin(origin: string): boolean {
  try {
    const u = new URL(origin);
    return LOOPBACK_NAMES.has(u.hostname) || LOOPBACK_NAMES.has(`[${u.hostname}]`) || u.hostname.startsWith("127.");
  } catch {
    return false;
  }
}

/**
 * One onRequest hook for every route: the Host/Origin guard (DNS rebinding and cross-site requests), the CSRF check
 * for state-changing browser requests, and the admin token on admin routes. 401 = no token, 403 = wrong token or a
 * refused origin, 503 = no token configured yet.
 */
export function makeGuard(opts: GuardOptions) {
  return async (req: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    const host = req.headers.host;
    if (host && !isLoopbackOrIp(hostname(host)) && !opts.trustedHosts.includes(hostname(host))) {
      throw new ApiError(403, "HOST_NOT_ALLOWED", `Host '${host}' is not allowed`, {
        hint: "Use a loopback address, or add the host to PLUGD_TRUSTED_HOSTS.",
      });
    }
    const origin = req.headers.origin;
    if (origin && origin !== "null" && !isLoopbackOrigin(origin) && !opts.trustedOrigins.includes(origin)) {
      throw new ApiError(403, "ORIGIN_NOT_ALLOWED", `Origin '${origin}' is not allowed`, {
        hint: "Add it to PLUGD_TRUSTED_ORIGINS if this web app should reach plugd.",
      });
    }
    if (origin === "null") throw new ApiError(403, "ORIGIN_NOT_ALLOWED", "opaque origins ('null') are not allowed");

    const changesState = req.method !== "GET" && req.method !== "HEAD" && req.method !== "OPTIONS";
    const fromBrowser =
      origin !== undefined || req.headers["sec-fetch-site"] !== undefined || req.headers.referer !== undefined;
    if (changesState && fromBrowser) {
      const given = req.headers["x-csrf-token"];
      if (typeof given !== "string" || !tokenMatches(given, opts.csrfToken)) {
        throw new ApiError(
          403,
          "CSRF_VALIDATION_FAILED",
          "a browser request that changes state needs a valid X-CSRF-Token header",
          {
            hint: "Get the token from GET /auth/csrf (admin) and send it as X-CSRF-Token.",
          },
        );
      }
    }

    if (!opts.authEnabled || !isAdminRoute(req.method, req.routeOptions.url)) return;
    // WebSocket admin routes authenticate with their first frame (browsers cannot set headers on a WebSocket).
    if (req.headers.upgrade?.toLowerCase() === "websocket" && !req.headers.authorization) return;
    const expected = opts.token.current();
    if (!expected) throw new ApiError(503, "AUTH_NOT_READY", "the admin token is not initialised yet");
    const header = req.headers.authorization;
    if (!header) {
      throw new ApiError(401, "AUTH_REQUIRED", "this route needs the admin token: Authorization: Bearer <token>", {
        hint: "The token is in <data dir>/admin.token (printed at first start); rotate it with 'plugd token rotate'.",
      });
    }
    const m = /^Bearer\s+(.+)$/i.exec(header);
    if (!m || !tokenMatches(m[1]!.trim(), expected))
      throw new ApiError(403, "AUTH_INVALID", "the admin token is wrong");
  };
}

/**
 * For WebSocket admin endpoints: accepts the token from the Authorization header (checked by the guard already)
 * or from a first frame `{"type":"auth","token"}` within `timeoutMs`. Resolves true when authenticated; closes the
 * socket with 1008 otherwise.
 */
export function authenticateSocket(
  socket: { once(ev: "message", fn: (data: Buffer) => void): unknown; close(code: number, reason: string): void },
  req: FastifyRequest,
  token: AdminToken,
  authEnabled: boolean,
  timeoutMs = 5_000,
): Promise<boolean> {
  if (!authEnabled || req.headers.authorization) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.close(1008, "auth required");
      resolve(false);
    }, timeoutMs);
    socket.once("message", (data: Buffer) => {
      clearTimeout(timer);
      let msg: { type?: string; token?: unknown } | undefined;
      try {
        msg = JSON.parse(data.toString());
      } catch {
        msg = undefined;
      }
      const expected = token.current();
      if (!expected) {
        socket.close(1011, "auth not initialised");
        resolve(false);
      } else if (msg?.type === "auth" && typeof msg.token === "string" && tokenMatches(msg.token, expected)) {
        resolve(true);
      } else {
        socket.close(1008, "forbidden");
        resolve(false);
      }
    });
  });
}
