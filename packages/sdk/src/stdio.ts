import type { RpcPeer } from "@plugd/protocol";
import { serve } from "./runtime.js";
import type { PluginDefinition } from "./types.js";

/** How long an exit waits for the last bytes to reach the host before leaving anyway. */
const EXIT_FLUSH_MS = 500;

/**
 * Serves on this process's stdin/stdout and owns the process's life: exits 0 after answering `plugin/shutdown` and
 * when stdin ends (the host is gone, so the plugin must not outlive it, even with handlers still running), and exits
 * 1 on an uncaught exception.
 */
export function serveStdio(def: PluginDefinition): RpcPeer {
  let exiting = false;
  const exit = (code: number) => {
    if (exiting) return;
    exiting = true;
    peer.flush();
    // A write callback fires only after everything written before it was handed to the OS; the timer covers a host
    // that stopped reading.
    setTimeout(() => process.exit(code), EXIT_FLUSH_MS).unref();
    if (process.stdout.writableLength === 0) process.exit(code);
    process.stdout.write("", () => process.exit(code));
  };
  const peer = serve(def, { input: process.stdin, output: process.stdout, onShutdown: () => exit(0) });
  peer.onClose(() => exit(0));
  // EPIPE: the host closed our stdout; nobody is left to talk to.
  process.stdout.on("error", () => exit(0));
  process.on("uncaughtException", (e) => {
    process.stderr.write(`[plugd-sdk] fatal: uncaught exception: ${e?.stack ?? String(e)}\n`);
    process.exit(1);
  });
  return peer;
}
