import { CliError, ExitCodes } from "./client.js";

/**
 * `--args '{"a":1}'` or `key=value` pairs. Values are parsed as JSON when they are JSON (`n=3`, `ok=true`,
 * `tags=["a"]`), else kept as strings (`name=Ada`); `a.b=1` builds nested objects.
 */
export function parseCallArgs(json: string | undefined, pairs: string[]): Record<string, unknown> {
  let args: Record<string, unknown> = {};
  if (json !== undefined) {
    try {
      args = JSON.parse(json);
    } catch (e) {
      throw new CliError(`--args is not valid JSON: ${(e as Error).message}`, ExitCodes.USAGE);
    }
    if (typeof args !== "object" || args === null || Array.isArray(args)) {
      throw new CliError('--args must be a JSON object, e.g. --args \'{"text":"hi"}\'', ExitCodes.USAGE);
    }
  }
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new CliError(`'${pair}' is not key=value`, ExitCodes.USAGE);
    const keys = pair.slice(0, eq).split(".");
    const raw = pair.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      // a plain string
    }
    let target = args;
    for (const k of keys.slice(0, -1)) {
      if (typeof target[k] !== "object" || target[k] === null) target[k] = {};
      target = target[k] as Record<string, unknown>;
    }
    target[keys.at(-1)!] = value;
  }
  return args;
}
