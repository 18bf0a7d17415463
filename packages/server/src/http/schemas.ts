import { type Static, Type } from "@sinclair/typebox";

/** HTTP bodies and queries, validated by fastify (ajv) at the edge and published in the OpenAPI document. */

export const ErrorSchema = Type.Object(
  {
    error: Type.Object({ code: Type.String(), message: Type.String(), details: Type.Optional(Type.Unknown()) }),
  },
  { $id: "Error" },
);

export const Id = Type.String({ pattern: "^[A-Za-z0-9_-]+$", maxLength: 128 });
export const PluginIdParams = Type.Object({ id: Id });
export const RunIdParams = Type.Object({ run_id: Type.String({ minLength: 1, maxLength: 128 }) });

export const CreateRunBody = Type.Object(
  {
    plugin_id: Id,
    entry_id: Type.String({ minLength: 1, maxLength: 128 }),
    args: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    task_id: Type.Optional(Type.String({ maxLength: 256 })),
    trace_id: Type.Optional(Type.String({ maxLength: 256 })),
    idempotency_key: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    timeout_ms: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400_000 })),
    wait: Type.Optional(Type.Boolean({ description: "Answer when the run is finished, with its result" })),
    wait_timeout_ms: Type.Optional(Type.Integer({ minimum: 1, maximum: 3_600_000 })),
  },
  { additionalProperties: false },
);
export type CreateRunBody = Static<typeof CreateRunBody>;

export const CancelBody = Type.Union([
  Type.Object({ reason: Type.Optional(Type.String({ maxLength: 1024 })) }, { additionalProperties: false }),
  Type.Null(),
]);

export const ExportQuery = Type.Object({
  after: Type.Optional(Type.String({ maxLength: 128 })),
  limit: Type.Integer({ minimum: 1, maximum: 2000, default: 200 }),
});

export const UploadBody = Type.Union([
  Type.Object(
    {
      filename: Type.Optional(Type.String({ maxLength: 255 })),
      mime: Type.Optional(Type.String({ maxLength: 255 })),
      max_bytes: Type.Optional(Type.Integer({ minimum: 1 })),
    },
    { additionalProperties: false },
  ),
  Type.Null(),
]);

export const MessagesQuery = Type.Object({
  plugin_id: Type.Optional(Id),
  max_count: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
  priority_min: Type.Optional(Type.Integer()),
});

export const StatusQuery = Type.Object({ plugin_id: Type.Optional(Id) });

export const RunsQuery = Type.Object({
  plugin_id: Type.Optional(Id),
  status: Type.Optional(Type.String()),
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
});
