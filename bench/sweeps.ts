/**
 * Sweep throughput through BullMQ: one local Redis (started here, stopped at the end), 1, 2 and 4
 * worker processes (`vswapper worker --jobs 1`), the same small sweep each time, against the local
 * worker-thread pool on the same sweep. On a 2-core machine more than 2 workers cannot help: the
 * numbers show the queue's overhead and scaling, not a speed-up beyond the cores.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { RedisUnavailableError, startLocalRedis } from '../src/experiments/local-redis.js';
import { QUEUE_NAME, makeQueueRunner, redisOptions } from '../src/experiments/queue-runner.js';
import { reproduceSim } from '../src/experiments/reproduce.js';
import { SIM_FIGURES } from '../src/experiments/figures.js';

const CLI = join(import.meta.dirname, '..', 'src', 'cli', 'main.js');
const FIGURES = ['fig10'];
const OPTS = { scale: 0.05, seeds: [1, 2, 3, 4] };

async function timed(label: string, f: () => Promise<unknown>, runs: number): Promise<number> {
  const t0 = performance.now();
  await f();
  const s = (performance.now() - t0) / 1000;
  console.log(`  ${label.padEnd(40)} ${s.toFixed(2).padStart(6)} s, ${(runs / s).toFixed(2)} runs/s`);
  return s;
}

/** Resolves when worker `w` says it waits for runs (its stderr); rejects if it exits first. */
function ready(w: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    w.stderr!.setEncoding('utf8');
    w.stderr!.on('data', (d: string) => {
      seen += d;
      if (seen.includes('waiting for runs')) resolve();
    });
    w.once('exit', (code) => reject(new Error(`worker exited (${code}) before it was ready: ${seen}`)));
  });
}

export async function sweepsBench(): Promise<void> {
  console.log(`sweeps (${FIGURES.join(' ')} at scale ${OPTS.scale}, seeds ${OPTS.seeds.join(', ')}):`);
  const runs = FIGURES.reduce((a, f) => a + SIM_FIGURES[f]!.jobs(OPTS.scale, OPTS.seeds).length, 0);
  const local = await timed(
    `local pool, ${availableParallelism()} threads`,
    () => reproduceSim(FIGURES, OPTS),
    runs,
  );
  let redis;
  try {
    redis = await startLocalRedis();
  } catch (e) {
    if (!(e instanceof RedisUnavailableError)) throw e;
    console.log(`  BullMQ: skipped, ${e.message}`);
    return;
  }
  const queue = new Queue(QUEUE_NAME, { connection: redisOptions(redis.url) });
  try {
    for (const n of [1, 2, 4]) {
      // The runs done in the round before are still in Redis (dedup): each round starts empty.
      await queue.obliterate({ force: true });
      const workers: ChildProcess[] = Array.from({ length: n }, () =>
        spawn(process.execPath, [CLI, 'worker', '--queue', redis.url, '--jobs', '1'], {
          stdio: ['ignore', 'ignore', 'pipe'],
        }),
      );
      try {
        // Timed from when every worker waits for runs: the throughput of the queue and the workers,
        // not of Node starting (seconds on a loaded machine, and paid once per worker, not per run).
        await Promise.all(workers.map(ready));
        const s = await timed(
          `BullMQ, ${n} worker process(es)`,
          () => reproduceSim(FIGURES, { ...OPTS, runner: makeQueueRunner(redis.url) }),
          runs,
        );
        console.log(`    ${(local / s).toFixed(2)} x the local pool's throughput`);
      } finally {
        for (const w of workers) w.kill('SIGTERM');
        await Promise.all(
          workers.map((w) => new Promise((r) => (w.exitCode !== null ? r(0) : w.once('exit', r)))),
        );
      }
    }
  } finally {
    await queue.close();
    await redis.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) void sweepsBench();
