import fs from "node:fs";
import path from "node:path";
import { Ajv, type ValidateFunction } from "ajv";
import { ApiError } from "../http/errors.js";
import { ManifestError, parseManifest } from "../manifest/index.js";
import { RESERVED_TABLES } from "../manifest/schema.js";
import { describeErrors, type SchemaProblem, summarize } from "../validation/ajv.js";
import { deepEqual, isTable, type Table } from "./merge.js";
import { resolveInside } from "./paths.js";
import type { ConfigWarning } from "./warnings.js";

/**
 * Keys of [plugin] that a config write may not change. `id` and `entry` are N.E.K.O's protected fields; the rest
 * decide which program runs and how (`command`, `runtime`, `args`, `cwd`, `env` — e.g. NODE_OPTIONS or LD_PRELOAD),
 * so letting the config API change them would turn "edit settings" into "run any program".
 */
export const PROTECTED_FIELDS = ["id", "entry", "command", "runtime", "args", "cwd", "env"] as const;

/**
 * The document to write for a full replacement (PUT config / PUT toml): protected fields the request left out are
 * copied from the current file, and a changed one is refused. A request without a [plugin] table keeps the current
 * one whole: a plugin.toml without it cannot load, so leaving it out can only mean "unchanged".
 * Returns the document and whether anything was filled in.
 */
export function withProtectedFields(
  current: Table | undefined,
  incoming: Table,
  pluginId: string,
): { doc: Table; filled: boolean } {
  const cur = isTable(current?.plugin) ? (current.plugin as Table) : undefined;
  if (incoming.plugin === undefined) {
    // Without a readable current file, only the id is known (from the host).
    const plugin = cur ?? { id: pluginId };
    return { doc: { plugin, ...incoming }, filled: true };
  }
  if (!isTable(incoming.plugin)) throw invalid("plugin must be a table");
  const next: Table = { ...incoming.plugin };
  let filled = false;
  for (const key of PROTECTED_FIELDS) {
    const was = cur ? cur[key] : key === "id" ? pluginId : undefined;
    const now = next[key];
    if (now === undefined) {
      if (was !== undefined) {
        next[key] = was;
        filled = true;
      }
      continue;
    }
    if (!cur && key !== "id") continue; // the current file is unreadable: nothing to compare with
    if (!deepEqual(was, now)) {
      throw new ApiError(
        400,
        "PROTECTED_FIELD",
        `Cannot modify critical field 'plugin.${key}': it decides which plugin this is or what program it runs`,
        {
          field: `plugin.${key}`,
          current: was ?? null,
          requested: now,
          hint: "Change it in plugin.toml on disk and reload the plugin (POST /plugin/{id}/reload).",
        },
      );
    }
  }
  // Keep the key order of the request, [plugin] first as TOML writers conventionally put it.
  return { doc: { ...incoming, plugin: next }, filled };
}

/** A document from a request must be a table whose keys are safe to merge. */
export function checkDocument(doc: unknown, what: string): asserts doc is Table {
  if (!isTable(doc)) throw invalid(`${what} must be a table (a JSON object)`);
  const bad: string[] = [];
  const walk = (v: unknown, at: string) => {
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        walk(x, `${at}[${i}]`);
      });
    } else if (isTable(v)) {
      for (const [k, x] of Object.entries(v)) {
        if (k === "__proto__") bad.push(`${at ? `${at}.` : ""}${k}`);
        else walk(x, at ? `${at}.${k}` : k);
      }
    } else if (typeof v === "object" && v !== null && !(v instanceof Date)) bad.push(at);
  };
  walk(doc, "");
  if (bad.length > 0)
    throw invalid(`${what} has keys or values that cannot be stored: ${bad.slice(0, 3).join(", ")}`, { keys: bad });
}

/**
 * A profile overlays business config only: a [plugin] table (N.E.K.O's rule) — or plugd's other own tables, which
 * would silently do nothing — is refused.
 */
export function checkProfileOverlay(overlay: Table, name: string): void {
  for (const k of Object.keys(overlay)) {
    if (k === "plugin") {
      throw new ApiError(400, "PROTECTED_FIELD", `Profile '${name}' may not contain a top-level [plugin] table`, {
        field: "plugin",
        hint: "Profiles overlay business config; change [plugin] in plugin.toml.",
      });
    }
    if (RESERVED_TABLES.has(k)) {
      throw new ApiError(400, "PROTECTED_FIELD", `Profile '${name}' may not contain a top-level [${k}] table`, {
        field: k,
        hint: `[${k}] is read when the plugin is loaded; change it in plugin.toml.`,
      });
    }
  }
}

/** A hot-update patch changes business config only, for the same reason. */
export function checkPatch(patch: Table): void {
  for (const k of Object.keys(patch)) {
    if (RESERVED_TABLES.has(k)) {
      throw new ApiError(400, "PROTECTED_FIELD", `A hot update may not change the [${k}] table`, {
        field: k,
        hint: "Change it with PUT /plugin/{id}/config and reload the plugin.",
      });
    }
  }
}

/**
 * The new plugin.toml must still be a manifest plugd can load: otherwise the write would succeed and the plugin would
 * fail at its next start, far from the request that broke it.
 */
export function checkManifest(file: string, text: string): void {
  try {
    parseManifest(file, text);
  } catch (e) {
    if (e instanceof ManifestError) {
      throw new ApiError(400, "INVALID_MANIFEST", `the new plugin.toml would not load: ${e.message}`, {
        ...(e.info.key ? { field: e.info.key } : {}),
      });
    }
    throw e;
  }
}

interface SchemaRef {
  dir: string;
}

/** `[plugin] config_schema = "config.schema.json"`: a JSON Schema of the business config, in the plugin folder. */
function schemaPath(ref: SchemaRef, doc: Table): { file: string } | { error: string } | undefined {
  const rel = isTable(doc.plugin) ? (doc.plugin as Table).config_schema : undefined;
  if (rel === undefined) return undefined;
  const r = resolveInside(ref.dir, rel);
  return r.ok ? { file: r.path } : { error: `plugin.config_schema: ${r.reason}` };
}

/**
 * Compiled schemas by file, recompiled when the file changes. Each compile gets its own ajv: a schema with an `$id`
 * cannot be added twice to one instance, and a shared instance would keep every old version alive.
 * `useDefaults` stays off: validation must never change the config that is then written or sent.
 */
const compiled = new Map<string, { stamp: string; validate: ValidateFunction } | { stamp: string; error: string }>();

function schemaValidator(file: string): ValidateFunction | { error: string } {
  let stamp: string;
  try {
    const st = fs.statSync(file);
    stamp = `${st.mtimeMs}:${st.size}`;
  } catch (e) {
    return { error: `the config schema ${path.basename(file)} cannot be read (${(e as NodeJS.ErrnoException).code})` };
  }
  const hit = compiled.get(file);
  if (hit?.stamp === stamp) return "validate" in hit ? hit.validate : { error: hit.error };
  let entry: { stamp: string; validate: ValidateFunction } | { stamp: string; error: string };
  try {
    const schema = JSON.parse(fs.readFileSync(file, "utf8")) as unknown;
    const ajv = new Ajv({ allErrors: true, strict: false, useDefaults: false, coerceTypes: false });
    entry = { stamp, validate: ajv.compile(schema as object) };
  } catch (e) {
    entry = {
      stamp,
      error: `the config schema ${path.basename(file)} is not a valid JSON Schema: ${(e as Error).message}`,
    };
  }
  compiled.set(file, entry);
  return "validate" in entry ? entry.validate : { error: entry.error };
}

/** Problems of `config` against the plugin's declared schema; an unusable schema is one problem. */
function schemaCheck(ref: SchemaRef, doc: Table, config: Table): { problems: SchemaProblem[]; schemaError?: string } {
  const where = schemaPath(ref, doc);
  if (!where) return { problems: [] };
  if ("error" in where) return { problems: [], schemaError: where.error };
  const v = schemaValidator(where.file);
  if ("error" in v) return { problems: [], schemaError: v.error };
  return v(config) ? { problems: [] } : { problems: describeErrors(v.errors) };
}

/** Before a write: the effective config must satisfy the schema (400 with the problems). */
export function validateAgainstSchema(ref: SchemaRef, doc: Table, config: Table): void {
  const { problems, schemaError } = schemaCheck(ref, doc, config);
  if (schemaError) {
    throw new ApiError(400, "INVALID_CONFIG_SCHEMA", schemaError, {
      hint: "Fix plugin.config_schema or the schema file.",
    });
  }
  if (problems.length > 0) {
    throw new ApiError(
      400,
      "CONFIG_SCHEMA_VIOLATION",
      `the config does not match the plugin's schema: ${summarize(problems)}`,
      {
        problems,
      },
    );
  }
}

/** On reads: the same check as warnings, so a hand-edited file that breaks the schema shows up in GET /config. */
export function schemaWarnings(ref: SchemaRef, doc: Table, config: Table): ConfigWarning[] {
  const { problems, schemaError } = schemaCheck(ref, doc, config);
  const source = "plugin.config_schema";
  if (schemaError)
    return [
      { code: "INVALID_CONFIG_SCHEMA", field: "plugin.config_schema", message: schemaError, severity: "error", source },
    ];
  return problems.map((p) => ({
    code: "CONFIG_SCHEMA_VIOLATION",
    field: p.path.replace(/^\//, "").replace(/\//g, ".") || "(root)",
    message: `${p.path} ${p.message}`,
    severity: "error" as const,
    source,
  }));
}

function invalid(message: string, details?: unknown): ApiError {
  return new ApiError(400, "INVALID_CONFIG", message, details);
}
