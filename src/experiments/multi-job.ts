import type { ConfigName, Metrics } from '../engine/results.js';
import { type WorkloadSpec, buildWorkload } from '../workloads/index.js';
import { runMulti } from './multi-runner.js';
import type { SimRunResult } from './sim-runner.js';

/** §5.2's setup: how many guests, the host's memory for all of them, and how far apart they start. */
export interface MultiGuestSetup {
  guests: number;
  hostMiB: number;
  startIntervalS: number;
  /** Whether hostMiB also holds the host's own memory (default true; see MultiRunSpec.hostOwnMemory). */
  hostOwnMemory?: boolean;
}

/**
 * A multi-guest job as a SimRunResult: `total` is the mean over the guests that finished (the
 * paper's "average runtime"); any guest its OOM killer killed makes the run killed, naming how many.
 * At scale s every memory size shrinks by s while CPU time per byte stays, so runs are s times
 * shorter: the start interval and the balloon manager's periods shrink by s too, keeping the
 * overlap of the guests and the manager's reaction time relative to a run as they are at scale 1.
 */
export function runMultiJob(
  job: {
    config: ConfigName;
    seed: number;
    scale: number;
    guestBelievedMiB: number;
    workload: WorkloadSpec;
    guestSwapMiB?: number;
  },
  setup: MultiGuestSetup,
): SimRunResult {
  const s = job.scale;
  const r = runMulti({
    config: job.config,
    seed: job.seed,
    guests: setup.guests,
    guestMiB: job.guestBelievedMiB * s,
    hostMiB: setup.hostMiB * s,
    startIntervalS: setup.startIntervalS * s,
    workload: buildWorkload(job.workload, s),
    scale: s,
    sampleEverySec: s,
    managerTimeScale: s,
    ...(setup.hostOwnMemory === false ? { hostOwnMemory: false } : {}),
    ...(job.guestSwapMiB ? { guestSwapMiB: job.guestSwapMiB * s } : {}),
  });
  const finished = r.guests.filter((g) => g.killed === undefined);
  const killed = r.guests.filter((g) => g.killed !== undefined);
  const total: Metrics = {};
  for (const g of finished)
    for (const k of Object.keys(g.metrics) as (keyof Metrics)[])
      total[k] = (total[k] ?? 0) + g.metrics[k]! / finished.length;
  total.integrityViolations = r.guests.reduce((a, g) => a + (g.metrics.integrityViolations ?? 0), 0);
  total.guestOomKills = killed.length;
  return {
    config: job.config,
    ...(killed.length > 0
      ? { killed: `${killed.length} of ${r.guests.length} guests killed: ${killed[0]!.killed}` }
      : {}),
    iterations: [total],
    total,
    notes: [
      `${setup.guests} guest(s), host ${setup.hostMiB * s} MiB, started ${setup.startIntervalS * s} s apart; global reclaim took ${r.globalReclaimPages} pages`,
    ],
    wallMs: r.wallMs,
    simEvents: r.simEvents,
    multi: r,
  };
}
