import type { FromSchema, JsonSchema } from "./schema.js";
import { serveStdio } from "./stdio.js";
import type { EntryDefinition, Handler, PluginDefinition } from "./types.js";

/**
 * Declares one entry. With an `input` schema the handler's input type is inferred from it (write the schema inline
 * or `as const`); otherwise give the type yourself: `entry<{ text: string }>({ … })`.
 */
export function entry<const S extends JsonSchema, O>(
  def: Omit<EntryDefinition<FromSchema<S>, O>, "input" | "handler"> & {
    input: S;
    handler: Handler<FromSchema<S>, O>;
  },
): EntryDefinition<FromSchema<S>, O>;
export function entry<I = any, O = unknown>(def: EntryDefinition<I, O>): EntryDefinition<I, O>;
export function entry(def: EntryDefinition): EntryDefinition {
  return def;
}

/**
 * Declares the plugin and, in a plugin process, starts serving on stdin/stdout at once (no await needed at the
 * call site). Set PLUGD_SDK_NO_AUTOSTART=1 to only get the definition back, e.g. to `serve` it in a test.
 */
export function definePlugin<D extends PluginDefinition>(def: D): D {
  if (process.env.PLUGD_SDK_NO_AUTOSTART !== "1") serveStdio(def);
  return def;
}
