import { execFile } from "node:child_process";
import fs from "node:fs/promises";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface ProcessSample {
  /** Percent of one CPU over the last interval (a process using two cores fully shows 200, as psutil does). */
  cpuPercent: number;
  rssBytes: number;
  threads: number;
}

/**
 * USER_HZ: the unit of the tick counts in /proc/<pid>/stat. It is part of the kernel's user-space ABI and 100 on
 * every architecture Linux ships (the kernel's internal HZ may differ; /proc converts).
 */
const USER_HZ = 100;

interface CpuMark {
  ticks: number;
  at: number;
}

/**
 * CPU, memory and threads of a process. On Linux from /proc (no child process per sample): CPU is the growth of
 * utime+stime between two samples over the wall time between them. Elsewhere `ps`, whose %cpu is the OS's own
 * (decaying or lifetime) average: coarser, but there is nothing better without a native module.
 */
export class ProcessSampler {
  private readonly marks = new Map<number, CpuMark>();
  private readonly linux = process.platform === "linux";

  /** Undefined when the process is gone (or not ours to read). */
  async sample(pid: number): Promise<ProcessSample | undefined> {
    try {
      return this.linux ? await this.fromProc(pid) : await this.fromPs(pid);
    } catch {
      this.marks.delete(pid);
      return undefined;
    }
  }

  /** Drops the CPU marks of processes no longer sampled, so a reused pid does not inherit a stale baseline. */
  retain(pids: ReadonlySet<number>): void {
    for (const pid of this.marks.keys()) if (!pids.has(pid)) this.marks.delete(pid);
  }

  private async fromProc(pid: number): Promise<ProcessSample> {
    const [stat, status, uptime] = await Promise.all([
      fs.readFile(`/proc/${pid}/stat`, "utf8"),
      fs.readFile(`/proc/${pid}/status`, "utf8"),
      this.marks.has(pid) ? Promise.resolve("") : fs.readFile("/proc/uptime", "utf8"),
    ]);
    const at = performance.now();
    // The command name (field 2) is in parentheses and may itself contain spaces and ')': split after the last ')'.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // f[0] is field 3 (state); utime, stime, num_threads, starttime are fields 14, 15, 20, 22.
    const ticks = Number(f[11]) + Number(f[12]);
    const prev = this.marks.get(pid);
    let cpuPercent: number;
    if (prev) {
      const wall = (at - prev.at) / 1000;
      cpuPercent = wall > 0 ? ((ticks - prev.ticks) / USER_HZ / wall) * 100 : 0;
    } else {
      // First sight of this process: its average since it started, rather than a meaningless 0.
      const started = Number(f[19]) / USER_HZ;
      const alive = Number(uptime.split(" ")[0]) - started;
      cpuPercent = alive > 0 ? (ticks / USER_HZ / alive) * 100 : 0;
    }
    this.marks.set(pid, { ticks, at });
    const rssKb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? 0);
    const threads = Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? f[17] ?? 0);
    return { cpuPercent: Math.max(0, cpuPercent), rssBytes: rssKb * 1024, threads };
  }

  private async fromPs(pid: number): Promise<ProcessSample> {
    let out: string;
    let withThreads = true;
    try {
      out = (await run("ps", ["-o", "%cpu=,rss=,nlwp=", "-p", String(pid)])).stdout;
    } catch (e) {
      // macOS and the BSDs have no nlwp column; a gone process also fails here and again below.
      withThreads = false;
      out = (await run("ps", ["-o", "%cpu=,rss=", "-p", String(pid)])).stdout;
      void e;
    }
    const [cpu, rss, nlwp] = out.trim().split(/\s+/);
    if (cpu === undefined || rss === undefined) throw new Error(`no ps line for pid ${pid}`);
    return {
      cpuPercent: Number(cpu) || 0,
      rssBytes: (Number(rss) || 0) * 1024,
      threads: withThreads ? Number(nlwp) || 0 : 0,
    };
  }
}
