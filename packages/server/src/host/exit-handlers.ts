/**
 * Kills plugin process groups on every way the host process can end on its own: normal exit, an uncaught error,
 * or a signal nobody else handles. (SIGKILL is covered by the Reaper.) Returns a function that removes them.
 */
export function installExitHandlers(killAll: () => void): () => void {
  const onExit = () => killAll();
  const onFatal = (err: unknown) => {
    killAll();
    console.error(err);
    process.exit(1);
  };
  const onSignal = (sig: NodeJS.Signals) => {
    // Someone else (the server) installs graceful handlers; only act when we are the sole listener.
    if (process.listenerCount(sig) > 1) return;
    killAll();
    process.exit(128 + (sig === "SIGINT" ? 2 : sig === "SIGHUP" ? 1 : 15));
  };
  process.on("exit", onExit);
  process.on("uncaughtException", onFatal);
  process.on("unhandledRejection", onFatal);
  for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(s, onSignal);
  return () => {
    process.off("exit", onExit);
    process.off("uncaughtException", onFatal);
    process.off("unhandledRejection", onFatal);
    for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.off(s, onSignal);
  };
}
