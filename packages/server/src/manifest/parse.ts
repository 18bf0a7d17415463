import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Static, TSchema } from "@sinclair/typebox";
import semver from "semver";
import { parse as parseToml } from "smol-toml";
import { Defaults } from "../config/defaults.js";
import { ajv, type ErrorObject } from "../validation/ajv.js";
import { ManifestDocument, NEKO_KEYS, PluginRuntimeTable, PluginTable, RESERVED_TABLES } from "./schema.js";
import type {
  Dependency,
  ManifestErrorInfo,
  PluginManifest,
  RestartPolicy,
  StartSpec,
  VersionRanges,
} from "./types.js";
import { toSemverRange } from "./versions.js";

export class ManifestError extends Error {
  readonly info: ManifestErrorInfo;
  constructor(info: ManifestErrorInfo) {
    super(info.message);
    this.name = "ManifestError";
    this.info = info;
  }
  get code(): ManifestErrorInfo["code"] {
    return this.info.code;
  }
}

const checkDocument = ajv.compile(ManifestDocument);
type Doc = Static<typeof ManifestDocument>;
type PluginDoc = Doc["plugin"];

/** How many problems one error message lists; the rest are counted. */
const MAX_PROBLEMS = 3;

interface Problem {
  key: string;
  text: string;
}

/** Reads and validates `<dir>/plugin.toml`. */
export function loadManifest(dir: string): PluginManifest {
  const file = path.join(path.resolve(dir), "plugin.toml");
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ManifestError({
      code: "MANIFEST_NOT_FOUND",
      file,
      message:
        code === "ENOENT"
          ? `${displayPath(file)}: no plugin.toml in this folder`
          : `${displayPath(file)}: cannot read it (${code ?? (e as Error).message})`,
    });
  }
  return parseManifest(file, text);
}

/**
 * Parses, validates and defaults a manifest. `file` is where it lives (relative paths in it resolve against its
 * folder); the file itself is not read. Throws a ManifestError whose message names the file, the key and the problem.
 */
export function parseManifest(file: string, text: string): PluginManifest {
  const abs = path.resolve(file);
  const shown = displayPath(abs);
  const fail = (problems: Problem[]): never => {
    const more = problems.length > MAX_PROBLEMS ? ` (and ${problems.length - MAX_PROBLEMS} more)` : "";
    const first = problems[0];
    throw new ManifestError({
      code: "MANIFEST_INVALID",
      file: abs,
      message: `${shown}: ${problems
        .slice(0, MAX_PROBLEMS)
        .map((p) => p.text)
        .join("; ")}${more}`,
      ...(first?.key ? { key: first.key } : {}),
    });
  };

  let raw: Record<string, unknown>;
  try {
    raw = parseToml(text.replace(/^\uFEFF/, "")) as Record<string, unknown>;
  } catch (e) {
    const err = e as Error & { line?: number; column?: number };
    const where = err.line ? ` at line ${err.line}, column ${err.column}` : "";
    const why = (err.message.split("\n")[0] ?? "").replace(/^Invalid TOML document:\s*/, "");
    return fail([{ key: "", text: `is not valid TOML${where}: ${why}` }]);
  }
  if (!checkDocument(raw)) return fail(schemaProblems(checkDocument.errors ?? [], raw));

  const doc = raw as Doc;
  const p = doc.plugin;
  const rt = doc.plugin_runtime ?? {};
  const dir = path.dirname(abs);
  const problems: Problem[] = [];
  const warnings: string[] = [];
  unknownKeys(PluginTable, p, ["plugin"], warnings);
  if (doc.plugin_runtime) unknownKeys(PluginRuntimeTable, doc.plugin_runtime, ["plugin_runtime"], warnings);

  const cwd = path.resolve(dir, p.cwd ?? ".");
  if (!isInside(dir, cwd)) {
    problems.push({ key: "plugin.cwd", text: `plugin.cwd must stay inside the plugin folder (got "${p.cwd}")` });
  }
  const env = { ...(p.env ?? {}) };
  for (const name of Object.keys(env)) {
    if (!name || name.includes("=") || name.includes("\0")) {
      const key = formatKey(["plugin", "env", name]);
      problems.push({ key, text: `${key} is not a valid environment variable name` });
    }
  }
  const version = p.version ?? "0.0.0";
  if (!semver.valid(version)) {
    warnings.push(`plugin.version "${version}" is not a semver version; dependency ranges may not match it`);
  }

  const sdk = versionRanges(p.sdk, "plugin.sdk", problems, warnings);
  const protocol = versionRanges(p.protocol, "plugin.protocol", problems, warnings);
  const dependencies = dependencyList(p, problems, warnings);
  const restart = restartPolicy(p.restart ?? {}, problems);
  const launch = startSpec(p, dir, cwd, env, problems, warnings);
  if (problems.length > 0 || !launch) return fail(problems);
  // N.E.K.O has no permission table: every plugin may push messages, update its config and call other plugins. A
  // N.E.K.O-layout plugin ("module:Class" entry) without [plugin.permissions] keeps that, so it runs unmodified.
  const neko = launch.pythonEntry !== undefined && p.permissions === undefined;
  const permissions = {
    reverseRpc: p.permissions?.reverse_rpc ?? neko,
    call: p.permissions?.call ?? (neko ? ["*"] : []),
  };
  if (permissions.call.length > 0 && !permissions.reverseRpc) {
    warnings.push("plugin.permissions.call has no effect while plugin.permissions.reverse_rpc is false");
  }

  const L = p.limits ?? {};
  const config: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) if (!RESERVED_TABLES.has(k)) config[k] = structuredClone(v);

  return {
    id: p.id,
    name: p.name,
    version,
    description: p.description ?? "",
    dir,
    file: abs,
    start: launch.start,
    ...(launch.pythonEntry ? { pythonEntry: launch.pythonEntry } : {}),
    enabled: rt.enabled ?? true,
    autoStart: rt.auto_start ?? false,
    protocol,
    sdk,
    dependencies,
    limits: {
      handshakeTimeoutMs:
        L.handshake_timeout_ms ??
        (rt.timeout !== undefined ? Math.round(rt.timeout * 1000) : Defaults.plugin.handshakeTimeoutMs),
      rpcTimeoutMs: L.rpc_timeout_ms ?? Defaults.plugin.rpcTimeoutMs,
      shutdownTimeoutMs: L.shutdown_timeout_ms ?? Defaults.plugin.shutdownTimeoutMs,
      healthIntervalMs: L.health_interval_ms ?? Defaults.plugin.healthIntervalMs,
      maxConcurrency: L.max_concurrency ?? Defaults.plugin.maxConcurrency,
      maxQueue: L.max_queue ?? Defaults.plugin.maxQueue,
      maxMessageBytes: L.max_message_bytes ?? Defaults.plugin.maxMessageBytes,
    },
    restart,
    events: { include: p.events?.include ?? [], exclude: p.events?.exclude ?? [] },
    permissions,
    config,
    raw,
    warnings,
  };
}

function versionRanges(table: PluginDoc["sdk"], key: string, problems: Problem[], warnings: string[]): VersionRanges {
  if (!table) return {};
  const out: VersionRanges = {};
  if (table.supported !== undefined && table.compatible !== undefined && table.supported !== table.compatible) {
    warnings.push(`${key}.compatible is ignored: ${key}.supported is set`);
  }
  const entries: [string, string | undefined][] = [
    ["recommended", table.recommended],
    [table.supported !== undefined ? "supported" : "compatible", table.supported ?? table.compatible],
    ["untested", table.untested],
  ];
  const valid = (k: string, s: string): boolean => {
    if (toSemverRange(s) !== null) return true;
    problems.push({ key: `${key}.${k}`, text: `${key}.${k} is not a valid version range (got "${s}")` });
    return false;
  };
  for (const [k, s] of entries) {
    if (s === undefined || !valid(k, s)) continue;
    if (k === "recommended") out.recommended = s;
    else if (k === "untested") out.untested = s;
    else out.supported = s;
  }
  if (table.conflicts !== undefined) {
    const list = Array.isArray(table.conflicts) ? table.conflicts : [table.conflicts];
    out.conflicts = list.filter((s) => valid("conflicts", s));
  }
  return out;
}

function dependencyList(p: PluginDoc, problems: Problem[], warnings: string[]): Dependency[] {
  const byId = new Map<string, Dependency>();
  for (const id of p.dependencies ?? []) byId.set(id, { id, optional: false });
  (p.dependency ?? []).forEach((d, i) => {
    const key = `plugin.dependency[${i}]`;
    if (d.entry !== undefined && d.custom_event !== undefined) {
      problems.push({ key, text: `${key} names both entry and custom_event; keep one` });
      return;
    }
    if (d.conflicts === true) {
      warnings.push(`${key} declares a plugin that must not be present; plugd does not enforce that`);
      return;
    }
    // N.E.K.O lets a dependency name an entry ("pid:eid") or a custom event ("pid:type:id") instead of a plugin.
    const fromEntry = d.entry?.split(":");
    const fromEvent = d.custom_event?.split(":");
    const id =
      d.id ??
      (fromEntry && fromEntry.length === 2 ? fromEntry[0] : undefined) ??
      (fromEvent && fromEvent.length === 3 ? fromEvent[0] : undefined);
    if (!id) {
      warnings.push(`${key} names no plugin (an entry or event any plugin may provide); plugd does not check it`);
      return;
    }
    const ranges: string[] = [];
    for (const k of ["supported", "untested"] as const) {
      const s = d[k];
      if (s === undefined) continue;
      const r = toSemverRange(s);
      if (r === null)
        problems.push({ key: `${key}.${k}`, text: `${key}.${k} is not a valid version range (got "${s}")` });
      else ranges.push(r);
    }
    // A version only in `untested` is still acceptable, so the dependency's range is the union of both.
    byId.set(id, { id, optional: d.optional ?? false, ...(ranges.length ? { range: ranges.join(" || ") } : {}) });
  });
  if (byId.has(p.id)) {
    problems.push({
      key: "plugin.dependencies",
      text: `plugin.dependencies must not name the plugin itself ("${p.id}")`,
    });
  }
  return [...byId.values()];
}

function restartPolicy(r: NonNullable<PluginDoc["restart"]>, problems: Problem[]): RestartPolicy {
  const policy: RestartPolicy = {
    policy: r.policy ?? Defaults.restart.policy,
    maxRetries: r.max_retries ?? Defaults.restart.maxRetries,
    backoffBaseMs: r.backoff_base_ms ?? Defaults.restart.backoffBaseMs,
    backoffCapMs: r.backoff_cap_ms ?? Defaults.restart.backoffCapMs,
    windowMs: r.window_ms ?? Defaults.restart.windowMs,
  };
  if (policy.backoffCapMs < policy.backoffBaseMs) {
    problems.push({
      key: "plugin.restart.backoff_cap_ms",
      text: `plugin.restart.backoff_cap_ms must be ≥ backoff_base_ms (${policy.backoffBaseMs}) (got ${policy.backoffCapMs})`,
    });
  }
  return policy;
}

/** N.E.K.O's "package.module:Class" entry, as opposed to a file path. */
const MODULE_ENTRY = /^[A-Za-z_][\w.]*:[A-Za-z_]\w*$/;

function startSpec(
  p: PluginDoc,
  dir: string,
  cwd: string,
  env: Record<string, string>,
  problems: Problem[],
  warnings: string[],
): { start: StartSpec; pythonEntry?: string } | undefined {
  const args = p.args ?? [];
  if (p.command !== undefined) {
    if (p.runtime !== undefined) {
      problems.push({
        key: "plugin.runtime",
        text: "plugin.runtime and plugin.command are two ways to start the plugin; keep one",
      });
      return undefined;
    }
    if (p.entry !== undefined) warnings.push("plugin.entry is ignored: plugin.command starts the plugin");
    // A bare name is looked up on PATH when spawned; anything with a separator is a path in the plugin folder.
    const command = /[/\\]/.test(p.command) ? path.resolve(dir, p.command) : p.command;
    return { start: { command, args, cwd, env } };
  }
  const entry = p.entry;
  if (entry === undefined) {
    problems.push({
      key: "plugin.entry",
      text:
        p.runtime !== undefined
          ? `plugin.entry is required with plugin.runtime "${p.runtime}"`
          : 'plugin.entry is required: the plugin needs plugin.command, or plugin.entry with plugin.runtime "node" or "python"',
    });
    return undefined;
  }
  const isModule = MODULE_ENTRY.test(entry);
  const runtime = p.runtime ?? (entry.includes(":") || entry.endsWith(".py") ? "python" : "node");
  if (runtime === "python" && isModule) {
    const sdk = pythonSdkDir();
    return {
      start: {
        command: resolvePython(),
        args: ["-u", "-m", "plugd.neko_runner", entry, ...args],
        cwd,
        // The runner imports the module from the plugin folder, as N.E.K.O does.
        env: withPythonPath(env, [dir, ...(sdk ? [sdk] : [])]),
        runtime,
      },
      pythonEntry: entry,
    };
  }
  if (entry.includes(":")) {
    const hint = runtime === "node" ? ' (a "module:Class" entry needs plugin.runtime "python")' : "";
    problems.push({
      key: "plugin.entry",
      text: `plugin.entry must be a file or a Python "module:Class"${hint} (got "${entry}")`,
    });
    return undefined;
  }
  const file = path.resolve(dir, entry);
  if (!isInside(dir, file) || file === dir) {
    problems.push({
      key: "plugin.entry",
      text: `plugin.entry must be a file inside the plugin folder (got "${entry}")`,
    });
    return undefined;
  }
  if (runtime === "node") return { start: { command: process.execPath, args: [file, ...args], cwd, env, runtime } };
  const sdk = pythonSdkDir();
  return {
    start: {
      command: resolvePython(),
      // Unbuffered: stdout is the protocol channel and stderr the log; neither may sit in a buffer.
      args: ["-u", file, ...args],
      cwd,
      env: sdk ? withPythonPath(env, [sdk]) : env,
      runtime,
    },
  };
}

function withPythonPath(env: Record<string, string>, dirs: string[]): Record<string, string> {
  const own = env.PYTHONPATH ? [env.PYTHONPATH] : [];
  return { ...env, PYTHONPATH: [...dirs, ...own].join(path.delimiter) };
}

let python: string | undefined;

/**
 * The real Python interpreter, resolved once per process. `python3` on PATH is often a shell shim (pyenv) that adds
 * 50–80 ms to every spawn (reference/ipc-baselines.md), so plugins are started with what it resolves to.
 * PLUGD_PYTHON overrides it.
 */
export function resolvePython(): string {
  const override = process.env.PLUGD_PYTHON;
  if (override) return override;
  if (python === undefined) {
    const name = process.platform === "win32" ? "python" : "python3";
    try {
      python =
        execFileSync(name, ["-c", "import sys;print(sys.executable)"], {
          encoding: "utf8",
          timeout: 10_000,
          stdio: ["ignore", "pipe", "ignore"],
        }).trim() || name;
    } catch {
      // No Python here: spawning the bare name later gives the plugin a clear ENOENT instead of failing discovery.
      python = name;
    }
  }
  return python;
}

/**
 * Where the Python SDK (the `plugd` package) lives when it is not installed: PLUGD_PYTHON_SDK, or this repository's
 * sdks/python. Undefined when neither exists, so plugins rely on an installed SDK.
 */
export function pythonSdkDir(): string | undefined {
  if (process.env.PLUGD_PYTHON_SDK) return process.env.PLUGD_PYTHON_SDK;
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../../sdks/python");
  for (const dir of [path.join(root, "src"), root]) {
    if (fs.existsSync(path.join(dir, "plugd"))) return dir;
  }
  return undefined;
}

/** Is `p` the folder `dir` or inside it, also after following symlinks where both exist. */
function isInside(dir: string, p: string): boolean {
  const within = (a: string, b: string) => {
    const rel = path.relative(a, b);
    return rel === "" || (rel.split(path.sep)[0] !== ".." && !path.isAbsolute(rel));
  };
  if (!within(dir, p)) return false;
  try {
    return within(fs.realpathSync(dir), fs.realpathSync(p));
  } catch {
    return true;
  }
}

/** Paths in messages are relative to the working directory when below it: shorter, and what the user typed. */
export function displayPath(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel && rel.split(path.sep)[0] !== ".." && !path.isAbsolute(rel) ? rel : file;
}

/** `plugin.limits.max_concurrency`, `plugin.dependency[0].id`, `plugin.env."A.B"`. */
export function formatKey(segs: (string | number)[]): string {
  return segs
    .map((s, i) =>
      typeof s === "number" ? `[${s}]` : `${i === 0 ? "" : "."}${/^[A-Za-z0-9_-]+$/.test(s) ? s : JSON.stringify(s)}`,
    )
    .join("");
}

/** Keys in our own tables that plugd does not know become warnings: N.E.K.O manifests carry many, typos happen. */
function unknownKeys(schema: TSchema, value: unknown, at: (string | number)[], out: string[]): void {
  if (schema.type === "object" && schema.properties && isTable(value)) {
    const props = schema.properties as Record<string, TSchema>;
    const neko = NEKO_KEYS[formatKey(at)];
    for (const [k, v] of Object.entries(value)) {
      const sub = props[k];
      if (sub) unknownKeys(sub, v, [...at, k], out);
      else if (!neko?.has(k)) {
        const near = Object.keys(props).find((known) => editDistance(known, k) <= 2);
        out.push(`${formatKey([...at, k])} is not a key plugd knows; ignored${near ? ` (did you mean ${near}?)` : ""}`);
      }
    }
  } else if (schema.type === "array" && schema.items && Array.isArray(value)) {
    value.forEach((v, i) => {
      unknownKeys(schema.items as TSchema, v, [...at, i], out);
    });
  }
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(
        (prev[j] ?? 0) + 1,
        (cur[j - 1] ?? 0) + 1,
        (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

function isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/**
 * ajv's errors as one readable line per bad key. A union that fails reports an error per branch plus one for the
 * union; only the outermost error of a key is kept, and errors below a key already reported are dropped.
 */
function schemaProblems(errors: ErrorObject[], raw: unknown): Problem[] {
  const outermost = new Map<string, { segs: (string | number)[]; error: ErrorObject }>();
  const problems: Problem[] = [];
  for (const e of errors) {
    const segs = pointerSegments(raw, e.instancePath);
    if (e.keyword === "required") {
      const missing = (e.params as { missingProperty: string }).missingProperty;
      const key = formatKey([...segs, missing]);
      problems.push({
        key,
        text: key === "plugin" ? "the [plugin] table is missing (it needs at least id and name)" : `${key} is required`,
      });
      continue;
    }
    const key = formatKey(segs);
    const seen = outermost.get(key);
    if (!seen || e.schemaPath.length < seen.error.schemaPath.length) outermost.set(key, { segs, error: e });
  }
  const reported = [...outermost.entries()];
  for (const [key, { segs, error }] of reported) {
    const below = reported.some(
      ([other]) => other !== key && (key.startsWith(`${other}.`) || key.startsWith(`${other}[`)),
    );
    if (below) continue;
    const schema = schemaAt(error.schemaPath);
    const what = schema ? `must be ${describe(schema)}` : (error.message ?? "is invalid");
    problems.push({ key, text: `${key} ${what} (got ${show(valueAt(raw, segs))})` });
  }
  return problems;
}

/** The schema an error's keyword belongs to: its schemaPath without the keyword. */
function schemaAt(schemaPath: string): TSchema | undefined {
  let cur: unknown = ManifestDocument;
  for (const seg of schemaPath.split("/").slice(1, -1)) {
    // ajv URI-encodes schemaPath segments (a patternProperties key such as "^(.*)$").
    const key = decodeURIComponent(seg).replace(/~1/g, "/").replace(/~0/g, "~");
    cur = (cur as Record<string, unknown> | undefined)?.[key];
  }
  return cur as TSchema | undefined;
}

function describe(s: TSchema): string {
  if (typeof s.expected === "string") return s.expected;
  if (Array.isArray(s.anyOf)) {
    const options = s.anyOf as TSchema[];
    if (options.every((o) => o.const !== undefined)) {
      return `one of ${options.map((o) => JSON.stringify(o.const)).join(", ")}`;
    }
    return options.map(describe).join(" or ");
  }
  if (s.const !== undefined) return JSON.stringify(s.const);
  const bounds = [
    s.minimum !== undefined ? `≥ ${s.minimum}` : "",
    s.exclusiveMinimum !== undefined ? `> ${s.exclusiveMinimum}` : "",
    s.maximum !== undefined ? `≤ ${s.maximum}` : "",
  ].filter(Boolean);
  const bounded = (noun: string) => (bounds.length ? `${noun} ${bounds.join(" and ")}` : noun);
  switch (s.type) {
    case "integer":
      return bounded("an integer");
    case "number":
      return bounded("a number");
    case "boolean":
      return "true or false";
    case "string":
      if (s.pattern) return `a string matching /${s.pattern}/`;
      return s.minLength ? "a non-empty string" : "a string";
    case "array":
      return `a list of ${plural(s.items as TSchema)}`;
    case "object":
      return "a table";
    default:
      return "valid";
  }
}

function plural(s: TSchema): string {
  if (typeof s.expected === "string") return `values that are ${s.expected}`;
  switch (s.type) {
    case "string":
      return s.minLength ? "non-empty strings" : "strings";
    case "integer":
      return "integers";
    case "number":
      return "numbers";
    case "object":
      return "tables";
    default:
      return "values";
  }
}

function show(v: unknown): string {
  if (v === undefined) return "nothing";
  if (v instanceof Date) return `the date ${v.toISOString()}`;
  if (isTable(v)) return "a table";
  const json = JSON.stringify(v) ?? String(v);
  return json.length > 60 ? `${json.slice(0, 57)}...` : json;
}

/** A JSON pointer's segments, with array indexes as numbers (they print as [i]). */
function pointerSegments(raw: unknown, pointer: string): (string | number)[] {
  const segs: (string | number)[] = [];
  let cur = raw;
  for (const part of pointer.split("/").slice(1)) {
    const k = part.replace(/~1/g, "/").replace(/~0/g, "~");
    if (Array.isArray(cur)) {
      segs.push(Number(k));
      cur = cur[Number(k)];
    } else {
      segs.push(k);
      cur = (cur as Record<string, unknown> | undefined)?.[k];
    }
  }
  return segs;
}

function valueAt(raw: unknown, segs: (string | number)[]): unknown {
  let cur = raw;
  for (const k of segs) cur = (cur as Record<string | number, unknown> | undefined)?.[k];
  return cur;
}
