import { format } from "node:util";
import { serve } from "./runtime.js";
import type { PluginDefinition } from "./types.js";

/**
 * stdout belongs to the protocol. Anything a plugin prints with console.log/info/debug goes to stderr, where the
 * host turns it into log lines; done at module load so even top-level logging of the plugin is safe.
 */
export function redirectConsole(): void {
  const toStderr = (...args: unknown[]) => {
    process.stderr.write(`${format(...args)}\n`);
  };
  console.log = toStderr;
  console.info = toStderr;
  console.debug = toStderr;
}

/** Serves on this process's stdin/stdout; exits when stdin ends (the host is gone) or after plugin/shutdown. */
export function serveStdio(def: PluginDefinition): void {
  const exit = (code: number) => {
    // Let the last answer reach the host before leaving.
    if (process.stdout.writableLength === 0) process.exit(code);
    process.stdout.once("drain", () => process.exit(code));
    setTimeout(() => process.exit(code), 500).unref();
  };
  const peer = serve(def, { input: process.stdin, output: process.stdout, onShutdown: () => exit(0) });
  peer.onClose(() => exit(0));
  process.stdout.on("error", () => process.exit(0));
  process.on("uncaughtException", (e) => {
    process.stderr.write(`fatal: uncaught exception: ${e.stack ?? e}\n`);
    process.exit(1);
  });
  process.on("unhandledRejection", (e) => {
    process.stderr.write(`fatal: unhandled rejection: ${(e as Error)?.stack ?? e}\n`);
    process.exit(1);
  });
}
