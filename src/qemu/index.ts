import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { release } from 'node:os';
import type { ConfigName, FigureResult, RunRecord } from '../experiments/results.js';
import { cacheDir, detectAccel, type QemuRunResult, qemuVersion, runQemuConfig } from './engine.js';
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

/** The paper's sizes, scaled: memory and file shrink together; iterations stay 8. */
export function figureSizes(scale: number): {
  believedMiB: number;
  actualMiB: number;
  fileMiB: number;
  allocMiB: number;
  iterations: number;
} {
  if (!(scale > 0 && scale <= 1)) throw new Error(`scale must be in (0, 1], got ${scale}`);
  return {
    believedMiB: Math.round(512 * scale),
    actualMiB: Math.round(100 * scale),
    fileMiB: Math.round(200 * scale),
    allocMiB: Math.round(200 * scale),
    iterations: 8,
  };
}

const UNAVAILABLE = ['mapper', 'vswapper', 'balloon+vswapper'] as const;

/** Turns one configuration's run (of this engine or the qemu-pager engine) into the figure's records. */
export function recordsFor(
  figure: 'fig9' | 'fig10',
  r: Pick<QemuRunResult, 'iterations' | 'alloc' | 'qemuKilled' | 'notes'> & { config: ConfigName },
  mode: string,
): RunRecord[] {
  const common = [mode, ...r.notes];
  if (r.qemuKilled) {
    // The iterations that finished, then the one that did not.
    const done =
      figure === 'fig9'
        ? r.iterations.map((it, k) => ({
            config: r.config,
            x: k + 1,
            metrics: it.metrics,
            notes: [...common, ...it.notes],
          }))
        : [];
    return [
      ...done,
      {
        config: r.config,
        x: figure === 'fig9' ? r.iterations.length + 1 : null,
        metrics: {},
        killed: true,
        notes: [...common, r.qemuKilled],
      },
    ];
  }
  if (figure === 'fig9')
    return r.iterations.map((it, k) => ({
      config: r.config,
      x: k + 1,
      metrics: it.metrics,
      ...(it.killed ? { killed: true } : {}),
      notes: [...common, ...it.notes],
    }));
  const a = r.alloc;
  if (!a) return [];
  const metrics = a.killed ? {} : { runtimeS: a.metrics.runtimeS, diskOps: a.metrics.diskOps, ...a.metrics };
  return [
    {
      config: r.config,
      x: null,
      metrics,
      ...(a.killed ? { killed: true } : {}),
      notes: [...common, ...a.notes],
    },
  ];
}

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
  const sizes = figureSizes(opts.scale);
  const configs = opts.configs ?? ['baseline', 'balloon'];
  const t0 = performance.now();
  const runs: RunRecord[] = [];
  const mode = `qemu engine, ${detectAccel().accel}, ${opts.hddLike ? 'HDD-like (throttled swap and image)' : "unthrottled (this machine's disk)"}, scale ${opts.scale}`;
  const meta: FigureResult['meta'] = {};
  for (const [i, config] of configs.entries()) {
    const r = await runQemuConfig({
      config,
      ...sizes,
      allocMiB: figure === 'fig10' ? sizes.allocMiB : 0,
      hddLike: opts.hddLike,
      onProgress: (m) => opts.onProgress?.(m, i / configs.length),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    runs.push(...recordsFor(figure, r, mode));
    for (const [k, v] of Object.entries(r.info)) meta[`${config}.${k}`] = v;
    meta[`${config}.checksum`] =
      r.checksumOk === undefined ? 'not reached' : r.checksumOk ? 'equal' : 'DIFFERENT';
  }
  for (const c of UNAVAILABLE)
    runs.push({
      config: c,
      x: null,
      metrics: {},
      notes: [
        `unavailable on the qemu engine: ${c} needs a changed hypervisor (the Swap Mapper${c === 'mapper' ? '' : ' and the False Reads Preventer'}); see the qemu-pager engine and the simulator`,
      ],
    });
  const accel = detectAccel();
  return {
    figure,
    engine: 'qemu',
    runs,
    meta: {
      ...meta,
      accel: accel.accel,
      accelWhy: accel.why,
      hddLike: opts.hddLike,
      hddModel: opts.hddLike ? HDD.name : null,
      scale: opts.scale,
      believedMiB: sizes.believedMiB,
      actualMiB: sizes.actualMiB,
      fileMiB: sizes.fileMiB,
      iterations: sizes.iterations,
      ...(figure === 'fig10' ? { allocMiB: sizes.allocMiB } : {}),
      disk: 'virtio-blk, cache=none (O_DIRECT), aio=native, 4 KiB blocks, ext4',
      swap: 'loop device (direct I/O) over a file, believed + 128 MiB',
      guestKernelArgs: 'init_on_alloc=0',
      qemuThp: 'disabled for QEMU (prctl PR_SET_THP_DISABLE)',
      hostKernel: release(),
      qemuVersion: qemuVersion(),
      guestKernel: 'Debian linux-image-cloud-amd64',
      cacheDir: cacheDir(),
      wallS: Math.round((performance.now() - t0) / 100) / 10,
    },
  };
}
