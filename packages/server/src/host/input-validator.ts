import { type EntryInfo, RpcError } from "@plugd/protocol";
import { ajv, describeErrors, summarize, type ValidateFunction } from "../validation/ajv.js";

/**
 * Checks a call's input against the entry's JSON Schema before the plugin sees it. Validators are compiled once
 * per plugin process (entries come from its handshake) and dropped when it stops.
 */
export class InputValidator {
  private readonly cache = new Map<string, WeakMap<EntryInfo, ValidateFunction | null>>();

  check(pluginId: string, entry: EntryInfo, input: unknown): void {
    const validate = this.compiled(pluginId, entry);
    if (!validate || validate(input)) return;
    const problems = describeErrors(validate.errors);
    throw RpcError.of("INVALID_INPUT", `input of ${pluginId}.${entry.id} is invalid: ${summarize(problems)}`, {
      problems,
      schema: entry.inputSchema,
    });
  }

  forget(pluginId: string): void {
    this.cache.delete(pluginId);
  }

  private compiled(pluginId: string, entry: EntryInfo): ValidateFunction | null {
    let perPlugin = this.cache.get(pluginId);
    if (!perPlugin) {
      perPlugin = new WeakMap();
      this.cache.set(pluginId, perPlugin);
    }
    let v: ValidateFunction | null | undefined = perPlugin.get(entry);
    if (v === undefined) {
      if (!entry.inputSchema) {
        v = null;
      } else {
        try {
          v = ajv.compile(entry.inputSchema);
        } catch (e) {
          throw RpcError.of(
            "ENTRY_NOT_FOUND",
            `entry ${pluginId}.${entry.id} declares an input schema that is not valid JSON Schema: ${(e as Error).message}`,
          );
        }
      }
      perPlugin.set(entry, v);
    }
    return v ?? null;
  }
}
