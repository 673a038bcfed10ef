import type { PlantedBug, SwapReadaheadName } from '../core/index.js';
import { QEMU_1_2 } from '../sim/costs.js';
import { PAPER_MACHINE } from '../sim/machine.js';
import { type WorkloadSpec, buildWorkload } from '../workloads/index.js';
import type { ConfigName } from '../engine/results.js';
import { type MultiGuestSetup, runMultiJob } from './multi-job.js';
import { type SimRunResult, runSim } from './sim-runner.js';
import type { DiskSpec } from '../sim/machine.js';
import type { GuestOsKind } from '../sim/guest/guest-model.js';

/** One simulation run as plain data, so it can cross to a worker thread. */
export interface SimJob {
  config: ConfigName;
  seed: number;
  guestBelievedMiB: number;
  guestActualMiB: number;
  guestKernelMiB: number;
  swapMiB: number;
  disk: DiskSpec;
  workload: WorkloadSpec;
  /** Shrinks every memory size (guest, files, QEMU's code) for quick runs; 1 = as specified. */
  scale: number;
  /** The guest's swap partition (default: the paper machine's, none). */
  guestSwapMiB?: number;
  /** Whether the guest enables KVM's asynchronous page faults (default: yes, as Linux guests do). */
  guestAsyncPageFaults?: boolean;
  /** The guest operating system (default 'linux'; 'windows' for §5.4). */
  guestOs?: GuestOsKind;
  /** Windows guests: 512-byte requests per second (default: the model's). */
  guestSectorIoPerSec?: number;
  /** The host's swap readahead policy (default: the core's, 'cluster'). */
  swapReadahead?: SwapReadaheadName;
  /** Record the memory census every this many seconds (Fig. 15). */
  sampleEverySec?: number;
  /** The guest's past (see SimRunSpec.history); default 'reclaimed'. */
  history?: 'reclaimed' | 'fresh';
  /** Tests only (test/planted-bugs.test.ts): a core rule broken on purpose. */
  plantedBug?: PlantedBug;
  /** §5.2: several guests of `guestBelievedMiB` under one host limit, started apart (multi-job.ts). */
  multi?: MultiGuestSetup;
}

export function paperJob(
  config: ConfigName,
  guestActualMiB: number,
  workload: WorkloadSpec,
  scale = 1,
  seed = 1,
): SimJob {
  return {
    config,
    seed,
    guestBelievedMiB: PAPER_MACHINE.guestBelievedMiB,
    guestActualMiB,
    guestKernelMiB: PAPER_MACHINE.guestKernelMiB,
    swapMiB: PAPER_MACHINE.swapMiB,
    disk: PAPER_MACHINE.disk,
    workload,
    scale,
  };
}

export function runJob(job: SimJob, onIteration?: (n: number) => void): SimRunResult {
  const s = job.scale;
  if (!(s > 0 && s <= 1)) throw new RangeError(`scale: must be within (0, 1], got ${s}`);
  if (job.multi) return runMultiJob(job, job.multi);
  const workload = buildWorkload(job.workload, s);
  if (onIteration) {
    const program = workload.program.bind(workload);
    workload.program = (ctx) =>
      program({
        ...ctx,
        iterationEnd: (n) => {
          ctx.iterationEnd(n);
          onIteration(n);
        },
      });
  }
  return runSim({
    config: job.config,
    guestActualMiB: job.guestActualMiB * s,
    workload,
    ...(job.sampleEverySec !== undefined ? { sampleEveryNs: job.sampleEverySec * 1e9 } : {}),
    ...(job.history !== undefined ? { history: job.history } : {}),
    machine: {
      seed: job.seed,
      guestBelievedMiB: job.guestBelievedMiB * s,
      guestKernelMiB: job.guestKernelMiB * s,
      ...(job.guestSwapMiB !== undefined ? { guestSwapMiB: job.guestSwapMiB * s } : {}),
      ...(job.guestAsyncPageFaults !== undefined ? { guestAsyncPageFaults: job.guestAsyncPageFaults } : {}),
      ...(job.guestOs !== undefined ? { guestOs: job.guestOs } : {}),
      ...(job.guestSectorIoPerSec !== undefined ? { guestSectorIoPerSec: job.guestSectorIoPerSec } : {}),
      swapMiB: job.swapMiB,
      ...(job.swapReadahead !== undefined ? { swapReadahead: job.swapReadahead } : {}),
      ...(job.plantedBug !== undefined ? { plantedBug: job.plantedBug } : {}),
      disk: job.disk,
      vmm: { ...QEMU_1_2, codePages: Math.max(64, Math.round(QEMU_1_2.codePages * s)) },
    },
  });
}
