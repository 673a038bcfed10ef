import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Metrics } from '../engine/results.js';
import { MOM_DEFAULTS, MomBalloonPolicy } from '../policy/mom-policy.js';
import { detectAccel } from '../real/accel.js';
import { BalloonManager, type ManagerLogRecord } from '../real/balloon-manager.js';
import { HostStatsReader } from '../real/balloon-stats.js';
import { type GuestImage, buildWcGuestImage } from '../real/guest-image.js';
import { guestVmstat } from '../real/guest-workload.js';
import { HostChanges, recoverStaleJournals } from '../real/host-changes.js';
import { MiB, cacheDir } from '../real/paths.js';
import { parseKeyValues, qemuMemory, vmstat } from '../real/proc.js';
import { QmpClient } from '../real/qmp.js';
import { type QemuProcess, guestArgs, launchQemu, qemuBaseArgs } from '../real/qemu-process.js';
import { takeLock } from '../real/run-lock.js';
import {
  type RunCgroups,
  makeCgroups,
  makeSwap,
  memoryUsage,
  setMemoryLimit,
  setSwappiness,
} from './host-setup.js';

/**
 * §5.2 on real guests, scaled: K Debian guests under stock QEMU (TCG), each in a memory cgroup of
 * its own under one parent cgroup whose limit plays the host's memory, one swap area for all (the
 * host's), each guest with a private disk holding its own input and running the word count of
 * scripts/guest/wc.c (Metis's map/reduce/merge shape), the word counts started `startIntervalS`
 * apart. `balloon` runs the balloon manager (src/real/balloon-manager.ts, MOM's policy from
 * src/policy) on every guest's second QMP socket, as an outside daemon would. Host swap is counted
 * per guest from its cgroup (v1 memory.stat `swap` with swap accounting, `pgmajfault`).
 */

export type MultiConfig = 'baseline' | 'balloon';

export interface QemuMultiOptions {
  config: MultiConfig;
  guests: number;
  /** Each guest's RAM. */
  guestMiB: number;
  /** The guests' host: the parent cgroup's limit besides QEMU's own memory (measured, see below). */
  hostMiB: number;
  inputMiB: number;
  keys: number;
  startIntervalS: number;
  /** MOM's periods (default its own: 5 s and 10 s). */
  statsIntervalS?: number;
  policyIntervalS?: number;
  onProgress?: (m: string) => void;
  signal?: AbortSignal;
  /** Tests: called once every guest has booted (e.g. to interrupt the run there). */
  onBooted?: () => void;
}

export interface RealGuestOutcome {
  guest: number;
  startS: number;
  runtimeS?: number;
  killed?: string;
  md5Ok: boolean;
  metrics: Metrics;
  /** Host swap held for this guest: most and at the end (its cgroup's memory.stat `swap`), MiB. */
  swapPeakMiB: number;
  swapEndMiB: number;
  /** Sum of the increases of that swap between samples (1 s): a lower bound of what was written, MiB. */
  swapGrowthMiB: number;
  /** Smallest memory the balloon left the guest (`actual`), MiB. */
  balloonMinActualMiB: number;
}

export interface MultiTimelineReal {
  tS: number[];
  parentUsageMiB: number[];
  swapMiB: number[][];
  usageMiB: number[][];
  actualMiB: number[][];
}

export interface QemuMultiResult {
  config: MultiConfig;
  guests: RealGuestOutcome[];
  manager: ManagerLogRecord[];
  timeline: MultiTimelineReal;
  info: Record<string, string | number | boolean>;
  notes: string[];
}

interface Guest {
  index: number;
  img: GuestImage;
  cg: string;
  qemu: QemuProcess;
  runQmp: QmpClient | undefined;
  mgrSocket: string;
  startS: number;
  swapPeak: number;
  swapPrev: number;
  swapGrowth: number;
  actualMin: number;
}

/** Refuses sizes no run can have before anything is built or touched. */
export function checkMultiOptions(o: QemuMultiOptions): void {
  const whole = (k: 'guests' | 'guestMiB' | 'hostMiB' | 'inputMiB' | 'keys', min: number): void => {
    if (!(Number.isInteger(o[k]) && o[k] >= min))
      throw new RangeError(`${k} must be a whole number >= ${min}, got ${o[k]}`);
  };
  whole('guests', 1);
  whole('guestMiB', 128);
  whole('hostMiB', 16);
  whole('inputMiB', 1);
  whole('keys', 1);
  if (o.keys > 456976) throw new RangeError(`keys must be at most 456976 (26^4), got ${o.keys}`);
  if (!(o.startIntervalS >= 0)) throw new RangeError(`startIntervalS must be >= 0, got ${o.startIntervalS}`);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function stat(dir: string): Record<string, number> {
  return parseKeyValues(readFileSync(join(dir, 'memory.stat'), 'utf8'));
}

/** The guest's swapped memory in its cgroup (v1 `swap` with swap accounting; v2 memory.swap.current). */
function swapBytes(dir: string): number {
  try {
    return Number(readFileSync(join(dir, 'memory.swap.current'), 'utf8').trim());
  } catch {
    return stat(dir).swap ?? 0;
  }
}

export async function runQemuMulti(o: QemuMultiOptions): Promise<QemuMultiResult> {
  checkMultiOptions(o);
  o.signal?.throwIfAborted();
  const progress = (m: string): void => o.onProgress?.(m);
  const dir = join(cacheDir(), 'multi');
  mkdirSync(dir, { recursive: true });
  const imgs: GuestImage[] = [];
  for (let i = 0; i < o.guests; i++) {
    progress(`guest ${i + 1}: image with its own input (cached after the first build)`);
    imgs.push(await buildWcGuestImage(i + 1, o.inputMiB, o.keys));
  }
  for (const s of recoverStaleJournals(dir)) progress(`undid a change left by a killed run: ${s}`);
  const ledger = new HostChanges({ journalDir: dir });
  const { accel, why } = detectAccel();
  const info: Record<string, string | number | boolean> = {
    accel,
    accelWhy: why,
    guests: o.guests,
    guestMiB: o.guestMiB,
    hostMiB: o.hostMiB,
    inputMiB: o.inputMiB,
    keys: o.keys,
    startIntervalS: o.startIntervalS,
    wordCount: 'scripts/guest/wc.c (static, map/reduce/merge as Metis app/wc)',
  };
  const notes: string[] = [];
  const manager: ManagerLogRecord[] = [];
  const tl: MultiTimelineReal = {
    tS: [],
    parentUsageMiB: [],
    swapMiB: imgs.map(() => []),
    usageMiB: imgs.map(() => []),
    actualMiB: imgs.map(() => []),
  };
  const guests: Guest[] = [];
  let mgr: BalloonManager | undefined;
  let sampler: NodeJS.Timeout | undefined;
  const onAbort = (): void => {
    for (const g of guests) {
      g.qemu.channel.fail(new Error('aborted'));
      g.qemu.kill();
    }
  };
  o.signal?.addEventListener('abort', onAbort);
  try {
    await takeLock(ledger, cacheDir(), { onProgress: progress, ...(o.signal ? { signal: o.signal } : {}) });
    const name = `vswapper-multi-${process.pid}-${Date.now()}`;
    const parent: RunCgroups = makeCgroups(ledger, name, false);
    setSwappiness(parent, 60);
    const swap = makeSwap(ledger, dir, (o.guests * o.guestMiB + 128) * MiB);
    info.swapMiB = o.guests * o.guestMiB + 128;
    info.cgroupVersion = parent.version;
    const vm0 = vmstat();
    // Every guest boots first (unconstrained), as the paper's VMs were up before their word counts.
    for (let i = 0; i < o.guests; i++) {
      const cg = join(parent.memoryDir, `guest${i + 1}`);
      ledger.doing({ kind: 'rmdir-cgroup', path: cg }, () => mkdirSync(cg));
      const runSocket = join(dir, `${name}-${i + 1}.qmp`);
      const mgrSocket = join(dir, `${name}-${i + 1}.mgr.qmp`);
      const consoleLog = join(dir, `${name}-${i + 1}.console`);
      for (const p of [runSocket, mgrSocket, consoleLog]) ledger.did({ kind: 'rm', path: p });
      const img = imgs[i]!;
      const args = [
        ...qemuBaseArgs(accel, 32, o.guestMiB),
        '-name',
        `vswapper-multi-${i + 1},debug-threads=on`,
        // snapshot=on: the guest's writes go to a temporary overlay; the cached disk stays as built.
        '-drive',
        `file=${img.disk},if=none,id=d0,format=raw,cache=none,aio=native,snapshot=on`,
        '-device',
        'virtio-blk-pci,drive=d0,logical_block_size=4096,physical_block_size=4096',
        '-device',
        'virtio-balloon-pci,id=balloon0',
        ...guestArgs(img, runSocket, consoleLog),
        // A second monitor for the balloon manager, as an outside daemon would connect.
        '-qmp',
        `unix:${mgrSocket},server=on,wait=off`,
      ];
      const qemu = launchQemu(ledger, {
        args,
        prelude: `echo $$ > ${join(cg, 'cgroup.procs')}`,
        consoleLog,
      });
      guests.push({
        index: i,
        img,
        cg,
        qemu,
        runQmp: undefined,
        mgrSocket,
        startS: i * o.startIntervalS,
        swapPeak: 0,
        swapPrev: 0,
        swapGrowth: 0,
        actualMin: o.guestMiB,
      });
      guests[i]!.runQmp = await QmpClient.connect(runSocket, { retryMs: 30_000 });
    }
    const t0boot = performance.now();
    await Promise.all(guests.map((g) => g.qemu.channel.ready()));
    info.bootAllS = Math.round(performance.now() - t0boot) / 1000;
    progress(`${o.config}: ${o.guests} guests up in ${info.bootAllS} s (${accel})`);
    o.onBooted?.();
    // The host's limit: the guests' share plus each QEMU's own memory, measured now (code, heap,
    // TCG cache: what the paper's host also held for its QEMUs besides guest RAM).
    let own = 0;
    for (const g of guests) {
      const m = qemuMemory(g.qemu.pid, o.guestMiB * MiB, 32 * MiB);
      own += Math.max(0, m.totalRss - m.guestRss) + 16 * MiB;
    }
    const limit = o.hostMiB * MiB + own;
    setMemoryLimit(parent, limit);
    info.qemuOwnPlusMarginMiB = +(own / MiB).toFixed(1);
    info.parentLimitMiB = +(limit / MiB).toFixed(1);
    progress(
      `${o.config}: the host (parent cgroup) holds ${info.parentLimitMiB} MiB = ${o.hostMiB} + QEMUs' own ${info.qemuOwnPlusMarginMiB}`,
    );
    if (o.config === 'balloon') {
      const policy = new MomBalloonPolicy({
        ...MOM_DEFAULTS,
        statsIntervalS: o.statsIntervalS ?? MOM_DEFAULTS.statsIntervalS,
        policyIntervalS: o.policyIntervalS ?? MOM_DEFAULTS.policyIntervalS,
      });
      const host = new HostStatsReader({ kind: 'cgroup', dir: parent.memoryDir });
      mgr = new BalloonManager({ policy, host: () => host.sample(), log: (r) => manager.push(r) });
      for (const g of guests) await mgr.addGuest(`guest${g.index + 1}`, g.mgrSocket);
      mgr.start();
      info.managerStatsIntervalS = policy.statsIntervalS;
      info.managerPolicyIntervalS = policy.policyIntervalS;
    }
    const t0 = performance.now();
    const nowS = (): number => (performance.now() - t0) / 1000;
    let sampling = false;
    const sample = async (): Promise<void> => {
      if (sampling) return;
      sampling = true;
      try {
        tl.tS.push(+nowS().toFixed(2));
        tl.parentUsageMiB.push(+(memoryUsage(parent) / MiB).toFixed(1));
        for (const g of guests) {
          const sw = swapBytes(g.cg) / MiB;
          g.swapPeak = Math.max(g.swapPeak, sw);
          g.swapGrowth += Math.max(0, sw - g.swapPrev);
          g.swapPrev = sw;
          tl.swapMiB[g.index]!.push(+sw.toFixed(1));
          tl.usageMiB[g.index]!.push(+(memoryUsage({ ...parent, memoryDir: g.cg }) / MiB).toFixed(1));
          let actual = NaN;
          try {
            if (g.runQmp && !g.runQmp.isClosed)
              actual = (await g.runQmp.execute<{ actual: number }>('query-balloon')).actual / MiB;
          } catch {
            // QEMU gone
          }
          if (Number.isFinite(actual)) g.actualMin = Math.min(g.actualMin, actual);
          tl.actualMiB[g.index]!.push(Number.isFinite(actual) ? +actual.toFixed(1) : -1);
        }
      } finally {
        sampling = false;
      }
    };
    await sample();
    sampler = setInterval(() => void sample().catch(() => undefined), 1000);
    const outcomes = await Promise.all(guests.map((g) => runWordCount(g, o, nowS)));
    clearInterval(sampler);
    sampler = undefined;
    await sample();
    const vm1 = vmstat();
    info.hostPswpin = (vm1.pswpin ?? 0) - (vm0.pswpin ?? 0);
    info.hostPswpout = (vm1.pswpout ?? 0) - (vm0.pswpout ?? 0);
    info.swapDevice = swap.dev;
    const parentStat = parseKeyValues(readFileSync(join(parent.memoryDir, 'memory.stat'), 'utf8'));
    info.parentSwapEndMiB = +((parentStat.total_swap ?? 0) / MiB).toFixed(1);
    for (const r of outcomes) {
      const g = guests[r.guest]!;
      r.swapPeakMiB = +g.swapPeak.toFixed(1);
      r.swapEndMiB = +g.swapPrev.toFixed(1);
      r.swapGrowthMiB = +g.swapGrowth.toFixed(1);
      r.balloonMinActualMiB = +g.actualMin.toFixed(1);
    }
    if (o.config === 'balloon')
      notes.push(
        `balloon manager: ${manager.filter((r) => r.kind === 'decision').length} decisions (MOM's default rules, statistics every ${info.managerStatsIntervalS} s, policy every ${info.managerPolicyIntervalS} s)`,
      );
    return { config: o.config, guests: outcomes, manager, timeline: tl, info, notes };
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    if (sampler) clearInterval(sampler);
    await mgr?.stop().catch(() => undefined);
    for (const g of guests) {
      g.runQmp?.close();
      g.qemu.kill();
    }
    await Promise.all(guests.map((g) => Promise.race([g.qemu.exited, sleep(5000)])));
    const failed = ledger.undoAll();
    if (failed.length > 0) notes.push(`could not undo: ${failed.join('; ')}`);
  }
}

/** The guest's word count at its start time: its runtime by the guest's clock, its output's md5. */
async function runWordCount(g: Guest, o: QemuMultiOptions, nowS: () => number): Promise<RealGuestOutcome> {
  const out: RealGuestOutcome = {
    guest: g.index,
    startS: g.startS,
    md5Ok: false,
    metrics: {},
    swapPeakMiB: 0,
    swapEndMiB: 0,
    swapGrowthMiB: 0,
    balloonMinActualMiB: o.guestMiB,
  };
  const wait = g.startS - nowS();
  if (wait > 0) await sleep(wait * 1000);
  const ch = g.qemu.channel;
  try {
    const before = await guestVmstat(ch);
    const majBefore = stat(g.cg).pgmajfault ?? 0;
    o.onProgress?.(`${o.config}: guest ${g.index + 1}: word count started at ${nowS().toFixed(1)} s`);
    const reply = await ch.run('set -o pipefail; ./wc count input.txt | md5sum');
    const after = await guestVmstat(ch);
    let balloonPages = 0;
    try {
      const b = await g.runQmp!.execute<{ actual: number }>('query-balloon');
      balloonPages = Math.round((o.guestMiB * MiB - b.actual) / 4096);
    } catch {
      // QEMU gone
    }
    const md5 = reply.lines.map((l) => /^([0-9a-f]{32})\s/.exec(l)?.[1]).find((x) => x !== undefined);
    out.md5Ok = md5 === g.img.md5;
    const oom = (after.oom_kill ?? 0) - (before.oom_kill ?? 0);
    out.metrics = {
      runtimeS: reply.endS - reply.beginS,
      swapReadFaults: (stat(g.cg).pgmajfault ?? 0) - majBefore,
      guestMajorFaults: (after.pgmajfault ?? 0) - (before.pgmajfault ?? 0),
      guestOomKills: oom,
      // The balloon's size when the word count ended, as the simulator reports it.
      balloonPages,
      integrityViolations: reply.rc === 0 && !out.md5Ok ? 1 : 0,
    };
    if (reply.rc !== 0) {
      out.killed =
        oom > 0
          ? `the word count was killed by the guest's OOM killer (exit ${reply.rc})`
          : `the word count failed (exit ${reply.rc}): ${reply.lines.slice(-2).join(' | ')}`;
      delete out.metrics.runtimeS;
    } else out.runtimeS = out.metrics.runtimeS!;
    o.onProgress?.(
      `${o.config}: guest ${g.index + 1}: ${out.killed ?? `${out.runtimeS!.toFixed(1)} s, md5 ${out.md5Ok ? 'equal' : 'DIFFERENT'}`}`,
    );
  } catch (e) {
    if (o.signal?.aborted) throw e;
    // QEMU ended (the host's OOM killer, a guest panic): the guest is reported killed, never dropped.
    out.killed = `QEMU ended before the word count did: ${(e as Error).message.slice(0, 300)}`;
  }
  return out;
}
