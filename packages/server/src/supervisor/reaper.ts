import { type ChildProcess, spawn } from "node:child_process";

/**
 * Guarantees no orphans even if the host is killed with SIGKILL (when no exit handler runs). A tiny detached shell
 * holds a pipe from the host and the list of plugin process groups; when the pipe closes because the host died, it
 * sends SIGTERM to every group, then SIGKILL a second later. Plugins that ignore stdin EOF and SIGTERM, and any
 * grandchildren they forked into their group, go too.
 */
const SCRIPT = `
groups=" "
while IFS= read -r line; do
  case "$line" in
    +*) groups="$groups\${line#+} " ;;
    -*) groups=$(printf '%s' "$groups" | sed "s/ \${line#-} / /") ;;
  esac
done
[ "$groups" = " " ] && exit 0
for g in $groups; do kill -TERM -$g 2>/dev/null; done
sleep 1
for g in $groups; do kill -KILL -$g 2>/dev/null; done
`;

export class Reaper {
  private child: ChildProcess | undefined;
  private readonly groups = new Set<number>();

  /** Registers a process group to clean up if the host dies. */
  watch(pgid: number): void {
    this.groups.add(pgid);
    this.send(`+${pgid}\n`);
  }

  /** The group is gone (killed by the host itself); forget it so a reused id is never killed. */
  forget(pgid: number): void {
    if (this.groups.delete(pgid)) this.send(`-${pgid}\n`);
  }

  /** Kills every watched group now, synchronously (for the host's own exit paths). */
  killAll(signal: NodeJS.Signals = "SIGKILL"): void {
    for (const g of this.groups) killGroup(g, signal);
  }

  private send(line: string): void {
    if (!this.child) {
      this.child = spawn("/bin/sh", ["-c", SCRIPT], {
        detached: true,
        stdio: ["pipe", "ignore", "ignore"],
      });
      this.child.unref();
      // The pipe must not keep the host's event loop alive either.
      (this.child.stdin as unknown as { unref?: () => void }).unref?.();
      this.child.stdin!.on("error", () => {
        // the reaper died; exit handlers still kill groups on every orderly exit path
      });
    }
    this.child.stdin!.write(line);
  }
}

/** Sends a signal to a whole process group; a group that is already gone is not an error. */
export function killGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw e;
  }
}
