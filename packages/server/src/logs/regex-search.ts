import { Worker } from "node:worker_threads";
import { ApiError } from "../http/errors.js";

/** `search=` of a log query: a plain substring (case-insensitive, as in the reference), or a regex written `/…/flags`. */
export type SearchSpec = { kind: "substring"; needle: string } | { kind: "regex"; source: string; flags: string };

/** Flags that make sense for a stateless line test; g/y would make `test` stateful, d only adds indices. */
const FLAGS = /^[imsuv]*$/;

export function parseSearch(search: string, maxLength: number): SearchSpec {
  const m = /^\/(.+)\/([a-z]*)$/s.exec(search);
  if (!m) return { kind: "substring", needle: search.toLowerCase() };
  const source = m[1]!;
  const flags = m[2]!;
  if (source.length > maxLength) {
    throw new ApiError(
      400,
      "REGEX_TOO_LONG",
      `the search pattern is ${source.length} characters; at most ${maxLength}`,
      {
        hint: "Shorten the pattern, or search for a plain substring (no surrounding slashes).",
      },
    );
  }
  if (!FLAGS.test(flags) || new Set(flags).size !== flags.length || (flags.includes("u") && flags.includes("v"))) {
    throw new ApiError(400, "INVALID_REGEX", `unsupported regex flags '${flags}'`, {
      hint: "Use any of i, m, s, u (or v), each once.",
    });
  }
  try {
    // Compiling is linear in the pattern; only matching can backtrack, and that happens in the worker.
    new RegExp(source, flags);
  } catch (e) {
    throw new ApiError(400, "INVALID_REGEX", `invalid regex: ${(e as Error).message}`);
  }
  return { kind: "regex", source, flags };
}

/**
 * The worker's code, evaluated (not loaded from a file) so the same module works from `dist/` and under vitest,
 * which runs `src/*.ts` and cannot hand a `.ts` file to a worker thread.
 */
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
let key = "", re = null;
parentPort.on("message", (job) => {
  try {
    if (key !== job.flags + "/" + job.source) { re = new RegExp(job.source, job.flags); key = job.flags + "/" + job.source; }
    const hits = [];
    for (let i = 0; i < job.subjects.length; i++) if (re.test(job.subjects[i])) hits.push(i);
    parentPort.postMessage({ hits });
  } catch (e) {
    parentPort.postMessage({ error: String((e && e.message) || e) });
  }
});
`;

interface PooledWorker {
  worker: Worker;
  ready: Promise<void>;
}

/**
 * Regex matching off the event loop, in a time box. A catastrophic pattern (`(a+)+$` against a long run of a's)
 * backtracks for minutes; V8 cannot interrupt a regex on the thread that runs it without killing that thread, so the
 * match runs in a worker and the worker is terminated when the box runs out. Workers are pooled because starting
 * one costs tens of milliseconds.
 */
export class RegexPool {
  private readonly idle: PooledWorker[] = [];
  private readonly waiting: Array<(w: PooledWorker) => void> = [];
  private live = 0;
  private closed = false;

  constructor(private readonly maxWorkers: number) {}

  /**
   * A matcher for one query. Each `filter` call (one batch of lines) must finish within `batchMs`, and all of them
   * together within `totalMs`; only time spent matching counts, not time waiting for a free worker. When either box
   * runs out the worker is killed and 400 REGEX_TIMEOUT is thrown.
   */
  matcher(spec: Extract<SearchSpec, { kind: "regex" }>, limits: { batchMs: number; totalMs: number }) {
    let remaining = limits.totalMs;
    return {
      filter: async (subjects: string[]): Promise<number[]> => {
        if (subjects.length === 0) return [];
        const w = await this.acquire();
        const started = performance.now();
        try {
          const box = Math.min(limits.batchMs, remaining);
          const hits = await this.run(w, { source: spec.source, flags: spec.flags, subjects }, box);
          remaining -= performance.now() - started;
          this.release(w);
          return hits;
        } catch (e) {
          this.discard(w);
          if ((e as Error).message === "timeout") {
            throw new ApiError(
              400,
              "REGEX_TIMEOUT",
              remaining > limits.batchMs
                ? `the search regex /${spec.source}/${spec.flags} took longer than ${limits.batchMs} ms and was stopped`
                : `the search regex /${spec.source}/${spec.flags} used up the query's ${limits.totalMs} ms and was stopped`,
              { hint: "The pattern backtracks catastrophically (nested quantifiers such as (a+)+); simplify it." },
            );
          }
          throw new ApiError(400, "INVALID_REGEX", `regex search failed: ${(e as Error).message}`);
        }
      },
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = this.idle.splice(0);
    await Promise.all(all.map((w) => w.worker.terminate()));
  }

  private run(w: PooledWorker, job: object, timeoutMs: number): Promise<number[]> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => {
          cleanup();
          reject(new Error("timeout"));
        },
        Math.max(1, timeoutMs),
      );
      const onMessage = (m: { hits?: number[]; error?: string }) => {
        cleanup();
        if (m.error !== undefined) reject(new Error(m.error));
        else resolve(m.hits ?? []);
      };
      const onError = (err: Error) => {
        cleanup();
        reject(err);
      };
      const cleanup = () => {
        clearTimeout(timer);
        w.worker.off("message", onMessage);
        w.worker.off("error", onError);
      };
      w.worker.on("message", onMessage);
      w.worker.on("error", onError);
      w.worker.postMessage(job);
    });
  }

  private async acquire(): Promise<PooledWorker> {
    if (this.closed) throw new Error("the regex worker pool is closed");
    const w =
      this.idle.pop() ??
      (this.live < this.maxWorkers ? this.spawn() : await new Promise<PooledWorker>((r) => this.waiting.push(r)));
    // Startup is not matching time: the clock starts once the worker is running.
    await w.ready;
    return w;
  }

  private spawn(): PooledWorker {
    this.live++;
    const worker = new Worker(WORKER_SOURCE, { eval: true, resourceLimits: { maxOldGenerationSizeMb: 64 } });
    // Idle workers must not keep a process alive that is otherwise done (CLI, tests).
    worker.unref();
    const ready = new Promise<void>((resolve, reject) => {
      worker.once("online", () => resolve());
      worker.once("error", reject);
    });
    ready.catch(() => undefined);
    return { worker, ready };
  }

  private release(w: PooledWorker): void {
    const next = this.waiting.shift();
    if (next) next(w);
    else if (this.closed) void w.worker.terminate();
    else this.idle.push(w);
  }

  private discard(w: PooledWorker): void {
    this.live--;
    void w.worker.terminate();
    // Someone waiting for a worker gets a fresh one instead of the killed one.
    const next = this.waiting.shift();
    if (next && !this.closed) next(this.spawn());
  }
}
