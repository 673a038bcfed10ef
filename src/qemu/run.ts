import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Measured } from '../real/guest-workload.js';
import {
  type IterationRecord,
  GuestRun,
  type RealRunOptions,
  type RealRunResult,
} from '../real/guest-run.js';
import { inflateBalloon } from '../real/balloon.js';
import { HDD, hddThrottles } from '../real/hdd.js';
import { blockStat, faultsByThread, qemuMemory, vmstat } from '../real/proc.js';
import { cacheDir, MiB } from '../real/paths.js';
import { type QemuLaunch, guestArgs, qemuBaseArgs } from '../real/qemu-process.js';
import {
  type RunCgroups,
  cgroupStat,
  loopDevice,
  makeCgroups,
  makeSwap,
  makeSwapFile,
  maxUsage,
  memoryUsage,
  setMemoryLimit,
  setSwappiness,
  throttleDevice,
} from './host-setup.js';
import { type HostSample, phaseMetrics } from './metrics.js';

export type QemuConfig = 'baseline' | 'balloon';

/** The paper's baseline or balloon, one run of the Sysbench loop (and Fig. 10's allocation). */
export interface QemuRunOptions extends RealRunOptions {
  config: QemuConfig;
  /** Added to QEMU's measured own memory in the cgroup cap (I/O buffers, heap growth). */
  marginMiB?: number;
  /** Explicit cgroup cap in MiB instead of the measured one (for investigations). */
  limitMiB?: number;
  /** Recalibrate the cap after the warm-up (QEMU's working set under pressure); default true. */
  recalibrate?: boolean;
  /** QEMU's disk AIO engine (default native with cache=none, see README). */
  aio?: 'threads' | 'native';
  /** The memory cgroup's swappiness (v1; default 60, the kernel's default and the paper's). */
  swappiness?: number;
  /** Size of the host's swap area (default believed + 128 MiB: room for all the guest's memory). */
  swapMiB?: number;
  /** Swap area on a loop device over a file (default: its I/O counted and throttled on its own) or a plain swap file. */
  swapOn?: 'loop' | 'file';
  /** Let QEMU use transparent huge pages (default false: 4 KiB pages, as the paper's host swapped). */
  thp?: boolean;
  /** QEMU's disk cache mode (default none = O_DIRECT, the paper's non-VSwapper setting). */
  diskCache?: 'none' | 'writeback' | 'writethrough';
}

export type QemuRunResult = RealRunResult<QemuConfig>;

/**
 * The paper's baseline or balloon on a real Debian guest: stock QEMU in a memory cgroup with a swap
 * area of its own, the guest reading its file `iterations` times with Sysbench and keeping its page
 * cache. Counters come from the kernel (the swap and image loop devices, QEMU's per-thread major
 * faults, /proc/vmstat) sampled around each command, and from the guest's /proc/vmstat. Everything
 * the run changes on the host is undone before it returns, also on failure and on signals.
 */
export async function runQemuConfig(o: QemuRunOptions): Promise<QemuRunResult> {
  return new QemuRun(o).run();
}

class QemuRun extends GuestRun<QemuConfig, HostSample> {
  private readonly name = `vswapper-qemu-${process.pid}-${Date.now()}`;
  private readonly diskCache: 'none' | 'writeback' | 'writethrough';
  private cg!: RunCgroups;
  private swapDev: string | undefined;
  private imageDev = '';
  private balloonPages = 0;
  private firstLimit = 0;
  private readonly seen = new Map<number, { vcpu: boolean; majflt: number }>();
  protected override readonly reclaimedBy = 'the host reclaimed what does not fit';

  constructor(private readonly q: QemuRunOptions) {
    if (q.swapMiB !== undefined && !(Number.isInteger(q.swapMiB) && q.swapMiB >= 1))
      throw new RangeError(`runQemuConfig: swapMiB must be a whole number of MiB >= 1, got ${q.swapMiB}`);
    super(q, cacheDir());
    this.diskCache = q.diskCache ?? 'none';
  }

  /** A memory cgroup, a swap area of its own, the image on a loop device; throttles in HDD-like mode. */
  protected setUpHost(): void {
    const { q, info, ledger } = this;
    this.cg = makeCgroups(ledger, this.name, q.hddLike);
    setSwappiness(this.cg, q.swappiness ?? 60);
    const swapOn = q.swapOn ?? 'loop';
    const swapBytes = (q.swapMiB ?? q.believedMiB + 128) * MiB;
    info.swapMiB = swapBytes / MiB;
    const swap =
      swapOn === 'loop'
        ? makeSwap(ledger, this.dir, swapBytes)
        : { dev: undefined, file: makeSwapFile(ledger, this.dir, swapBytes) };
    this.swapDev = swap.dev;
    info.swapOn = swapOn;
    this.imageDev = loopDevice(ledger, this.img.disk);
    info.swapDevice = swap.dev ?? swap.file;
    info.imageDevice = this.imageDev;
    if (q.hddLike) {
      const pageCluster = Number(readFileSync('/proc/sys/vm/page-cluster', 'utf8').trim());
      const t = hddThrottles(pageCluster);
      if (!swap.dev) throw new Error('HDD-like mode needs the swap area on a loop device');
      throttleDevice(this.cg, swap.dev, t.swap);
      throttleDevice(this.cg, this.imageDev, t.image);
      info.hddThrottleSwap = JSON.stringify(t.swap);
      info.hddThrottleImage = JSON.stringify(t.image);
      info.hddModel = HDD.name;
    }
  }

  protected launchSpec(): QemuLaunch & { qmpSocket: string } {
    const qmpSocket = join(this.dir, `${this.name}.qmp`);
    const consoleLog = join(this.dir, `${this.name}.console`);
    this.ledger.did({ kind: 'rm', path: qmpSocket });
    this.ledger.did({ kind: 'rm', path: consoleLog });
    const aio = this.q.aio ?? (this.diskCache === 'none' ? 'native' : 'threads');
    const args = [
      ...qemuBaseArgs(this.accel, this.tbMiB, this.q.believedMiB),
      // Thread names ("CPU 0/TCG", "worker", ...) let faults be split by context.
      '-name',
      'vswapper-qemu,debug-threads=on',
      // cache=none: O_DIRECT, no host page cache for the image, as the paper's non-VSwapper runs.
      '-drive',
      `file=${this.imageDev},if=none,id=d0,format=raw,cache=${this.diskCache},aio=${aio}`,
      '-device',
      'virtio-blk-pci,drive=d0,logical_block_size=4096,physical_block_size=4096',
      '-device',
      'virtio-balloon-pci,id=balloon0',
      ...guestArgs(this.img, qmpSocket, consoleLog),
    ];
    // The shell puts itself in the cgroups and becomes QEMU, so QEMU never runs outside them.
    const prelude = this.cg.procsFiles.map((f) => `echo $$ > ${f}`).join(' && ');
    return { args, prelude, thp: this.q.thp ?? false, consoleLog, qmpSocket };
  }

  /** balloon: inflated first; then the cgroup's first cap, measured with the guest idle. */
  protected async beforeWarmup(): Promise<void> {
    if (this.q.config === 'balloon') await this.inflateBalloon();
    const { info } = this;
    info.cgroupVersion = this.cg.version;
    info.diskCache = this.diskCache;
    info.marginMiB = this.q.marginMiB ?? 16;
    info.tcgCacheMiB = this.accel === 'tcg' ? this.tbMiB : 0;
    this.firstLimit = this.calibrate('AtBoot');
    info.cgroupFirstLimitMiB = +(this.firstLimit / MiB).toFixed(1);
  }

  /**
   * Inflated before the workload so that the guest keeps `actualMiB` (the paper's static
   * experiments); the cgroup cap stays as the fallback host swapping (the paper's balloon+baseline).
   */
  private async inflateBalloon(): Promise<void> {
    const r = await inflateBalloon(await this.connectQmp(), this.q.believedMiB, this.q.actualMiB, (m) =>
      this.progress(m),
    );
    this.balloonPages = r.balloonPages;
    this.notes.push(...r.notes);
  }

  private get tbBytes(): number {
    return this.accel === 'tcg' ? this.tbMiB * MiB : 0;
  }

  /**
   * The cgroup cap = the guest's resident size + QEMU's own memory (its allowance). QEMU's own
   * memory is what the cgroup holds besides the guest RAM mapping: QEMU's code and heap, the TCG
   * translation cache (bounded by tb-size), page tables, the swap cache. It is measured twice: once
   * with the guest idle (a first cap), and again after the guest has used all its memory under that
   * cap, when the host has also reclaimed QEMU's cold pages (boot-time buffers): the second value is
   * QEMU's working set, and the final cap leaves the guest `actualMiB`. Returns the cap.
   */
  private calibrate(when: string): number {
    const q = this.q;
    const mem = qemuMemory(this.qemu!.pid, q.believedMiB * MiB, this.tbBytes);
    // Resident pages QEMU maps outside the guest RAM (its code, heap, TCG cache); page cache it
    // does not map (the kernel and initramfs it read at boot) is left out: it is dropped first.
    const own = Math.max(0, mem.totalRss - mem.guestRss);
    const limit =
      q.limitMiB !== undefined ? q.limitMiB * MiB : q.actualMiB * MiB + own + (q.marginMiB ?? 16) * MiB;
    this.info[`guestRamResident${when}MiB`] = +(mem.guestRss / MiB).toFixed(1);
    this.info[`qemuOwn${when}MiB`] = +(own / MiB).toFixed(1);
    this.info[`tcgCacheResident${when}MiB`] = +(mem.tbRss / MiB).toFixed(1);
    setMemoryLimit(this.cg, limit);
    return limit;
  }

  protected afterWarmup(): Promise<void> {
    const { info } = this;
    const limit = (this.q.recalibrate ?? true) ? this.calibrate('AfterWarmup') : this.firstLimit;
    info.cgroupLimitMiB = +(limit / MiB).toFixed(1);
    this.progress(
      `${this.q.config}: cgroup cap ${info.cgroupLimitMiB} MiB = guest ${this.q.actualMiB} + QEMU's own ${info.qemuOwnAfterWarmupMiB} (TCG cache ${info.tcgCacheResidentAfterWarmupMiB} of it) + margin ${info.marginMiB}`,
    );
    return Promise.resolve();
  }

  protected sample(): HostSample {
    return {
      wallMs: performance.now(),
      swap: this.swapDev ? blockStat(this.swapDev) : undefined,
      image: blockStat(this.imageDev),
      faults: faultsByThread(this.qemu!.pid, this.seen),
      vm: vmstat(),
    };
  }

  protected phase(m: Measured<HostSample>): IterationRecord {
    const { metrics, notes } = phaseMetrics(m);
    metrics.balloonPages = this.q.config === 'balloon' ? this.balloonPages : 0;
    return { metrics, notes };
  }

  protected collect(): Promise<void> {
    const { info, cg } = this;
    info.cgroupMaxUsageMiB = +(maxUsage(cg) / MiB).toFixed(1);
    const memEnd = qemuMemory(this.qemu!.pid, this.q.believedMiB * MiB, this.tbBytes);
    info.qemuOwnAtEndMiB = +((memoryUsage(cg) - memEnd.guestRss) / MiB).toFixed(1);
    info.tcgCacheResidentAtEndMiB = +(memEnd.tbRss / MiB).toFixed(1);
    info.guestRamResidentAtEndMiB = +(memEnd.guestRss / MiB).toFixed(1);
    return Promise.resolve();
  }

  /** Killed by the memory cgroup's OOM killer, or the guest panicked (e.g. out of memory under the balloon). */
  protected whyEnded(e: Error): string {
    let oom = 0;
    try {
      oom = cgroupStat(this.cg).oom_kill_events ?? 0;
    } catch {
      // cgroup gone
    }
    return oom > 0
      ? `QEMU was OOM-killed by the memory cgroup (${oom} OOM kill(s)): ${e.message}`
      : `the guest ended before the run did (a guest panic, e.g. out of memory): ${e.message}`;
  }
}
