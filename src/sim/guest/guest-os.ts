import { LruLists } from '../../core/lru.js';
import { CHUNKS_PER_PAGE } from '../../core/emulation.js';
import { type Gfn, NONE, asBlock, asGfn } from '../../core/types.js';
import { type Overrides, sameContent } from '../data-plane.js';
import type { CpuCosts } from '../costs.js';
import type { EventQueue } from '../event-queue.js';
import type { Host } from '../host.js';
import type { Rng } from '../rng.js';

/** What a guest thread hands back to the vCPU when it cannot go on by itself. */
export const SYNC = 1;
export const BLOCK = 2;
export type Step = typeof SYNC | typeof BLOCK;
export type Program = Generator<Step, void, void>;

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
}

export interface GuestFileSpec {
  name: string;
  sizePages: number;
}

interface FileState {
  startBlock: number;
  sizePages: number;
  gfnOf: Int32Array;
  raStart: number;
  raSize: number;
  raAsync: number;
}

interface Thread {
  gen: Program;
  onExit: () => void;
}

const GF_UPTODATE = 1;
const GF_LOCKED = 2;
const GF_READAHEAD = 4;
const GF_REFERENCED = 8;
const G_INACTIVE = 0;
const G_ACTIVE = 1;

/** Guest counters, kept where the guest does the work. */
export class GuestCounters {
  majorFaults = 0;
  ioRequests = 0;
  pagesReclaimed = 0;
  integrityViolations = 0;
  oomKills = 0;
}

/**
 * The guest operating system, as much of Linux as the paper's pathologies need: a free-page pool
 * that hands out the most recently freed frame first, a page cache with active/inactive lists and
 * on-demand sequential readahead, kswapd-like reclaim of clean cache pages, block I/O through the
 * host's virtio-blk path, a balloon driver, and a vCPU that runs program threads. Every page the
 * guest reads is checked against a reference memory that never swaps.
 */
export class GuestOs {
  readonly counters = new GuestCounters();
  /** What the guest last put in each page / block: the reference that never swaps. */
  readonly refMem: Uint32Array;
  readonly refDisk: Uint32Array;
  /** Chunks the guest wrote partially, on top of refMem's version. */
  readonly refOver = new Map<number, Overrides>();
  private readonly freeStack: Int32Array;
  private freeTop = 0;
  private readonly flags: Uint8Array;
  private readonly lru: LruLists;
  private readonly pageFile: Int32Array;
  private readonly pageIndex: Int32Array;
  private readonly pageWaiters = new Map<number, Thread[]>();
  private readonly files: FileState[] = [];
  private readonly balloon: number[] = [];
  private nextVersion = 1;
  private kernelCursor = 0;
  /** The vCPU's own clock: it runs ahead of the event queue while nothing can interrupt it. */
  private localNs = 0;
  private current: Thread | null = null;
  private readonly ready: Thread[] = [];
  private running = false;
  private blockedOnHost = false;
  private pendingIrqNs = 0;
  private userBuffer: number[] = [];

  constructor(
    readonly params: GuestParams,
    readonly events: EventQueue,
    readonly host: Host,
    readonly costs: CpuCosts,
    files: GuestFileSpec[],
    imageBlocks: number,
    private readonly rng: Rng,
  ) {
    const n = params.believedPages;
    this.refMem = new Uint32Array(n);
    this.refDisk = new Uint32Array(imageBlocks);
    this.freeStack = new Int32Array(n);
    this.flags = new Uint8Array(n);
    this.lru = new LruLists(n, 2);
    this.pageFile = new Int32Array(n).fill(NONE);
    this.pageIndex = new Int32Array(n).fill(NONE);
    // Pushed from the top so that allocation proceeds upwards from the lowest free frame.
    for (let g = n - 1; g >= params.kernelPages; g--) this.freeStack[this.freeTop++] = g;
    let block = params.dataStartBlock;
    for (const f of files) {
      if (block + f.sizePages > imageBlocks)
        throw new RangeError(`guest file ${f.name} does not fit on the disk`);
      this.files.push({
        startBlock: block,
        sizePages: f.sizePages,
        gfnOf: new Int32Array(f.sizePages).fill(NONE),
        raStart: 0,
        raSize: 0,
        raAsync: 0,
      });
      block += f.sizePages;
    }
    // Initial disk content: every block distinct, known to the reference.
    for (let b = 0; b < imageBlocks; b++) this.refDisk[b] = 0x10000000 + b;
    this.host.data.image.set(this.refDisk);
  }

  get freePages(): number {
    return this.freeTop;
  }
  get pageCachePages(): number {
    return this.lru.size[G_INACTIVE]! + this.lru.size[G_ACTIVE]!;
  }
  get balloonPages(): number {
    return this.balloon.length;
  }
  get nowNs(): number {
    return Math.max(this.localNs, this.events.nowNs);
  }

  // ---------------------------------------------------------------- the vCPU

  /** Starts a thread on the vCPU; `onExit` runs when its program returns. */
  spawn(gen: Program, onExit: () => void = () => {}): void {
    this.ready.push({ gen, onExit });
    this.kick();
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

  /**
   * A guest CPU access to a page; blocks the whole vCPU while the host faults it in. The access
   * itself happens the instant the page is present (the faulting instruction is retried at once),
   * never later: reclaim could take the page away again before the vCPU runs on.
   */
  *access(g: number, write: boolean): Program {
    const th = this.current!;
    const v = write ? this.nextVersion++ : 0;
    const data = this.host.data;
    const apply = (): void => {
      if (write) {
        this.refMem[g] = v;
        this.refOver.delete(g);
        data.writePage(g, v);
      } else if (!this.sameAsReference(g)) {
        this.counters.integrityViolations++;
      }
    };
    const present = this.host.touch(asGfn(g), write, 'guest', () => {
      apply();
      this.hostResumed(th);
    });
    if (present) {
      apply();
    } else {
      this.blockedOnHost = true;
      yield BLOCK;
    }
  }

  /**
   * The guest CPU overwrites a whole page without reading it (clear_page()'s REP STOS when the
   * kernel hands a page to a process): under uncooperative swapping a false read, unless the
   * Preventer remaps the page.
   */
  *overwritePage(g: number): Program {
    const th = this.current!;
    const v = this.nextVersion++;
    const apply = (): void => {
      this.refMem[g] = v;
      this.refOver.delete(g);
      this.host.data.writePage(g, v);
    };
    if (this.cpu(this.costs.guestZeroPageNs)) yield SYNC;
    if (
      this.host.overwrite(asGfn(g), () => {
        apply();
        this.hostResumed(th);
      })
    ) {
      apply();
    } else {
      this.blockedOnHost = true;
      yield BLOCK;
    }
  }

  /** A process allocates `pages` of anonymous memory, zeroed, and returns their frames. */
  *allocAnon(pages: number, out: number[]): Program {
    for (let i = 0; i < pages; i++) {
      const g = this.allocPage();
      out.push(g);
      yield* this.overwritePage(g);
    }
  }

  /** A process exits: its frames go back to the allocator. */
  freeAll(pages: number[]): void {
    for (const g of pages) this.freePage(g);
    pages.length = 0;
  }

  private sameAsReference(g: number): boolean {
    const d = this.host.data;
    return sameContent(d.mem[g]!, d.memOver.get(g), this.refMem[g]!, this.refOver.get(g));
  }

  /**
   * A small write (one 64-byte chunk) to a page. On an absent page the Preventer may take it into its
   * buffer, and the vCPU goes on after the emulation's cost instead of waiting for the page.
   */
  *writeChunk(g: number, chunk: number): Program {
    const th = this.current!;
    const v = this.nextVersion++;
    const data = this.host.data;
    let o = this.refOver.get(g);
    if (!o) this.refOver.set(g, (o = new Map()));
    o.set(chunk, v);
    const r = this.host.emulatedWrite(asGfn(g), chunk, () => {
      data.writeChunks(g, chunk, 1, v);
      this.hostResumed(th);
    });
    if (r === 'buffered') {
      data.bufferWrite(g, chunk, 1, v);
      if (this.cpu(this.costs.emulatedWriteNs)) yield SYNC;
    } else if (r === 'present') {
      data.writeChunks(g, chunk, 1, v);
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

  // ---------------------------------------------------------------- memory

  /** Allocates a frame, reclaiming clean page cache first when free memory is low. */
  allocPage(): number {
    if (this.freeTop < this.params.lowFreePages) this.reclaim(this.params.highFreePages - this.freeTop);
    if (this.freeTop === 0)
      throw new GuestOomError('guest out of memory: no free page and no reclaimable cache');
    return this.freeStack[--this.freeTop]!;
  }

  freePage(g: number): void {
    this.freeStack[this.freeTop++] = g;
  }

  /** Frees clean, unlocked page-cache pages from the inactive tail (shrinking the active list as needed). */
  private reclaim(target: number): void {
    let freed = 0;
    let budget = this.pageCachePages * 2 + 64;
    while (freed < target && budget-- > 0) {
      if (this.lru.size[G_INACTIVE]! < this.lru.size[G_ACTIVE]!) {
        const a = this.lru.popTail(G_ACTIVE);
        if (a >= 0) {
          this.flags[a]! &= ~GF_REFERENCED;
          this.lru.pushHead(G_INACTIVE, a);
        }
      }
      const g = this.lru.popTail(G_INACTIVE);
      if (g < 0) break;
      if (this.flags[g]! & GF_LOCKED) {
        this.lru.pushHead(G_INACTIVE, g);
        continue;
      }
      this.files[this.pageFile[g]!]!.gfnOf[this.pageIndex[g]!] = NONE;
      this.pageFile[g] = NONE;
      this.pageIndex[g] = NONE;
      this.flags[g] = 0;
      this.freePage(g);
      freed++;
    }
    this.counters.pagesReclaimed += freed;
    this.localNs += freed * this.costs.guestReclaimPageNs;
  }

  /**
   * The guest's history before the experiment: it used every free frame, then freed them as its
   * users went away, in no particular order. Once everything is free again the buddy allocator has
   * coalesced it into max-order blocks (order 10: 1024 pages), which later allocations split in
   * ascending order, taking the blocks in the order they were freed: so a shuffle of whole blocks.
   */
  *touchAllFreeMemory(): Program {
    const taken: number[] = [];
    while (this.freeTop > this.params.highFreePages) {
      const g = this.freeStack[--this.freeTop]!;
      taken.push(g);
      if (this.cpu(this.costs.guestZeroPageNs)) yield SYNC;
      yield* this.access(g, true);
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
      for (const g of pages) this.freePage(g);
    }
  }

  /** Sleeps the calling thread for `ns` of virtual time (a timer). */
  *sleep(ns: number): Program {
    const th = this.current!;
    this.events.at(this.nowNs + ns, () => this.wake(th));
    yield BLOCK;
  }

  /** The kernel's and daemons' own activity, until `stop()` returns true. */
  *background(stop: () => boolean): Program {
    const rate = this.params.backgroundTouchesPerSec;
    if (!(rate > 0)) return;
    // Timer ticks at 250 Hz (CONFIG_HZ=250), each doing its share of the work.
    const tickNs = 4e6;
    const perTick = rate / 250;
    let owed = 0;
    while (!stop()) {
      yield* this.sleep(tickNs);
      owed += perTick;
      for (; owed >= 1; owed--) {
        const g = this.rng.int(this.params.kernelPages);
        if (this.rng.next() < this.params.backgroundWriteFraction)
          yield* this.writeChunk(g, this.rng.int(CHUNKS_PER_PAGE));
        else yield* this.access(g, false);
        if (this.cpu(200)) yield SYNC;
      }
    }
  }

  /** Allocates the program's private buffer (anonymous memory it writes on every call). */
  *allocUserBuffer(pages: number): Program {
    for (let i = 0; i < pages; i++) {
      const g = this.allocPage();
      this.userBuffer.push(g);
      yield* this.access(g, true);
    }
  }

  /** The balloon driver takes `pages` frames from the guest's allocator and gives them to the host. */
  *inflateBalloon(pages: number): Program {
    for (let i = 0; i < pages; i++) {
      const g = this.allocPage();
      this.balloon.push(g);
      this.host.core.balloonInflate(asGfn(g) as Gfn);
      if (this.cpu(200)) yield SYNC;
    }
    this.host.pumpCore();
  }

  // ---------------------------------------------------------------- files

  /** read() of `nPages` pages at page `index` of file `fileNo` into the program's buffer. */
  *read(fileNo: number, index: number, nPages: number): Program {
    const f = this.files[fileNo];
    if (!f) throw new RangeError(`guest read: no file ${fileNo}`);
    if (this.cpu(this.costs.guestSyscallNs)) yield SYNC;
    yield* this.access(this.kernelCursor++ % this.params.kernelHotPages, false);
    const end = Math.min(f.sizePages, index + nPages);
    for (let j = index; j < end; j++) {
      let g = f.gfnOf[j]!;
      if (g === NONE) {
        yield* this.syncReadahead(fileNo, j, end - j);
        g = f.gfnOf[j]!;
      }
      if (this.flags[g]! & GF_READAHEAD) {
        this.flags[g]! &= ~GF_READAHEAD;
        yield* this.readahead(fileNo, f.raStart + f.raSize, this.nextRaSize(f.raSize), true);
      }
      while (!(this.flags[g]! & GF_UPTODATE)) {
        this.waitPage(g);
        yield BLOCK;
      }
      this.markAccessed(g);
      yield* this.access(g, false);
      if (this.cpu(this.costs.guestCopyPageNs)) yield SYNC;
      const buf = this.userBuffer;
      if (buf.length > 0) yield* this.access(buf[j % buf.length]!, true);
    }
  }

  private markAccessed(g: number): void {
    const fl = this.flags[g]!;
    if (this.lru.on(g) === G_INACTIVE && fl & GF_REFERENCED) {
      this.flags[g] = fl & ~GF_REFERENCED;
      this.lru.moveToHead(G_ACTIVE, g);
    } else {
      this.flags[g] = fl | GF_REFERENCED;
    }
  }

  private waitPage(g: number): void {
    const th = this.current!;
    const list = this.pageWaiters.get(g);
    if (list) list.push(th);
    else this.pageWaiters.set(g, [th]);
  }

  private initRaSize(reqPages: number): number {
    const max = this.params.readAheadMaxPages;
    let r = 1;
    while (r < reqPages) r <<= 1;
    if (r <= max / 32) return Math.min(max, r * 4);
    if (r <= max / 4) return Math.min(max, r * 2);
    return max;
  }

  private nextRaSize(cur: number): number {
    const max = this.params.readAheadMaxPages;
    return Math.min(max, cur < max / 16 ? cur * 4 : cur * 2);
  }

  private *syncReadahead(fileNo: number, j: number, reqPages: number): Program {
    const f = this.files[fileNo]!;
    this.counters.majorFaults++;
    if (f.raSize > 0 && j === f.raStart + f.raSize)
      yield* this.readahead(fileNo, j, this.nextRaSize(f.raSize), true);
    else {
      const size = this.initRaSize(reqPages);
      yield* this.readahead(fileNo, j, size, false, Math.max(0, size - reqPages));
    }
  }

  /** Adds the window's missing pages to the cache (locked) and submits them as block requests. */
  private *readahead(
    fileNo: number,
    start: number,
    size: number,
    asyncWhole: boolean,
    asyncPages = 0,
  ): Program {
    const f = this.files[fileNo]!;
    const asyncSize = asyncWhole ? size : asyncPages;
    f.raStart = start;
    f.raSize = size;
    f.raAsync = asyncSize;
    const end = Math.min(f.sizePages, start + size);
    const markAt = start + size - asyncSize;
    let runBlocks: number[] = [];
    let runGfns: number[] = [];
    for (let k = start; k <= end; k++) {
      const missing = k < end && f.gfnOf[k] === NONE;
      if (missing) {
        const g = this.allocPage();
        f.gfnOf[k] = g;
        this.pageFile[g] = fileNo;
        this.pageIndex[g] = k;
        this.flags[g] = GF_LOCKED | (k === markAt && asyncSize > 0 ? GF_READAHEAD : 0);
        this.lru.pushHead(G_INACTIVE, g);
        runBlocks.push(f.startBlock + k);
        runGfns.push(g);
      }
      if ((!missing || k === end) && runGfns.length > 0) {
        if (this.cpu(this.costs.guestSubmitNs)) yield SYNC;
        this.submit('read', runBlocks, runGfns);
        runBlocks = [];
        runGfns = [];
      }
    }
  }

  private submit(op: 'read' | 'write', blocks: number[], gfns: number[]): void {
    this.counters.ioRequests++;
    this.host.submit({ op, blocks: blocks.map(asBlock), gfns: gfns.map(asGfn) }, () => {
      // The completion interrupt: the data is in the pages; the reference learns what should be there.
      this.pendingIrqNs += this.costs.guestIrqNs;
      for (let i = 0; i < gfns.length; i++) {
        const g = gfns[i]!;
        if (op === 'read') {
          this.refMem[g] = this.refDisk[blocks[i]!]!;
          this.refOver.delete(g);
          if (!this.sameAsReference(g)) this.counters.integrityViolations++;
          this.flags[g] = (this.flags[g]! & ~GF_LOCKED) | GF_UPTODATE;
        }
        const waiters = this.pageWaiters.get(g);
        if (waiters) {
          this.pageWaiters.delete(g);
          for (const th of waiters) this.wake(th);
        }
      }
    });
  }
}

/** The guest ran out of memory it could reclaim (the workload would be OOM-killed). */
export class GuestOomError extends Error {
  override name = 'GuestOomError';
}
