import { existsSync } from 'node:fs';
import type { Engine } from '../engine/engine.js';
import { detectAccel, hasCommand, realHostProblem } from '../real/accel.js';
import { HDD } from '../real/hdd.js';
import { cacheDir } from '../real/paths.js';
import type { FootprintProvider } from '../real/footprint.js';
import { type RealEngineSpec, realEngine } from '../real/real-engine.js';
import { memoryCgroupVersion } from './host-setup.js';
import { runQemuConfig } from './run.js';

/** What this host lacks for the qemu engine (cgroups, swap, loop devices and their tools), or undefined. */
async function qemuHostProblem(): Promise<string | undefined> {
  const common = await realHostProblem('qemu', 'cgroups, swap, loop devices, apt-get');
  if (common) return common;
  if (!memoryCgroupVersion()) return 'no memory cgroup controller (v1 or v2)';
  if (!existsSync('/proc/swaps')) return 'the kernel has no swap support';
  for (const tool of ['losetup', 'mkswap', 'swapon', 'swapoff', 'fallocate']) {
    if (!(await hasCommand(tool))) return `${tool} is missing`;
  }
  if (!existsSync('/dev/loop-control')) return 'no loop device support (/dev/loop-control)';
  return undefined;
}

const CHANGED_HYPERVISOR = (c: string): string =>
  `${c} needs a changed hypervisor (the Swap Mapper${c.includes('vswapper') ? ' and the False Reads Preventer' : ''}); see the qemu-pager engine and the simulator`;

/**
 * Fig. 9 (8 Sysbench reads of a 200 MB file by a guest that believes it has 512 MB and keeps 100 MB)
 * or Fig. 10 (the same, then a process allocating and touching 200 MB) on a real Debian guest under
 * stock QEMU: the paper's baseline (the host swaps QEMU under a memory cgroup) and balloon (the
 * guest's virtio-balloon inflated first). The Mapper and VSwapper need a changed hypervisor and are
 * reported as unavailable on this engine.
 */
const QEMU_ENGINE: RealEngineSpec<'baseline' | 'balloon'> = {
  name: 'qemu',
  summary:
    'stock QEMU and a Debian guest; the host swaps it under a memory cgroup (baseline) or its balloon is inflated',
  configs: ['baseline', 'balloon'],
  cannot: {
    mapper: CHANGED_HYPERVISOR('mapper'),
    vswapper: CHANGED_HYPERVISOR('vswapper'),
    'balloon+vswapper': CHANGED_HYPERVISOR('balloon+vswapper'),
    'balloon+mapper': CHANGED_HYPERVISOR('balloon+mapper'),
    'baseline+fpr':
      'not wired on this engine (stock QEMU could run it: virtio-balloon with free-page-reporting=on, never inflated); the qemu-pager engine and the simulator run it',
  },
  hostProblem: qemuHostProblem,
  modeProblem: (hddLike) =>
    hddLike &&
    memoryCgroupVersion() === 'v1' &&
    !existsSync('/sys/fs/cgroup/blkio/blkio.throttle.read_iops_device')
      ? 'HDD-like mode needs the cgroup v1 blkio controller with throttling (or run --unthrottled)'
      : undefined,
  modeLabel: (hddLike, scale) =>
    `qemu engine, ${detectAccel().accel}, ${hddLike ? 'HDD-like (throttled swap and image)' : "unthrottled (this machine's disk)"}, scale ${scale}`,
  meta: (hddLike) => ({
    hddModel: hddLike ? HDD.name : null,
    disk: 'virtio-blk, cache=none (O_DIRECT), aio=native, 4 KiB blocks, ext4',
    swap: 'loop device (direct I/O) over a file, believed + 128 MiB',
    qemuThp: 'disabled for QEMU (prctl PR_SET_THP_DISABLE)',
    guestKernel: 'Debian linux-image-cloud-amd64',
    cacheDir: cacheDir(),
  }),
  run: runQemuConfig,
};

/** The qemu engine, scaled runs sized by `footprint` (the guest's, measured elsewhere). */
export function makeQemuEngine(footprint?: FootprintProvider): Engine {
  return realEngine({ ...QEMU_ENGINE, ...(footprint ? { footprint } : {}) });
}

/**
 * The engine alone: at scale 1 only, since it has no way of its own to count the pages the guest
 * touches (the pager has: `src/experiments/engines.ts` gives it the pager's measurement).
 */
export const qemuEngine: Engine = makeQemuEngine();
