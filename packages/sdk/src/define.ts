import { redirectConsole, serveStdio } from "./stdio.js";
import type { EntryDefinition, PluginDefinition } from "./types.js";

/** Declares one entry; the generic parameters type the handler's input and output. */
export function entry<I = any, O = unknown>(def: EntryDefinition<I, O>): EntryDefinition<I, O> {
  return def;
}

/**
 * Declares the plugin and, when run as a plugin process, starts serving on stdin/stdout at once.
 * Set PLUGD_SDK_NO_AUTOSTART=1 to only get the definition back (tests call `serve` themselves).
 */
export function definePlugin<D extends PluginDefinition>(def: D): D {
  if (process.env.PLUGD_SDK_NO_AUTOSTART !== "1") serveStdio(def);
  return def;
}

if (process.env.PLUGD_SDK_NO_AUTOSTART !== "1") redirectConsole();
