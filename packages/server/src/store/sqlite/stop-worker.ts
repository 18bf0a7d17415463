import type { Worker } from "node:worker_threads";

/**
 * Asks a store worker to finish and close its connection ("close" message), and resolves when it has exited; one
 * that has not exited after `timeoutMs` is terminated (its connection then closes with the thread).
 */
export function stopWorker(worker: Worker, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => void worker.terminate(), timeoutMs);
    worker.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    worker.postMessage("close");
  });
}
