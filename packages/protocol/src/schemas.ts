/**
 * JSON Schemas (TypeBox) of what crosses the wire from a plugin, validated once at the host's edge. Kept out of
 * the package's main entry so a plugin built on the SDK does not pay for loading TypeBox at start-up.
 */
import { type Static, Type } from "@sinclair/typebox";

const JsonObject = Type.Record(Type.String(), Type.Unknown());

export const EntryInfoSchema = Type.Object({
  id: Type.String({ minLength: 1, pattern: "^[A-Za-z0-9_.:-]+$" }),
  name: Type.Optional(Type.String()),
  description: Type.Optional(Type.String()),
  inputSchema: Type.Optional(JsonObject),
  outputSchema: Type.Optional(JsonObject),
  timeoutMs: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
  streaming: Type.Optional(Type.Boolean()),
  kind: Type.Optional(Type.Union([Type.Literal("entry"), Type.Literal("timer")])),
  intervalMs: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
  metadata: Type.Optional(JsonObject),
});

export const RouteInfoSchema = Type.Object({
  path: Type.String(),
  method: Type.String(),
  description: Type.Optional(Type.String()),
  auth: Type.Optional(Type.Boolean()),
  schema: Type.Optional(JsonObject),
});

export const HandshakeResultSchema = Type.Object({
  protocolVersion: Type.String(),
  name: Type.Optional(Type.String()),
  version: Type.Optional(Type.String()),
  sdk: Type.Optional(Type.Object({ name: Type.String(), version: Type.String() })),
  entries: Type.Array(EntryInfoSchema),
  events: Type.Optional(Type.Array(Type.String())),
  routes: Type.Optional(Type.Array(RouteInfoSchema)),
  capabilities: Type.Optional(Type.Array(Type.String())),
  reverseRpc: Type.Optional(Type.Boolean()),
});

export const ProgressParamsSchema = Type.Object({
  runId: Type.String(),
  progress: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  stage: Type.Optional(Type.String()),
  message: Type.Optional(Type.String()),
  step: Type.Optional(Type.Number()),
  stepTotal: Type.Optional(Type.Number()),
  eta: Type.Optional(Type.Number()),
  metrics: Type.Optional(Type.Record(Type.String(), Type.Number())),
});

export const OutputParamsSchema = Type.Object({
  runId: Type.String(),
  chunk: Type.String(),
  stream: Type.Optional(Type.String()),
});

export const ExportParamsSchema = Type.Object({
  runId: Type.String(),
  type: Type.Union(["text", "json", "url", "binary", "binary_url"].map((t) => Type.Literal(t))),
  label: Type.Optional(Type.String()),
  description: Type.Optional(Type.String()),
  mime: Type.Optional(Type.String()),
  data: Type.Optional(Type.Unknown()),
  url: Type.Optional(Type.String()),
  metadata: Type.Optional(JsonObject),
});

export const LogParamsSchema = Type.Object({
  level: Type.Union(["trace", "debug", "info", "warn", "error", "fatal"].map((t) => Type.Literal(t))),
  msg: Type.String(),
  runId: Type.Optional(Type.String()),
  fields: Type.Optional(JsonObject),
});

export const CallParamsSchema = Type.Object({
  plugin: Type.String(),
  entry: Type.String(),
  input: Type.Unknown(),
  timeoutMs: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
  parentRunId: Type.Optional(Type.String()),
});

export type HandshakeResultWire = Static<typeof HandshakeResultSchema>;
