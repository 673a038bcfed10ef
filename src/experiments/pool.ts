import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { SimJob } from './job.js';
import type { SimRunResult } from './sim-runner.js';

export interface PoolProgress {
  job: SimJob;
  index: number;
  /** 'iteration' events carry the iteration that just finished. */
  event: 'start' | 'iteration' | 'done';
  iteration?: number;
  /** On 'done': the run's result (stored at once by sweeps that keep their runs). */
  result?: SimRunResult;
}

/**
 * Runs simulation jobs on worker threads, one per core. Each job is deterministic on its own, so
 * results do not depend on the number of workers or their timing.
 */
export async function runJobs(
  jobs: SimJob[],
  onProgress?: (p: PoolProgress) => void,
  workers = availableParallelism(),
): Promise<SimRunResult[]> {
  const results = new Array<SimRunResult>(jobs.length);
  let next = 0;
  const workerUrl = new URL('./worker.js', import.meta.url);
  const runOne = (w: Worker): Promise<void> =>
    new Promise((resolve, reject) => {
      const loop = (): void => {
        if (next >= jobs.length) {
          resolve();
          return;
        }
        const index = next++;
        const job = jobs[index]!;
        onProgress?.({ job, index, event: 'start' });
        const onMessage = (
          m:
            | { kind: 'iteration'; n: number }
            | { kind: 'done'; result: SimRunResult }
            | { kind: 'error'; message: string },
        ): void => {
          if (m.kind === 'iteration') {
            onProgress?.({ job, index, event: 'iteration', iteration: m.n });
            return;
          }
          w.off('message', onMessage);
          if (m.kind === 'error') {
            reject(new Error(`${job.config}: ${m.message}`));
            return;
          }
          results[index] = m.result;
          onProgress?.({ job, index, event: 'done', result: m.result });
          loop();
        };
        w.on('message', onMessage);
        w.postMessage(job);
      };
      w.once('error', reject);
      loop();
    });
  const pool = Array.from(
    { length: Math.max(1, Math.min(workers, jobs.length)) },
    () => new Worker(workerUrl),
  );
  try {
    await Promise.all(pool.map(runOne));
  } finally {
    await Promise.all(pool.map((w) => w.terminate()));
  }
  return results;
}
