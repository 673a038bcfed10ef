import type { GfnArray } from '../../core/index.js';
import type { CpuCosts } from '../costs.js';
import type { GuestMemory } from './memory.js';
import type { Proc, Program } from './steps.js';

/**
 * What the guest kernel's subsystems (the page cache, anonymous memory, the balloon driver) need from
 * its core, by concern. GuestOs implements all of it; each subsystem names only the parts it uses.
 * Calls through these interfaces reach one class, so they stay monomorphic on the hot paths.
 */

/** Physical frames: the memory map and the page allocator (which reclaims, and waits, for frames). */
export interface Frames {
  readonly mem: GuestMemory;
  /** A free frame, reclaiming below the low watermark; -1 when none is free now. */
  tryAllocFrame(): number;
  /** A free frame, waiting for writeback if it must (the OOM killer when nothing can be freed). */
  allocFrame(): Proc<number>;
  freeFrame(g: number): void;
  /** Frames the allocator can hand out without reclaiming (every free list the guest keeps). */
  readonly freePages: number;
  /**
   * A frame for a demand-zero fault, -1 when none is free now. A guest that zeroes freed frames in
   * the background (Windows' zeroed list) hands out one zeroed already; isPrezeroed(g) says so.
   */
  tryAllocZeroedFrame(): number;
  /** Whether `g`, just taken by tryAllocZeroedFrame(), holds zeros already (asked once: it forgets). */
  isPrezeroed(g: number): boolean;
}

/** The vCPU's scheduler: time, sleeping and waking. Waits apply to the calling thread. */
export interface Scheduler {
  readonly nowNs: number;
  /** The run is over: kernel threads stop at their next wake-up. */
  readonly stopping: boolean;
  /** Spends guest CPU time; true when the thread must yield SYNC before touching shared state. */
  cpu(ns: number): boolean;
  sleep(ns: number): Program;
  /** Sleeps up to `ns`; `register` receives a function that wakes the thread earlier. */
  sleepUnlessKicked(ns: number, register: (kick: () => void) => void): Program;
  spawnKernelThread(gen: Program): void;
  /** The calling thread sleeps (yield BLOCK next) until wakeFrame(g): the frame's I/O or lock is done. */
  waitFrame(g: number): void;
  wakeFrame(g: number): void;
  /** Sleeps until some writeback (file or swap) completes, which writebackDone() announces. */
  waitForWriteback(): Program;
  writebackDone(): void;
}

/**
 * The guest CPU's accesses to its frames, through the host: any of them may fault there. The `try`
 * forms are the closure- and generator-free paths for a present page; false means use the other.
 */
export interface FrameAccess {
  /** A kernel-mode access: a host fault blocks the whole vCPU. */
  access(g: number, write: boolean): Program;
  /** access() without a generator: false when the caller must yield BLOCK (the access happens first). */
  startAccess(g: number, write: boolean): boolean;
  tryAccess(g: number, write: boolean): boolean;
  /**
   * tryAccess() of frames[from], frames[from + 1], ... in order, up to the first that would not
   * be a plain access at the host (absent there, or with more to do than set flags); returns its
   * index (`to` when all were accessed), having changed nothing for it. `pageFlags` are set in the
   * guest's flags of each page accessed (the caller's own bookkeeping, in the same pass).
   */
  tryAccessRun(frames: GfnArray, from: number, to: number, write: boolean, pageFlags?: number): number;
  /** A user-mode access: with asynchronous page faults a host fault suspends only this thread. */
  userAccess(g: number, write: boolean): Program;
  /** A whole-page write without reading the page (clear_page, a full-page copy). */
  overwritePage(g: number, costNs?: number): Program;
  tryOverwrite(g: number, costNs?: number): boolean;
  /**
   * A write to page `g` right after tryOverwrite(g) succeeded, with nothing run in between: what
   * tryAccess(g, true) does there (the host's page is resident and already referenced, dirty and
   * unnamed), without asking the host again.
   */
  rewriteZeroed(g: number): void;
}

/** What every read() and write() does besides the page cache: kernel text, and the user's buffer. */
export interface Syscalls {
  touchKernelText(): Program;
  tryTouchKernelText(): boolean;
  /** copy_to_user() into the program's pinned buffer (page `j` of what it reads). */
  copyToPinnedBuffer(j: number): Program;
  tryCopyToPinnedBuffer(j: number): boolean;
}

/** virtio-blk, from the guest's side. */
export interface BlockIo {
  /**
   * Submits a block request; read frames are unlocked (PG_LOCKED cleared, PG_UPTODATE set) and their
   * waiters woken at completion, before `done`.
   */
  submitIo(op: 'read' | 'write', blocks: number[], gfns: number[], done?: () => void): void;
}

/** What the kernel's work costs, and what it counts. */
export interface Accounting {
  readonly costs: CpuCosts;
  readonly counters: GuestCounters;
}

/** Everything above: what the page cache and anonymous memory use. */
export interface GuestKernel extends Frames, Scheduler, FrameAccess, Syscalls, BlockIo, Accounting {}

/** Guest counters, kept where the guest does the work. */
export class GuestCounters {
  majorFaults = 0;
  ioRequests = 0;
  pagesReclaimed = 0;
  integrityViolations = 0;
  oomKills = 0;
  /** Pages written to and read from the guest's own swap partition. */
  swapWritePages = 0;
  swapReadPages = 0;
}
