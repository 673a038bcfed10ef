import { CHUNKS_PER_PAGE, SECTORS_PER_PAGE } from '../../core/index.js';
import { IdMap } from '../../core/index.js';
import { type GfnArray, asBlock, asGfn } from '../../core/index.js';
import { BlockContents, Overrides, chunkValue, sameContent } from '../data-plane.js';
import type { CpuCosts } from '../costs.js';
import type { EventQueue } from '../event-queue.js';
import type { Host } from '../host.js';
import type { Rng } from '../rng.js';
import { AnonMemory } from './anon.js';
import { BalloonDriver, type BalloonPort } from './balloon.js';
import { GuestCounters, type GuestKernel } from './kernel.js';
import { GuestMemory, PG_LOCKED, PG_UPTODATE, PINNED } from './memory.js';
import { BLOCK, type Proc, type Program, SYNC, YIELD } from './steps.js';
import { chooseOomVictim } from './oom.js';
import { type GuestFileSpec, LINUX_3_7_WRITEBACK, PageCache, type WritebackParams } from './page-cache.js';
import { reclaimGuest } from './reclaim.js';
import { SwapPartition } from './swap-partition.js';

export { SYNC, BLOCK, YIELD, type Step, type Proc, type Program } from './steps.js';

export type { GuestFileSpec };

export interface GuestParams {
  /** Memory the guest believes it has. */
  believedPages: number;
  /** Kernel text, data, memmap and slab: allocated at boot, never freed. */
  kernelPages: number;
  /** Of those, the pages kernel code keeps touching (one per system call, round robin). */
  kernelHotPages: number;
  /** Linux read_ahead_kb / 4 KiB. */
  readAheadMaxPages: number;
  /** kswapd wakes below this many free pages and reclaims up to highFreePages. */
  lowFreePages: number;
  highFreePages: number;
  /** Where the guest's files start on its disk, in 4 KiB blocks. */
  dataStartBlock: number;
  /**
   * Background kernel and daemon activity (timers, kworkers, logging, slab updates): page touches
   * per second, spread uniformly over the kernel's memory, a fraction of them writes.
   */
  backgroundTouchesPerSec: number;
  backgroundWriteFraction: number;
  /** An idle kernel touches all of its hot pages once in this many seconds (background()). */
  idleSlowPeriodS: number;
  /** The guest's swap partition, at the end of its disk; 0 for none. */
  swapPages: number;
  /**
   * KVM asynchronous page faults (a Linux guest on KVM enables them): a host fault on a page the
   * guest touches from user mode suspends only that thread, and the guest runs another meanwhile.
   */
  asyncPageFaults: boolean;
  /** CFS time slice on the guest's vCPU. */
  timeSliceNs: number;
  /** How the page cache writes dirty pages back (default: Linux 3.7's flusher). */
  writeback?: WritebackParams;
}

interface Thread {
  gen: Program;
  onExit: () => void;
}

/**
 * The guest operating system, as much of Linux as the paper's pathologies need: frames handed out
 * most-recently-freed first, a page cache with readahead and writeback (page-cache.ts), processes'
 * anonymous memory with zeroing, copy-on-write, swap and migration (anon.ts), reclaim (reclaim.ts),
 * an OOM killer (oom.ts) and a balloon driver (balloon.ts), block I/O through the host's virtio-blk
 * path, and one vCPU that runs threads. Every page the guest reads is checked against a reference
 * memory that never swaps. Its subsystems see it only as the GuestKernel of kernel.ts.
 */
export class GuestOs implements GuestKernel {
  readonly counters = new GuestCounters();
  /** What the guest last put in each page / block: the reference that never swaps. */
  readonly refMem: Uint32Array;
  readonly refDisk: BlockContents;
  /** Chunks the guest wrote partially, on top of refMem's version. */
  readonly refOver = new Map<number, Overrides>();
  /** 1 where refOver has an entry: most pages have none, and skip the map. */
  private readonly refHasOver: Uint8Array;
  readonly refDiskOver = new Map<number, Overrides>();
  readonly mem: GuestMemory;
  readonly cache: PageCache;
  readonly anon: AnonMemory;
  readonly balloon: BalloonDriver;
  /** Threads waiting for each frame's I/O or lock (an IdMap: it empties and fills constantly). */
  private readonly frameWaiters = new IdMap<Thread[]>();
  private readonly writebackWaiters: Thread[] = [];
  private nextVersion = 1;
  private kernelCursor = 0;
  /** The vCPU's own clock: it runs ahead of the event queue while nothing can interrupt it. */
  private localNs = 0;
  private current: Thread | null = null;
  private readonly ready: Thread[] = [];
  private running = false;
  private blockedOnHost = false;
  private pendingIrqNs = 0;
  /** The host's count of named-page copy-on-write faults when this guest last looked. */
  private seenCowFaults = 0;
  private userBuffer: number[] = [];
  private stopped = false;

  constructor(
    readonly params: GuestParams,
    readonly events: EventQueue,
    protected readonly host: Host,
    balloonPort: BalloonPort,
    readonly costs: CpuCosts,
    files: GuestFileSpec[],
    imageBlocks: number,
    protected readonly rng: Rng,
    /** Randomness for the workload's own choices, apart from the kernel's. */
    readonly workloadRng: Rng = rng,
  ) {
    const n = params.believedPages;
    this.refMem = new Uint32Array(n);
    this.refHasOver = new Uint8Array(n);
    this.refDisk = new BlockContents(imageBlocks);
    this.mem = new GuestMemory(n);
    // Pushed from the top so that allocation proceeds upwards from the lowest free frame.
    for (let g = n - 1; g >= params.kernelPages; g--) this.mem.push(g);
    if (!(Number.isInteger(params.swapPages) && params.swapPages >= 0))
      throw new RangeError(`guest swap: must be a whole number of pages, got ${params.swapPages}`);
    const swapStart = imageBlocks - params.swapPages;
    this.anon = new AnonMemory(
      this,
      params.swapPages > 0 ? new SwapPartition(swapStart, params.swapPages) : null,
      { firstFrame: params.kernelPages, highFreePages: params.highFreePages },
    );
    this.cache = new PageCache(
      this,
      this.anon,
      files,
      {
        dataStartBlock: params.dataStartBlock,
        endBlock: swapStart,
        readAheadMaxPages: params.readAheadMaxPages,
      },
      params.writeback ?? LINUX_3_7_WRITEBACK,
    );
    this.balloon = new BalloonDriver(this, balloonPort);
    // Every block of the image starts distinct, the same in the data plane and in the reference.
    if (this.host.data.image.blocks !== imageBlocks)
      throw new RangeError(
        `guest image: ${imageBlocks} blocks, the data plane's has ${this.host.data.image.blocks}`,
      );
  }

  get freePages(): number {
    return this.mem.freePages;
  }
  get pageCachePages(): number {
    return this.mem.cachePages;
  }
  get balloonPages(): number {
    return this.balloon.size;
  }
  get nowNs(): number {
    return Math.max(this.localNs, this.events.nowNs);
  }
  /** The run is over: kernel threads stop at their next wake-up. */
  get stopping(): boolean {
    return this.stopped;
  }
  stop(): void {
    this.stopped = true;
  }

  // ---------------------------------------------------------------- the vCPU

  /** Starts a thread on the vCPU; `onExit` runs when its program returns. */
  spawn(gen: Program, onExit: () => void = () => {}): void {
    this.ready.push({ gen, onExit });
    this.kick();
  }

  /** Whether threads other than the running one are ready (a lowest-priority thread lets them run). */
  protected get othersReady(): boolean {
    return this.ready.length > 0;
  }

  /** A kernel thread (flusher, compaction) that runs until the guest stops. */
  spawnKernelThread(gen: Program): void {
    this.spawn(gen);
  }

  private kick(): void {
    if (this.running || this.blockedOnHost) return;
    this.running = true;
    this.events.at(Math.max(this.localNs, this.events.nowNs), () => this.runVcpu());
  }

  private runVcpu(): void {
    this.localNs = Math.max(this.localNs, this.events.nowNs) + this.pendingIrqNs;
    this.pendingIrqNs = 0;
    while (true) {
      if (!this.current) {
        const t = this.ready.shift();
        if (!t) {
          this.running = false;
          return;
        }
        this.current = t;
      }
      if (this.localNs > this.events.peekTimeNs()) {
        this.events.at(this.localNs, () => this.runVcpu());
        return;
      }
      this.events.advanceTo(this.localNs);
      const th = this.current;
      const r = th.gen.next();
      if (r.done) {
        this.current = null;
        th.onExit();
      } else if (r.value === BLOCK) {
        this.current = null;
        if (this.blockedOnHost) {
          this.running = false;
          return;
        }
      } else if (r.value === YIELD) {
        this.current = null;
        this.ready.push(th);
      }
    }
  }

  private wake(th: Thread): void {
    this.ready.push(th);
    this.kick();
  }

  /** Spends guest CPU time; true when the thread must yield SYNC before touching shared state. */
  cpu(ns: number): boolean {
    this.localNs += ns;
    return this.localNs > this.events.peekTimeNs();
  }

  /** User-mode computation of `ns`, in time slices: other ready threads run between slices. */
  *compute(ns: number): Program {
    let left = ns;
    while (left > 0) {
      const slice = Math.min(left, this.params.timeSliceNs);
      left -= slice;
      this.localNs += slice;
      if (this.ready.length > 0) yield YIELD;
      else if (this.localNs > this.events.peekTimeNs()) yield SYNC;
    }
  }

  /** Sleeps the calling thread for `ns` of virtual time (a timer). */
  *sleep(ns: number): Program {
    const th = this.current!;
    this.events.at(this.nowNs + ns, () => this.wake(th));
    yield BLOCK;
  }

  /** Sleeps up to `ns`; `register` receives a function that wakes the thread earlier. */
  *sleepUnlessKicked(ns: number, register: (kick: () => void) => void): Program {
    const th = this.current!;
    let woken = false;
    const wake = (): void => {
      if (woken) return;
      woken = true;
      this.wake(th);
    };
    this.events.at(this.nowNs + ns, wake);
    register(wake);
    yield BLOCK;
  }

  /** The calling thread sleeps until `wakeFrame(g)` (the frame's I/O or lock is done). */
  waitFrame(g: number): void {
    const th = this.current!;
    const list = this.frameWaiters.get(g);
    if (list) list.push(th);
    else this.frameWaiters.set(g, [th]);
  }

  wakeFrame(g: number): void {
    // Called for every page populated or read in; almost always no one waits on any frame.
    if (this.frameWaiters.size === 0) return;
    const waiters = this.frameWaiters.get(g);
    if (!waiters) return;
    this.frameWaiters.delete(g);
    for (const th of waiters) this.wake(th);
  }

  /** The calling thread sleeps on `q` until another thread wakes it (a condition variable). */
  *sleepOn(q: WaitQueue): Program {
    q.waiters.push(this.current!);
    yield BLOCK;
  }

  wakeAll(q: WaitQueue): void {
    for (const th of q.waiters.splice(0) as Thread[]) this.wake(th);
  }

  /** Sleeps until some writeback (file or swap) completes. */
  *waitForWriteback(): Program {
    this.writebackWaiters.push(this.current!);
    yield BLOCK;
  }

  writebackDone(): void {
    for (const th of this.writebackWaiters.splice(0)) this.wake(th);
  }

  // ---------------------------------------------------------------- CPU accesses to guest frames

  /**
   * A guest CPU access to a page in kernel mode; blocks the whole vCPU while the host faults it in.
   * The access itself happens the instant the page is present (the faulting instruction is retried
   * at once), never later: reclaim could take the page away again before the vCPU runs on.
   */
  *access(g: number, write: boolean): Program {
    if (!this.startAccess(g, write)) yield BLOCK;
  }

  /**
   * access() without a generator: true when the access happened at once; false when the host
   * faults the page in, and the caller must then yield BLOCK (the access happens before it resumes).
   */
  startAccess(g: number, write: boolean): boolean {
    // Most pages are there: no closure for those.
    if (this.tryAccess(g, write)) return true;
    const th = this.current!;
    const v = write ? this.nextVersion++ : 0;
    const present = this.host.touch(asGfn(g), write, 'guest', () => {
      this.applyAccess(g, write, v, false);
      this.hostResumed(th);
    });
    if (present) {
      this.applyAccess(g, write, v);
      return true;
    }
    this.blockedOnHost = true;
    return false;
  }

  /**
   * A user-mode access: with asynchronous page faults a host fault suspends only this thread (the
   * guest is told the page is not present, schedules another thread, and is told when it is ready).
   */
  *userAccess(g: number, write: boolean): Program {
    if (!this.params.asyncPageFaults) {
      yield* this.access(g, write);
      return;
    }
    const th = this.current!;
    const v = write ? this.nextVersion++ : 0;
    const present = this.host.touch(asGfn(g), write, 'guest', () => {
      this.applyAccess(g, write, v, false);
      // The "page ready" notification is an interrupt to the guest.
      this.pendingIrqNs += this.costs.guestIrqNs;
      this.wake(th);
    });
    if (present) {
      this.applyAccess(g, write, v);
    } else {
      // The exit, the "page not present" injection and the guest's context switch.
      this.localNs += this.costs.hostMajorFaultNs;
      yield BLOCK;
    }
  }

  /** An access that succeeds at once if the host has the page, with no generator; false otherwise. */
  tryAccess(g: number, write: boolean): boolean {
    if (!this.host.isResident(asGfn(g))) return false;
    const v = write ? this.nextVersion++ : 0;
    if (!this.host.touch(asGfn(g), write, 'guest', noResume)) throw new Error(`host lost resident gfn ${g}`);
    this.applyAccess(g, write, v);
    return true;
  }

  tryAccessRun(frames: GfnArray, from: number, to: number, write: boolean, pageFlags = 0): number {
    const done = this.host.touchRun(frames, from, to, write);
    // The guest's part of each, as tryAccess() applies it: the host's part of a plain access changes
    // nothing it reads (no copy-on-write exit, no content), so doing all of the host's first is the same.
    const flags = this.mem.flags;
    if (!write) {
      for (let i = from; i < done; i++) {
        this.applyAccess(frames[i]!, false, 0);
        flags[frames[i]!]! |= pageFlags;
      }
      return done;
    }
    if (done === from) return done;
    // applyAccess() of each write, as one pass (a Metis map step writes ~16K pages at once): only
    // the first page's look at the copy-on-write exits can find any, nothing changes them after it;
    // then setRef() and the data plane's writePage() of each page, each page's arrays in turn.
    this.chargeCowExits(true);
    const { refMem, refHasOver } = this;
    const data = this.host.data;
    const { mem, refChecked, memOver } = data;
    const v = this.nextVersion - from;
    for (let i = from; i < done; i++) {
      const g = frames[i]!;
      refMem[g] = v + i;
      if (refHasOver[g]) {
        refHasOver[g] = 0;
        this.refOver.delete(g);
      }
      refChecked[g] = 0;
      mem[g] = v + i;
      memOver.delete(g);
      flags[g]! |= pageFlags;
    }
    // Two changed() a page: setRef()'s and writePage()'s.
    data.changes += 2 * (done - from);
    this.nextVersion = v + done;
    return done;
  }

  /**
   * The vCPU pays for the copy-on-write exits its writes to named pages caused since the last look
   * (§5.3), unless they were part of a fault it already waited for.
   */
  private chargeCowExits(charge: boolean): void {
    const n = this.host.core.counters.namedCowFaults;
    if (n === this.seenCowFaults) return;
    if (charge) this.localNs += (n - this.seenCowFaults) * this.costs.namedCowNs;
    this.seenCowFaults = n;
  }

  private setRef(g: number, v: number): void {
    this.host.data.changed(g);
    this.refMem[g] = v;
    if (this.refHasOver[g]) {
      this.refHasOver[g] = 0;
      this.refOver.delete(g);
    }
  }

  /** `atOnce`: the page was there (false: the host faulted it in first, and that fault did any copy). */
  private applyAccess(g: number, write: boolean, v: number, atOnce = true): void {
    if (write) {
      this.chargeCowExits(atOnce);
      this.setRef(g, v);
      this.host.data.writePage(g, v);
    } else if (!this.sameAsReference(g)) {
      this.counters.integrityViolations++;
    }
  }

  /**
   * The guest CPU overwrites a whole page without reading it (clear_page()'s REP STOS when the
   * kernel hands a page to a process, or a full-page copy): under uncooperative swapping a false
   * read, unless the Preventer remaps the page.
   */
  *overwritePage(g: number, costNs = this.costs.guestZeroPageNs): Program {
    const th = this.current!;
    const v = this.nextVersion++;
    const apply = (): void => {
      this.setRef(g, v);
      this.host.data.writePage(g, v);
    };
    if (this.cpu(costNs)) yield SYNC;
    const r = this.host.overwrite(asGfn(g), () => {
      this.chargeCowExits(false);
      apply();
      this.hostResumed(th);
    });
    if (r !== 'blocked') {
      this.chargeCowExits(true);
      apply();
      // The Preventer recognises a whole-page REP STOS only by decoding it (§4.2: "a number of
      // emulated instructions ... when the x86 REP prefix is used"): the zeroing of an absent page
      // still costs the vCPU the EPT-violation exit and KVM's emulator, as any emulated write does.
      if (r === 'remapped' && this.cpu(this.costs.emulatedWriteNs)) yield SYNC;
    } else {
      this.blockedOnHost = true;
      yield BLOCK;
    }
  }

  /**
   * overwritePage() without a generator when the host has the page and no event is due before the
   * work ends; false when the caller must use overwritePage().
   */
  tryOverwrite(g: number, costNs = this.costs.guestZeroPageNs): boolean {
    if (this.localNs + costNs > this.events.peekTimeNs() || !this.host.isResident(asGfn(g))) return false;
    this.localNs += costNs;
    const v = this.nextVersion++;
    if (this.host.overwrite(asGfn(g), noResume) !== 'present') throw new Error(`host lost resident gfn ${g}`);
    this.chargeCowExits(true);
    this.setRef(g, v);
    this.host.data.writePage(g, v);
    return true;
  }

  rewriteZeroed(g: number): void {
    // tryAccess(g, true) without its host.touch(): the core's Access.apply of a second write leaves
    // every flag as the first left it (no copy-on-write to break, nothing named, no swap slot to
    // give up, no readahead mark), so only the guest's side of the write is left to do.
    this.applyAccess(g, true, this.nextVersion++);
  }

  private sameAsReference(g: number): boolean {
    const d = this.host.data;
    if (d.refChecked[g]) return true;
    const ro = this.refHasOver[g] ? this.refOver.get(g) : undefined;
    if (!sameContent(d.mem[g]!, d.memOver.get(g), this.refMem[g]!, ro)) return false;
    d.refChecked[g] = 1;
    return true;
  }

  /**
   * A small write (one 64-byte chunk) to a page. On an absent page the Preventer may take it into its
   * buffer, and the vCPU goes on after the emulation's cost instead of waiting for the page.
   */
  *writeChunk(g: number, chunk: number): Program {
    const th = this.current!;
    const v = this.nextVersion++;
    const data = this.host.data;
    const wasChecked = data.refChecked[g]!;
    data.changed(g);
    const changes = data.changes;
    let o = this.refOver.get(g);
    if (!o) this.refOver.set(g, (o = new Overrides()));
    this.refHasOver[g] = 1;
    o.set(chunk, v);
    const r = this.host.emulatedWrite(asGfn(g), chunk, () => {
      data.writeChunks(g, chunk, 1, v);
      this.hostResumed(th);
    });
    if (r === 'buffered') {
      data.bufferWrite(g, chunk, 1, v);
      if (this.cpu(this.costs.emulatedWriteNs)) yield SYNC;
    } else if (r === 'present') {
      // Nothing changed since the page was equal to the reference but this one chunk, now written
      // to both alike: they are still equal, chunk for chunk.
      const unchanged = data.changes === changes;
      data.writeChunks(g, chunk, 1, v);
      if (unchanged) data.refChecked[g] = wasChecked;
    } else {
      this.blockedOnHost = true;
      yield BLOCK;
    }
  }

  private hostResumed(th: Thread): void {
    this.blockedOnHost = false;
    this.localNs = Math.max(this.localNs, this.events.nowNs) + this.costs.hostMajorFaultNs;
    this.ready.unshift(th);
    this.running = false;
    this.kick();
  }

  /** A system call touches the kernel code and data that every call uses. */
  *touchKernelText(): Program {
    yield* this.access(this.kernelCursor++ % this.params.kernelHotPages, false);
  }

  /**
   * touchKernelText() without a generator when the host has the page (most system calls); false,
   * having changed nothing, when the caller must use touchKernelText().
   */
  tryTouchKernelText(): boolean {
    if (!this.tryAccess(this.kernelCursor % this.params.kernelHotPages, false)) return false;
    this.kernelCursor++;
    return true;
  }

  /** copy_to_user() into the program's pinned buffer (page `j` of what it reads). */
  *copyToPinnedBuffer(j: number): Program {
    const buf = this.userBuffer;
    if (buf.length > 0) yield* this.access(buf[j % buf.length]!, true);
  }

  /** copyToPinnedBuffer() without a generator when the host has the page; false when it must be used. */
  tryCopyToPinnedBuffer(j: number): boolean {
    const buf = this.userBuffer;
    return buf.length === 0 || this.tryAccess(buf[j % buf.length]!, true);
  }

  // ---------------------------------------------------------------- frames

  /**
   * A free frame, reclaiming when free memory is below the low watermark; -1 when none is free now
   * (the caller then waits in allocFrame()).
   */
  tryAllocFrame(): number {
    const mem = this.mem;
    if (mem.freePages < this.params.lowFreePages) this.reclaim(this.params.highFreePages - mem.freePages);
    return mem.pop();
  }

  /**
   * A free frame, waiting for writeback to free one if it must; when nothing can be freed at all
   * the OOM killer kills the largest process, which ends the run (GuestOomError).
   */
  *allocFrame(): Proc<number> {
    for (;;) {
      const g = this.tryAllocFrame();
      if (g >= 0) return g;
      if (this.cache.dirtyPages + this.cache.writebackPages + this.anon.swapOutPages > 0) {
        yield* this.waitForWriteback();
        continue;
      }
      this.oomKill();
    }
  }

  freeFrame(g: number): void {
    this.mem.push(g);
  }

  /** Linux keeps no zeroed pages: a demand-zero fault takes any frame and zeroes it (clear_page). */
  tryAllocZeroedFrame(): number {
    return this.tryAllocFrame();
  }

  isPrezeroed(_g: number): boolean {
    return false;
  }

  protected reclaim(target: number): void {
    const freed = reclaimGuest(this.cache, this.anon, this.mem.anonLruPages, target);
    this.counters.pagesReclaimed += freed;
    this.localNs += freed * this.costs.guestReclaimPageNs;
  }

  private oomKill(): never {
    const victim = chooseOomVictim(this.anon.processes);
    this.counters.oomKills++;
    if (!victim)
      throw new GuestOomError(
        'guest out of memory: no free page, nothing reclaimable and no process to kill',
      );
    const rss = victim.rssPages;
    const swapped = victim.swapPages;
    this.anon.exit(victim);
    throw new GuestOomError(
      `guest OOM killer killed ${victim.name} (${rss} pages resident, ${swapped} in swap): nothing left to reclaim`,
    );
  }

  /**
   * The guest's history before the experiment: it used every free frame, then freed them as its
   * users went away, in no particular order. Once everything is free again the buddy allocator has
   * coalesced it into max-order blocks (order 10: 1024 pages), which later allocations split in
   * ascending order, taking the blocks in the order they were freed: so a shuffle of whole blocks.
   */
  *touchAllFreeMemory(): Program {
    const taken: number[] = [];
    while (this.mem.freePages > this.params.highFreePages) {
      const g = this.mem.pop();
      taken.push(g);
      if (this.cpu(this.costs.guestZeroPageNs)) yield SYNC;
      if (!this.startAccess(g, true)) yield BLOCK;
    }
    const blockPages = 1024;
    const blocks = new Map<number, number[]>();
    for (const g of taken) {
      const b = Math.floor(g / blockPages);
      const list = blocks.get(b);
      if (list) list.push(g);
      else blocks.set(b, [g]);
    }
    const order = [...blocks.keys()].sort((a, b) => a - b);
    for (let i = order.length - 1; i > 0; i--) {
      const j = this.rng.int(i + 1);
      const t = order[i]!;
      order[i] = order[j]!;
      order[j] = t;
    }
    // Freed so that the allocator (LIFO) hands out the first block first, ascending inside it.
    for (let i = order.length - 1; i >= 0; i--) {
      const pages = blocks.get(order[i]!)!.sort((a, b) => b - a);
      for (const g of pages) this.freeFrame(g);
    }
  }

  /**
   * The kernel's and daemons' own activity, until `stop()` returns true. While `busy()` is false
   * (no workload in the guest: before it starts, after it ends or is killed) the kernel is idle
   * and touches only its hot pages (idleTouches).
   */
  *background(stop: () => boolean, busy: () => boolean = () => true): Program {
    const rate = this.params.backgroundTouchesPerSec;
    if (!(rate > 0)) return;
    // Timer ticks at 250 Hz (CONFIG_HZ=250), each doing its share of the work.
    const tickNs = 4e6;
    const perTick = rate / 250;
    let owed = 0;
    while (!stop()) {
      if (!busy()) {
        owed = 0;
        yield* this.idleTouches(stop, busy);
        continue;
      }
      yield* this.sleep(tickNs);
      owed += perTick;
      for (; owed >= 1; owed--) {
        const g = this.rng.int(this.params.kernelPages);
        if (this.rng.next() < this.params.backgroundWriteFraction)
          yield* this.writeChunk(g, this.rng.int(CHUNKS_PER_PAGE));
        else if (!this.startAccess(g, false)) yield BLOCK;
        if (this.cpu(200)) yield SYNC;
      }
    }
  }

  /**
   * An idle kernel, until the guest is busy again: with no tick (NO_HZ idle, Linux 2.6.21 on) and
   * its daemons asleep it touches only the hot pages of its kernel. The project's guest measured
   * on the pager (`vswapper idle-probe`: Debian 12, Linux 6.1, 512 MiB and 2 GiB, all but 16 pages
   * evicted after 60 s idle, 3 rounds of 120 s each) touched 119-128 pages within 2 s, 215-228
   * within 60 s, and nothing more in the next 60 s. So: the first half of the hot pages every
   * second, all of them every `idleSlowPeriodS` seconds (kernelHotPages, 256, is the model's hot set).
   */
  private *idleTouches(stop: () => boolean, busy: () => boolean): Program {
    const hot = this.params.kernelHotPages;
    for (let second = 0; !stop() && !busy(); second++) {
      const pages = second % this.params.idleSlowPeriodS === 0 ? hot : hot >> 1;
      for (let g = 0; g < pages; g++) {
        yield* this.access(g, false);
        if (this.cpu(200)) yield SYNC;
      }
      yield* this.sleep(1e9);
    }
  }

  /** A compaction thread: every second it migrates `pagesPerSec` anonymous pages (AnonMemory.migrate). */
  *compactionThread(pagesPerSec: number): Program {
    while (!this.stopped) {
      yield* this.sleep(1e9);
      if (!this.stopped) yield* this.anon.migrate(pagesPerSec);
    }
  }

  /** Allocates the program's pinned buffer (the user memory read() copies into on every call). */
  *allocUserBuffer(pages: number): Program {
    for (let i = 0; i < pages; i++) {
      let g = this.tryAllocFrame();
      if (g < 0) g = yield* this.allocFrame();
      this.mem.use[g] = PINNED;
      this.userBuffer.push(g);
      yield* this.access(g, true);
    }
  }

  /** The balloon driver inflates by `pages` (see BalloonDriver). */
  *inflateBalloon(pages: number): Program {
    yield* this.balloon.inflate(pages);
  }

  // ---------------------------------------------------------------- files

  /** read() of `nPages` pages at page `index` of file `fileNo` into the program's pinned buffer. */
  read(fileNo: number, index: number, nPages: number): Program {
    // The page cache's generator itself, not one that delegates to it: every step of a read passes
    // through each level of yield*.
    return this.cache.read(fileNo, index, nPages);
  }

  /**
   * Submits a block request through virtio-blk. The reference learns what a write puts on the disk
   * now, and what a read puts in memory when it completes; read frames are unlocked and their
   * waiters woken at completion, before `done`.
   */
  submitIo(op: 'read' | 'write', blocks: number[], gfns: number[], done?: () => void): void {
    this.counters.ioRequests++;
    if (op === 'write') {
      for (let i = 0; i < gfns.length; i++) {
        const g = gfns[i]!;
        const b = blocks[i]!;
        this.refDisk.set(b, this.refMem[g]!);
        const o = this.refOver.get(g);
        if (o) this.refDiskOver.set(b, new Overrides(o));
        else this.refDiskOver.delete(b);
      }
    }
    this.host.submit({ op, blocks: blocks.map(asBlock), gfns: gfns.map(asGfn) }, () => {
      // The completion interrupt: the data is in the pages; the reference learns what should be there.
      this.pendingIrqNs += this.costs.guestIrqNs;
      const flags = this.mem.flags;
      for (let i = 0; i < gfns.length; i++) {
        const g = gfns[i]!;
        if (op === 'read') {
          const b = blocks[i]!;
          this.setRef(g, this.refDisk.get(b));
          const o = this.refDiskOver.get(b);
          if (o) {
            this.host.data.changed(g);
            this.refOver.set(g, new Overrides(o));
            this.refHasOver[g] = 1;
          }
          if (!this.sameAsReference(g)) this.counters.integrityViolations++;
          flags[g] = (flags[g]! & ~PG_LOCKED) | PG_UPTODATE;
        }
        this.wakeFrame(g);
      }
      done?.();
    });
  }

  /**
   * A 512-byte request: sector `sector` (of 8) of frame `g` <-> the same sector of block `block`. The
   * reference follows it chunk by chunk: a write puts the frame's chunks on the disk now, a read puts
   * the block's into the frame at completion, where the frame is checked.
   */
  submitSectorIo(op: 'read' | 'write', block: number, g: number, sector: number, done?: () => void): void {
    if (!(Number.isInteger(sector) && sector >= 0 && sector < SECTORS_PER_PAGE))
      throw new RangeError(`sector I/O: sector ${sector} is not one of a page's ${SECTORS_PER_PAGE}`);
    this.counters.ioRequests++;
    const first = sector * CHUNKS_PER_SECTOR;
    if (op === 'write') {
      const o = this.refDiskOver.get(block) ?? new Overrides();
      const mine = this.refHasOver[g] ? this.refOver.get(g) : undefined;
      for (let c = first; c < first + CHUNKS_PER_SECTOR; c++) o.set(c, chunkValue(this.refMem[g]!, mine, c));
      this.refDiskOver.set(block, o);
    }
    this.host.submitSector(op, asBlock(block), asGfn(g), first, () => {
      this.pendingIrqNs += this.costs.guestIrqNs;
      if (op === 'read') {
        this.host.data.changed(g);
        const o = this.refOver.get(g) ?? new Overrides();
        const disk = this.refDiskOver.get(block);
        for (let c = first; c < first + CHUNKS_PER_SECTOR; c++)
          o.set(c, chunkValue(this.refDisk.get(block), disk, c));
        this.refOver.set(g, o);
        this.refHasOver[g] = 1;
        if (!this.sameAsReference(g)) this.counters.integrityViolations++;
      }
      done?.();
    });
  }
}

const CHUNKS_PER_SECTOR = CHUNKS_PER_PAGE / SECTORS_PER_PAGE;

const noResume = (): void => {};

/** Threads sleeping until another thread wakes them (GuestOs.sleepOn / wakeAll). */
export class WaitQueue {
  readonly waiters: unknown[] = [];
}

/** The guest ran out of memory it could reclaim (the workload would be OOM-killed). */
export class GuestOomError extends Error {
  override name = 'GuestOomError';
}
