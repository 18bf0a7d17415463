import { Type } from "@sinclair/typebox";

/*
 * The `plugin.toml` document as written (snake_case). Objects are open: N.E.K.O manifests carry many keys plugd does
 * not use, and a key nobody knows is a warning, not an error (see unknownKeys in parse.ts). `expected` overrides the
 * generated "must be …" text of an error where the schema alone would read badly.
 */

const PositiveInt = Type.Integer({ minimum: 1 });
/** 0 is meaningful for these: no health checks, no waiting queue. */
const NonNegativeInt = Type.Integer({ minimum: 0 });
const NonEmpty = Type.String({ minLength: 1 });
const StringList = Type.Array(Type.String());
const PluginId = Type.String({ pattern: "^[A-Za-z0-9_-]+$", expected: "letters, digits, '_' and '-' only" });

const Ranges = Type.Object({
  recommended: Type.Optional(Type.String()),
  supported: Type.Optional(Type.String()),
  /** N.E.K.O's alias of `supported`. */
  compatible: Type.Optional(Type.String()),
  untested: Type.Optional(Type.String()),
  conflicts: Type.Optional(Type.Union([Type.String(), StringList])),
});

const DependencyTable = Type.Object({
  id: Type.Optional(PluginId),
  /** N.E.K.O: "eid" or "pid:eid". */
  entry: Type.Optional(NonEmpty),
  /** N.E.K.O: "type:id" or "pid:type:id". */
  custom_event: Type.Optional(NonEmpty),
  providers: Type.Optional(StringList),
  recommended: Type.Optional(Type.String()),
  supported: Type.Optional(Type.String()),
  untested: Type.Optional(Type.String()),
  /** `true` in N.E.K.O means "must not be installed together". */
  conflicts: Type.Optional(Type.Union([Type.String(), StringList, Type.Boolean()])),
  optional: Type.Optional(Type.Boolean()),
});

export const PluginTable = Type.Object({
  id: PluginId,
  name: NonEmpty,
  version: Type.Optional(NonEmpty),
  description: Type.Optional(Type.String()),
  runtime: Type.Optional(Type.Union([Type.Literal("node"), Type.Literal("python")])),
  entry: Type.Optional(NonEmpty),
  command: Type.Optional(NonEmpty),
  /** The plugin's own arguments; with a runtime shorthand they follow the entry file. */
  args: Type.Optional(StringList),
  cwd: Type.Optional(NonEmpty),
  env: Type.Optional(Type.Record(Type.String(), Type.String(), { expected: "a table of string values" })),
  dependencies: Type.Optional(Type.Array(PluginId)),
  dependency: Type.Optional(Type.Array(DependencyTable)),
  /** A JSON Schema file (in the plugin folder) the effective config is validated against on every write. */
  config_schema: Type.Optional(NonEmpty),
  sdk: Type.Optional(Ranges),
  protocol: Type.Optional(Ranges),
  limits: Type.Optional(
    Type.Object({
      handshake_timeout_ms: Type.Optional(PositiveInt),
      rpc_timeout_ms: Type.Optional(PositiveInt),
      shutdown_timeout_ms: Type.Optional(PositiveInt),
      health_interval_ms: Type.Optional(NonNegativeInt),
      max_concurrency: Type.Optional(PositiveInt),
      max_queue: Type.Optional(NonNegativeInt),
      /** Below this not even a handshake fits. */
      max_message_bytes: Type.Optional(Type.Integer({ minimum: 1024 })),
    }),
  ),
  restart: Type.Optional(
    Type.Object({
      policy: Type.Optional(Type.Union([Type.Literal("never"), Type.Literal("on-failure"), Type.Literal("always")])),
      max_retries: Type.Optional(NonNegativeInt),
      backoff_base_ms: Type.Optional(PositiveInt),
      backoff_cap_ms: Type.Optional(PositiveInt),
      window_ms: Type.Optional(PositiveInt),
    }),
  ),
  events: Type.Optional(
    Type.Object({
      include: Type.Optional(Type.Array(NonEmpty)),
      exclude: Type.Optional(Type.Array(NonEmpty)),
    }),
  ),
  permissions: Type.Optional(
    Type.Object({
      reverse_rpc: Type.Optional(Type.Boolean()),
      call: Type.Optional(
        Type.Array(Type.String({ pattern: "^([A-Za-z0-9_-]+|\\*)$", expected: 'a plugin id or "*"' })),
      ),
    }),
  ),
});

export const PluginRuntimeTable = Type.Object({
  enabled: Type.Optional(Type.Boolean()),
  auto_start: Type.Optional(Type.Boolean()),
  priority: Type.Optional(Type.Number()),
  /** Seconds until the plugin is ready (N.E.K.O's bound); becomes the handshake timeout. */
  timeout: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 300 })),
  startup_failure: Type.Optional(Type.Union([Type.Literal("warn"), Type.Literal("fail"), Type.Literal("ignore")])),
});

export const ManifestDocument = Type.Object({
  plugin: PluginTable,
  plugin_runtime: Type.Optional(PluginRuntimeTable),
});

/**
 * N.E.K.O keys plugd accepts without a word, per table (dotted path of the table). plugd does not use them, but they
 * are part of a valid N.E.K.O manifest, so a warning for each would only be noise.
 */
export const NEKO_KEYS: Record<string, ReadonlySet<string>> = {
  plugin: new Set([
    "type",
    "author",
    "short_description",
    "keywords",
    "passive",
    "previous_ids",
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
  ]),
};

/** Top-level tables that are not business config. */
export const RESERVED_TABLES: ReadonlySet<string> = new Set(["plugin", "plugin_runtime", "plugin_state"]);
