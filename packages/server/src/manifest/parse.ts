import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import type { Static } from "@sinclair/typebox";
import { parse as parseToml } from "smol-toml";
import { Defaults } from "../config/defaults.js";
import { ajv } from "../validation/ajv.js";
import { KNOWN_PLUGIN_KEYS, ManifestDocument, RESERVED_TABLES } from "./schema.js";
import type { Dependency, ManifestErrorInfo, PluginManifest, StartSpec, VersionRanges } from "./types.js";
import { validRange } from "./versions.js";

export class ManifestError extends Error {
  readonly info: ManifestErrorInfo;
  constructor(info: ManifestErrorInfo) {
    super(info.message);
    this.name = "ManifestError";
    this.info = info;
  }
}

const checkDocument = ajv.compile(ManifestDocument);
type Doc = Static<typeof ManifestDocument>;

/** Reads `<dir>/plugin.toml`. */
export function loadManifest(dir: string): PluginManifest {
  const file = path.join(path.resolve(dir), "plugin.toml");
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new ManifestError({
      code: "MANIFEST_NOT_FOUND",
      file,
      message: `${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    });
  }
  return parseManifest(file, text);
}

/** Parses and validates a manifest; every error names the file, the key and what is wrong. */
export function parseManifest(file: string, text: string): PluginManifest {
  const fail = (message: string, key?: string): never => {
    throw new ManifestError({
      code: "MANIFEST_INVALID",
      file,
      message: `${file}: ${message}`,
      ...(key ? { key } : {}),
    });
  };
  let raw: Record<string, unknown>;
  try {
    raw = parseToml(text) as Record<string, unknown>;
  } catch (e) {
    const err = e as Error & { line?: number; column?: number };
    const where = err.line ? ` (line ${err.line}, column ${err.column})` : "";
    return fail(`is not valid TOML${where}: ${err.message.split("\n")[0]}`);
  }
  if (!checkDocument(raw)) {
    const problems = (checkDocument.errors ?? []).slice(0, 3).map((e) => {
      const key = [
        ...e.instancePath.split("/").filter(Boolean),
        ...(e.keyword === "required" ? [(e.params as { missingProperty: string }).missingProperty] : []),
      ].join(".");
      const got = e.keyword === "required" ? "missing" : `got ${JSON.stringify(valueAt(raw, e.instancePath))}`;
      const what =
        e.keyword === "required"
          ? "is required"
          : e.keyword === "additionalProperties"
            ? `has an unknown key "${(e.params as { additionalProperty: string }).additionalProperty}"`
            : e.keyword === "pattern" && key === "plugin.id"
              ? "must contain only letters, digits, '_' and '-'"
              : e.message;
      return { key, text: `${key} ${what} (${got})` };
    });
    return fail(problems.map((p) => p.text).join("; "), problems[0]?.key);
  }
  const doc = raw as Doc;
  const p = doc.plugin;
  const dir = path.dirname(path.resolve(file));
  const warnings: string[] = [];
  for (const k of Object.keys(p))
    if (!KNOWN_PLUGIN_KEYS.has(k)) warnings.push(`plugin.${k} is not a key plugd knows; ignored`);

  const cwd = path.resolve(dir, p.cwd ?? ".");
  if (cwd !== dir && !cwd.startsWith(dir + path.sep))
    fail(`plugin.cwd must stay inside the plugin folder (got "${p.cwd}")`, "plugin.cwd");

  const start = startSpec(p, dir, cwd, fail);
  const ranges = (r: Doc["plugin"]["sdk"], key: string): VersionRanges => {
    if (!r) return {};
    const out: VersionRanges = {};
    const supported = r.supported ?? r.compatible;
    if (r.recommended) out.recommended = r.recommended;
    if (supported) out.supported = supported;
    if (r.untested) out.untested = r.untested;
    if (r.conflicts) out.conflicts = Array.isArray(r.conflicts) ? r.conflicts : [r.conflicts];
    for (const [k, v] of Object.entries(out)) {
      for (const s of Array.isArray(v) ? v : [v])
        if (validRange(s) === null) fail(`${key}.${k} "${s}" is not a valid version range`, `${key}.${k}`);
    }
    return out;
  };

  const dependencies: Dependency[] = [
    ...(p.dependencies ?? []).map((id) => ({ id, optional: false })),
    ...(p.dependency ?? [])
      .filter((d) => d.id)
      .map((d) => ({
        id: d.id!,
        optional: d.optional ?? false,
        ...((d.supported ?? d.untested) ? { range: (d.supported ?? d.untested)! } : {}),
      })),
  ];

  const rt = doc.plugin_runtime ?? {};
  const L = p.limits ?? {};
  const R = p.restart ?? {};
  const config: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) if (!RESERVED_TABLES.has(k)) config[k] = structuredClone(v);

  return {
    id: p.id,
    name: p.name,
    version: p.version ?? "0.0.0",
    description: p.description ?? "",
    dir,
    file: path.resolve(file),
    start,
    ...(start.runtime === "python" && p.entry?.includes(":") ? { pythonEntry: p.entry } : {}),
    enabled: p.enabled ?? rt.enabled ?? true,
    autoStart: p.auto_start ?? rt.auto_start ?? false,
    protocol: ranges(p.protocol, "plugin.protocol"),
    sdk: ranges(p.sdk, "plugin.sdk"),
    dependencies,
    limits: {
      handshakeTimeoutMs:
        L.handshake_timeout_ms ?? (rt.timeout ? Math.round(rt.timeout * 1000) : Defaults.plugin.handshakeTimeoutMs),
      rpcTimeoutMs: L.rpc_timeout_ms ?? Defaults.plugin.rpcTimeoutMs,
      shutdownTimeoutMs: L.shutdown_timeout_ms ?? Defaults.plugin.shutdownTimeoutMs,
      healthIntervalMs: L.health_interval_ms ?? Defaults.plugin.healthIntervalMs,
      maxConcurrency: L.max_concurrency ?? Defaults.plugin.maxConcurrency,
      maxQueue: L.max_queue ?? Defaults.plugin.maxQueue,
      maxMessageBytes: L.max_message_bytes ?? Defaults.plugin.maxMessageBytes,
    },
    restart: {
      policy: R.policy ?? Defaults.restart.policy,
      maxRetries: R.max_retries ?? Defaults.restart.maxRetries,
      backoffBaseMs: R.backoff_base_ms ?? Defaults.restart.backoffBaseMs,
      backoffCapMs: R.backoff_cap_ms ?? Defaults.restart.backoffCapMs,
      windowMs: R.window_ms ?? Defaults.restart.windowMs,
    },
    events: { include: p.events?.include ?? [], exclude: p.events?.exclude ?? [] },
    permissions: { reverseRpc: p.permissions?.reverse_rpc ?? false, call: p.permissions?.call ?? [] },
    config,
    raw,
    warnings,
  };
}

function startSpec(p: Doc["plugin"], dir: string, cwd: string, fail: (m: string, k?: string) => never): StartSpec {
  const env = p.env ?? {};
  if (p.command) {
    const command = p.command.includes("/") ? path.resolve(dir, p.command) : p.command;
    return { command, args: p.args ?? [], cwd, env, runtime: "binary" };
  }
  if (!p.entry)
    return fail("needs a way to start it: plugin.command, or plugin.runtime with plugin.entry", "plugin.entry");
  const runtime = p.runtime ?? (p.entry.includes(":") || p.entry.endsWith(".py") ? "python" : "node");
  if (runtime === "binary") return fail('plugin.runtime "binary" needs plugin.command', "plugin.command");
  if (runtime === "python" && p.entry.includes(":") && !p.entry.endsWith(".py")) {
    // N.E.K.O style "module:Class": the Python SDK's runner imports it from the plugin folder.
    const pythonPath = [dir, process.env.PLUGD_PYTHON_SDK ?? pythonSdkDir()].join(path.delimiter);
    return {
      command: resolvePython(),
      args: ["-u", "-m", "plugd.neko_runner", p.entry],
      cwd,
      env: { PYTHONPATH: pythonPath, ...env },
      runtime,
    };
  }
  const file = path.resolve(dir, p.entry);
  if (file !== dir && !file.startsWith(dir + path.sep))
    fail(`plugin.entry must stay inside the plugin folder (got "${p.entry}")`, "plugin.entry");
  if (runtime === "node") return { command: process.execPath, args: [...(p.args ?? []), file], cwd, env, runtime };
  return {
    command: resolvePython(),
    args: ["-u", file, ...(p.args ?? [])],
    cwd,
    env: { PYTHONPATH: process.env.PLUGD_PYTHON_SDK ?? pythonSdkDir(), ...env },
    runtime,
  };
}

let python: string | undefined;

/**
 * The real Python interpreter, resolved once per process. `python3` on PATH is often a shell shim (pyenv) that adds
 * 50–80 ms to every spawn (reference/ipc-baselines.md). Override with PLUGD_PYTHON.
 */
export function resolvePython(): string {
  if (process.env.PLUGD_PYTHON) return process.env.PLUGD_PYTHON;
  if (python) return python;
  try {
    python = execFileSync("python3", ["-c", "import sys; print(sys.executable)"], {
      encoding: "utf8",
      timeout: 10_000,
    }).trim();
  } catch {
    python = "python3";
  }
  return python;
}

/** The Python SDK of this repository, put on PYTHONPATH so plugins need no install. */
export function pythonSdkDir(): string {
  return path.resolve(path.dirname(new URL(import.meta.url).pathname), "../../../../sdks/python");
}

function valueAt(obj: unknown, pointer: string): unknown {
  let cur = obj;
  for (const k of pointer.split("/").filter(Boolean)) cur = (cur as Record<string, unknown> | undefined)?.[k];
  return cur;
}
