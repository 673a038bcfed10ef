import { setTimeout as sleep } from 'node:timers/promises';
import { MiB } from '../real/paths.js';
import { FAULT_TRACE_FIELDS, FaultStage } from './fault-trace.js';
import {
  IDLE_WINDOWS_S,
  type IdleFault,
  type PageRegion,
  byKind,
  byRegion,
  faultsFromTrace,
  kpageflagsCommand,
  pageRuns,
  parseKpageflags,
  histogram,
  kernelRegions,
  median,
  newPagesPerSec,
  wssCurve,
} from './idle-curve.js';
import { monoNs } from './loop.js';
import { type PagerProbeAccess, runPagerConfig } from './run.js';
import type { Stats } from './metrics.js';

/**
 * The pager's floor by default: its default virtqueue size (daemon.ts, `queueSize`), the footprint
 * probe's floor; a lower limit can leave the guest's disk I/O waiting on frames (for the second or
 * so the limit stays there: an idle guest does little disk I/O).
 */
const FLOOR_PAGES = 128;

/** The most faults one round records (the daemon's fault-trace limit, 1 << 20). */
const TRACE_CAPACITY = 1 << 20;

/** Runs of pages per guest command reading their kpageflags: a command line of a few KiB. */
const KPAGEFLAGS_RUNS_PER_COMMAND = 40;

/** Guest-physical buckets of the histogram: 16 MiB. */
const HISTOGRAM_BUCKET_PAGES = (16 * MiB) / 4096;

export interface IdleProbeOptions {
  /** What the guest believes it has: 512 (§3.1/§5.1's guest) or 2048 (§5.2's). */
  believedMiB: number;
  /** Evictions, each followed by a window of recorded faults. */
  rounds: number;
  /** The window after each eviction, seconds. */
  windowS: number;
  /** How long the booted guest is left alone before the first eviction, seconds. */
  settleS: number;
  /**
   * The pages the eviction keeps (default FLOOR_PAGES): the most recently used ones, so the hottest
   * pages are not seen faulting back; a lower floor shows more of them.
   */
  floorPages?: number;
  onProgress?: (m: string) => void;
  signal?: AbortSignal;
}

/** One round: an eviction to the floor, then the faults of the window after it. */
export interface IdleRound {
  round: number;
  /** Guest RAM held before the eviction and right after it (MiB of the memfd). */
  memfdBeforeMiB: number;
  memfdAfterEvictionMiB: number;
  /** Faults recorded in the window (a page may fault twice: a read, then a write-protect fault). */
  faults: number;
  /** Distinct pages, and how many of them came back from swap (the rest: zero-filled, or a write on a kept page). */
  distinctPages: number;
  distinctReadFromSwap: number;
  /** WSS(W) at IDLE_WINDOWS_S (windows past the round's length are omitted). */
  wssPages: Record<string, number>;
  /** The daemon's counters over the window: faults by QEMU thread kind, write-protect faults, swap reads. */
  uffdFaultsGuest: number;
  uffdFaultsHost: number;
  wpFaults: number;
  swapReadOps: number;
  /** First touches per part of the kernel image (from the guest's /proc/iomem), and elsewhere. */
  byRegion: Record<string, number>;
  /** First touches per 16 MiB of guest-physical memory: [first page, count]. */
  histogram: [number, number][];
  /** Distinct pages by what they held when the rounds were over (the guest's /proc/kpageflags). */
  byKind: Record<string, number>;
  /** Every fault: [seconds after the eviction, page, 1 if read from swap]. */
  trace: [number, number, number][];
}

export interface IdleProbeResult {
  believedMiB: number;
  windowS: number;
  settleS: number;
  floorPages: number;
  windowsS: number[];
  rounds: IdleRound[];
  /** The median over rounds of WSS(W). */
  medianWssPages: Record<string, number>;
  /** New distinct pages per second at long W (between the named windows), median over rounds. */
  longRates: { fromS: number; toS: number; pagesPerSec: number; perRound: number[] }[];
  kernelRegions: PageRegion[];
  /** Every page touched in any round, by what it held after the rounds (kpageflags; 'unknown' if unread). */
  byKind: Record<string, number>;
  /** Guest RAM (MiB of the memfd) every 5 s while it settled. */
  settleMemfdMiB: number[];
  guestKernel: string;
  info: Record<string, string | number | boolean>;
  notes: string[];
}

function checkOptions(o: IdleProbeOptions): void {
  const whole = (k: 'believedMiB' | 'rounds' | 'windowS' | 'settleS', min: number): void => {
    const v = o[k];
    if (!(Number.isInteger(v) && v >= min))
      throw new RangeError(`idle probe: ${k} must be a whole number >= ${min}, got ${v}`);
  };
  whole('believedMiB', 64);
  whole('rounds', 1);
  whole('windowS', 1);
  whole('settleS', 0);
  const f = o.floorPages;
  if (f !== undefined && !(Number.isInteger(f) && f >= 1))
    throw new RangeError(`idle probe: floorPages must be a whole number >= 1, got ${f}`);
}

/**
 * Measures what an idle guest touches: the project's guest boots on the pager (no limit, no
 * warm-up), is left alone `settleS` seconds, then, `rounds` times, the pager evicts all but its floor
 * and records every fault of the next `windowS` seconds (nothing is asked of the guest meanwhile;
 * no swap readahead, no access sampling, so every page the guest wants back is one fault). QEMU's
 * own accesses to guest RAM fault too and are counted with the guest's (their share: uffdFaultsHost).
 * The run then does the engine's one Sysbench read of a small file and powers off, as every run does.
 */
export async function runIdleProbe(o: IdleProbeOptions): Promise<IdleProbeResult> {
  checkOptions(o);
  const floor = o.floorPages ?? FLOOR_PAGES;
  const progress = (m: string): void => o.onProgress?.(m);
  const rounds: IdleRound[] = [];
  const settleMemfdMiB: number[] = [];
  let regions: PageRegion[] = [];
  const flags = new Map<number, bigint>();
  let guestKernel = '';
  const windows = IDLE_WINDOWS_S.filter((w) => w <= o.windowS);
  const probe = async (r: PagerProbeAccess): Promise<void> => {
    guestKernel = (await r.guest('!uname -r')).lines.join(' ');
    regions = kernelRegions((await r.guest('!cat /proc/iomem')).lines);
    if (regions.length === 0)
      progress('the guest did not show its kernel image in /proc/iomem: a histogram only');
    const memfdMiB = (s: Stats): number => +((s.pager.memfdBytes ?? 0) / MiB).toFixed(1);
    progress(`guest ${guestKernel} idle: settling ${o.settleS} s`);
    for (let t = 0; t < o.settleS; t += 5) {
      settleMemfdMiB.push(memfdMiB(await r.stats()));
      await sleep(Math.min(5, o.settleS - t) * 1000, undefined, o.signal ? { signal: o.signal } : {});
    }
    settleMemfdMiB.push(memfdMiB(await r.stats()));
    for (let k = 1; k <= o.rounds; k++) {
      o.signal?.throwIfAborted();
      const { beforeBytes, afterBytes } = await r.setLimit(floor);
      const before = +(beforeBytes / MiB).toFixed(1);
      await r.daemon({ cmd: 'fault-trace', on: false });
      // The clock starts before the trace does: no recorded fault is earlier than it.
      const t0Ns = monoNs();
      await r.daemon({ cmd: 'fault-trace', on: true, capacity: TRACE_CAPACITY });
      const a = await r.stats();
      await r.daemon({ cmd: 'limit', pages: r.ramPages });
      await sleep(o.windowS * 1000, undefined, o.signal ? { signal: o.signal } : {});
      const b = await r.stats();
      const records = (await r.daemon({ cmd: 'fault-trace', on: false })).records as (number | null)[];
      const faults = faultsFromTrace(
        records,
        { fields: FAULT_TRACE_FIELDS, readStartAt: 1 + FaultStage.readStart },
        t0Ns,
      ).filter((f) => f.tS <= o.windowS);
      const round = roundOf(k, faults, windows, regions, a, b, before, afterBytes / MiB);
      if (records.length / FAULT_TRACE_FIELDS >= TRACE_CAPACITY)
        progress(`round ${k}: the trace is full (${TRACE_CAPACITY} faults): the curve is cut there`);
      rounds.push(round);
      progress(
        `round ${k}/${o.rounds}: evicted ${before} -> ${round.memfdAfterEvictionMiB} MiB; ${round.distinctPages} pages came back in ${o.windowS} s (${windows.map((w) => `${w}s:${round.wssPages[String(w)]}`).join(' ')})`,
      );
    }
    // What the touched pages hold, read once the windows are over (reading disturbs the guest).
    const runs = pageRuns(rounds.flatMap((x) => x.trace.map(([, page]) => page)));
    for (let i = 0; i < runs.length; i += KPAGEFLAGS_RUNS_PER_COMMAND) {
      const reply = await r.guest(`!${kpageflagsCommand(runs.slice(i, i + KPAGEFLAGS_RUNS_PER_COMMAND))}`);
      for (const [p, f] of parseKpageflags(reply.lines)) flags.set(p, f);
    }
    for (const x of rounds)
      x.byKind = byKind(
        x.trace.map(([, page]) => page),
        flags,
      );
    progress(`page kinds read for ${flags.size} pages`);
  };
  const run = await runPagerConfig({
    config: 'baseline',
    believedMiB: o.believedMiB,
    actualMiB: o.believedMiB,
    fileMiB: 16,
    iterations: 1,
    allocMiB: 0,
    hddLike: false,
    warmup: false,
    samplingDepth: 0,
    pageClusterLog2: 0,
    probe,
    onProgress: progress,
    ...(o.signal ? { signal: o.signal } : {}),
  });
  if (rounds.length < o.rounds)
    throw new Error(
      `the idle probe did not finish: ${rounds.length} of ${o.rounds} rounds${run.qemuKilled ? ` (${run.qemuKilled})` : ''}`,
    );
  return summarize(o, rounds, windows, regions, flags, settleMemfdMiB, guestKernel, run.info, run.notes);
}

function roundOf(
  k: number,
  faults: IdleFault[],
  windows: readonly number[],
  regions: PageRegion[],
  a: Stats,
  b: Stats,
  beforeMiB: number,
  afterMiB: number,
): IdleRound {
  const d = (key: string): number => (b.pager[key] ?? 0) - (a.pager[key] ?? 0);
  const curve = wssCurve(faults, windows);
  const distinct = new Map<number, boolean>();
  for (const f of faults) if (!distinct.has(f.page)) distinct.set(f.page, f.read);
  return {
    round: k,
    memfdBeforeMiB: beforeMiB,
    memfdAfterEvictionMiB: +afterMiB.toFixed(1),
    faults: faults.length,
    distinctPages: distinct.size,
    distinctReadFromSwap: [...distinct.values()].filter((r) => r).length,
    wssPages: Object.fromEntries(windows.map((w, i) => [String(w), curve[i]!])),
    uffdFaultsGuest: d('uffdFaultsGuest'),
    uffdFaultsHost: d('uffdFaultsHost'),
    wpFaults: d('wpFaults'),
    swapReadOps: d('swapReadOps'),
    byRegion: byRegion(faults, regions),
    histogram: histogram(faults, HISTOGRAM_BUCKET_PAGES),
    byKind: {},
    trace: faults.map((f) => [+f.tS.toFixed(6), f.page, f.read ? 1 : 0]),
  };
}

/** The pairs of windows the long-W rate is taken between (those the rounds reach). */
function longPairs(windowS: number): [number, number][] {
  return (
    [
      [30, 60],
      [60, 120],
    ] as [number, number][]
  ).filter(([, to]) => to <= windowS);
}

function summarize(
  o: IdleProbeOptions,
  rounds: IdleRound[],
  windows: readonly number[],
  regions: PageRegion[],
  flags: ReadonlyMap<number, bigint>,
  settleMemfdMiB: number[],
  guestKernel: string,
  info: Record<string, string | number | boolean>,
  notes: string[],
): IdleProbeResult {
  const faultsOf = (r: IdleRound): IdleFault[] =>
    r.trace.map(([tS, page, read]) => ({ tS, page, read: read === 1 }));
  const pairs = longPairs(o.windowS);
  // A short probe (a test) still gives a rate: over its second half.
  if (pairs.length === 0) pairs.push([o.windowS / 2, o.windowS]);
  return {
    believedMiB: o.believedMiB,
    windowS: o.windowS,
    settleS: o.settleS,
    floorPages: o.floorPages ?? FLOOR_PAGES,
    windowsS: [...windows],
    rounds,
    medianWssPages: Object.fromEntries(
      windows.map((w) => [String(w), median(rounds.map((r) => r.wssPages[String(w)]!))]),
    ),
    longRates: pairs.map(([fromS, toS]) => {
      const perRound = rounds.map((r) => +newPagesPerSec(faultsOf(r), fromS, toS).toFixed(3));
      return { fromS, toS, pagesPerSec: median(perRound), perRound };
    }),
    kernelRegions: regions,
    byKind: byKind(
      rounds.flatMap((x) => x.trace.map(([, page]) => page)),
      flags,
    ),
    settleMemfdMiB,
    guestKernel,
    info,
    notes,
  };
}
