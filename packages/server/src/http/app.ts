import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import websocket from "@fastify/websocket";
import { Ajv } from "ajv";
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from "fastify";
import type { Logger } from "pino";
import { makeGuard } from "../auth/guard.js";
import { Defaults } from "../config/defaults.js";
import { configRoutes } from "../config-api/routes.js";
import type { AppContext } from "./context.js";
import { errorHandler, notFoundHandler } from "./errors.js";
import { basicRoutes } from "./routes/basic.js";
import { logRoutes } from "./routes/logs.js";
import { messageRoutes } from "./routes/messages.js";
import { metricsRoutes } from "./routes/metrics.js";
import { pluginRoutes } from "./routes/plugins.js";
import { runRoutes } from "./routes/runs.js";
import { timerRoutes } from "./routes/timers.js";
import { uploadRoutes } from "./routes/uploads.js";
import { ErrorSchema } from "./schemas.js";
import { adminSocketRoute } from "./ws/admin-socket.js";
import { runSocketRoute } from "./ws/run-socket.js";

/** Builds the HTTP + WebSocket API; the OpenAPI document (GET /openapi.json, /docs) comes from the route schemas. */
export async function buildApp(ctx: AppContext, logger: Logger): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit: ctx.settings.bodyLimitBytes,
    // Requests are not logged one by one: plugd logs runs and plugin events instead.
    logController: new LogController({ disableRequestLogging: true }),
  });
  // Query strings and path params are text, so they are coerced ("10" → 10); JSON bodies are not: a number where
  // a string belongs is an error, not silently converted.
  const coercing = new Ajv({ coerceTypes: "array", useDefaults: true, allErrors: true, strict: false });
  const strict = new Ajv({ coerceTypes: false, useDefaults: true, allErrors: true, strict: false });
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === "body" ? strict : coercing).compile(schema));
  app.setErrorHandler(errorHandler);
  app.addHook(
    "onRequest",
    makeGuard({
      token: ctx.adminToken,
      authEnabled: ctx.settings.authEnabled,
      trustedHosts: ctx.settings.trustedHosts,
      trustedOrigins: ctx.settings.trustedOrigins,
      csrfToken: ctx.csrfToken,
    }),
  );
  app.setNotFoundHandler(notFoundHandler);
  app.addSchema(ErrorSchema);

  await app.register(swagger, {
    openapi: {
      info: {
        title: "plugd",
        version: ctx.version,
        description: "Plugins in any language behind one HTTP + WebSocket API.",
      },
      servers: [{ url: `http://${ctx.settings.host}:${ctx.settings.port}` }],
    },
  });
  await app.register(swaggerUi, { routePrefix: "/docs" });
  await app.register(websocket, { options: { maxPayload: Defaults.ws.maxFrameBytes } });

  basicRoutes(app, ctx);
  app.get(
    "/auth/csrf",
    { schema: { tags: ["auth"], summary: "The CSRF token browser clients send as X-CSRF-Token (admin)" } },
    async () => ({
      csrf_token: ctx.csrfToken,
    }),
  );
  pluginRoutes(app, ctx);
  runRoutes(app, ctx);
  messageRoutes(app, ctx);
  timerRoutes(app, ctx);
  logRoutes(app, ctx);
  metricsRoutes(app, ctx);
  configRoutes(app, ctx);
  await uploadRoutes(app, ctx);
  runSocketRoute(app, ctx);
  adminSocketRoute(app, ctx);
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
  return app;
}
