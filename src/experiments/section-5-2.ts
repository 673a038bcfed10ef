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

const jobsFor =
  (counts: readonly number[], guestSwapMiB: number) => (scale: number, seeds: readonly number[]) =>
    DYNAMIC_CONFIGS.flatMap((c) =>
      counts.flatMap((n) => seeds.map((seed) => dynamicJob(c, n, scale, seed, guestSwapMiB))),
    );

function records(
  counts: readonly number[],
  x: (n: number) => number | null,
  guestSwapMiB: number,
): SimFigure['records'] {
  return (results, scale, configs, seeds) => {
    const out: RunRecord[] = [];
    for (const config of DYNAMIC_CONFIGS.filter((c) => configs.includes(c)))
      for (const n of counts) {
        const runs = seeds.map((seed) =>
          results.get(jobKey(dynamicJob(config, n, scale, seed, guestSwapMiB)))!,
        );
        const point = pointOf(config, x(n), runs, (r) => r.total, seeds);
        if (guestSwapMiB > 0)
          point.notes = [
            ...(point.notes ?? []),
            `variant: a ${guestSwapMiB} MiB swap partition in each guest`,
          ];
        out.push(point);
      }
    return out;
  };
}

/**
 * Fig. 14 (1-10 guests) and Fig. 4 (its ten guests, as bars; its runs are Fig. 14's), with a swap
 * partition of `guestSwapMiB` in each guest when > 0 (`reproduce --guest-swap`): a variant, not the
 * paper's setup, so its metadata says so (`guestSwapMiB`) and so does every point's notes.
 */
function dynamicFigure(id: 'fig4' | 'fig14', guestSwapMiB: number): SimFigure {
  const counts = id === 'fig14' ? GUEST_COUNTS : [DYNAMIC_SETUP.maxGuests];
  return {
    id,
    configs: DYNAMIC_CONFIGS,
    x: id === 'fig14' ? { kind: 'values', values: GUEST_COUNTS } : { kind: 'bars' },
    jobs: jobsFor(counts, guestSwapMiB),
    records: records(counts, id === 'fig14' ? (n) => n : () => null, guestSwapMiB),
    ...(guestSwapMiB > 0
      ? {
          meta: {
            guestSwapMiB,
            variant: `a ${guestSwapMiB} MiB swap partition in each guest (not the paper's setup)`,
          },
        }
      : { withGuestSwap: (mib: number) => dynamicFigure(id, mib) }),
  };
}

export const SECTION_5_2_FIGURES: Record<string, SimFigure> = {
  fig14: dynamicFigure('fig14', 0),
  fig4: dynamicFigure('fig4', 0),
};
