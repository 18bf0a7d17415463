import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import {
  type EntryInfo,
  type HandshakeParams,
  type HandshakeResult,
  Methods,
  negotiateVersion,
  PROTOCOL_VERSION,
  type ProtocolWarning,
  RpcError,
  RpcPeer,
} from "@plugd/protocol";
import { Defaults } from "../config/defaults.js";
import type { PluginManifest } from "../manifest/types.js";
import { pluginEnvironment } from "./environment.js";
import { validateHandshake } from "./handshake-schema.js";
import { killGroup, type Reaper } from "./reaper.js";
import { StderrLines, type StderrRecord } from "./stderr-lines.js";

export interface InstanceExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when the host asked it to stop. */
  requested: boolean;
}

export interface InstanceHooks {
  onLog(record: StderrRecord & { pid: number; source: "stderr" | "protocol" }): void;
  onExit(exit: InstanceExit): void;
  /** Configures the peer before the handshake (notification and reverse-RPC handlers). */
  wirePeer(peer: RpcPeer): void;
}

export interface HostInfo {
  name: string;
  version: string;
  dataDir?: string;
}

/**
 * One running process of a plugin: spawn in its own process group, handshake, stop. Restarts and state across
 * processes belong to the PluginSupervisor; this class lives exactly as long as one process.
 */
export class PluginInstance {
  readonly child: ChildProcess;
  readonly peer: RpcPeer;
  readonly pid: number;
  readonly stderr: StderrLines;
  entries: EntryInfo[] = [];
  readonly entryById = new Map<string, EntryInfo>();
  handshake: HandshakeResult | undefined;
  private stopping = false;
  private exited: InstanceExit | undefined;
  private readonly exitPromise: Promise<InstanceExit>;

  constructor(
    readonly manifest: PluginManifest,
    private readonly hooks: InstanceHooks,
    private readonly reaper: Reaper,
  ) {
    const { start } = manifest;
    assertExecutable(start.command, manifest.dir);
    const env = pluginEnvironment(start.env, { PLUGD_PLUGIN_ID: manifest.id });
    this.child = spawn(start.command, start.args, {
      cwd: start.cwd,
      env,
      // Own process group: the host can signal the plugin and everything it forked as one.
      detached: true,
      stdio: ["pipe", "pipe", "pipe"],
    });
    if (this.child.pid === undefined) {
      // spawn failed synchronously (ENOENT is reported asynchronously via 'error', handled below)
      this.pid = -1;
    } else {
      this.pid = this.child.pid;
      this.reaper.watch(this.pid);
    }
    const pid = this.pid;
    this.stderr = new StderrLines((r) => this.hooks.onLog({ ...r, pid, source: "stderr" }), {
      linesPerSecond: Defaults.logs.stderrLinesPerSecond,
      tailLines: Defaults.logs.stderrTailLines,
      maxLineBytes: Defaults.logs.maxLineBytes,
    });
    this.child.stderr!.on("data", (c: Buffer) => this.stderr.push(c));

    this.peer = new RpcPeer(this.child.stdout!, this.child.stdin!, {
      maxMessageBytes: manifest.limits.maxMessageBytes,
      onWarning: (w) => this.protocolWarning(w),
    });
    this.child.stdin!.on("error", () => {
      // EPIPE after the plugin exited; the exit handler reports what happened.
    });
    hooks.wirePeer(this.peer);

    this.exitPromise = new Promise<InstanceExit>((resolve) => {
      let spawnError: Error | undefined;
      this.child.on("error", (err) => {
        spawnError = err;
        // 'exit' does not always follow a spawn failure
        if (this.child.pid === undefined) finish(null, null);
      });
      const finish = (code: number | null, signal: NodeJS.Signals | null) => {
        if (this.exited) return;
        if (spawnError) {
          this.hooks.onLog({
            level: "error",
            msg: `could not start '${start.command}': ${spawnError.message}`,
            pid,
            source: "stderr",
          });
        }
        this.stderr.end();
        this.exited = { code, signal, requested: this.stopping };
        // Grandchildren the plugin forked may outlive it; they share its group.
        if (pid > 0) {
          killGroup(pid, "SIGKILL");
          this.reaper.forget(pid);
        }
        this.peer.close(signal ? `plugin process killed by ${signal}` : `plugin process exited with code ${code}`);
        this.hooks.onExit(this.exited);
        resolve(this.exited);
      };
      this.child.on("exit", (code, signal) => finish(code, signal));
    });
  }

  get alive(): boolean {
    return this.exited === undefined;
  }

  get exitInfo(): InstanceExit | undefined {
    return this.exited;
  }

  waitExit(): Promise<InstanceExit> {
    return this.exitPromise;
  }

  /** Sends `plugin/handshake` and checks the answer; throws an RpcError saying why the plugin is unusable. */
  async doHandshake(host: HostInfo, config: Record<string, unknown>): Promise<HandshakeResult> {
    const params: HandshakeParams = {
      protocolVersion: PROTOCOL_VERSION,
      host: { name: host.name, version: host.version },
      plugin: { id: this.manifest.id, config, ...(host.dataDir ? { dataDir: host.dataDir } : {}) },
      supportsReverseRpc: this.manifest.permissions.reverseRpc,
    };
    const timeoutMs = this.manifest.limits.handshakeTimeoutMs;
    let answer: unknown;
    try {
      answer = await Promise.race([
        this.peer.request(Methods.handshake, params, { timeoutMs }),
        this.exitPromise.then((e) => {
          throw RpcError.of(
            "PLUGIN_UNAVAILABLE",
            `plugin '${this.manifest.id}' exited during the handshake (${e.signal ?? `code ${e.code}`})`,
            { stderrTail: this.stderr.lastLines() },
          );
        }),
      ]);
    } catch (e) {
      if (e instanceof RpcError && e.symbol === "TIMEOUT") {
        throw RpcError.of(
          "PLUGIN_UNAVAILABLE",
          `plugin '${this.manifest.id}' did not answer the handshake within ${timeoutMs} ms`,
          { timeoutMs, stderrTail: this.stderr.lastLines() },
        );
      }
      throw e;
    }
    const result = validateHandshake(this.manifest.id, answer);
    negotiateVersion(PROTOCOL_VERSION, result.protocolVersion);
    this.handshake = result;
    this.entries = result.entries;
    for (const e of result.entries) this.entryById.set(e.id, e);
    return result;
  }

  /**
   * Stops the process: `plugin/shutdown`, then close stdin, then SIGTERM to the group, then SIGKILL. Each step
   * waits at most the manifest's shutdown timeout, so a stop always ends.
   */
  async stop(): Promise<InstanceExit> {
    if (this.exited) return this.exited;
    this.stopping = true;
    const timeoutMs = this.manifest.limits.shutdownTimeoutMs;
    const exitedWithin = (ms: number) =>
      Promise.race([this.exitPromise.then(() => true), new Promise<boolean>((r) => setTimeout(r, ms, false).unref())]);

    if (!this.peer.closed) {
      await this.peer.request(Methods.shutdown, {}, { timeoutMs }).catch(() => undefined);
      if (await exitedWithin(Math.min(500, timeoutMs))) return this.exitPromise;
    }
    this.child.stdin?.end();
    if (await exitedWithin(Math.min(500, timeoutMs))) return this.exitPromise;
    this.signal("SIGTERM");
    if (await exitedWithin(timeoutMs)) return this.exitPromise;
    this.signal("SIGKILL");
    return this.exitPromise;
  }

  /** Immediate kill of the whole group (host exit paths, health failures). */
  kill(): void {
    this.stopping = true;
    this.signal("SIGKILL");
  }

  private signal(sig: NodeJS.Signals): void {
    if (this.pid > 0 && !this.exited) killGroup(this.pid, sig);
  }

  private protocolWarning(w: ProtocolWarning): void {
    const level = w.kind === "unknown_response" ? "debug" : "warn";
    const what =
      w.kind === "garbage"
        ? `plugin wrote ${w.bytes} bytes to stdout that are not protocol frames (use stderr for logs): ${JSON.stringify(w.text?.slice(0, 200))}`
        : `protocol ${w.kind}: ${w.message}`;
    this.hooks.onLog({ level, msg: what, pid: this.pid, source: "protocol" });
  }
}

/**
 * A command given as a path must exist and be executable before it is spawned: otherwise the spawn fails
 * asynchronously and all anyone sees is a handshake that never came. Compiled plugins are the usual case.
 */
function assertExecutable(command: string, pluginDir: string): void {
  if (!path.isAbsolute(command)) return; // a bare name is looked up on PATH by spawn
  try {
    fs.accessSync(command, fs.constants.X_OK);
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === "ENOENT";
    const build = ["build.sh", "Makefile", "Cargo.toml", "go.mod"].find((f) => fs.existsSync(path.join(pluginDir, f)));
    throw new Error(
      `${missing ? "command not found" : "command is not executable"}: ${command}` +
        (missing && build ? ` — build the plugin first (its folder has ${build})` : ""),
    );
  }
}
