import type { Table } from "./merge.js";

/**
 * Hot updates in "temporary" mode: patches that the running plugin process has, but no file. They stack (each patch
 * merges over the previous ones) and last until the process goes away or the config is written, whichever comes
 * first — a write means someone decided what the config is now, and a restart must come back from the files.
 *
 * Keyed by the absolute path of the plugin's plugin.toml: `configFor` receives only the manifest, and the path is the
 * one identity the host's callback and the HTTP routes share.
 */
const overlays = new Map<string, Table>();

export const temporaryOverlays = {
  get(pluginFile: string): Table | undefined {
    return overlays.get(pluginFile);
  },
  set(pluginFile: string, overlay: Table): void {
    overlays.set(pluginFile, overlay);
  },
  clear(pluginFile: string): void {
    overlays.delete(pluginFile);
  },
};
