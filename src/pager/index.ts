import { existsSync } from 'node:fs';
import { release } from 'node:os';
import type { ConfigName, FigureResult, RunRecord } from '../experiments/results.js';
import { detectAccel, figureSizes, qemuVersion, recordsFor } from '../qemu/index.js';
import { type PagerConfigName, runPagerConfig } from './engine.js';

export {
  runPagerConfig,
  pagerCacheDir,
  buildShim,
  processMemory,
  type PagerRunOptions,
  type PagerRunResult,
} from './engine.js';
export { DaemonProcess } from './daemon-client.js';

export interface PagerFigureOptions {
  /** 1 = the paper's sizes (guest believes 512 MiB, keeps 100 MiB, 200 MiB file). */
  scale: number;
  /** Disk completions timed by the simulator's model of the paper's 7200 rpm drive. */
  hddLike: boolean;
  configs?: PagerConfigName[];
  onProgress?: (msg: string, fraction: number) => void;
  signal?: AbortSignal;
}

/** Whether this host can run the qemu-pager engine, and if not, why. */
export function pagerAvailability(): { ok: true } | { ok: false; reason: string } {
  if (process.platform !== 'linux') return { ok: false, reason: 'the qemu-pager engine needs Linux' };
  if (process.getuid?.() !== 0)
    return {
      ok: false,
      reason: 'the qemu-pager engine needs root (userfaultfd on another process, /proc/PID/map_files)',
    };
  if (!existsSync('/proc/self/map_files')) return { ok: false, reason: 'no /proc/PID/map_files' };
  return { ok: true };
}

const UNAVAILABLE: ConfigName[] = ['balloon', 'vswapper', 'balloon+vswapper'];

/**
 * Fig. 9 (8 Sysbench reads of a 200 MB file, the guest believing it has 512 MB and keeping 100 MB)
 * or Fig. 10 (the same, then a process allocating and touching 200 MB) on a real Debian guest whose
 * memory our pager manages: the Swap Mapper (`mapper`) and the same pager with it off (`baseline`).
 */
export async function runQemuFigure(figure: string, opts: PagerFigureOptions): Promise<FigureResult> {
  if (figure !== 'fig9' && figure !== 'fig10')
    throw new Error(`engine qemu-pager: figure ${String(figure)} is not available (fig9, fig10)`);
  const avail = pagerAvailability();
  if (!avail.ok) throw new Error(`engine qemu-pager: ${avail.reason}`);
  const sizes = figureSizes(opts.scale);
  const configs = opts.configs ?? ['baseline', 'mapper'];
  const t0 = performance.now();
  const accel = detectAccel();
  const mode = `qemu-pager engine, ${accel.accel}, ${opts.hddLike ? "HDD-like (completions timed by the simulator's model of the paper's drive)" : "unthrottled (this machine's disk)"}, scale ${opts.scale}`;
  const runs: RunRecord[] = [];
  const meta: FigureResult['meta'] = {};
  for (const [i, config] of configs.entries()) {
    const r = await runPagerConfig({
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
        c === 'balloon'
          ? 'unavailable on the qemu-pager engine (no balloon here): see the qemu engine'
          : `unavailable on the qemu-pager engine: ${c} needs the False Reads Preventer; see the simulator`,
      ],
    });
  return {
    figure,
    engine: 'qemu-pager',
    runs,
    meta: {
      ...meta,
      accel: accel.accel,
      accelWhy: accel.why,
      hddLike: opts.hddLike,
      hddModel: opts.hddLike
        ? "the simulator's Seagate Constellation ES 7200 rpm model (src/sim/disk/hdd.ts), image at 8 GiB, swap after it"
        : null,
      scale: opts.scale,
      believedMiB: sizes.believedMiB,
      actualMiB: sizes.actualMiB,
      fileMiB: sizes.fileMiB,
      iterations: sizes.iterations,
      ...(figure === 'fig10' ? { allocMiB: sizes.allocMiB } : {}),
      disk: 'vhost-user-blk served by the pager daemon, O_DIRECT on a copy of the image, 4 KiB blocks, ext4',
      memory:
        'memory-backend-memfd (share=on) paged through a userfaultfd created in QEMU by a preloaded shim',
      residentLimit:
        "guest RAM only, enforced by the pager (QEMU's own memory is not limited; measured in meta)",
      swap: "the daemon's swap file (believed size), O_DIRECT",
      guestKernelArgs: 'init_on_alloc=0',
      hostKernel: release(),
      qemuVersion: qemuVersion(),
      wallS: Math.round((performance.now() - t0) / 100) / 10,
    },
  };
}
