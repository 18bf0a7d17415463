import { Type } from "@sinclair/typebox";

/**
 * The `plugin.toml` document (snake_case, as written). N.E.K.O manifests carry many more keys under [plugin]
 * (author, ui, store, i18n…); those are allowed, and keys nobody knows become warnings, not errors.
 */
const PositiveInt = Type.Integer({ minimum: 1 });
const Ranges = Type.Object({
  recommended: Type.Optional(Type.String()),
  supported: Type.Optional(Type.String()),
  compatible: Type.Optional(Type.String()),
  untested: Type.Optional(Type.String()),
  conflicts: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())])),
});

export const ManifestDocument = Type.Object({
  plugin: Type.Object({
    id: Type.String({ pattern: "^[A-Za-z0-9_-]+$", minLength: 1, maxLength: 128 }),
    name: Type.String({ minLength: 1 }),
    version: Type.Optional(Type.String({ minLength: 1 })),
    description: Type.Optional(Type.String()),
    runtime: Type.Optional(Type.Union([Type.Literal("node"), Type.Literal("python"), Type.Literal("binary")])),
    entry: Type.Optional(Type.String({ minLength: 1 })),
    command: Type.Optional(Type.String({ minLength: 1 })),
    args: Type.Optional(Type.Array(Type.String())),
    cwd: Type.Optional(Type.String()),
    env: Type.Optional(Type.Record(Type.String(), Type.String())),
    enabled: Type.Optional(Type.Boolean()),
    auto_start: Type.Optional(Type.Boolean()),
    dependencies: Type.Optional(Type.Array(Type.String())),
    dependency: Type.Optional(
      Type.Array(
        Type.Object({
          id: Type.Optional(Type.String()),
          entry: Type.Optional(Type.String()),
          custom_event: Type.Optional(Type.String()),
          providers: Type.Optional(Type.Array(Type.String())),
          recommended: Type.Optional(Type.String()),
          supported: Type.Optional(Type.String()),
          untested: Type.Optional(Type.String()),
          conflicts: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String()), Type.Boolean()])),
          optional: Type.Optional(Type.Boolean()),
        }),
      ),
    ),
    sdk: Type.Optional(Ranges),
    protocol: Type.Optional(Ranges),
    limits: Type.Optional(
      Type.Object(
        {
          handshake_timeout_ms: Type.Optional(PositiveInt),
          rpc_timeout_ms: Type.Optional(PositiveInt),
          shutdown_timeout_ms: Type.Optional(PositiveInt),
          health_interval_ms: Type.Optional(Type.Integer({ minimum: 0 })),
          max_concurrency: Type.Optional(PositiveInt),
          max_queue: Type.Optional(Type.Integer({ minimum: 0 })),
          max_message_bytes: Type.Optional(Type.Integer({ minimum: 1024 })),
        },
        { additionalProperties: false },
      ),
    ),
    restart: Type.Optional(
      Type.Object(
        {
          policy: Type.Optional(
            Type.Union([Type.Literal("never"), Type.Literal("on-failure"), Type.Literal("always")]),
          ),
          max_retries: Type.Optional(Type.Integer({ minimum: 0 })),
          backoff_base_ms: Type.Optional(PositiveInt),
          backoff_cap_ms: Type.Optional(PositiveInt),
          window_ms: Type.Optional(PositiveInt),
        },
        { additionalProperties: false },
      ),
    ),
    events: Type.Optional(
      Type.Object(
        { include: Type.Optional(Type.Array(Type.String())), exclude: Type.Optional(Type.Array(Type.String())) },
        { additionalProperties: false },
      ),
    ),
    permissions: Type.Optional(
      Type.Object(
        { reverse_rpc: Type.Optional(Type.Boolean()), call: Type.Optional(Type.Array(Type.String())) },
        { additionalProperties: false },
      ),
    ),
  }),
  plugin_runtime: Type.Optional(
    Type.Object({
      enabled: Type.Optional(Type.Boolean()),
      auto_start: Type.Optional(Type.Boolean()),
      priority: Type.Optional(Type.Number()),
      timeout: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 300 })),
      startup_failure: Type.Optional(Type.String()),
    }),
  ),
});

/** Keys under [plugin] that plugd uses, plus the N.E.K.O keys it accepts silently. */
export const KNOWN_PLUGIN_KEYS = new Set([
  ...Object.keys(ManifestDocument.properties.plugin.properties),
  "type",
  "author",
  "short_description",
  "keywords",
  "passive",
  "store",
  "database",
  "safety",
  "i18n",
  "ui",
  "config_profiles",
  "homepage",
  "license",
  "icon",
  "tags",
]);

/** Top-level tables that are not business config. */
export const RESERVED_TABLES = new Set(["plugin", "plugin_runtime", "plugin_state"]);
