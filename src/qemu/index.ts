import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { FigureResult } from '../engine/results.js';
import { cacheDir, detectAccel, runQemuConfig } from './engine.js';
import { runRealFigure } from './figure-run.js';
import { HDD } from './hdd.js';
import { memoryCgroupVersion } from './host-setup.js';

export {
  runQemuConfig,
  detectAccel,
  buildGuestImage,
  cacheDir,
  sysbenchCommand,
  sysbenchTotalTime,
  setThpDisabled,
  takeLock,
  qemuVersion,
} from './engine.js';
export type { QemuRunOptions, QemuRunResult, IterationRecord } from './engine.js';
export { HostChanges, recoverStaleJournals, undoStep, type UndoStep } from './host-changes.js';
export { HDD, hddThrottles } from './hdd.js';
export { figureSizes, recordsFor } from './records.js';
export { runRealFigure, type RealFigurePlan, type RealRunResult } from './figure-run.js';

export type QemuConfig = 'baseline' | 'balloon';

export interface QemuFigureOptions {
  /** 1 = the paper's sizes (guest believes 512 MiB, keeps 100 MiB, 200 MiB file); 0.25 for CI. */
  scale: number;
  /** Swap and image on devices throttled to the paper's 7200 rpm drive (see hdd.ts). */
  hddLike: boolean;
  configs?: QemuConfig[];
  onProgress?: (msg: string, fraction: number) => void;
  signal?: AbortSignal;
}

function which(cmd: string): Promise<boolean> {
  return new Promise((res) => execFile('sh', ['-c', `command -v ${cmd}`], (err) => res(!err)));
}

/** Whether this host can run the qemu engine, and if not, why. */
export async function qemuAvailability(): Promise<{ ok: true } | { ok: false; reason: string }> {
  if (process.platform !== 'linux') return { ok: false, reason: 'the qemu engine needs Linux' };
  if (process.getuid?.() !== 0)
    return { ok: false, reason: 'the qemu engine needs root (cgroups, swap, loop devices, apt-get)' };
  if (!memoryCgroupVersion()) return { ok: false, reason: 'no memory cgroup controller (v1 or v2)' };
  if (!existsSync('/proc/swaps')) return { ok: false, reason: 'the kernel has no swap support' };
  for (const tool of ['losetup', 'mkswap', 'swapon', 'swapoff', 'fallocate']) {
    if (!(await which(tool))) return { ok: false, reason: `${tool} is missing` };
  }
  if (!(await which('qemu-system-x86_64')) && !(await which('apt-get')))
    return { ok: false, reason: 'no qemu-system-x86_64, and no apt-get to install it' };
  if (!existsSync('/dev/loop-control'))
    return { ok: false, reason: 'no loop device support (/dev/loop-control)' };
  return { ok: true };
}

const UNAVAILABLE = ['mapper', 'vswapper', 'balloon+vswapper'] as const;

/**
 * Fig. 9 (8 Sysbench reads of a 200 MB file by a guest that believes it has 512 MB and keeps 100 MB)
 * or Fig. 10 (the same, then a process allocating and touching 200 MB) on a real Debian guest under
 * stock QEMU: the paper's baseline (the host swaps QEMU under a memory cgroup) and balloon (the
 * guest's virtio-balloon inflated first). The Mapper and VSwapper need a changed hypervisor and are
 * reported as unavailable on this engine.
 */
export async function runQemuFigure(
  figure: 'fig9' | 'fig10',
  opts: QemuFigureOptions,
): Promise<FigureResult> {
  if (figure !== 'fig9' && figure !== 'fig10')
    throw new Error(`engine qemu: figure ${String(figure)} is not available (fig9, fig10)`);
  const avail = await qemuAvailability();
  if (!avail.ok) throw new Error(`engine qemu: ${avail.reason}`);
  return runRealFigure(figure, opts, {
    engine: 'qemu',
    configs: opts.configs ?? ['baseline', 'balloon'],
    modeLabel: `qemu engine, ${detectAccel().accel}, ${opts.hddLike ? 'HDD-like (throttled swap and image)' : "unthrottled (this machine's disk)"}, scale ${opts.scale}`,
    unavailable: UNAVAILABLE.map((c) => ({
      config: c,
      why: `unavailable on the qemu engine: ${c} needs a changed hypervisor (the Swap Mapper${c === 'mapper' ? '' : ' and the False Reads Preventer'}); see the qemu-pager engine and the simulator`,
    })),
    run: (o) =>
      runQemuConfig({ ...o, hddLike: opts.hddLike, ...(opts.signal ? { signal: opts.signal } : {}) }),
    meta: {
      hddModel: opts.hddLike ? HDD.name : null,
      disk: 'virtio-blk, cache=none (O_DIRECT), aio=native, 4 KiB blocks, ext4',
      swap: 'loop device (direct I/O) over a file, believed + 128 MiB',
      qemuThp: 'disabled for QEMU (prctl PR_SET_THP_DISABLE)',
      guestKernel: 'Debian linux-image-cloud-amd64',
      cacheDir: cacheDir(),
    },
  });
}
