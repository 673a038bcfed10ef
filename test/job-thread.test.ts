/**
 * The simulation thread a queue worker keeps between runs: several runs on one thread give what
 * fresh threads give, a run that throws leaves the thread usable, and a thread that dies rejects the
 * run it had and every later one instead of leaving the worker waiting.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SIM_FIGURES } from '../src/experiments/figures.js';
import type { SimJob } from '../src/experiments/job.js';
import { JobThread, runJobs } from '../src/experiments/pool.js';
import type { SimRunResult } from '../src/experiments/sim-runner.js';

const jobs = (): SimJob[] => SIM_FIGURES.fig10!.jobs(0.05, [1, 2]).slice(0, 3);

test('a kept thread runs jobs one after another with the results of fresh threads', async () => {
  const js = jobs();
  const fresh = await runJobs(js, undefined, 1);
  const t = new JobThread();
  try {
    const iterations: number[] = [];
    const kept = [];
    for (const j of js) kept.push(await t.run(j, (n) => iterations.push(n)));
    const noWall = (r: SimRunResult): SimRunResult => ({ ...r, wallMs: 0 });
    assert.deepEqual(kept.map(noWall), fresh.map(noWall));
    assert.ok(iterations.length > 0, 'iterations reported as they finish');
    await assert.rejects(
      Promise.all([t.run(js[0]!), t.run(js[1]!)]),
      /one run at a time/,
      'a second run while one is in progress is refused',
    );
  } finally {
    await t.close();
  }
});

test('a run that throws leaves the thread usable; a dead thread rejects, then refuses', async () => {
  const t = new JobThread();
  try {
    const bad = { ...jobs()[0]!, workload: { kind: 'no-such-workload' } } as unknown as SimJob;
    await assert.rejects(t.run(bad), Error);
    assert.equal(t.broken, false);
    const ok = await t.run(jobs()[0]!);
    assert.ok(ok.iterations.length > 0, 'a good run after a failed one');
  } finally {
    await t.close();
  }
  assert.equal(t.broken, true, 'closed: it takes no more runs');
  await assert.rejects(t.run(jobs()[0]!), /exited/);
});
