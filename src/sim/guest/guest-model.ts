import type { CpuCosts } from '../costs.js';
import type { EventQueue } from '../event-queue.js';
import type { Host } from '../host.js';
import type { Rng } from '../rng.js';
import type { BalloonPort } from './balloon.js';
import { type GuestFileSpec, GuestOs, type GuestParams } from './guest-os.js';
import { SECTOR_IO_PER_SEC } from './windows-params.js';
import { WindowsGuestOs, windowsGuestParams } from './windows-os.js';

/** The guest operating systems the simulator models. */
export const GUEST_OS_KINDS = ['linux', 'windows'] as const;
export type GuestOsKind = (typeof GUEST_OS_KINDS)[number];

/** What every guest model is built from (GuestOs's constructor arguments). */
export interface GuestBuild {
  params: GuestParams;
  events: EventQueue;
  host: Host;
  balloonPort: BalloonPort;
  costs: CpuCosts;
  files: GuestFileSpec[];
  imageBlocks: number;
  rng: Rng;
  workloadRng: Rng;
  /** Windows only: 512-byte requests per second (default windows-params.ts's SECTOR_IO_PER_SEC). */
  sectorIoPerSec?: number;
}

/** Whether a guest of this kind enables KVM's asynchronous page faults unless told otherwise. */
export const defaultAsyncPageFaults = (kind: GuestOsKind): boolean => kind === 'linux';

/**
 * A guest of the given kind. Every model is a GuestOs: the interface the machine, the runner and
 * the workloads use (and kernel.ts's GuestKernel, what its subsystems use). Linux is GuestOs itself;
 * Windows replaces the memory manager's lists and threads (windows-os.ts) and keeps the rest.
 */
export function createGuestOs(kind: GuestOsKind, b: GuestBuild): GuestOs {
  // What every model's constructor takes after its own parameters.
  const shared = [
    b.events,
    b.host,
    b.balloonPort,
    b.costs,
    b.files,
    b.imageBlocks,
    b.rng,
    b.workloadRng,
  ] as const;
  switch (kind) {
    case 'linux':
      return new GuestOs(b.params, ...shared);
    case 'windows':
      return new WindowsGuestOs(
        windowsGuestParams(b.params),
        { sectorIoPerSec: b.sectorIoPerSec ?? SECTOR_IO_PER_SEC },
        ...shared,
      );
  }
}
