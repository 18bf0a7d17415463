import { type Static, Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import type { AppContext } from "../http/context.js";

/*
 * The config API (N.E.K.O §1.8): 12 routes under /plugin/:id/config plus hot-update. Bodies are checked by these
 * schemas before a handler runs; the documents inside are free-form tables (TOML has no fixed shape), checked by the
 * service (protected fields, TOML-representable values, the plugin's own JSON Schema).
 */

const Id = Type.String({ pattern: "^[A-Za-z0-9_-]+$", maxLength: 128 });
const ProfileName = Type.String({ pattern: "^[A-Za-z0-9_-]+$", minLength: 1, maxLength: 64 });
const IdParams = Type.Object({ id: Id });
const ProfileParams = Type.Object({ id: Id, name: ProfileName });
const Document = Type.Record(Type.String(), Type.Unknown(), { description: "A TOML document as JSON" });
/** Config files are small; a megabyte of TOML is a mistake, not a config. */
const TomlText = Type.String({ maxLength: 1024 * 1024, description: "TOML text" });

const ConfigBody = Type.Object({ config: Document }, { additionalProperties: false });
const TomlBody = Type.Object({ toml: TomlText }, { additionalProperties: false });
const ProfileBody = Type.Object(
  { config: Document, make_active: Type.Optional(Type.Boolean()) },
  { additionalProperties: false },
);
const HotUpdateBody = Type.Object(
  {
    config: Type.Record(Type.String(), Type.Unknown(), { description: "A patch, deep-merged over the current config" }),
    mode: Type.Union([Type.Literal("temporary"), Type.Literal("permanent")], { default: "temporary" }),
    profile: Type.Optional(Type.Union([ProfileName, Type.Null()])),
  },
  { additionalProperties: false },
);

type IdReq = { Params: Static<typeof IdParams> };
type ProfileReq = { Params: Static<typeof ProfileParams> };

export function configRoutes(app: FastifyInstance, ctx: Pick<AppContext, "config">): void {
  const svc = ctx.config;
  const tags = ["config"];
  const base = "/plugin/:id/config";

  app.get<IdReq>(
    base,
    { schema: { tags, summary: "Effective config (plugin.toml + active profile)", params: IdParams } },
    async (req) => svc.config(req.params.id, true),
  );
  app.get<IdReq>(
    `${base}/toml`,
    { schema: { tags, summary: "plugin.toml as written", params: IdParams } },
    async (req) => svc.toml(req.params.id),
  );
  app.get<IdReq>(
    `${base}/base`,
    { schema: { tags, summary: "plugin.toml without the profile overlay", params: IdParams } },
    async (req) => svc.config(req.params.id, false),
  );
  app.put<IdReq & { Body: Static<typeof ConfigBody> }>(
    base,
    { schema: { tags, summary: "Replace plugin.toml with a document", params: IdParams, body: ConfigBody } },
    async (req) => svc.replace(req.params.id, { doc: req.body.config }),
  );
  app.put<IdReq & { Body: Static<typeof TomlBody> }>(
    `${base}/toml`,
    { schema: { tags, summary: "Replace plugin.toml with TOML text", params: IdParams, body: TomlBody } },
    async (req) => svc.replace(req.params.id, { text: req.body.toml }),
  );
  app.post<IdReq & { Body: Static<typeof TomlBody> }>(
    `${base}/parse_toml`,
    {
      schema: { tags, summary: "Parse TOML to a document (preview, writes nothing)", params: IdParams, body: TomlBody },
    },
    async (req) => svc.parse(req.params.id, req.body.toml),
  );
  app.post<IdReq & { Body: Static<typeof ConfigBody> }>(
    `${base}/render_toml`,
    {
      schema: {
        tags,
        summary: "Render a document as TOML (preview, writes nothing)",
        params: IdParams,
        body: ConfigBody,
      },
    },
    async (req) => svc.render(req.params.id, req.body.config),
  );
  app.get<IdReq>(
    `${base}/profiles`,
    { schema: { tags, summary: "Profile map and the active profile", params: IdParams } },
    async (req) => svc.profiles(req.params.id),
  );
  app.get<ProfileReq>(
    `${base}/profiles/:name`,
    { schema: { tags, summary: "One profile's overlay", params: ProfileParams } },
    async (req) => svc.profile(req.params.id, req.params.name),
  );
  app.put<ProfileReq & { Body: Static<typeof ProfileBody> }>(
    `${base}/profiles/:name`,
    { schema: { tags, summary: "Create or replace a profile", params: ProfileParams, body: ProfileBody } },
    async (req) => svc.putProfile(req.params.id, req.params.name, req.body.config, req.body.make_active),
  );
  app.delete<ProfileReq>(
    `${base}/profiles/:name`,
    { schema: { tags, summary: "Remove a profile from the map (its file stays)", params: ProfileParams } },
    async (req) => svc.deleteProfile(req.params.id, req.params.name),
  );
  app.post<ProfileReq>(
    `${base}/profiles/:name/activate`,
    { schema: { tags, summary: "Make a profile the active one", params: ProfileParams } },
    async (req) => svc.activate(req.params.id, req.params.name),
  );
  app.post<IdReq & { Body: Static<typeof HotUpdateBody> }>(
    `${base}/hot-update`,
    {
      schema: {
        tags,
        summary: "Patch the running plugin's config, temporarily or permanently",
        params: IdParams,
        body: HotUpdateBody,
      },
    },
    async (req) => svc.hotUpdate(req.params.id, req.body.config, req.body.mode, req.body.profile),
  );
}
