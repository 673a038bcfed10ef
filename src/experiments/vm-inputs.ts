import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { checkRawImage } from '../pager/image-check.js';
import { checkExtraQemuArgs } from '../pager/vm/extra-args.js';
import { parseSize } from '../pager/control/sizes.js';
import { claimSocketPath } from '../pager/control/socket-path.js';
import { detectAccel, hasCommand } from '../real/accel.js';

/** A `vswapper vm` input is wrong: one line naming it, exit code 2, nothing started. */
export class VmInputError extends Error {
  override name = 'VmInputError';
}

export const VM_INPUT_ERRORS = new Set([
  'VmInputError',
  'ImageCheckError',
  'SizeError',
  'ControlSocketBusyError',
  'QemuArgsError',
]);

const MiB = 2 ** 20;
/** The daemon's virtqueue (its default queueSize): the resident limit's floor, in pages (control/daemon-backend.ts). */
const FLOOR_PAGES = 128;

export interface VmOptions {
  image: string;
  memory: string;
  limit: string;
  swap?: string;
  accel: string;
  control?: string;
  metricsPort?: number;
  mapper: boolean;
  /** --no-preventer: the Mapper alone even where the patched QEMU is built. */
  preventer: boolean;
  /** Undefined: Debian's qemu-system-x86_64 (or the patched build, for the Preventer). */
  qemu?: string;
  quiet?: boolean;
  statusEvery: string;
}

export interface VmPlan {
  image: string;
  imageBytes: number;
  memoryBytes: number;
  limitBytes: number;
  swap?: string;
  accel: 'tcg' | 'kvm';
  control?: string;
  metricsPort?: number;
  mapper: boolean;
  /** The Preventer asked for: TCG, the Mapper on, no --qemu of the user's, not --no-preventer. */
  preventer: boolean;
  qemu?: string;
  qemuArgs: string[];
  quiet: boolean;
  statusEveryS: number;
}

/** Every check `vswapper vm` makes before anything starts; the first failure is thrown, naming its flag. */
export async function checkVmInputs(o: VmOptions, qemuArgs: string[]): Promise<VmPlan> {
  const image = resolve(o.image);
  const { sizeBytes } = checkRawImage(image);
  const memoryBytes = parseSize('--memory', o.memory);
  const limitBytes = parseSize('--limit', o.limit);
  if (memoryBytes % MiB !== 0)
    throw new VmInputError(`--memory must be a whole number of MiB (QEMU's memfd backend), got ${o.memory}`);
  if (limitBytes > memoryBytes)
    throw new VmInputError(
      `--limit ${o.limit} is above --memory ${o.memory}: the pager cannot keep more than the guest has`,
    );
  if (limitBytes < FLOOR_PAGES * 4096)
    throw new VmInputError(
      `--limit ${o.limit} is below the floor of ${(FLOOR_PAGES * 4096) / 1024} KiB (the pages a full virtqueue may hold pinned)`,
    );
  if (o.swap !== undefined && existsSync(o.swap)) {
    const st = statSync(o.swap);
    if (!st.isFile() || st.size < memoryBytes)
      throw new VmInputError(
        `--swap ${o.swap} exists and is not a file of at least --memory (${memoryBytes} bytes)`,
      );
  }
  if (o.accel !== 'tcg' && o.accel !== 'kvm')
    throw new VmInputError(`--accel must be tcg or kvm, got "${o.accel}"`);
  if (o.accel === 'kvm') {
    const a = detectAccel();
    if (a.accel !== 'kvm')
      throw new VmInputError(`--accel kvm: not on this host: ${a.why} (use --accel tcg)`);
  }
  const statusEveryS = Number(o.statusEvery);
  if (!(o.statusEvery.trim() !== '' && Number.isFinite(statusEveryS) && statusEveryS >= 0))
    throw new VmInputError(`--status-every must be a number of seconds >= 0, got "${o.statusEvery}"`);
  checkExtraQemuArgs(qemuArgs, image);
  if (o.control !== undefined) await claimSocketPath(resolve(o.control));
  const qemu = o.qemu ?? 'qemu-system-x86_64';
  if (qemu.includes('/')) {
    try {
      accessSync(qemu, constants.X_OK);
    } catch {
      throw new VmInputError(`--qemu ${o.qemu}: no such executable`);
    }
  } else if (!(await hasCommand(qemu)))
    throw new VmInputError(
      `QEMU (${qemu}) is not on the PATH: install it (apt-get install qemu-system-x86) or name it with --qemu`,
    );
  // Last, so that a user without root still hears of every other mistake first.
  if (process.getuid?.() !== 0)
    throw new VmInputError(
      "vswapper vm needs root: the daemon takes over QEMU's memory (userfaultfd on another process, /proc/PID/map_files)",
    );
  return {
    image,
    imageBytes: sizeBytes,
    memoryBytes,
    limitBytes,
    ...(o.swap !== undefined ? { swap: resolve(o.swap) } : {}),
    accel: o.accel,
    ...(o.control !== undefined ? { control: resolve(o.control) } : {}),
    ...(o.metricsPort !== undefined ? { metricsPort: o.metricsPort } : {}),
    mapper: o.mapper,
    preventer: o.preventer && o.mapper && o.accel === 'tcg' && o.qemu === undefined,
    ...(o.qemu !== undefined ? { qemu: o.qemu } : {}),
    qemuArgs,
    quiet: o.quiet === true,
    statusEveryS,
  };
}
