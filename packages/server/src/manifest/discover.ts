import fs from "node:fs";
import path from "node:path";
import { PROTOCOL_VERSION } from "@plugd/protocol";
import { parse as parseToml } from "smol-toml";
import { displayPath, loadManifest, ManifestError } from "./parse.js";
import type { DiscoveredPlugin, ManifestErrorInfo, PluginManifest } from "./types.js";
import { checkRanges } from "./versions.js";

/** The SDK version this host implements, checked against [plugin.sdk]; N.E.K.O's host says "0.1.0" too. */
export const HOST_SDK_VERSION = "0.1.0";

export interface DiscoverOptions {
  /** The wire protocol version to check [plugin.protocol] against (default: this host's). */
  protocolVersion?: string;
  /** The SDK version to check [plugin.sdk] against (default: HOST_SDK_VERSION). */
  sdkVersion?: string;
}

/**
 * Loads every immediate subfolder of `pluginsDir` that has a plugin.toml. A broken manifest, a version it cannot run
 * with or an id already taken (by a folder earlier in name order) makes that one plugin a failure with its reason;
 * the others load. Sorted by id.
 */
export function discoverPlugins(pluginsDir: string, opts: DiscoverOptions = {}): DiscoveredPlugin[] {
  const root = path.resolve(pluginsDir);
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(root, { withFileTypes: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT" ? "does not exist" : code === "ENOTDIR" ? "is not a directory" : `cannot be read (${code})`;
    throw new Error(`plugins directory ${root} ${why}`);
  }
  const out: DiscoveredPlugin[] = [];
  const taken = new Map<string, string>();
  for (const d of entries.sort((a, b) => compare(a.name, b.name))) {
    const dir = path.join(root, d.name);
    const file = path.join(dir, "plugin.toml");
    // Symlinked plugin folders are common in development (a plugin checked out elsewhere).
    const isDir = d.isDirectory() || (d.isSymbolicLink() && fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory());
    if (!isDir || !fs.existsSync(file)) continue;
    try {
      const manifest = loadManifest(dir);
      const first = taken.get(manifest.id);
      if (first !== undefined) {
        throw new ManifestError({
          code: "DUPLICATE_ID",
          file,
          key: "plugin.id",
          message: `${displayPath(file)}: plugin.id "${manifest.id}" is already used by ${displayPath(first)}`,
        });
      }
      taken.set(manifest.id, file);
      checkVersions(manifest, opts);
      out.push({ ok: true, manifest });
    } catch (e) {
      const error: ManifestErrorInfo =
        e instanceof ManifestError
          ? e.info
          : { code: "MANIFEST_INVALID", file, message: `${displayPath(file)}: ${(e as Error).message}` };
      out.push({ ok: false, id: declaredId(file) ?? d.name, dir, file, error });
    }
  }
  const idOf = (p: DiscoveredPlugin) => (p.ok ? p.manifest.id : p.id);
  return out.sort((a, b) => compare(idOf(a), idOf(b)) || compare(dirOf(a), dirOf(b)));
}

function checkVersions(manifest: PluginManifest, opts: DiscoverOptions): void {
  const checks = [
    ["protocol", opts.protocolVersion ?? PROTOCOL_VERSION, manifest.protocol],
    ["sdk", opts.sdkVersion ?? HOST_SDK_VERSION, manifest.sdk],
  ] as const;
  for (const [kind, actual, ranges] of checks) {
    const check = checkRanges(kind, actual, ranges);
    if (!check.ok) {
      throw new ManifestError({
        code: check.code,
        file: manifest.file,
        key: check.key,
        message: `${displayPath(manifest.file)}: not loaded: ${check.message}`,
      });
    }
    manifest.warnings.push(...check.warnings);
  }
}

/** The id a manifest that failed declares, so the failure is listed under the plugin's own name where possible. */
function declaredId(file: string): string | undefined {
  try {
    const doc = parseToml(fs.readFileSync(file, "utf8")) as { plugin?: { id?: unknown } };
    const id = doc.plugin?.id;
    return typeof id === "string" && /^[A-Za-z0-9_-]+$/.test(id) ? id : undefined;
  } catch {
    return undefined;
  }
}

function dirOf(p: DiscoveredPlugin): string {
  return p.ok ? p.manifest.dir : p.dir;
}

/** Code-point order: the same on every machine, unlike localeCompare. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
