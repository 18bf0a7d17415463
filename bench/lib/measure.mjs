// What the benchmarks share: percentiles, timed spawns, sequential and pipelined loops.
import { spawn } from "node:child_process";
import { performance } from "node:perf_hooks";

/** Nearest-rank percentile, p in 0..100. */
export const pct = (a, p) => {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
export const median = (a) => pct(a, 50);

/** Milliseconds from spawn to a zero exit of `cmd args` (rejects on another exit code). */
export function spawnExit(cmd, args, env) {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    spawn(cmd, args, { env, stdio: "ignore" })
      .on("error", reject)
      .on("exit", (code) => (code === 0 ? resolve(performance.now() - t) : reject(new Error(`${cmd} exited ${code}`))));
  });
}

/** Median of `n` runs of `fn` (which resolves with milliseconds), after one unmeasured run to warm caches. */
export async function medianOf(fn, n) {
  await fn();
  const out = [];
  for (let i = 0; i < n; i++) out.push(await fn());
  return median(out);
}

/** `warm` unmeasured calls, then `n` one at a time: p50/p99 in µs and the rate. */
export async function sequential(fn, warm, n) {
  for (let i = 0; i < warm; i++) await fn();
  const lat = new Array(n);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const s = performance.now();
    await fn();
    lat[i] = performance.now() - s;
  }
  const secs = (performance.now() - t0) / 1000;
  return { p50: median(lat) * 1000, p99: pct(lat, 99) * 1000, rate: n / secs };
}

/**
 * Keeps `w` calls in flight; counts completions over `ms` after `warmMs` of warm-up. Calls still in flight when the
 * window closes may fail (a plugin stopped after the bench): that is ignored, an earlier failure is not.
 */
export function pipelined(fn, w, ms, warmMs) {
  return new Promise((resolve) => {
    let counting = false;
    let done = 0;
    let stop = false;
    const one = () => {
      if (stop) return;
      fn().then(
        () => {
          if (counting) done++;
          one();
        },
        (e) => {
          if (!stop) throw e;
        },
      );
    };
    for (let i = 0; i < w; i++) one();
    setTimeout(() => {
      counting = true;
      const t0 = performance.now();
      setTimeout(() => {
        stop = true;
        resolve(done / ((performance.now() - t0) / 1000));
      }, ms);
    }, warmMs);
  });
}
