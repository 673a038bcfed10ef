import type { CpuCosts } from '../costs.js';
import type { EventQueue } from '../event-queue.js';
import type { Host } from '../host.js';
import { Rng } from '../rng.js';
import type { BalloonPort } from './balloon.js';
import { GuestOs, type GuestFileSpec, type GuestParams, type Program } from './guest-os.js';
import { FREE } from './memory.js';
import { sectorIoThread } from './sector-io.js';
import { CACHE_READ_AHEAD_PAGES, WINDOWS_LAZY_WRITER } from './windows-params.js';
import { ZeroedList } from './zeroed-list.js';
import { zeroOne, zeroPageThread, zeroThreadHasWork } from './zero-page-thread.js';

/** What a Windows guest adds to the Linux guest's settings. */
export interface WindowsParams {
  /** 512-byte metadata requests per second (windows-params.ts: SECTOR_IO_PER_SEC). */
  sectorIoPerSec: number;
}

/** The Linux guest's settings made Windows': the cache manager's read-ahead and lazy writer. */
export function windowsGuestParams(linux: GuestParams): GuestParams {
  if (linux.asyncPageFaults)
    throw new RangeError(
      "a Windows guest has no KVM asynchronous page faults (they need Linux's kvm_para driver): set guestAsyncPageFaults to false",
    );
  return { ...linux, readAheadMaxPages: CACHE_READ_AHEAD_PAGES, writeback: WINDOWS_LAZY_WRITER };
}

/**
 * A Windows-like guest (§5.4, Windows Server 2012): the same vCPU, devices and page cache as the
 * Linux guest (GuestOs), with Windows' page lists instead of Linux's single free list. Freed frames
 * go to the free list; the zero page thread (zero-page-thread.ts) zeroes them in the background at
 * the lowest priority and moves them to the zeroed list (zeroed-list.ts); a demand-zero fault takes
 * a zeroed frame and maps it without zeroing, any other allocation takes the free list first, then
 * the zeroed list, then repurposes standby pages (the cache's clean pages, oldest first, through the
 * guest's reclaim); dirty cache pages wait on the modified list for the lazy writer, which writes an
 * eighth of them a second. NTFS with 4 KiB clusters still issues sporadic 512-byte requests
 * (sector-io.ts). At boot every frame is free and the zero page thread zeroes them all.
 */
export class WindowsGuestOs extends GuestOs {
  readonly zeroed: ZeroedList;
  private zeroKick: (() => void) | null = null;

  constructor(
    params: GuestParams,
    windows: WindowsParams,
    events: EventQueue,
    host: Host,
    balloonPort: BalloonPort,
    costs: CpuCosts,
    files: GuestFileSpec[],
    imageBlocks: number,
    rng: Rng,
    workloadRng: Rng = rng,
  ) {
    super(params, events, host, balloonPort, costs, files, imageBlocks, rng, workloadRng);
    this.zeroed = new ZeroedList(params.believedPages);
    this.spawnKernelThread(zeroPageThread(this, (k) => (this.zeroKick = k)));
    // Its own random stream: the kernel's choices stay the same with the metadata writer on or off.
    const sectorRng = new Rng(rng.int(0x7fffffff) ^ 0x1f3d5b79);
    this.spawnKernelThread(
      sectorIoThread(
        this,
        windows.sectorIoPerSec,
        { firstBlock: 0, blocks: params.dataStartBlock },
        sectorRng,
      ),
    );
  }

  override get othersReady(): boolean {
    return super.othersReady;
  }

  override get freePages(): number {
    return this.mem.freePages + this.zeroed.size;
  }

  /** MiRemoveAnyPage: the free list, then the zeroed list; standby pages are repurposed below the low mark. */
  override tryAllocFrame(): number {
    this.replenish();
    const g = this.mem.pop();
    return g >= 0 ? g : this.zeroed.pop();
  }

  /** MiRemoveZeroPage: the zeroed list first (no zeroing needed), then the free list. */
  override tryAllocZeroedFrame(): number {
    this.replenish();
    const g = this.zeroed.popForDemandZero();
    return g >= 0 ? g : this.mem.pop();
  }

  override isPrezeroed(g: number): boolean {
    return this.zeroed.takeMark(g);
  }

  override freeFrame(g: number): void {
    if (this.zeroed.takeMark(g)) {
      // A zeroed frame handed out and given back untouched (the fault lost a race): still zeroed.
      this.mem.use[g] = FREE;
      this.mem.flags[g] = 0;
      this.zeroed.push(g);
      return;
    }
    this.mem.push(g);
    if (this.zeroKick && zeroThreadHasWork(this.mem)) {
      const k = this.zeroKick;
      this.zeroKick = null;
      k();
    }
  }

  /** Below the low mark, standby pages (and, with a paging file, modified ones) are freed for reuse. */
  private replenish(): void {
    const free = this.freePages;
    if (free < this.params.lowFreePages) this.reclaim(this.params.highFreePages - free);
  }

  /**
   * Boot: every frame above the kernel's is on the free list, and the zero page thread zeroes them
   * all (the guest writes all of its memory once: a Windows guest is known to touch every page soon
   * after boot, which is why memory overcommitment schemes such as Xen's populate-on-demand have to
   * reclaim zeroed pages). Replaces the Linux guest's history of having used its memory.
   */
  override *touchAllFreeMemory(): Program {
    for (let g = this.mem.pop(); g >= 0; g = this.mem.pop()) yield* zeroOne(this, g);
  }
}
