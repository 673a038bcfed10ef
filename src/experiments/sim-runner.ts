import { pagesFromMiB } from '../core/index.js';
import { GuestOomError } from '../sim/guest/guest-os.js';
import { Machine, type MachineSpec, PAPER_MACHINE, type Snapshot } from '../sim/machine.js';
import type { Workload } from '../workloads/types.js';
import type { ConfigName, Metrics } from '../engine/results.js';
import type { MultiRunResult } from './multi-runner.js';

export interface SimRunSpec {
  config: ConfigName;
  guestActualMiB: number;
  workload: Workload;
  machine?: Partial<Omit<MachineSpec, 'config' | 'files' | 'guestActualMiB'>>;
  /** Records the memory census (Fig. 15) this often while the workload runs. */
  sampleEveryNs?: number;
  /**
   * What the guest did before the host limited it: 'reclaimed' (the default, §3.1: it used all of
   * its memory, which the host then took back, so its free frames sit in host swap) or 'fresh' (it
   * booted under the limit, §5.1, so its free frames were never touched and the host has none).
   */
  history?: 'reclaimed' | 'fresh';
  /** Called with the machine once the run is over (tests look inside). */
  inspect?: (m: Machine) => void;
}

/** The memory census at one instant, `tS` seconds after the workload started. */
export interface Sample {
  tS: number;
  metrics: Metrics;
}

export interface SimRunResult {
  config: ConfigName;
  /** The guest killed the workload (out of memory): its unfinished iteration has no metrics. */
  killed?: string;
  iterations: Metrics[];
  total: Metrics;
  samples?: Sample[];
  notes: string[];
  wallMs: number;
  simEvents: number;
  /** A run of several guests (§5.2): each guest's outcome and the timeline. */
  multi?: MultiRunResult;
}

/**
 * One configuration of one experiment: the guest's history (it has used all its memory, which the
 * host then squeezed to the cgroup limit), the balloon if the configuration has one, then the
 * workload, measured per iteration.
 */
export function runSim(spec: SimRunSpec): SimRunResult {
  const t0 = performance.now();
  const m = new Machine({
    ...PAPER_MACHINE,
    ...spec.machine,
    config: spec.config,
    guestActualMiB: spec.guestActualMiB,
    files: spec.workload.files,
  });
  const os = m.guest;
  const iterations: Metrics[] = [];
  let start: Snapshot | null = null;
  let first: Snapshot | null = null;
  const wl = spec.workload;
  const believed = m.spec.guestBelievedMiB;
  let killed: string | undefined;
  const samples: Sample[] = [];
  let finished = false;
  const startSampling = (): void => {
    const every = spec.sampleEveryNs;
    if (!(every !== undefined && every > 0)) return;
    const t0 = m.events.nowNs;
    const tick = (): void => {
      if (finished) return;
      samples.push({ tS: (m.events.nowNs - t0) / 1e9, metrics: m.memorySample() });
      m.events.after(every, tick);
    };
    tick();
  };
  const program = (function* () {
    // The guest ran with all its memory (unless it is freshly booted), then the host took most of
    // it: cooperatively (the balloon inflates first) or not (the cgroup limit alone, and the host swaps).
    if (spec.history !== 'fresh') yield* os.touchAllFreeMemory();
    // A guest that reports its free pages did so long before the host squeezed it: its history's
    // free blocks are discarded before the limit applies.
    if (m.pageReporter) yield* m.pageReporter.settle();
    if (m.mechanisms.balloon)
      yield* os.inflateBalloon(pagesFromMiB(believed) - pagesFromMiB(spec.guestActualMiB));
    m.host.setResidentLimit(m.cgroupLimitPages);
    while (m.core.pagesUnderWriteback > 0) yield* os.sleep(10e6);
    yield* os.allocUserBuffer(wl.userBufferPages);
    yield* wl.program({
      os,
      iterationStart: () => {
        start = m.snapshot();
        if (!first) startSampling();
        first ??= start;
      },
      iterationEnd: () => {
        iterations.push(m.metricsBetween(start!, m.snapshot()));
      },
    });
  })();
  try {
    m.run(program);
    if (m.pageReporter)
      m.notes.push(`free page reporting: ${m.pageReporter.reportedBlocks} blocks of 2 MiB reported`);
  } catch (e) {
    if (!(e instanceof GuestOomError)) throw e;
    killed = e.message;
    m.notes.push(`workload killed: ${e.message}`);
  }
  finished = true;
  spec.inspect?.(m);
  const total = first ? m.metricsBetween(first, m.snapshot()) : {};
  return {
    config: spec.config,
    ...(killed ? { killed } : {}),
    iterations,
    total,
    ...(spec.sampleEveryNs !== undefined ? { samples } : {}),
    notes: m.notes,
    wallMs: performance.now() - t0,
    simEvents: m.events.processed,
  };
}
