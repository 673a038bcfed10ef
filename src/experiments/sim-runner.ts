import { pagesFromMiB } from '../core/types.js';
import { GuestOomError } from '../sim/guest/guest-os.js';
import { Machine, type MachineSpec, PAPER_MACHINE, type Snapshot } from '../sim/machine.js';
import type { Workload } from '../workloads/types.js';
import type { ConfigName, Metrics } from './results.js';

export interface SimRunSpec {
  config: ConfigName;
  guestActualMiB: number;
  workload: Workload;
  machine?: Partial<Omit<MachineSpec, 'config' | 'files' | 'guestActualMiB'>>;
}

export interface SimRunResult {
  config: ConfigName;
  /** The guest killed the workload (out of memory): its unfinished iteration has no metrics. */
  killed?: string;
  iterations: Metrics[];
  total: Metrics;
  notes: string[];
  wallMs: number;
  simEvents: number;
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
  const program = (function* () {
    // The guest ran with all its memory, then the host took most of it: cooperatively (the
    // balloon inflates first) or not (the cgroup limit alone, and the host swaps).
    yield* os.touchAllFreeMemory();
    if (m.mechanisms.balloon)
      yield* os.inflateBalloon(pagesFromMiB(believed) - pagesFromMiB(spec.guestActualMiB));
    m.core.setResidentLimit(m.cgroupLimitPages);
    m.host.pumpCore();
    while (m.core.pagesUnderWriteback > 0) yield* os.sleep(10e6);
    yield* os.allocUserBuffer(wl.userBufferPages);
    yield* wl.program({
      os,
      iterationStart: () => {
        start = m.snapshot();
        first ??= start;
      },
      iterationEnd: () => {
        iterations.push(m.metricsBetween(start!, m.snapshot()));
      },
    });
  })();
  try {
    m.run(program);
  } catch (e) {
    if (!(e instanceof GuestOomError)) throw e;
    killed = e.message;
    m.notes.push(`workload killed: ${e.message}`);
  }
  const total = first ? m.metricsBetween(first, m.snapshot()) : {};
  return {
    config: spec.config,
    ...(killed ? { killed } : {}),
    iterations,
    total,
    notes: m.notes,
    wallMs: performance.now() - t0,
    simEvents: m.events.processed,
  };
}
