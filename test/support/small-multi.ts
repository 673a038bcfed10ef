import type { MultiRunSpec } from '../../src/experiments/multi-runner.js';
import { buildWorkload } from '../../src/workloads/index.js';

/**
 * §5.2's host at scale 0.05 (an 8 GB host as 409.6 MiB, Metis's word count and MOM's clock scaled
 * alike), `guests` guests of `guestMiB` started 0.5 s apart: the multi-guest tests' small host.
 */
export const smallMulti = (
  config: MultiRunSpec['config'],
  guests: number,
  guestMiB = 102.4,
): MultiRunSpec => ({
  config,
  seed: 1,
  guests,
  guestMiB,
  hostMiB: 8192 * 0.05,
  startIntervalS: 0.5,
  workload: buildWorkload({ kind: 'metis-wc' }, 0.05),
  scale: 0.05,
  sampleEverySec: 0.25,
  managerTimeScale: 0.05,
});
