import fs from "node:fs";
import path from "node:path";
import { Methods } from "@plugd/protocol";
import type { PluginHost } from "../host/host.js";
import { ApiError, notFound } from "../http/errors.js";
import { RESERVED_TABLES } from "../manifest/schema.js";
import { atomicWrite, KeyedMutex } from "./atomic-write.js";
import { businessConfig, type ConfigView, loadConfigView, type PluginRef } from "./effective.js";
import { deepEqual, deepMerge, isTable, type Table } from "./merge.js";
import {
  type ProfilesModel,
  profileEnvNames,
  profileFile,
  readProfileOverlay,
  renderProfiles,
  requireProfileFile,
} from "./profiles.js";
import { temporaryOverlays } from "./temporary.js";
import { parseToml, renderToml } from "./toml.js";
import {
  checkDocument,
  checkManifest,
  checkPatch,
  checkProfileOverlay,
  validateAgainstSchema,
  withProtectedFields,
} from "./validate.js";
import type { ConfigWarning } from "./warnings.js";

/** How a write reached the running plugin. */
interface Delivery {
  /** `plugin/configChanged` was sent to a running process. */
  hot_reloaded: boolean;
  /** Something still needs a reload: the change was not delivered, or it touched tables read only at load. */
  requires_reload: boolean;
  message: string;
}

/**
 * Reading and writing a plugin's config files, and telling the running plugin. All writes of one plugin go through
 * one queue (`locks`), are atomic, and end with the new effective config pushed to the plugin as
 * `plugin/configChanged` (the SDKs hand it to the plugin's config-change hook), so most edits need no restart.
 */
export class ConfigService {
  private readonly locks = new KeyedMutex();

  constructor(
    private readonly host: PluginHost,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    // A temporary patch lives in one process: when that process goes away (stop, crash, restart), so does the patch.
    host.on("state", (c) => {
      if (c.state === "ready" || c.state === "degraded") return;
      const file = host.get(c.plugin)?.manifest?.file;
      if (file) temporaryOverlays.clear(file);
    });
  }

  /** The plugin's folder and plugin.toml; 404 PLUGIN_NOT_FOUND for an id the host does not know. */
  ref(id: string): PluginRef {
    const v = this.host.get(id);
    if (!v) {
      throw notFound("PLUGIN_NOT_FOUND", `no plugin '${id}' is loaded`, {
        available: this.host.list().map((p) => p.id),
      });
    }
    // A plugin whose manifest failed to load still has a folder; its config can be read and fixed through the API.
    const dir = v.manifest?.dir ?? v.dir;
    return { id, dir, file: v.manifest?.file ?? v.loadError?.file ?? path.join(dir, "plugin.toml") };
  }

  view(id: string): ConfigView {
    const ref = this.ref(id);
    try {
      return loadConfigView(ref, this.env);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") {
        throw notFound("CONFIG_NOT_FOUND", `plugin '${id}' has no plugin.toml at ${ref.file}`);
      }
      throw e;
    }
  }

  /** GET /config and GET /config/base. */
  config(id: string, overlay: boolean) {
    const v = this.view(id);
    const temporary = temporaryOverlays.get(v.ref.file);
    return {
      plugin_id: id,
      config: overlay ? v.effectiveDoc : v.doc,
      base_config: v.doc,
      last_modified: v.lastModified.toISOString(),
      config_path: v.ref.file,
      profiles_state: profilesState(v),
      warnings: v.warnings,
      ...(overlay && temporary ? { temporary_overlay: temporary } : {}),
    };
  }

  /** GET /config/toml: the file as written, comments and all. */
  toml(id: string) {
    const ref = this.ref(id);
    let text: string;
    try {
      text = fs.readFileSync(ref.file, "utf8");
    } catch {
      throw notFound("CONFIG_NOT_FOUND", `plugin '${id}' has no plugin.toml at ${ref.file}`);
    }
    // The text is served even when it does not parse: that is when someone needs to see it most.
    let state: ReturnType<typeof profilesState> | null = null;
    let warnings: ConfigWarning[] = [];
    try {
      const v = loadConfigView(ref, this.env);
      state = profilesState(v);
      warnings = v.warnings;
    } catch (e) {
      warnings = [
        { code: "INVALID_TOML", field: "", message: (e as Error).message, severity: "error", source: "plugin.toml" },
      ];
    }
    return {
      plugin_id: id,
      toml: text,
      last_modified: fs.statSync(ref.file).mtime.toISOString(),
      config_path: ref.file,
      profiles_state: state,
      warnings,
    };
  }

  /** PUT /config (a document) and PUT /config/toml (text): the whole plugin.toml is replaced. */
  replace(id: string, input: { doc: Table } | { text: string }) {
    const ref = this.ref(id);
    return this.locks.run(ref.file, async () => {
      let current: ConfigView | undefined;
      try {
        current = loadConfigView(ref, this.env);
      } catch (e) {
        // An unreadable current file may be replaced (that is how it gets fixed); anything else is a real error.
        if (!(e instanceof ApiError && e.code === "INVALID_TOML") && (e as NodeJS.ErrnoException).code !== "ENOENT")
          throw e;
      }
      const incoming = "doc" in input ? input.doc : parseToml(input.text, "the new plugin.toml");
      checkDocument(incoming, "config");
      const { doc, filled } = withProtectedFields(current?.doc, incoming, id);
      // TOML sent as text is written as sent (its comments survive) unless protected fields had to be filled in.
      const text = "text" in input && !filled ? input.text : renderToml(doc, "config");
      checkManifest(ref.file, text);
      validateAgainstSchema(ref, doc, businessConfig(deepMerge(doc, current?.overlay ?? {})));

      await atomicWrite(ref.file, text);
      const loadTimeChange = !current || !deepEqual(loadTimeTables(current.doc), loadTimeTables(doc));
      const d = this.deliver(ref, loadTimeChange);
      return { success: true, plugin_id: id, config: doc, ...d };
    });
  }

  /** POST /config/parse_toml: a preview; nothing is written. */
  parse(id: string, text: string) {
    this.ref(id);
    return { plugin_id: id, config: parseToml(text) };
  }

  /** POST /config/render_toml: a preview; nothing is written. */
  render(id: string, doc: Table) {
    this.ref(id);
    checkDocument(doc, "config");
    return { plugin_id: id, toml: renderToml(doc) };
  }

  /** GET /config/profiles. */
  profiles(id: string) {
    const v = this.view(id);
    return profilesListing(v, profileEnvNames(id));
  }

  /** GET /config/profiles/:name: that profile's overlay. */
  profile(id: string, name: string) {
    const v = this.view(id);
    const rel = v.profiles.files[name];
    if (rel === undefined) throw profileNotFound(id, name, v.profiles);
    const file = requireProfileFile(v.ref.dir, name, rel);
    return { plugin_id: id, profile: describeFile(file), config: readProfileOverlay(file) };
  }

  /** PUT /config/profiles/:name: creates or replaces a profile; the first profile of a plugin becomes active. */
  putProfile(id: string, name: string, overlay: Table, makeActive?: boolean) {
    const ref = this.ref(id);
    return this.locks.run(ref.file, () => this.writeProfile(ref, name, overlay, makeActive));
  }

  /** DELETE /config/profiles/:name: removes the mapping (and `active` if it pointed here); the file stays. */
  deleteProfile(id: string, name: string) {
    const ref = this.ref(id);
    return this.locks.run(ref.file, async () => {
      const v = loadConfigView(ref, this.env);
      if (v.profiles.files[name] === undefined) return { plugin_id: id, profile: name, removed: false };
      const model = cloneModel(v.profiles);
      delete model.files[name];
      if (model.active === name) model.active = null;
      await atomicWrite(model.profilesPath, renderProfiles(model));
      return { plugin_id: id, profile: name, removed: true, ...this.deliver(ref, false) };
    });
  }

  /** POST /config/profiles/:name/activate. */
  activate(id: string, name: string) {
    const ref = this.ref(id);
    return this.locks.run(ref.file, async () => {
      const v = loadConfigView(ref, this.env);
      const rel = v.profiles.files[name];
      if (v.profiles.source === null || rel === undefined) throw profileNotFound(id, name, v.profiles);
      const file = requireProfileFile(ref.dir, name, rel);
      const overlay = readProfileOverlay(file);
      checkProfileOverlay(overlay, name);
      validateAgainstSchema(ref, v.doc, businessConfig(deepMerge(v.doc, overlay)));
      const model = cloneModel(v.profiles);
      model.active = name;
      await atomicWrite(model.profilesPath, renderProfiles(model));
      const d = this.deliver(ref, false);
      return { ...profilesListing(loadConfigView(ref, this.env), profileEnvNames(id)), ...d };
    });
  }

  /**
   * POST /config/hot-update: merges a patch into the plugin's config without a restart. "temporary" changes only the
   * running process (nothing is written; gone at its next start); "permanent" writes the patch into a profile (the
   * one named, else the active one) — or into plugin.toml when the plugin has no active profile — and then pushes it.
   */
  hotUpdate(id: string, patch: Table, mode: "temporary" | "permanent", profile: string | null | undefined) {
    const ref = this.ref(id);
    checkDocument(patch, "config");
    checkPatch(patch);
    return this.locks.run(ref.file, async () => {
      if (mode === "temporary") {
        const state = this.host.get(id)?.state;
        if (state !== "ready" && state !== "degraded") {
          throw new ApiError(
            409,
            "PLUGIN_NOT_RUNNING",
            `plugin '${id}' is ${state ?? "not loaded"}: a temporary update needs a running process`,
            {
              state: state ?? null,
              hint: 'Start the plugin first, or use mode "permanent" to write the change.',
            },
          );
        }
        const v = loadConfigView(ref, this.env);
        const previous = temporaryOverlays.get(ref.file);
        const overlay = deepMerge(previous ?? {}, patch);
        const config = deepMerge(businessConfig(v.effectiveDoc), overlay);
        validateAgainstSchema(ref, v.doc, config);
        temporaryOverlays.set(ref.file, overlay);
        const sent = this.host.notify(id, Methods.configChanged, { config });
        if (!sent) {
          if (previous) temporaryOverlays.set(ref.file, previous);
          else temporaryOverlays.clear(ref.file);
        }
        return {
          success: sent,
          plugin_id: id,
          mode,
          hot_reloaded: sent,
          requires_reload: !sent,
          profile: null,
          config,
          message: sent
            ? "Config updated in the running plugin (not saved; a restart restores the files' config)"
            : "The plugin stopped before the update could be delivered; nothing changed",
        };
      }
      const v = loadConfigView(ref, this.env);
      const target = profile ?? v.active?.name ?? null;
      if (target !== null) {
        const rel = v.profiles.files[target];
        const existing = rel === undefined ? {} : readProfileOverlay(requireProfileFile(ref.dir, target, rel));
        const r = await this.writeProfile(ref, target, deepMerge(existing, patch), undefined);
        return { success: true, plugin_id: id, mode, profile: target, config: this.pluginConfig(ref), ...pick(r) };
      }
      const doc = deepMerge(v.doc, patch);
      const text = renderToml(doc, "config");
      checkManifest(ref.file, text);
      validateAgainstSchema(ref, doc, businessConfig(doc));
      await atomicWrite(ref.file, text);
      const d = this.deliver(ref, false);
      return { success: true, plugin_id: id, mode, profile: null, config: this.pluginConfig(ref), ...d };
    });
  }

  /** The body of PUT profile, also used by permanent hot updates; the caller holds the plugin's lock. */
  private async writeProfile(ref: PluginRef, name: string, overlay: Table, makeActive: boolean | undefined) {
    checkDocument(overlay, "config");
    checkProfileOverlay(overlay, name);
    const v = loadConfigView(ref, this.env);
    const model = cloneModel(v.profiles);
    const isNew = model.files[name] === undefined;
    const rel = model.files[name] ?? `profiles/${name}.toml`;
    const file = requireProfileFile(ref.dir, name, rel);
    const first = Object.keys(model.files).length === 0 && !model.active;
    model.files[name] = rel;
    if (makeActive ?? first) model.active = name;
    // Checked as if this profile were applied, so activating it later cannot produce a config the schema refuses.
    validateAgainstSchema(ref, v.doc, businessConfig(deepMerge(v.doc, overlay)));
    const text = renderToml(overlay, `profile '${name}'`);
    const mapChanged = isNew || model.active !== v.profiles.active || v.profiles.source !== "profiles.toml";
    // Rendered before anything is written: a profiles.toml that does not parse stops the request here, not halfway.
    const mapText = mapChanged ? renderProfiles(model) : undefined;

    fs.mkdirSync(path.dirname(file.resolved_path), { recursive: true });
    // The profile first, then the map: the map never names a file that is not written yet.
    await atomicWrite(file.resolved_path, text);
    if (mapText !== undefined) await atomicWrite(model.profilesPath, mapText);
    const d = this.deliver(ref, false);
    return {
      plugin_id: ref.id,
      profile: describeFile(profileFile(ref.dir, name, rel)),
      config: overlay,
      active: model.active,
      ...d,
    };
  }

  /** What the plugin sees now: the files plus its temporary patches (the same as the host's `configFor`). */
  private pluginConfig(ref: PluginRef): Table {
    const config = businessConfig(loadConfigView(ref, this.env).effectiveDoc);
    const temporary = temporaryOverlays.get(ref.file);
    return temporary ? deepMerge(config, temporary) : config;
  }

  /**
   * After a write: temporary patches end (the files are the truth again) and the running process gets the new
   * effective config — always, not only when it looks changed: the files may have been edited by hand since the
   * process got its config, and the push is what brings it back in line.
   */
  private deliver(ref: PluginRef, loadTimeChange: boolean): Delivery {
    temporaryOverlays.clear(ref.file);
    const hot = this.host.notify(ref.id, Methods.configChanged, { config: this.pluginConfig(ref) });
    let message = "Config updated successfully";
    message += hot ? "; the running plugin received it" : "; the plugin is not running and gets it at its next start";
    if (loadTimeChange) message += ". [plugin]/[plugin_runtime] changes take effect after POST /plugin/{id}/reload";
    return { hot_reloaded: hot, requires_reload: loadTimeChange || !hot, message };
  }
}

/**
 * The parts of plugin.toml the host reads only when it loads the plugin. The profile map and the schema path inside
 * [plugin] are read by the config API at every use, so changing them needs no reload.
 */
function loadTimeTables(doc: Table): Table {
  const out: Table = {};
  for (const k of RESERVED_TABLES) out[k] = doc[k];
  if (isTable(out.plugin)) {
    const { config_profiles: _p, config_schema: _s, ...rest } = out.plugin as Table;
    out.plugin = rest;
  }
  return out;
}

function pick(d: Delivery): Delivery {
  return { hot_reloaded: d.hot_reloaded, requires_reload: d.requires_reload, message: d.message };
}

function cloneModel(m: ProfilesModel): ProfilesModel {
  return { ...m, files: { ...m.files } };
}

function describeFile(f: {
  name: string;
  path: string;
  resolved_path: string | null;
  exists: boolean;
  error?: string;
}) {
  return {
    name: f.name,
    path: f.path,
    resolved_path: f.resolved_path,
    exists: f.exists,
    ...(f.error ? { error: f.error } : {}),
  };
}

function profileNotFound(id: string, name: string, m: ProfilesModel): ApiError {
  return notFound(
    "PROFILE_NOT_FOUND",
    m.source === null
      ? `plugin '${id}' has no profiles (no ${path.basename(m.profilesPath)})`
      : `plugin '${id}' has no profile '${name}'`,
    { available: Object.keys(m.files), hint: `Create it with PUT /plugin/${id}/config/profiles/${name}` },
  );
}

/** The profile part of GET /config: where the map is, which profile is active and why, and whether it applied. */
function profilesState(v: ConfigView) {
  return {
    profiles_path: v.profiles.profilesPath,
    profiles_exists: v.profiles.profilesExists,
    source: v.profiles.source,
    active: v.active?.name ?? null,
    active_from: v.active?.from ?? null,
    applied: v.applied,
    files: files(v),
  };
}

function files(v: ConfigView) {
  return Object.fromEntries(
    Object.entries(v.profiles.files).map(([name, rel]) => {
      const { name: _n, ...f } = describeFile(profileFile(v.ref.dir, name, rel));
      return [name, f];
    }),
  );
}

/** GET /config/profiles (N.E.K.O's shape, plus the env override and warnings). */
function profilesListing(v: ConfigView, envNames: string[]) {
  const envOverride = v.active && envNames.includes(v.active.from) ? { name: v.active.name, env: v.active.from } : null;
  const warnings = [...v.warnings];
  if (envOverride && envOverride.name !== v.profiles.active) {
    warnings.push({
      code: "PROFILE_ENV_OVERRIDE",
      field: "config_profiles.active",
      message: `${envOverride.env}=${envOverride.name} overrides the active profile in the file (${v.profiles.active ?? "none"})`,
      severity: "info",
      source: envOverride.env,
    });
  }
  return {
    plugin_id: v.ref.id,
    profiles_path: v.profiles.profilesPath,
    profiles_exists: v.profiles.profilesExists,
    config_profiles: v.profiles.source === null ? null : { active: v.profiles.active, files: files(v) },
    effective_active: v.active?.name ?? null,
    env_override: envOverride,
    warnings,
  };
}
