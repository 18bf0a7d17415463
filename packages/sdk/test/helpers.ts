import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { PassThrough } from "node:stream";
import { fileURLToPath } from "node:url";
import { type HandshakeParams, PROTOCOL_VERSION, type ProtocolWarning, RpcPeer } from "@plugd/protocol";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

export interface Note {
  method: string;
  params: any;
}

export function handshakeParams(over: Partial<HandshakeParams> & { config?: Record<string, unknown> } = {}) {
  const { config, ...rest } = over;
  return {
    protocolVersion: PROTOCOL_VERSION,
    host: { name: "test-host", version: "0.0.0" },
    plugin: { id: "test-plugin", config: config ?? {} },
    supportsReverseRpc: true,
    ...rest,
  } satisfies HandshakeParams;
}

/** Waits until `cond` holds, polling; fails with `what` after `ms`. */
export async function until(cond: () => boolean, ms = 2000, what = "condition"): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A host-side peer on in-memory streams, wired to whatever `attach` serves on the other ends. */
export function memoryHost() {
  const toPlugin = new PassThrough();
  const toHost = new PassThrough();
  const warnings: ProtocolWarning[] = [];
  const host = new RpcPeer(toHost, toPlugin, { onWarning: (w) => warnings.push(w) });
  const notes: Note[] = [];
  host.onAnyNotification((method, params) => notes.push({ method, params }));
  return { host, notes, warnings, pluginInput: toPlugin, pluginOutput: toHost };
}

/** A plugin process with a host peer on its stdio; stdout and stderr are also kept raw. */
export function spawnPlugin(args: string[], env: Record<string, string> = {}) {
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, PLUGD_SDK_NO_AUTOSTART: "", ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr!.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  child.stdin!.on("error", () => {});
  const warnings: ProtocolWarning[] = [];
  const host = new RpcPeer(child.stdout!, child.stdin!, { onWarning: (w) => warnings.push(w) });
  const notes: Note[] = [];
  host.onAnyNotification((method, params) => notes.push({ method, params }));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  return {
    child,
    host,
    notes,
    warnings,
    exited,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    },
  };
}
