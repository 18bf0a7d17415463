import fs from "node:fs";
import path from "node:path";
import { ApiError } from "../http/errors.js";
import { isTable, type Table } from "./merge.js";
import { resolveInside } from "./paths.js";
import { parseToml, renderToml } from "./toml.js";
import type { ConfigWarning } from "./warnings.js";

/**
 * The profile map of a plugin. `profiles.toml` beside plugin.toml holds
 *
 *   [config_profiles]
 *   active = "dev"
 *   [config_profiles.files]
 *   dev = "profiles/dev.toml"
 *
 * N.E.K.O's older location, `[plugin.config_profiles]` inside plugin.toml, is still read when profiles.toml does not
 * exist. Writes always go to profiles.toml (a profile change must not rewrite plugin.toml, whose comments would be
 * lost), which from then on shadows the legacy table.
 */
export interface ProfilesModel {
  /** Where the map was read from; null when there is none yet. */
  source: "profiles.toml" | "plugin.toml" | null;
  /** Absolute path of profiles.toml (whether or not it exists). */
  profilesPath: string;
  profilesExists: boolean;
  /** The active profile as written in the file (the env override is applied by `activeProfile`). */
  active: string | null;
  /** Profile name → path relative to the plugin folder, as written. */
  files: Record<string, string>;
}

export const PROFILES_FILE = "profiles.toml";
/** Profile names become file names (`profiles/<name>.toml`), so they get the same alphabet as plugin ids. */
export const PROFILE_NAME = /^[A-Za-z0-9_-]+$/;

interface PluginRef {
  id: string;
  dir: string;
}

/**
 * Reads the map. Nothing here throws for a bad file: a broken profiles.toml or a bad entry becomes a warning and is
 * left out, so the config API keeps working and can show what is wrong. Writes are stricter (see `writeProfiles`).
 */
export function readProfiles(
  plugin: PluginRef,
  pluginDoc: Table | undefined,
  warnings: ConfigWarning[],
): ProfilesModel {
  const profilesPath = path.join(plugin.dir, PROFILES_FILE);
  const model: ProfilesModel = { source: null, profilesPath, profilesExists: false, active: null, files: {} };
  const legacy = isTable(pluginDoc?.plugin) ? (pluginDoc.plugin as Table).config_profiles : undefined;
  let table: unknown;
  const text = readText(profilesPath);
  if (text !== undefined) {
    model.profilesExists = true;
    model.source = "profiles.toml";
    try {
      table = parseToml(text, PROFILES_FILE).config_profiles;
    } catch (e) {
      warnings.push({
        code: "PROFILES_INVALID",
        field: "config_profiles",
        message: `${(e as Error).message}; profiles are ignored until it is fixed`,
        severity: "error",
        source: PROFILES_FILE,
      });
      return model;
    }
    if (legacy !== undefined) {
      warnings.push({
        code: "PROFILES_LEGACY_SHADOWED",
        field: "plugin.config_profiles",
        message: "[plugin.config_profiles] in plugin.toml is ignored: profiles.toml exists and takes precedence",
        severity: "warning",
        source: "plugin.toml",
      });
    }
  } else if (legacy !== undefined) {
    model.source = "plugin.toml";
    table = legacy;
  }
  if (table === undefined) return model;
  const where = model.source === "plugin.toml" ? "plugin.config_profiles" : "config_profiles";
  const source = model.source ?? PROFILES_FILE;
  if (!isTable(table)) {
    warnings.push({
      code: "PROFILES_INVALID",
      field: where,
      message: `${where} must be a table`,
      severity: "error",
      source,
    });
    return model;
  }
  if (typeof table.active === "string" && table.active !== "") model.active = table.active;
  else if (table.active !== undefined && table.active !== "") {
    warnings.push({
      code: "PROFILES_INVALID",
      field: `${where}.active`,
      message: `${where}.active must be a string`,
      severity: "error",
      source,
    });
  }
  const files = table.files;
  if (isTable(files)) {
    for (const [name, p] of Object.entries(files)) {
      if (typeof p === "string" && PROFILE_NAME.test(name)) model.files[name] = p;
      else {
        warnings.push({
          code: "PROFILES_INVALID",
          field: `${where}.files.${name}`,
          message: PROFILE_NAME.test(name)
            ? `${where}.files.${name} must be a path string`
            : `profile name "${name}" may use letters, digits, '_' and '-' only`,
          severity: "error",
          source,
        });
      }
    }
  } else if (files !== undefined) {
    warnings.push({
      code: "PROFILES_INVALID",
      field: `${where}.files`,
      message: `${where}.files must be a table`,
      severity: "error",
      source,
    });
  }
  return model;
}

/** The env variables that override the active profile of `pluginId`, in the order they are looked at. */
export function profileEnvNames(pluginId: string): string[] {
  const upper = pluginId.toUpperCase();
  const norm = upper.replace(/[^A-Z0-9_]/g, "_");
  const names: string[] = [];
  for (const prefix of ["PLUGD", "NEKO"]) {
    names.push(`${prefix}_PLUGIN_${norm}_PROFILE`);
    // An id with '-' can still be set verbatim with `env`; accept that spelling too.
    if (upper !== norm) names.push(`${prefix}_PLUGIN_${upper}_PROFILE`);
  }
  return names;
}

export interface ActiveProfile {
  name: string;
  /** Where the choice came from: the env variable's name, or the file. */
  from: string;
}

/** The active profile: an env override wins over the file, so one deployment can pick its profile without a write. */
export function activeProfile(
  pluginId: string,
  model: ProfilesModel,
  env: NodeJS.ProcessEnv = process.env,
): ActiveProfile | null {
  for (const name of profileEnvNames(pluginId)) {
    const v = env[name]?.trim();
    if (v) return { name: v, from: name };
  }
  return model.active ? { name: model.active, from: model.source ?? PROFILES_FILE } : null;
}

export interface ProfileFile {
  name: string;
  /** As written in the map. */
  path: string;
  /** Absolute, or null when the path is refused. */
  resolved_path: string | null;
  exists: boolean;
  error?: string;
}

/** A mapped profile's file, checked: inside the plugin folder, a `.toml`, not one of the plugin's own files. */
export function profileFile(dir: string, name: string, rel: string): ProfileFile {
  const r = resolveProfilePath(dir, rel);
  if (!r.ok) return { name, path: rel, resolved_path: null, exists: false, error: r.reason };
  return {
    name,
    path: rel,
    resolved_path: r.path,
    exists: fs.statSync(r.path, { throwIfNoEntry: false })?.isFile() ?? false,
  };
}

export function resolveProfilePath(
  dir: string,
  rel: string,
): { ok: true; path: string } | { ok: false; reason: string } {
  const r = resolveInside(dir, rel);
  if (!r.ok) return r;
  // A profile write replaces the whole file: keep it off the plugin's code and its own manifest files.
  if (!r.path.endsWith(".toml")) return { ok: false, reason: `"${rel}" is not a .toml file` };
  const own = [path.join(path.resolve(dir), "plugin.toml"), path.join(path.resolve(dir), PROFILES_FILE)];
  if (own.includes(r.path)) return { ok: false, reason: `"${rel}" is the plugin's own ${path.basename(r.path)}` };
  return r;
}

/** Like profileFile, but a refused path is a 400 (used before reading or writing the profile). */
export function requireProfileFile(dir: string, name: string, rel: string): ProfileFile & { resolved_path: string } {
  const f = profileFile(dir, name, rel);
  if (f.resolved_path === null) {
    throw new ApiError(400, "INVALID_PROFILE_PATH", `Invalid profile path for '${name}': ${f.error}`, {
      profile: name,
      path: rel,
      hint: "Profile paths are relative to the plugin folder, end in .toml and stay inside it (no '..', no absolute paths, no symlinks out).",
    });
  }
  return f as ProfileFile & { resolved_path: string };
}

/** The overlay a profile file holds; a missing file is an empty overlay. */
export function readProfileOverlay(file: ProfileFile & { resolved_path: string }): Table {
  const text = readText(file.resolved_path);
  return text === undefined ? {} : parseToml(text, `profile '${file.name}' (${file.path})`);
}

/**
 * The text of profiles.toml with `model`'s map in it. Other tables a user keeps in profiles.toml are preserved; a
 * profiles.toml that does not parse is refused rather than overwritten, since it may hold the only copy of the map.
 */
export function renderProfiles(model: ProfilesModel): string {
  let doc: Table = {};
  const text = readText(model.profilesPath);
  if (text !== undefined) doc = parseToml(text, PROFILES_FILE);
  const table: Table = {};
  if (model.active) table.active = model.active;
  table.files = { ...model.files };
  return renderToml({ ...doc, config_profiles: table }, PROFILES_FILE);
}

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw e;
  }
}
