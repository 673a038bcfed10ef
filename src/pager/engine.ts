import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Engine } from '../engine/engine.js';
import { detectAccel, hasCommand, realHostProblem } from '../real/accel.js';
import { cacheDir, PKG_ROOT } from '../real/paths.js';
import { realEngine } from '../real/real-engine.js';
import { probeGuestFootprint } from './footprint-probe.js';
import { preventerProblem, runPagerConfig } from './run.js';

/** Whether the userfaultfd shim can be had: gcc to build it, or a build of this source in the cache. */
async function shimProblem(): Promise<string | undefined> {
  const src = join(PKG_ROOT, 'src', 'pager', 'shim', 'uffd-shim.c');
  if (!existsSync(src)) return `the userfaultfd shim's source is missing (${src})`;
  const hash = createHash('sha256').update(readFileSync(src)).digest('hex').slice(0, 12);
  if (existsSync(join(cacheDir(), `uffd-shim-${hash}.so`)) || (await hasCommand('gcc'))) return undefined;
  return 'gcc is missing (it builds the userfaultfd shim: apt-get install gcc)';
}

/** What this host lacks for the qemu-pager engine (userfaultfd, /proc/PID/map_files, gcc), or undefined. */
async function pagerHostProblem(): Promise<string | undefined> {
  const common = await realHostProblem('qemu-pager', 'userfaultfd on another process, /proc/PID/map_files');
  if (common) return common;
  if (!existsSync('/proc/self/map_files')) return 'no /proc/PID/map_files';
  if (!existsSync('/proc/sys/vm/unprivileged_userfaultfd') && !existsSync('/dev/userfaultfd'))
    return 'the kernel has no userfaultfd (CONFIG_USERFAULTFD)';
  return shimProblem();
}

/**
 * Fig. 9 (8 Sysbench reads of a 200 MB file, the guest believing it has 512 MB and keeping 100 MB)
 * or Fig. 10 (the same, then a process allocating and touching 200 MB) on a real Debian guest whose
 * memory our pager manages: the Swap Mapper (`mapper`) and the same pager with it off (`baseline`),
 * VSwapper on the patched QEMU, the balloon with each of them as its fallback, and the baseline
 * guest reporting its free pages (`baseline+fpr`).
 */
export const pagerEngine: Engine = realEngine({
  name: 'qemu-pager',
  summary:
    'QEMU (stock; patched with a TCG intercept for the Preventer) and a Debian guest whose RAM our userfaultfd pager manages and whose disk it serves',
  configs: [
    'baseline',
    'mapper',
    'vswapper',
    'balloon',
    'balloon+vswapper',
    'balloon+mapper',
    'baseline+fpr',
  ],
  cannot: {},
  hostProblem: pagerHostProblem,
  // vswapper and balloon+vswapper run on the patched QEMU only (scripts/build-qemu-intercept.sh).
  configProblem: (c) =>
    c === 'vswapper' || c === 'balloon+vswapper' ? preventerProblem() : Promise.resolve(undefined),
  modeLabel: (hddLike, scale) =>
    `qemu-pager engine, ${detectAccel().accel}, ${hddLike ? "HDD-like (completions timed by the simulator's model of the paper's drive)" : "unthrottled (this machine's disk)"}, scale ${scale}`,
  meta: (hddLike) => ({
    hddModel: hddLike
      ? "the simulator's Seagate Constellation ES 7200 rpm model (src/sim/disk/hdd.ts), image at 8 GiB, swap after it"
      : null,
    disk: 'vhost-user-blk served by the pager daemon, O_DIRECT on a copy of the image, 4 KiB blocks, ext4',
    memory: 'memory-backend-memfd (share=on) paged through a userfaultfd created in QEMU by a preloaded shim',
    residentLimit:
      "guest RAM only, enforced by the pager (QEMU's own memory is not limited; measured in meta)",
    swap: "the daemon's swap file (believed size), O_DIRECT",
  }),
  run: runPagerConfig,
  // A scaled run keeps the guest's own memory unscaled: measured here, on the pager, once.
  footprint: probeGuestFootprint,
});
