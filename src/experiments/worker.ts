import { parentPort } from 'node:worker_threads';
import { type SimJob, runJob } from './job.js';

// A simulation worker: takes jobs, reports iterations as they finish, returns the result.
parentPort?.on('message', (job: SimJob) => {
  try {
    const result = runJob(job, (n) => parentPort!.postMessage({ kind: 'iteration', n }));
    parentPort!.postMessage({ kind: 'done', result });
  } catch (e) {
    parentPort!.postMessage({ kind: 'error', message: e instanceof Error ? e.message : String(e) });
  }
});
