import fs from "node:fs";
import path from "node:path";
import { RESERVED_TABLES } from "../manifest/schema.js";
import type { PluginManifest } from "../manifest/types.js";
import { deepMerge, type Table } from "./merge.js";
import {
  type ActiveProfile,
  activeProfile,
  type ProfileFile,
  type ProfilesModel,
  profileFile,
  readProfileOverlay,
  readProfiles,
} from "./profiles.js";
import { temporaryOverlays } from "./temporary.js";
import { parseToml } from "./toml.js";
import { schemaWarnings } from "./validate.js";
import type { ConfigWarning } from "./warnings.js";

/** What the config API needs to know about a plugin: its id, folder and plugin.toml. */
export interface PluginRef {
  id: string;
  dir: string;
  file: string;
}

/** Everything about a plugin's config as it is on disk now. */
export interface ConfigView {
  ref: PluginRef;
  /** plugin.toml as text and parsed. */
  text: string;
  doc: Table;
  lastModified: Date;
  profiles: ProfilesModel;
  active: ActiveProfile | null;
  /** The active profile's file, when there is an active profile that is mapped. */
  activeFile: ProfileFile | null;
  /** The overlay that was applied (empty when none). */
  overlay: Table;
  /** Whether the active profile's file was read and merged (false when there is none or it was skipped). */
  applied: boolean;
  /** plugin.toml with the active profile merged over it. */
  effectiveDoc: Table;
  warnings: ConfigWarning[];
}

/** The business part of a document: what the plugin sees as its config (everything but plugd's own tables). */
export function businessConfig(doc: Table): Table {
  const out: Table = {};
  for (const [k, v] of Object.entries(doc)) if (!RESERVED_TABLES.has(k)) out[k] = v;
  return out;
}

/**
 * Reads plugin.toml, the profile map and the active profile. A problem with a profile (missing file, refused path,
 * bad TOML, a [plugin] table in it) is a warning and the profile is not applied — the API must stay usable to fix
 * it; a plugin.toml that does not parse throws (400 INVALID_TOML with line and column).
 */
export function loadConfigView(ref: PluginRef, env: NodeJS.ProcessEnv = process.env): ConfigView {
  const text = fs.readFileSync(ref.file, "utf8");
  const lastModified = fs.statSync(ref.file).mtime;
  const doc = parseToml(text, path.basename(ref.file));
  const warnings: ConfigWarning[] = [];
  const profiles = readProfiles(ref, doc, warnings);
  const active = activeProfile(ref.id, profiles, env);
  let overlay: Table = {};
  let applied = false;
  let activeFile: ProfileFile | null = null;
  if (active) {
    const rel = profiles.files[active.name];
    if (rel === undefined) {
      warnings.push({
        code: "PROFILE_NOT_MAPPED",
        field: "config_profiles.active",
        message: `the active profile '${active.name}' (from ${active.from}) has no file in config_profiles.files; no profile is applied`,
        severity: "warning",
        source: active.from,
      });
    } else {
      activeFile = profileFile(ref.dir, active.name, rel);
      if (activeFile.resolved_path === null) {
        warnings.push({
          code: "INVALID_PROFILE_PATH",
          field: `config_profiles.files.${active.name}`,
          message: `profile '${active.name}' is not applied: ${activeFile.error}`,
          severity: "error",
          source: profiles.source ?? "profiles.toml",
        });
      } else if (!activeFile.exists) {
        warnings.push({
          code: "PROFILE_FILE_MISSING",
          field: `config_profiles.files.${active.name}`,
          message: `profile '${active.name}' points to ${rel}, which does not exist; no profile is applied`,
          severity: "warning",
          source: profiles.source ?? "profiles.toml",
        });
      } else {
        const read = overlayOf(activeFile as ProfileFile & { resolved_path: string }, warnings);
        applied = read !== undefined;
        overlay = read ?? {};
      }
    }
  }
  const effectiveDoc = deepMerge(doc, overlay);
  warnings.push(...schemaWarnings(ref, doc, businessConfig(effectiveDoc)));
  return { ref, text, doc, lastModified, profiles, active, activeFile, overlay, applied, effectiveDoc, warnings };
}

function overlayOf(file: ProfileFile & { resolved_path: string }, warnings: ConfigWarning[]): Table | undefined {
  let overlay: Table;
  try {
    overlay = readProfileOverlay(file);
  } catch (e) {
    warnings.push({
      code: "PROFILE_INVALID",
      field: `config_profiles.files.${file.name}`,
      message: `profile '${file.name}' is not applied: ${(e as Error).message}`,
      severity: "error",
      source: file.path,
    });
    return undefined;
  }
  // Profiles change business config only; plugd's own tables would not take effect before a reload anyway.
  const kept: Table = {};
  for (const [k, v] of Object.entries(overlay)) {
    if (RESERVED_TABLES.has(k)) {
      warnings.push({
        code: "PROFILE_RESERVED_TABLE",
        field: k,
        message: `the [${k}] table in profile '${file.name}' is ignored: profiles may not change it`,
        severity: "error",
        source: file.path,
      });
    } else kept[k] = v;
  }
  return kept;
}

/**
 * The config a plugin gets: the business tables of plugin.toml with the active profile merged over them, plus the
 * temporary hot-update patches its running process already has. Read from disk at every call, so a (re)start after a
 * write sees the write; the host's manifest object is parsed once at load and is not the source of truth here.
 */
export function effectiveConfig(
  manifest: Pick<PluginManifest, "id" | "dir" | "file">,
  env: NodeJS.ProcessEnv = process.env,
): Table {
  const view = loadConfigView({ id: manifest.id, dir: manifest.dir, file: manifest.file }, env);
  const config = businessConfig(view.effectiveDoc);
  const temporary = temporaryOverlays.get(manifest.file);
  return temporary ? deepMerge(config, temporary) : config;
}

export interface ConfigForOptions {
  /** Where findings go (the server's logger); a plugin starting with a profile silently skipped would be a surprise. */
  warn?: (pluginId: string, message: string) => void;
  env?: NodeJS.ProcessEnv;
}

/**
 * The host's `configFor`: never throws, because it runs inside a plugin's start. If the files cannot be read (a
 * hand-edited plugin.toml that no longer parses), the plugin gets the config parsed when it was loaded, and the
 * reason is logged.
 */
export function makeConfigFor(opts: ConfigForOptions = {}): (manifest: PluginManifest) => Record<string, unknown> {
  return (manifest) => {
    try {
      const view = loadConfigView(manifest, opts.env ?? process.env);
      for (const w of view.warnings) if (w.severity !== "info") opts.warn?.(manifest.id, `config: ${w.message}`);
      const config = businessConfig(view.effectiveDoc);
      const temporary = temporaryOverlays.get(manifest.file);
      return temporary ? deepMerge(config, temporary) : config;
    } catch (e) {
      opts.warn?.(manifest.id, `config: ${(e as Error).message}; using the config read when the plugin was loaded`);
      return manifest.config;
    }
  };
}
