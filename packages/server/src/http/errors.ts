import { RpcError } from "@plugd/protocol";
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { HttpLikeError } from "../runs/engine.js";

/** Every error leaves the server as `{error: {code, message, details}}` with the status and an X-Error-Code header. */
export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

const STATUS_BY_CODE: Record<string, number> = {
  PLUGIN_NOT_FOUND: 404,
  ENTRY_NOT_FOUND: 404,
  RUN_NOT_FOUND: 404,
  INVALID_INPUT: 400,
  VALIDATION_ERROR: 400,
  PLUGIN_UNAVAILABLE: 503,
  BUSY: 429,
  TIMEOUT: 504,
  MESSAGE_TOO_LARGE: 413,
  PERMISSION_DENIED: 403,
  CIRCULAR_CALL: 409,
  VERSION_MISMATCH: 502,
  PLUGIN_CRASHED: 502,
  CANCELLED: 409,
};

export class ApiError extends HttpLikeError {}

export function notFound(code: string, message: string, details?: unknown): ApiError {
  return new ApiError(404, code, message, details);
}

export function toErrorResponse(err: unknown): { status: number; body: ErrorBody } {
  if (err instanceof HttpLikeError) {
    return {
      status: err.status,
      body: {
        error: { code: err.code, message: err.message, ...(err.details !== undefined ? { details: err.details } : {}) },
      },
    };
  }
  if (err instanceof RpcError) {
    const code = err.symbol;
    const { code: _c, ...details } = (err.data ?? {}) as Record<string, unknown>;
    return {
      status: STATUS_BY_CODE[code] ?? 500,
      body: { error: { code, message: err.message, ...(Object.keys(details).length ? { details } : {}) } },
    };
  }
  const fe = err as FastifyError & { validation?: unknown[]; validationContext?: string };
  if (fe?.validation) {
    return {
      status: 400,
      body: {
        error: {
          code: "VALIDATION_ERROR",
          message: `invalid ${fe.validationContext ?? "request"}: ${fe.message}`,
          details: { problems: fe.validation },
        },
      },
    };
  }
  if (fe?.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
    const code =
      fe.code === "FST_ERR_CTP_BODY_TOO_LARGE"
        ? "BODY_TOO_LARGE"
        : fe.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE"
          ? "UNSUPPORTED_MEDIA_TYPE"
          : fe.code?.startsWith("FST_ERR_CTP") || fe.message?.includes("JSON")
            ? "INVALID_JSON"
            : (fe.code ?? "BAD_REQUEST");
    if (code === "UNSUPPORTED_MEDIA_TYPE") {
      // Mostly `curl -d` without a header, which sends application/x-www-form-urlencoded.
      return {
        status: 415,
        body: {
          error: {
            code,
            message: "the body must be JSON with Content-Type: application/json",
            details: { hint: "With curl: add -H 'content-type: application/json'" },
          },
        },
      };
    }
    return { status: fe.statusCode, body: { error: { code, message: fe.message } } };
  }
  return {
    status: 500,
    body: {
      error: {
        code: "INTERNAL_ERROR",
        message: (err as Error)?.message ?? "internal error",
        details: { hint: "This is a bug in plugd; the server log has the stack." },
      },
    },
  };
}

export function errorHandler(err: unknown, req: FastifyRequest, reply: FastifyReply): void {
  const { status, body } = toErrorResponse(err);
  if (status >= 500) req.log.error({ err }, body.error.message);
  reply.code(status).header("X-Error-Code", body.error.code).send(body);
}

export function notFoundHandler(req: FastifyRequest, reply: FastifyReply): void {
  reply
    .code(404)
    .header("X-Error-Code", "ROUTE_NOT_FOUND")
    .send({
      error: {
        code: "ROUTE_NOT_FOUND",
        message: `no route ${req.method} ${req.url.split("?")[0]}`,
        details: { hint: "See GET /docs for the API." },
      },
    });
}
