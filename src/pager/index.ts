import { existsSync } from 'node:fs';
import type { ConfigName, FigureResult } from '../engine/results.js';
import { detectAccel, runRealFigure } from '../qemu/index.js';
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
  const accel = detectAccel();
  return runRealFigure(figure, opts, {
    engine: 'qemu-pager',
    configs: opts.configs ?? ['baseline', 'mapper'],
    modeLabel: `qemu-pager engine, ${accel.accel}, ${opts.hddLike ? "HDD-like (completions timed by the simulator's model of the paper's drive)" : "unthrottled (this machine's disk)"}, scale ${opts.scale}`,
    unavailable: UNAVAILABLE.map((c) => ({
      config: c,
      why:
        c === 'balloon'
          ? 'unavailable on the qemu-pager engine (no balloon here): see the qemu engine'
          : `unavailable on the qemu-pager engine: ${c} needs the False Reads Preventer; see the simulator`,
    })),
    run: (o) =>
      runPagerConfig({ ...o, hddLike: opts.hddLike, ...(opts.signal ? { signal: opts.signal } : {}) }),
    meta: {
      hddModel: opts.hddLike
        ? "the simulator's Seagate Constellation ES 7200 rpm model (src/sim/disk/hdd.ts), image at 8 GiB, swap after it"
        : null,
      disk: 'vhost-user-blk served by the pager daemon, O_DIRECT on a copy of the image, 4 KiB blocks, ext4',
      memory:
        'memory-backend-memfd (share=on) paged through a userfaultfd created in QEMU by a preloaded shim',
      residentLimit:
        "guest RAM only, enforced by the pager (QEMU's own memory is not limited; measured in meta)",
      swap: "the daemon's swap file (believed size), O_DIRECT",
    },
  });
}
