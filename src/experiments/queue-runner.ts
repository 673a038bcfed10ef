import { Job, Queue, QueueEvents, UnrecoverableError, Worker } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import type { SimJob } from './job.js';
import { modelVersion } from './model-version.js';
import { JobThread, type PoolProgress } from './pool.js';
import type { JobRunner } from './reproduce.js';
import { runKey } from './run-store.js';
import type { SimRunResult } from './sim-runner.js';

/** The BullMQ queue every sweep and worker shares on one Redis. */
export const QUEUE_NAME = 'vswapper-runs';

/** What a queued run carries: the job, its key (also the BullMQ job id) and the model it needs. */
interface QueuedRun {
  job: SimJob;
  key: string;
  model: string;
}

/**
 * Locks: a worker holds each run's lock while it runs (renewed every half, BullMQ's default); the
 * runs compute on a worker thread, so the renewals are never starved by the simulation. A worker
 * that dies stops renewing: another one's stalled check (this often) puts the run back in the queue
 * after at most lock + interval. BullMQ's 30 s defaults would make a lost worker cost a minute.
 */
const LOCK_MS = 5_000;
const STALLED_CHECK_MS = 5_000;
/** Times a run may be lost with its worker before it fails (BullMQ's default is 1). */
const MAX_STALLED = 3;

/** ioredis options for redis://, rediss:// or unix:///path URLs. */
export function redisOptions(url: string): RedisOptions {
  const u = new URL(url);
  // BullMQ's workers block on Redis: they need commands to wait, not fail, while it reconnects.
  const base: RedisOptions = { maxRetriesPerRequest: null };
  if (u.protocol === 'unix:') return { ...base, path: decodeURIComponent(u.pathname) };
  return {
    ...base,
    host: u.hostname,
    port: u.port ? Number(u.port) : 6379,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.pathname.length > 1 ? { db: Number(u.pathname.slice(1)) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

/** The queue's Redis cannot be reached; the message names the URL and the reason. */
export class QueueUnavailableError extends Error {
  override name = 'QueueUnavailableError';
}

/** Checks, before any run, that the Redis at `url` answers (within 3 s). */
export async function checkQueue(url: string): Promise<void> {
  const r = new Redis({
    ...redisOptions(url),
    maxRetriesPerRequest: 0,
    connectTimeout: 3000,
    retryStrategy: () => null,
    lazyConnect: true,
  });
  r.on('error', () => {});
  try {
    await r.connect();
    await r.ping();
  } catch (e) {
    throw new QueueUnavailableError(
      `--queue ${url}: no Redis answers there (${e instanceof Error ? e.message : String(e)})`,
    );
  } finally {
    r.disconnect();
  }
}

/**
 * Sends the runs to the BullMQ queue on `url` and gathers their results in order. Each run's job id
 * is its key, so a run already queued or done (by this sweep or another) is not queued twice; one
 * that failed before is retried.
 */
export function makeQueueRunner(url: string): JobRunner {
  return async (jobs: SimJob[], onProgress: (p: PoolProgress) => void): Promise<SimRunResult[]> => {
    const connection = redisOptions(url);
    const queue = new Queue<QueuedRun, SimRunResult>(QUEUE_NAME, { connection });
    const events = new QueueEvents(QUEUE_NAME, { connection });
    const model = modelVersion();
    const keys = jobs.map((j) => runKey(j, model));
    const indexOf = new Map<string, number[]>();
    keys.forEach((k, i) => indexOf.set(k, [...(indexOf.get(k) ?? []), i]));
    const results = new Array<SimRunResult | undefined>(jobs.length);
    let left = jobs.length;
    let fail: (e: Error) => void = () => {};
    let finish: () => void = () => {};
    const finished = new Promise<void>((res, rej) => {
      finish = res;
      fail = rej;
    });
    const take = (key: string, r: SimRunResult): void => {
      for (const i of indexOf.get(key) ?? []) {
        if (results[i]) continue;
        results[i] = r;
        left--;
        onProgress({ job: jobs[i]!, index: i, event: 'done', result: r });
      }
      if (left === 0) finish();
    };
    const check = async (key: string): Promise<void> => {
      const job = await Job.fromId<QueuedRun, SimRunResult>(queue, key);
      if (!job) return;
      const state = await job.getState();
      if (state === 'completed') take(key, job.returnvalue);
      // Failed in an earlier sweep (a worker of another build, a crash): this sweep tries again.
      else if (state === 'failed') await job.retry('failed');
    };
    try {
      await events.waitUntilReady();
      events.on('completed', ({ jobId }) => void check(jobId).catch(fail));
      events.on('failed', ({ jobId, failedReason }) => {
        if (failedReason.startsWith(MODEL_MISMATCH)) fail(new Error(failedReason));
        else fail(new Error(`run ${jobId} failed on a worker: ${failedReason}`));
      });
      events.on('progress', ({ jobId, data }) => {
        const i = indexOf.get(jobId)?.[0];
        if (i === undefined || typeof data !== 'number') return;
        onProgress({ job: jobs[i]!, index: i, event: 'iteration', iteration: data });
      });
      const unique = [...indexOf.keys()];
      await queue.addBulk(
        unique.map((key) => ({
          name: 'run',
          data: { job: jobs[indexOf.get(key)![0]!]!, key, model },
          // Retried on a worker's error; kept an hour once done, so that concurrent sweeps share them.
          opts: { jobId: key, attempts: 3, removeOnComplete: { age: 3600 }, removeOnFail: { age: 3600 } },
        })),
      );
      // Runs that were done (or failed) before we listened.
      await Promise.all(unique.map(check));
      if (left > 0) await finished;
    } finally {
      await events.close();
      await queue.close();
    }
    return results as SimRunResult[];
  };
}

const MODEL_MISMATCH = 'model mismatch';

/**
 * A worker: takes runs from the queue, `concurrency` at a time, each on a worker thread. It refuses
 * (without retry) a run queued by a sweep of another model version: its result would not be that
 * sweep's. Returns a handle to close it (it finishes its runs in progress first).
 */
export function startQueueWorker(
  url: string,
  concurrency = 1,
  onEvent?: (e: { key: string; config: string; event: 'start' | 'done' }) => void,
): { close: () => Promise<void>; ready: () => Promise<void> } {
  const model = modelVersion();
  // Threads kept between runs (at most `concurrency`, one run each at a time).
  const idle: JobThread[] = [];
  const threads = new Set<JobThread>();
  const worker = new Worker<QueuedRun, SimRunResult>(
    QUEUE_NAME,
    async (job) => {
      const d = job.data;
      if (d.model !== model)
        throw new UnrecoverableError(
          `${MODEL_MISMATCH}: the sweep runs model ${d.model}, this worker ${model}: run the same vswapper build`,
        );
      onEvent?.({ key: d.key, config: d.job.config, event: 'start' });
      let t = idle.pop();
      if (!t) threads.add((t = new JobThread()));
      try {
        const result = await t.run(d.job, (n) => void job.updateProgress(n));
        onEvent?.({ key: d.key, config: d.job.config, event: 'done' });
        return result;
      } finally {
        if (t.broken) {
          threads.delete(t);
          void t.close();
        } else idle.push(t);
      }
    },
    {
      connection: redisOptions(url),
      concurrency,
      lockDuration: LOCK_MS,
      stalledInterval: STALLED_CHECK_MS,
      maxStalledCount: MAX_STALLED,
    },
  );
  return {
    close: async () => {
      await worker.close();
      await Promise.all([...threads].map((t) => t.close()));
    },
    ready: () => worker.waitUntilReady().then(() => undefined),
  };
}
