import type { ConfigName, RunRecord } from '../engine/results.js';
import type { WorkloadSpec } from '../workloads/index.js';
import { type SimFigure, jobKey, pointOf } from './figure-runs.js';
import { type SimJob, paperJob } from './job.js';

/**
 * §5.2's dynamic experiment (and §2.3's Fig. 4): 1 to 10 guests of 2 GB each on a host limited to
 * 8 GB, each running Metis's word count, started 10 s apart; MOM manages the balloons.
 */
export const DYNAMIC_CONFIGS: readonly ConfigName[] = ['baseline', 'balloon', 'vswapper', 'balloon+vswapper'];
const METIS: WorkloadSpec = { kind: 'metis-wc' };
export const DYNAMIC_SETUP = { guestMiB: 2048, hostMiB: 8192, startIntervalS: 10, maxGuests: 10 };
const GUEST_COUNTS = Array.from({ length: DYNAMIC_SETUP.maxGuests }, (_, i) => i + 1);

/**
 * One run: `guests` guests of the paper's setup, in configuration `c`; `guestSwapMiB`, a swap
 * partition in each guest (a variant: the paper does not say its guests had one, see README §5.2).
 */
export function dynamicJob(
  c: ConfigName,
  guests: number,
  scale: number,
  seed: number,
  guestSwapMiB = 0,
): SimJob {
  return {
    ...paperJob(c, DYNAMIC_SETUP.guestMiB, METIS, scale, seed),
    guestBelievedMiB: DYNAMIC_SETUP.guestMiB,
    ...(guestSwapMiB > 0 ? { guestSwapMiB } : {}),
    multi: { guests, hostMiB: DYNAMIC_SETUP.hostMiB, startIntervalS: DYNAMIC_SETUP.startIntervalS },
  };
}

const jobsFor = (counts: readonly number[]) => (scale: number, seeds: readonly number[]) =>
  DYNAMIC_CONFIGS.flatMap((c) => counts.flatMap((n) => seeds.map((seed) => dynamicJob(c, n, scale, seed))));

function records(counts: readonly number[], x: (n: number) => number | null): SimFigure['records'] {
  return (results, scale, configs, seeds) => {
    const out: RunRecord[] = [];
    for (const config of DYNAMIC_CONFIGS.filter((c) => configs.includes(c)))
      for (const n of counts) {
        const runs = seeds.map((seed) => results.get(jobKey(dynamicJob(config, n, scale, seed)))!);
        out.push(pointOf(config, x(n), runs, (r) => r.total, seeds));
      }
    return out;
  };
}

export const SECTION_5_2_FIGURES: Record<string, SimFigure> = {
  fig14: {
    id: 'fig14',
    configs: DYNAMIC_CONFIGS,
    x: { kind: 'values', values: GUEST_COUNTS },
    jobs: jobsFor(GUEST_COUNTS),
    records: records(GUEST_COUNTS, (n) => n),
  },
  // Fig. 4 is Fig. 14's ten guests, as bars (its runs are Fig. 14's).
  fig4: {
    id: 'fig4',
    configs: DYNAMIC_CONFIGS,
    x: { kind: 'bars' },
    jobs: jobsFor([DYNAMIC_SETUP.maxGuests]),
    records: records([DYNAMIC_SETUP.maxGuests], () => null),
  },
};
