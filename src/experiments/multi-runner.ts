import type { ConfigName, Metrics } from '../engine/results.js';
import type { BalloonPolicy } from '../policy/balloon-policy.js';
import { MOM_DEFAULTS, MomBalloonPolicy } from '../policy/mom-policy.js';
import { SimBalloonManager } from '../sim/balloon-manager.js';
import { QEMU_HEAP_MIB_MEASURED, memmapMiB, qemuOverheadMiB } from '../sim/host-overhead.js';
import { PAPER_MACHINE, guestKernelMiBFor } from '../sim/machine.js';
import { type GuestSlot, MultiMachine } from '../sim/multi-machine.js';
import type { Program } from '../sim/guest/guest-os.js';
import type { Workload } from '../workloads/types.js';

/** §5.2's host: 8 GB for all guests, 2 GB guests started 10 s apart. */
export interface MultiRunSpec {
  config: ConfigName;
  seed: number;
  guests: number;
  guestMiB: number;
  hostMiB: number;
  startIntervalS: number;
  workload: Workload;
  /** Scales QEMU's code and the guest kernel with the rest (1 = the paper's). */
  scale: number;
  /** Timeline sampling period, seconds. */
  sampleEverySec: number;
  /**
   * Compresses the balloon manager's clock (its 5 s statistics and 10 s policy periods) by this
   * factor, as a scaled run compresses the workload's (default 1: MOM's own periods).
   */
  managerTimeScale?: number;
  /**
   * Whether the simulated QEMU reports the guests' balloon statistics to the balloon manager
   * (default true, QEMU 1.5 on; false as the paper's QEMU 1.2: MOM then balloons nothing, see
   * SimBalloonManager).
   */
  guestStatsReported?: boolean;
  /** Each guest's own swap partition on its image, MiB (default 0: none; see MultiMachineSpec). */
  guestSwapMiB?: number;
  /**
   * Whether the host's own memory (its kernel's memmap, each QEMU's heap and tables: host-overhead.ts)
   * comes out of hostMiB (default true: the paper's host, whose RAM was 8 GB). False for a host
   * budget that holds guest memory only, as the real-guest scenario's parent cgroup, which gives
   * QEMU's own memory on top of hostMiB and leaves the kernel outside.
   */
  hostOwnMemory?: boolean;
  /**
   * The balloon policy of balloon configurations (default: MOM's, MomBalloonPolicy, with its
   * periods times managerTimeScale); another policy brings its own periods.
   */
  policy?: BalloonPolicy;
}

/** One guest's run: its workload's runtime, or how it was killed; counters of its QEMU process. */
export interface GuestOutcome {
  guest: number;
  startS: number;
  runtimeS?: number;
  killed?: string;
  metrics: Metrics;
}

/**
 * The per-guest timeline: at each sample, per guest, the balloon's target and size, the guest's
 * free memory, its resident pages at the host, and the host's swap traffic for it since the last
 * sample; and the host's free memory. Pages throughout.
 */
export interface MultiTimeline {
  tS: number[];
  hostFreePages: number[];
  balloonTargetPages: number[][];
  balloonPages: number[][];
  guestFreePages: number[][];
  residentPages: number[][];
  swapInPages: number[][];
  swapOutPages: number[][];
  /** Per guest, since the last sample: stale and false swap reads (pages), the guest's major faults (page-cache misses and swap-ins of its own). */
  staleReads: number[][];
  falseReads: number[][];
  guestMajorFaults: number[][];
  /**
   * Per guest, since the last sample: the pages its balloon took, by what each gave the host back
   * (CoreCounters.balloonFramesFreed and the rest): a frame of memory, only a swap slot, or nothing
   * (a page never touched); and the balloon driver's back-offs (no page to give: BalloonDriver).
   */
  balloonFramesFreed: number[][];
  balloonSlotsFreed: number[][];
  balloonNothingFreed: number[][];
  balloonBackoffs: number[][];
  /** Per guest, since the last sample: pages the guest swapped out to / in from its own swap partition. */
  guestSwapOutPages: number[][];
  guestSwapInPages: number[][];
  /** Per guest, at the sample: its page cache, and its workload's phase ('' before it starts, then the workload's phases, 'done' or 'killed'). */
  guestPageCachePages: number[][];
  phase: string[][];
  /** The shared drive, since the last sample: requests dispatched, their mean seek distance (MiB of the drive) and wait in the queue (ms), the fraction of time it was busy; and its queue depth at the sample. */
  diskOps: number[];
  diskMeanSeekMiB: number[];
  diskMeanWaitMs: number[];
  diskBusyFraction: number[];
  diskQueueDepth: number[];
  /** Pages global reclaim (kswapd) took from the guests since the last sample. */
  globalReclaimPages: number[];
  /** The balloon manager's decisions (time, guest, new balloon size in pages). */
  decisions: { tS: number; guest: number; targetPages: number }[];
}

export interface MultiRunResult {
  config: ConfigName;
  guests: GuestOutcome[];
  timeline: MultiTimeline;
  globalReclaimPages: number;
  wallMs: number;
  simEvents: number;
}

export function runMulti(spec: MultiRunSpec): MultiRunResult {
  const t0 = performance.now();
  const s = spec.scale;
  const m = new MultiMachine({
    seed: spec.seed,
    config: spec.config,
    guests: spec.guests,
    guestMiB: spec.guestMiB,
    // A §5.2 guest's memmap is that of its 2 GB (32 MB).
    guestKernelMiB: guestKernelMiBFor(spec.guestMiB, s),
    guestBackgroundTouchesPerSec: PAPER_MACHINE.guestBackgroundTouchesPerSec,
    hostMiB: spec.hostMiB,
    // The guest's data starts 1 GiB into its image (machine.ts's layout): room for it and the input.
    // The guest's own swap partition, if any, after them at the end of the image.
    imageMiB:
      1024 +
      Math.ceil(spec.workload.files.reduce((a, f) => a + f.sizePages, 0) / 256) +
      64 +
      (spec.guestSwapMiB ?? 0),
    ...(spec.guestSwapMiB ? { guestSwapMiB: spec.guestSwapMiB } : {}),
    imageSpacingMiB: 20 * 1024,
    // The host's one swap area: twice each guest's RAM in all, so that vm_swap_full never holds.
    swapMiBPerGuest: 2 * spec.guestMiB,
    disk: PAPER_MACHINE.disk,
    costs: PAPER_MACHINE.costs,
    vmm: { ...PAPER_MACHINE.vmm, codePages: Math.max(64, Math.round(PAPER_MACHINE.vmm.codePages * s)) },
    files: spec.workload.files,
    ...(spec.hostOwnMemory === false
      ? {}
      : {
          hostKernelMiB: memmapMiB(spec.hostMiB),
          // QEMU's heap shrinks with the run, as its code does; the tables follow the guest's RAM.
          qemuOverheadMiBPerGuest: qemuOverheadMiB(spec.guestMiB, QEMU_HEAP_MIB_MEASURED * s),
        }),
    // kswapd runs as often as the guests fault pages in: a millisecond keeps every guest's
    // headroom small against the rate a guest can take pages (hundreds per millisecond at most).
    reclaimTickNs: 1e6,
  });
  const outcomes: GuestOutcome[] = m.slots.map((sl) => ({
    guest: sl.index,
    startS: sl.index * spec.startIntervalS,
    metrics: {},
  }));
  const ts = spec.managerTimeScale ?? 1;
  const policy =
    spec.policy ??
    new MomBalloonPolicy({
      ...MOM_DEFAULTS,
      statsIntervalS: MOM_DEFAULTS.statsIntervalS * ts,
      policyIntervalS: MOM_DEFAULTS.policyIntervalS * ts,
    });
  const manager = m.mechanisms.balloon
    ? new SimBalloonManager(m, policy, spec.guestStatsReported ?? true)
    : null;
  const tl: MultiTimeline = {
    tS: [],
    hostFreePages: [],
    balloonTargetPages: m.slots.map(() => []),
    balloonPages: m.slots.map(() => []),
    guestFreePages: m.slots.map(() => []),
    residentPages: m.slots.map(() => []),
    swapInPages: m.slots.map(() => []),
    swapOutPages: m.slots.map(() => []),
    staleReads: m.slots.map(() => []),
    falseReads: m.slots.map(() => []),
    guestMajorFaults: m.slots.map(() => []),
    balloonFramesFreed: m.slots.map(() => []),
    balloonSlotsFreed: m.slots.map(() => []),
    balloonNothingFreed: m.slots.map(() => []),
    balloonBackoffs: m.slots.map(() => []),
    guestSwapOutPages: m.slots.map(() => []),
    guestSwapInPages: m.slots.map(() => []),
    guestPageCachePages: m.slots.map(() => []),
    phase: m.slots.map(() => []),
    diskOps: [],
    diskMeanSeekMiB: [],
    diskMeanWaitMs: [],
    diskBusyFraction: [],
    diskQueueDepth: [],
    globalReclaimPages: [],
    decisions: [],
  };
  const prevIn = m.slots.map(() => 0);
  const prevOut = m.slots.map(() => 0);
  const prevStale = m.slots.map(() => 0);
  const prevFalse = m.slots.map(() => 0);
  const prevMajor = m.slots.map(() => 0);
  const prevGuestSwap = m.slots.map(() => ({ out: 0, in: 0 }));
  const prevBalloon = m.slots.map(() => ({ frames: 0, slots: 0, nothing: 0, backoffs: 0 }));
  const phase = m.slots.map(() => '');
  const prevDisk = { ops: 0, seek: 0, wait: 0, busy: 0, reclaimed: 0, tNs: 0 };
  const sample = (): void => {
    if (m.stopping) return;
    const nowNs = m.events.nowNs;
    tl.tS.push(nowNs / 1e9);
    tl.hostFreePages.push(m.reclaim.freePages);
    const d = m.disk;
    const ops = d.dispatchedOps - prevDisk.ops;
    tl.diskOps.push(ops);
    tl.diskMeanSeekMiB.push(ops > 0 ? ((d.seekSectorsTotal - prevDisk.seek) * 512) / ops / 2 ** 20 : 0);
    tl.diskMeanWaitMs.push(ops > 0 ? (d.queueWaitNsTotal - prevDisk.wait) / ops / 1e6 : 0);
    tl.diskBusyFraction.push(nowNs > prevDisk.tNs ? (d.busyNs - prevDisk.busy) / (nowNs - prevDisk.tNs) : 0);
    tl.diskQueueDepth.push(d.queued);
    tl.globalReclaimPages.push(m.reclaim.reclaimedPages - prevDisk.reclaimed);
    Object.assign(prevDisk, {
      ops: d.dispatchedOps,
      seek: d.seekSectorsTotal,
      wait: d.queueWaitNsTotal,
      busy: d.busyNs,
      reclaimed: m.reclaim.reclaimedPages,
      tNs: nowNs,
    });
    for (const sl of m.slots) {
      const i = sl.index;
      const c = sl.core.counters;
      tl.balloonTargetPages[i]!.push(sl.balloon.target);
      tl.balloonPages[i]!.push(sl.guest.balloonPages);
      tl.guestFreePages[i]!.push(sl.guest.freePages);
      tl.residentPages[i]!.push(sl.core.residentPages);
      tl.swapInPages[i]!.push(c.swapReadPages - prevIn[i]!);
      tl.swapOutPages[i]!.push(c.swapWritePages - prevOut[i]!);
      prevIn[i] = c.swapReadPages;
      prevOut[i] = c.swapWritePages;
      tl.staleReads[i]!.push(c.staleSwapReads - prevStale[i]!);
      tl.falseReads[i]!.push(c.falseSwapReads - prevFalse[i]!);
      const major = sl.guest.counters.majorFaults;
      tl.guestMajorFaults[i]!.push(major - prevMajor[i]!);
      prevStale[i] = c.staleSwapReads;
      prevFalse[i] = c.falseSwapReads;
      prevMajor[i] = major;
      const gc = sl.guest.counters;
      const gs = prevGuestSwap[i]!;
      tl.guestSwapOutPages[i]!.push(gc.swapWritePages - gs.out);
      tl.guestSwapInPages[i]!.push(gc.swapReadPages - gs.in);
      gs.out = gc.swapWritePages;
      gs.in = gc.swapReadPages;
      const pb = prevBalloon[i]!;
      const backoffs = sl.guest.balloon.backoffs;
      tl.balloonFramesFreed[i]!.push(c.balloonFramesFreed - pb.frames);
      tl.balloonSlotsFreed[i]!.push(c.balloonSlotsFreed - pb.slots);
      tl.balloonNothingFreed[i]!.push(c.balloonNothingFreed - pb.nothing);
      tl.balloonBackoffs[i]!.push(backoffs - pb.backoffs);
      pb.frames = c.balloonFramesFreed;
      pb.slots = c.balloonSlotsFreed;
      pb.nothing = c.balloonNothingFreed;
      pb.backoffs = backoffs;
      tl.guestPageCachePages[i]!.push(sl.guest.pageCachePages);
      tl.phase[i]!.push(sl.killed !== undefined ? 'killed' : sl.done ? 'done' : phase[i]!);
    }
    m.events.after(spec.sampleEverySec * 1e9, sample);
  };
  sample();
  manager?.start();
  const programs = m.slots.map(
    (sl) =>
      function* (slot: GuestSlot): Program {
        const os = slot.guest;
        const o = outcomes[sl.index]!;
        let startNs = 0;
        let before: Record<string, number> = {};
        yield* os.allocUserBuffer(spec.workload.userBufferPages);
        yield* spec.workload.program({
          os,
          iterationStart: () => {
            startNs = os.nowNs;
            before = slot.core.counters.snapshot();
          },
          iterationEnd: () => {
            o.runtimeS = (os.nowNs - startNs) / 1e9;
            o.metrics = guestMetrics(slot, before, o.runtimeS);
          },
          phase: (name) => {
            phase[sl.index] = name;
          },
        });
      },
  );
  m.run(
    programs,
    m.slots.map((sl) => sl.index * spec.startIntervalS * 1e9),
  );
  for (const sl of m.slots) {
    const o = outcomes[sl.index]!;
    if (sl.killed !== undefined) {
      o.killed = sl.killed;
      delete o.runtimeS;
    }
    o.metrics.integrityViolations = sl.guest.counters.integrityViolations;
    o.metrics.guestOomKills = sl.guest.counters.oomKills;
  }
  if (manager)
    for (const d of manager.decisions)
      tl.decisions.push({ tS: d.tNs / 1e9, guest: d.guest, targetPages: d.targetPages });
  return {
    config: spec.config,
    guests: outcomes,
    timeline: tl,
    globalReclaimPages: m.reclaim.reclaimedPages,
    wallMs: performance.now() - t0,
    simEvents: m.events.processed,
  };
}

function guestMetrics(slot: GuestSlot, before: Record<string, number>, runtimeS: number): Metrics {
  const now = slot.core.counters.snapshot();
  const c = (k: string): number => (now[k] ?? 0) - (before[k] ?? 0);
  return {
    runtimeS,
    swapReadFaults: c('swapReadOps'),
    falseSwapReads: c('falseSwapReads'),
    staleSwapReads: c('staleSwapReads'),
    silentSwapWrites: c('silentSwapWrites'),
    hostFaultsInGuest: c('hostFaultsInGuest'),
    pagesScanned: c('pagesScanned'),
    preventerRemaps: c('preventerRemaps'),
    balloonPages: slot.guest.balloonPages,
    guestMajorFaults: slot.guest.counters.majorFaults,
    // The guest's own swap partition (pages, the whole run: the guest swaps before its workload starts too).
    guestSwapWritePages: slot.guest.counters.swapWritePages,
    guestSwapReadPages: slot.guest.counters.swapReadPages,
    // Pages the host wrote to / read from swap for this guest (8 sectors a page).
    swapWriteSectors: c('swapWritePages') * 8,
    swapReadSectors: c('swapReadPages') * 8,
  };
}
