import fs from "node:fs";
import path from "node:path";
import { PROTOCOL_VERSION } from "@plugd/protocol";
import { loadManifest, ManifestError } from "./parse.js";
import type { DiscoveredPlugin } from "./types.js";
import { checkRanges } from "./versions.js";

/** The SDK version this host implements, checked against [plugin.sdk] (N.E.K.O manifests target 0.1.x–0.2.x). */
export const HOST_SDK_VERSION = "0.1.0";

/**
 * Loads every immediate subfolder of `pluginsDir` that has a plugin.toml. A broken manifest, a version conflict or
 * a duplicate id makes that one plugin a failure with its reason; the others load. Sorted by id.
 */
export function discoverPlugins(
  pluginsDir: string,
  opts: { protocolVersion?: string; sdkVersion?: string } = {},
): DiscoveredPlugin[] {
  let names: fs.Dirent[];
  try {
    names = fs.readdirSync(pluginsDir, { withFileTypes: true });
  } catch (e) {
    throw new Error(
      `cannot read the plugins directory ${pluginsDir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  const out: DiscoveredPlugin[] = [];
  const seen = new Map<string, string>();
  for (const d of names.sort((a, b) => a.name.localeCompare(b.name))) {
    const dir = path.join(pluginsDir, d.name);
    const isDir = d.isDirectory() || (d.isSymbolicLink() && fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory());
    if (!isDir || !fs.existsSync(path.join(dir, "plugin.toml"))) continue;
    const file = path.join(dir, "plugin.toml");
    try {
      const manifest = loadManifest(dir);
      for (const [kind, actual, ranges] of [
        ["protocol", opts.protocolVersion ?? PROTOCOL_VERSION, manifest.protocol],
        ["sdk", opts.sdkVersion ?? HOST_SDK_VERSION, manifest.sdk],
      ] as const) {
        const check = checkRanges(kind, actual, ranges);
        if (!check.ok)
          throw new ManifestError({
            code: check.code,
            file,
            message: `${file}: not loaded: ${check.message}`,
            key: `plugin.${kind}`,
          });
        manifest.warnings.push(...check.warnings);
      }
      const first = seen.get(manifest.id);
      if (first) {
        throw new ManifestError({
          code: "DUPLICATE_ID",
          file,
          key: "plugin.id",
          message: `${file}: plugin id '${manifest.id}' is already used by ${first}`,
        });
      }
      seen.set(manifest.id, file);
      out.push({ ok: true, manifest });
    } catch (e) {
      const info =
        e instanceof ManifestError
          ? e.info
          : { code: "MANIFEST_INVALID" as const, file, message: `${file}: ${(e as Error).message}` };
      out.push({ ok: false, id: idOf(file) ?? d.name, dir, file, error: info });
    }
  }
  return out.sort((a, b) => (a.ok ? a.manifest.id : a.id).localeCompare(b.ok ? b.manifest.id : b.id));
}

/** Best effort: the id of a manifest that failed validation, so the failure is reported under its own name. */
function idOf(file: string): string | undefined {
  try {
    const m = /^\s*id\s*=\s*"([A-Za-z0-9_-]+)"/m.exec(fs.readFileSync(file, "utf8"));
    return m?.[1];
  } catch {
    return undefined;
  }
}
