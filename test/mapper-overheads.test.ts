import { test } from 'node:test';
import assert from 'node:assert/strict';
import { paperJob, runJob } from '../src/experiments/job.js';
import { runSim } from '../src/experiments/sim-runner.js';
import { QEMU_1_2 } from '../src/sim/costs.js';
import { PAPER_MACHINE } from '../src/sim/machine.js';
import { buildWorkload } from '../src/workloads/index.js';
import type { ConfigName, Metrics } from '../src/engine/results.js';

// §5.3: with plentiful memory the Mapper still costs something: QEMU mmap()s every page a guest
// request moves, and a guest write to a named page faults into a copy-on-write. pbzip2 at 5 % size,
// guest with all of its 512 MB (no host swapping at all), booted fresh as in §5.1.
const SCALE = 0.05;

/** One pbzip2 run as `reproduce fig5` makes it (src/experiments/job.ts), with the given CPU costs. */
function pbzip2(config: ConfigName, free: boolean): Metrics {
  const job = paperJob(config, 512, { kind: 'pbzip2' }, SCALE, 1);
  const costs = free ? { ...PAPER_MACHINE.costs, mapperMapPageNs: 0, namedCowNs: 0 } : PAPER_MACHINE.costs;
  return runSim({
    config,
    guestActualMiB: job.guestActualMiB * SCALE,
    workload: buildWorkload(job.workload, SCALE),
    history: 'fresh',
    machine: {
      seed: job.seed,
      guestBelievedMiB: job.guestBelievedMiB * SCALE,
      guestKernelMiB: job.guestKernelMiB * SCALE,
      swapMiB: job.swapMiB,
      disk: job.disk,
      vmm: { ...QEMU_1_2, codePages: Math.max(64, Math.round(QEMU_1_2.codePages * SCALE)) },
      costs,
    },
  }).iterations[0]!;
}

/** The same run through runJob: the test's runs are the figure's. */
const viaJob = (config: ConfigName): Metrics =>
  runJob({ ...paperJob(config, 512, { kind: 'pbzip2' }, SCALE, 1), history: 'fresh' }).iterations[0]!;

test('§5.3 overheads: the Mapper costs time with plentiful memory, through its mmaps and COW faults only', () => {
  const base = pbzip2('baseline', false);
  const mapper = pbzip2('mapper', false);
  assert.deepEqual(mapper, viaJob('mapper'));
  assert.equal(base.namedCowFaults, 0);
  assert.ok(mapper.namedCowFaults! > 100, `COW faults ${mapper.namedCowFaults}`);
  // No host swapping: the same disk work either way.
  assert.equal(mapper.swapWriteSectors, 0);
  assert.equal(mapper.imageReadSectors, base.imageReadSectors);
  assert.ok(mapper.runtimeS! > base.runtimeS!, `mapper ${mapper.runtimeS} s, baseline ${base.runtimeS} s`);
  // Priced at zero, the Mapper is exactly as fast as the baseline: the gap is those two costs.
  const freeMapper = pbzip2('mapper', true);
  const freeBase = pbzip2('baseline', true);
  assert.equal(freeMapper.runtimeS, freeBase.runtimeS);
  assert.equal(freeMapper.namedCowFaults, mapper.namedCowFaults);
});
