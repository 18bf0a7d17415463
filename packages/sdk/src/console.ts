import { Console } from "node:console";

/**
 * stdout belongs to the protocol. Every console method that would print there (log, info, debug, dir, table,
 * count, time…) is pointed at stderr instead, where the host turns lines into log records. One stderr Console backs
 * them all so group indentation stays consistent.
 */
export function redirectConsole(): void {
  const toStderr = new Console({ stdout: process.stderr, stderr: process.stderr });
  const target = console as unknown as Record<string, unknown>;
  const source = toStderr as unknown as Record<string, unknown>;
  for (const key of Object.keys(target)) {
    const fn = source[key];
    if (typeof fn === "function" && key !== "Console") target[key] = fn;
  }
}

// At module load, before the plugin's own module body runs (ESM evaluates this first), so even top-level logging
// of a plugin is safe. Tests that import the SDK into a test runner opt out with PLUGD_SDK_NO_AUTOSTART=1.
if (process.env.PLUGD_SDK_NO_AUTOSTART !== "1") redirectConsole();
