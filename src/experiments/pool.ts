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
  const runAll = async (t: JobThread): Promise<void> => {
    while (next < jobs.length) {
      const index = next++;
      const job = jobs[index]!;
      onProgress?.({ job, index, event: 'start' });
      const result = await t.run(job, (n) => onProgress?.({ job, index, event: 'iteration', iteration: n }));
      results[index] = result;
      onProgress?.({ job, index, event: 'done', result });
    }
  };
  const pool = Array.from({ length: Math.max(1, Math.min(workers, jobs.length)) }, () => new JobThread());
  try {
    await Promise.all(pool.map(runAll));
  } finally {
    await Promise.all(pool.map((t) => t.close()));
  }
  return results;
}

type WorkerMessage =
  | { kind: 'iteration'; n: number }
  | { kind: 'done'; result: SimRunResult }
  | { kind: 'error'; message: string };

/**
 * One simulation thread kept for many runs, one at a time (the local pool's, and a queue worker's).
 * A queue worker receives its runs one by one; starting a thread for each (loading the whole model
 * again) cost a small run more than the run itself (`npm run bench -- sweeps`: one worker process
 * at 0.35x the local pool's throughput).
 */
export class JobThread {
  private readonly w = new Worker(new URL('./worker.js', import.meta.url));
  private lost: Error | undefined;
  private current: ((e: Error) => void) | undefined;

  constructor() {
    const fail = (e: Error): void => {
      this.lost ??= e;
      this.current?.(e);
    };
    this.w.on('error', fail);
    this.w.on('exit', (code) => fail(new Error(`the simulation thread exited (${code})`)));
  }

  /** Whether the thread died (it then takes no more runs). */
  get broken(): boolean {
    return this.lost !== undefined;
  }

  run(job: SimJob, onIteration?: (n: number) => void): Promise<SimRunResult> {
    if (this.current) return Promise.reject(new Error('JobThread: one run at a time'));
    if (this.lost) return Promise.reject(this.lost);
    return new Promise((resolve, reject) => {
      const end = (): void => {
        this.w.off('message', onMessage);
        this.current = undefined;
      };
      const onMessage = (m: WorkerMessage): void => {
        if (m.kind === 'iteration') {
          onIteration?.(m.n);
          return;
        }
        end();
        if (m.kind === 'error') reject(new Error(`${job.config}: ${m.message}`));
        else resolve(m.result);
      };
      this.current = (e) => {
        end();
        reject(e);
      };
      this.w.on('message', onMessage);
      this.w.postMessage(job);
    });
  }

  async close(): Promise<void> {
    this.current = undefined;
    await this.w.terminate();
  }
}
