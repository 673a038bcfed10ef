import { type GfnArray, NONE, asGfnArray } from '../../core/index.js';
import type { Accounting, BlockIo, FrameAccess, Frames, Scheduler } from './kernel.js';
import { BLOCK, type Program, SYNC } from './steps.js';
import { ACTIVE_ANON, ANON, INACTIVE_ANON, PG_LOCKED, PG_REFERENCED, PG_WRITEBACK } from './memory.js';
import { GuestProcess, isSwapEntry, slotOfEntry, swapEntry } from './process.js';
import type { SwapPartition } from './swap-partition.js';

/** What anonymous memory needs from the kernel: all of it but the system-call paths. */
type Kernel = Frames & Scheduler & FrameAccess & BlockIo & Accounting;

/** Where compaction (migrate) works: the frames the allocator manages, and the free memory it keeps. */
export interface CompactionBounds {
  /** The first frame above the kernel's own (allocated at boot, never moved). */
  firstFrame: number;
  /** Compaction stops when free memory falls to the high watermark. */
  highFreePages: number;
}

/** How startPopulateAt() left a page: mapped and locked but not zeroed yet, populated, or populated by zeroing it just now. */
const NOT_ZEROED = 0;
const POPULATED = 1;
const ZEROED_NOW = 2;
type PopulateStart = typeof NOT_ZEROED | typeof POPULATED | typeof ZEROED_NOW;

/** The most pages touchRange() hands the host in one run (its frames are kept from call to call). */
const RUN_PAGES = 1024;
/** The first run's most pages, and again after a run the host stopped early; also the fewest touchRange() hands the host as a run. */
const MIN_RUN_PAGES = 8;

/**
 * plainFrames() and plainRange()'s test of one page table entry, plainFrame()'s with the questions
 * asked once per run: present, unlocked and, given `mapCount` (null for a read, or with no sharers),
 * not shared.
 */
function plainEntry(e: number, flags: Uint8Array, mapCount: Uint16Array | null): boolean {
  return e >= 0 && !(flags[e]! & PG_LOCKED) && (mapCount === null || mapCount[e]! <= 1);
}

interface Mapping {
  proc: GuestProcess;
  vpage: number;
}

/**
 * Anonymous memory of the guest's processes, as Linux's mm handles it: pages populated on first
 * touch with a zeroed frame (clear_page, a whole-page write), copy-on-write after fork, exit freeing
 * everything, swap-out to the guest's own swap partition under reclaim and swap-in on the next touch
 * (both as block I/O through the hypervisor, like any guest I/O), and page migration.
 */
export class AnonMemory {
  /** The single mapping of an unshared anonymous frame (pid, vpage); NONE when unmapped. */
  private readonly ownerPid: Int32Array;
  private readonly ownerVpage: Int32Array;
  /** Processes mapping each frame; frames mapped by more than one are listed in `sharers`. */
  private readonly mapCount: Uint16Array;
  private readonly sharers = new Map<number, Mapping[]>();
  private readonly procs = new Map<number, GuestProcess>();
  /** Frames being written to swap, by slot: a touch before the write is done takes the frame back. */
  private readonly swapOutFrames = new Map<number, number>();
  /** Frames being read from swap, by slot: a second toucher waits for the same read. */
  private readonly swapInFrames = new Map<number, number>();
  private nextPid = 100;
  /** tryTouchRun()'s frames, reused from call to call. */
  private runFrames: GfnArray = asGfnArray(new Int32Array(0));
  private swapOutCount = 0;
  migrations = 0;

  constructor(
    private readonly os: Kernel,
    readonly swap: SwapPartition | null,
    private readonly compaction: CompactionBounds,
  ) {
    const n = os.mem.pages;
    this.ownerPid = new Int32Array(n).fill(NONE);
    this.ownerVpage = new Int32Array(n).fill(NONE);
    this.mapCount = new Uint16Array(n);
  }

  get processes(): IterableIterator<GuestProcess> {
    return this.procs.values();
  }
  /** Pages whose swap-out write is in flight (freed when it completes). */
  get swapOutPages(): number {
    return this.swapOutCount;
  }
  get swapUsedPages(): number {
    return this.swap?.usedSlots ?? 0;
  }
  /** Whether reclaim can swap anything out now. */
  get canSwap(): boolean {
    return this.swap !== null && !this.swap.full;
  }

  createProcess(name: string, capacityPages = 256): GuestProcess {
    const p = new GuestProcess(this.nextPid++, name, capacityPages);
    this.procs.set(p.pid, p);
    return p;
  }

  // ---------------------------------------------------------------- touching memory

  /**
   * A CPU access to page `vpage` of `proc`: the page is populated (zeroed), copied (after fork),
   * swapped in, or simply accessed. `user` accesses come from user mode, where KVM's asynchronous
   * page faults let the guest run another thread while the host brings a page in.
   */
  *touch(proc: GuestProcess, vpage: number, write: boolean, user = true): Program {
    const os = this.os;
    const flags = os.mem.flags;
    for (;;) {
      if (proc.exited) throw new Error(`process ${proc.name} touched memory after it exited`);
      const e = proc.pte[vpage]!;
      if (e >= 0) {
        if (flags[e]! & PG_LOCKED) {
          os.waitFrame(e);
          yield BLOCK;
          continue;
        }
        if (write && this.shared(e)) {
          yield* this.breakCow(proc, vpage, e);
          continue;
        }
        flags[e]! |= PG_REFERENCED;
        if (os.tryAccess(e, write)) return;
        if (user) yield* os.userAccess(e, write);
        else yield* os.access(e, write);
        return;
      }
      if (e === NONE) yield* this.populate(proc, vpage);
      else yield* this.swapIn(proc, vpage, slotOfEntry(e));
    }
  }

  /** touch() of `pages` consecutive pages, without a generator per page when nothing has to wait. */
  *touchRange(proc: GuestProcess, vpage: number, pages: number, write: boolean): Program {
    proc.checkRange(vpage, pages);
    const os = this.os;
    const flags = os.mem.flags;
    const end = vpage + pages;
    // How many pages the next run may take: it doubles while the host takes whole runs and starts
    // small again after one it stopped early, so that pages the host stops at one after another
    // (absent, or with more to do) are not each preceded by a look at a long run.
    let runPages = MIN_RUN_PAGES;
    for (let v = vpage; v < end; v++) {
      // The pages from v on that the guest has nothing to do for go to the host as one run, as in
      // tryTouchRun(): a heap walked again after it was built touches page after page present.
      // (Not asked of a page never touched: the first walk of a heap populates page after page;
      // nor for the last few pages of a range, where a run saves less than it costs to set up:
      // many callers touch one page at a time.)
      if (end - v >= MIN_RUN_PAGES && proc.pte[v]! >= 0) {
        const n = this.plainRange(proc, v, Math.min(end, v + runPages), write);
        if (n > 0) {
          const done = os.tryAccessRun(this.runFrames, 0, n, write, PG_REFERENCED);
          runPages = done === n ? Math.min(RUN_PAGES, 2 * runPages) : MIN_RUN_PAGES;
          v += done;
          if (v === end) break;
        }
      }
      const e = proc.pte[v]!;
      if (e >= 0 && !(flags[e]! & PG_LOCKED) && !(write && this.shared(e)) && os.tryAccess(e, write)) {
        flags[e]! |= PG_REFERENCED;
        continue;
      }
      if (e === NONE) {
        // populate() then touch(), the same steps in the same order, but generators only when a
        // step must wait: a fresh page usually gets a free frame and is zeroed and touched at once
        // (most of a compiler's or a JVM's page events are these).
        const g = os.tryAllocZeroedFrame();
        const populated = g >= 0 ? this.startPopulateAt(proc, v, g) : NOT_ZEROED;
        if (populated === ZEROED_NOW) {
          // The CPU wrote the page whole an instant ago and nothing ran since: the host's page is
          // still resident, referenced, dirty and no longer named, so touch() would change nothing
          // but the content a write puts there.
          if (write) os.rewriteZeroed(g);
          continue;
        }
        if (populated === POPULATED) {
          if (this.tryTouch(proc, v, write)) continue;
        } else {
          yield* this.populateRest(proc, v, g);
        }
      }
      yield* this.touch(proc, v, write);
    }
  }

  /**
   * touch()'s first pass when it ends at once (the page present, unlocked, not shared for a write,
   * and the host has it); false, having changed nothing touch() would not redo, otherwise. A caller
   * that touches page after page calls this first and touch() only when it is false: no generator
   * for the pages that need no wait.
   */
  tryTouch(proc: GuestProcess, vpage: number, write: boolean): boolean {
    const e = this.plainFrame(proc, vpage, write);
    if (e < 0) return false;
    this.os.mem.flags[e]! |= PG_REFERENCED;
    // tryAccess() changes nothing when it fails; touch() then sets the same flag and faults.
    return this.os.tryAccess(e, write);
  }

  /** The frame of `vpage` when the guest's side of a touch has nothing to do (present, unlocked, not shared for a write); -1 otherwise. */
  private plainFrame(proc: GuestProcess, vpage: number, write: boolean): number {
    if (proc.exited) return -1;
    const e = proc.pte[vpage]!;
    if (e < 0 || this.os.mem.flags[e]! & PG_LOCKED || (write && this.shared(e))) return -1;
    return e;
  }

  /**
   * plainFrame() of vpages[from], vpages[from + 1], ... into frames[0], frames[1], ... up to the
   * first that is -1; returns how many. What plainFrame() asks of the process and of sharing once
   * per page is asked here once (nothing in the loop changes it).
   */
  private plainFrames(
    proc: GuestProcess,
    vpages: Int32Array,
    from: number,
    to: number,
    write: boolean,
    frames: GfnArray,
  ): number {
    if (proc.exited) return 0;
    const pte = proc.pte;
    const flags = this.os.mem.flags;
    const mapCount = write && this.sharers.size > 0 ? this.mapCount : null;
    let n = 0;
    for (; from + n < to; n++) {
      const e = pte[vpages[from + n]!]!;
      if (!plainEntry(e, flags, mapCount)) break;
      frames[n] = e;
    }
    return n;
  }

  /**
   * The frames of vpage, vpage + 1, ... (below `to`) into runFrames, up to the first page whose
   * touch has more to do on the guest's side (absent, locked, or shared for a write); returns how
   * many. touchRange()'s test of each page, asked once per run of pages.
   */
  private plainRange(proc: GuestProcess, vpage: number, to: number, write: boolean): number {
    if (this.runFrames.length < to - vpage) this.runFrames = asGfnArray(new Int32Array(RUN_PAGES));
    const frames = this.runFrames;
    const pte = proc.pte;
    const flags = this.os.mem.flags;
    const mapCount = write && this.sharers.size > 0 ? this.mapCount : null;
    let n = 0;
    for (; vpage + n < to; n++) {
      const e = pte[vpage + n]!;
      if (!plainEntry(e, flags, mapCount)) break;
      frames[n] = e;
    }
    return n;
  }

  /**
   * tryTouch() of vpages[from], vpages[from + 1], ... in order, up to the first that is false;
   * returns its index (`to` when all were touched). The pages the host has with nothing to do but
   * set flags go to it as one run, with no call per page through the layers below.
   */
  tryTouchRun(proc: GuestProcess, vpages: Int32Array, from: number, to: number, write: boolean): number {
    if (this.runFrames.length < to - from) this.runFrames = asGfnArray(new Int32Array(to - from));
    const frames = this.runFrames;
    let at = from;
    while (at < to) {
      // The guest's side of tryTouch() first, for as many pages as it has nothing to do for.
      const n = this.plainFrames(proc, vpages, at, to, write, frames);
      // Nothing reads the guest's flags meanwhile: setting them with the host's part is the same.
      const done = this.os.tryAccessRun(frames, 0, n, write, PG_REFERENCED);
      at += done;
      if (done === n) {
        if (at < to) return at;
        break;
      }
      // The host has more to do for this page than set flags, or must fault it in: tryTouch() alone
      // (which may carry out actions, after which the pages after it are looked at afresh).
      if (!this.tryTouch(proc, vpages[at]!, write)) return at;
      at++;
    }
    return at;
  }

  /**
   * Whether frame `e` is mapped by more than one process (copy-on-write since fork). Such a frame
   * is always in `sharers` (map() lists it as its count passes 1, unshare() unlists it as it falls
   * back to 1), so with no sharers at all (no fork, or every copy broken) the answer needs no look
   * at the frame's count: a cache miss saved on every write of a process that never forked.
   */
  private shared(e: number): boolean {
    return this.sharers.size > 0 && this.mapCount[e]! > 1;
  }

  /** First touch: a fresh frame, zeroed by the kernel before the process sees it. */
  private *populate(proc: GuestProcess, vpage: number): Program {
    const g = this.os.tryAllocZeroedFrame();
    if (g >= 0 && this.startPopulate(proc, vpage, g)) return;
    yield* this.populateRest(proc, vpage, g);
  }

  /**
   * populate() after tryAllocZeroedFrame() returned `g`: -1 (no frame yet: wait for one), or a
   * frame startPopulate() has mapped and locked but could not zero at once.
   */
  private *populateRest(proc: GuestProcess, vpage: number, g: number): Program {
    if (g < 0) {
      g = yield* this.os.allocFrame();
      if (this.startPopulate(proc, vpage, g)) return;
    }
    yield* this.os.overwritePage(g);
    this.endPopulate(proc, vpage, g);
  }

  /**
   * populate()'s steps with frame `g` up to the zeroing; true when populate() is over (the page
   * was populated meanwhile, or the frame needed no zeroing or was zeroed at once), false when `g`
   * is mapped and locked and must still be zeroed with overwritePage().
   */
  private startPopulate(proc: GuestProcess, vpage: number, g: number): boolean {
    return this.startPopulateAt(proc, vpage, g) !== NOT_ZEROED;
  }

  /** startPopulate(), telling apart a page this CPU has just zeroed whole (ZEROED_NOW). */
  private startPopulateAt(proc: GuestProcess, vpage: number, g: number): PopulateStart {
    const os = this.os;
    if (proc.pte[vpage] !== NONE || proc.exited) {
      os.freeFrame(g);
      return POPULATED;
    }
    this.map(proc, vpage, g);
    os.mem.flags[g] = PG_LOCKED;
    // Linux zeroes here (clear_page); a guest with a zeroed list may have done it already.
    if (os.isPrezeroed(g)) {
      this.endPopulate(proc, vpage, g);
      return POPULATED;
    }
    if (!os.tryOverwrite(g)) return NOT_ZEROED;
    this.endPopulate(proc, vpage, g);
    return ZEROED_NOW;
  }

  private endPopulate(proc: GuestProcess, vpage: number, g: number): void {
    if (proc.pte[vpage] === g) this.unlockOntoLru(g, ACTIVE_ANON);
    else this.discardLocked(g);
  }

  /** A frame this thread locked lost its mapping meanwhile (the process was killed): free it. */
  private discardLocked(g: number): void {
    const os = this.os;
    os.mem.flags[g] = 0;
    os.wakeFrame(g);
    if (this.mapCount[g] === 0) {
      os.mem.lru.remove(g);
      os.freeFrame(g);
    }
  }

  /** A write to a page shared with another process since fork(): copy it, unless no one else maps it now. */
  private *breakCow(proc: GuestProcess, vpage: number, g: number): Program {
    const os = this.os;
    let copy = os.tryAllocFrame();
    if (copy < 0) copy = yield* os.allocFrame();
    if (proc.pte[vpage] !== g || this.mapCount[g]! < 2) {
      os.freeFrame(copy);
      return;
    }
    os.mem.use[copy] = ANON;
    os.mem.flags[copy] = PG_LOCKED;
    yield* os.access(g, false);
    yield* os.overwritePage(copy, os.costs.guestCopyPageNs);
    if (proc.pte[vpage] === g && this.mapCount[g]! > 1) {
      this.unshare(g, proc, vpage);
      this.map(proc, vpage, copy);
      this.unlockOntoLru(copy, ACTIVE_ANON);
    } else {
      this.discardLocked(copy);
    }
  }

  private *swapIn(proc: GuestProcess, vpage: number, slot: number): Program {
    const os = this.os;
    const swap = this.swap!;
    const writing = this.swapOutFrames.get(slot);
    if (writing !== undefined) {
      if (this.mapCount[writing] === 0) {
        // Still in memory (the swap cache) while its write is in flight: take the frame back.
        this.map(proc, vpage, writing);
        proc.swapPages--;
        swap.release(slot);
      } else {
        // Another sharer took it back already; this one waits for the write and reads it again.
        os.waitFrame(writing);
        yield BLOCK;
      }
      return;
    }
    const reading = this.swapInFrames.get(slot);
    if (reading !== undefined) {
      os.waitFrame(reading);
      yield BLOCK;
      return;
    }
    os.counters.majorFaults++;
    let g = os.tryAllocFrame();
    if (g < 0) g = yield* os.allocFrame();
    if (proc.pte[vpage] !== swapEntry(slot) || this.swapInFrames.has(slot)) {
      os.freeFrame(g);
      return;
    }
    os.mem.use[g] = ANON;
    os.mem.flags[g] = PG_LOCKED;
    this.swapInFrames.set(slot, g);
    if (os.cpu(os.costs.guestSubmitNs)) yield SYNC;
    os.counters.swapReadPages++;
    os.submitIo('read', [swap.blockOf(slot)], [g]);
    while (os.mem.flags[g]! & PG_LOCKED) {
      os.waitFrame(g);
      yield BLOCK;
    }
    this.swapInFrames.delete(slot);
    if (proc.pte[vpage] === swapEntry(slot) && !proc.exited) {
      this.map(proc, vpage, g);
      proc.swapPages--;
      swap.release(slot);
      this.unlockOntoLru(g, INACTIVE_ANON);
    } else {
      this.discardLocked(g);
    }
  }

  private unlockOntoLru(g: number, list: number): void {
    const os = this.os;
    os.mem.flags[g] = PG_REFERENCED;
    os.mem.lru.pushHead(list, g);
    os.wakeFrame(g);
  }

  private map(proc: GuestProcess, vpage: number, g: number): void {
    const os = this.os;
    os.mem.use[g] = ANON;
    proc.pte[vpage] = g;
    proc.rssPages++;
    const n = this.mapCount[g]!;
    if (n === 0) {
      this.ownerPid[g] = proc.pid;
      this.ownerVpage[g] = vpage;
    } else {
      let list = this.sharers.get(g);
      if (!list) {
        list = [{ proc: this.procs.get(this.ownerPid[g]!)!, vpage: this.ownerVpage[g]! }];
        this.sharers.set(g, list);
      }
      list.push({ proc, vpage });
    }
    this.mapCount[g] = n + 1;
  }

  /** Removes one mapping of a shared frame; the last one left becomes its single owner. */
  private unshare(g: number, proc: GuestProcess, vpage: number): void {
    const list = this.sharers.get(g)!;
    const i = list.findIndex((m) => m.proc === proc && m.vpage === vpage);
    if (i < 0) throw new Error(`frame ${g} is not mapped at ${proc.name}:${vpage}`);
    list.splice(i, 1);
    this.mapCount[g]!--;
    proc.pte[vpage] = NONE;
    proc.rssPages--;
    if (list.length === 1) {
      this.sharers.delete(g);
      this.ownerPid[g] = list[0]!.proc.pid;
      this.ownerVpage[g] = list[0]!.vpage;
    }
  }

  // ---------------------------------------------------------------- fork, exit, unmap

  /** fork(): the child maps every page of the parent, copy-on-write. */
  fork(parent: GuestProcess, name: string): GuestProcess {
    const child = this.createProcess(name, parent.pte.length);
    if (parent.sizePages > 0) child.reserve(parent.sizePages);
    for (let v = 0; v < parent.sizePages; v++) {
      const e = parent.pte[v]!;
      if (e >= 0) this.map(child, v, e);
      else if (isSwapEntry(e)) {
        child.pte[v] = e;
        child.swapPages++;
        this.swap!.share(slotOfEntry(e));
      }
    }
    return child;
  }

  /** munmap() of `pages` pages from `vpage`: their frames and swap slots are freed. */
  unmap(proc: GuestProcess, vpage: number, pages: number): void {
    proc.checkRange(vpage, pages);
    for (let v = vpage; v < vpage + pages; v++) this.unmapOne(proc, v);
  }

  /** exit(): everything the process holds goes back to the guest. */
  exit(proc: GuestProcess): void {
    if (proc.exited) return;
    for (let v = 0; v < proc.sizePages; v++) this.unmapOne(proc, v);
    proc.exited = true;
    this.procs.delete(proc.pid);
  }

  private unmapOne(proc: GuestProcess, v: number): void {
    const os = this.os;
    const e = proc.pte[v]!;
    if (e === NONE) return;
    if (isSwapEntry(e)) {
      proc.pte[v] = NONE;
      proc.swapPages--;
      this.swap!.release(slotOfEntry(e));
      return;
    }
    if (this.mapCount[e]! > 1) {
      this.unshare(e, proc, v);
      return;
    }
    proc.pte[v] = NONE;
    proc.rssPages--;
    this.mapCount[e] = 0;
    this.ownerPid[e] = NONE;
    // A frame some thread is still zeroing or copying is freed by that thread when it finds the
    // mapping gone.
    if (os.mem.flags[e]! & PG_LOCKED) return;
    os.mem.lru.remove(e);
    os.freeFrame(e);
  }

  // ---------------------------------------------------------------- reclaim

  /**
   * Scans up to `scan` pages of the inactive anonymous list (refilling it from the active one) and
   * starts swapping out the unreferenced ones. Returns pages whose write was started: their frames
   * are free once it completes.
   */
  shrink(scan: number): number {
    const os = this.os;
    const { flags, lru } = os.mem;
    const swap = this.swap;
    if (!swap) return 0;
    const picked: number[] = [];
    const slots: number[] = [];
    for (let i = 0; i < scan && !swap.full; i++) {
      const g = os.mem.popInactive(INACTIVE_ANON, ACTIVE_ANON);
      if (g < 0) break;
      const fl = flags[g]!;
      if (fl & PG_REFERENCED || this.mapCount[g] !== 1) {
        // Recently used (or shared, which this model does not swap): back to the active list.
        flags[g] = fl & ~PG_REFERENCED;
        lru.pushHead(ACTIVE_ANON, g);
        continue;
      }
      const slot = swap.allocate(g);
      const proc = this.procs.get(this.ownerPid[g]!)!;
      proc.pte[this.ownerVpage[g]!] = swapEntry(slot);
      proc.rssPages--;
      proc.swapPages++;
      this.mapCount[g] = 0;
      this.ownerPid[g] = NONE;
      // The write holds its own reference, so the slot is not reused while the write is in flight.
      swap.share(slot);
      flags[g] = PG_WRITEBACK;
      this.swapOutFrames.set(slot, g);
      this.swapOutCount++;
      picked.push(g);
      slots.push(slot);
    }
    // One request per run of consecutive slots, as the block layer merges them.
    let i = 0;
    while (i < picked.length) {
      let j = i + 1;
      while (j < picked.length && slots[j] === slots[j - 1]! + 1 && j - i < 128) j++;
      this.writeOut(picked.slice(i, j), slots.slice(i, j));
      i = j;
    }
    return picked.length;
  }

  private writeOut(gfns: number[], slots: number[]): void {
    const os = this.os;
    const swap = this.swap!;
    os.counters.swapWritePages += gfns.length;
    os.submitIo(
      'write',
      slots.map((s) => swap.blockOf(s)),
      gfns,
      () => {
        for (let k = 0; k < gfns.length; k++) {
          const g = gfns[k]!;
          const slot = slots[k]!;
          this.swapOutFrames.delete(slot);
          this.swapOutCount--;
          swap.release(slot);
          os.mem.flags[g]! &= ~PG_WRITEBACK;
          if (this.ownerPid[g] !== NONE || this.mapCount[g]! > 0) {
            // Touched again while it was written: it stays, on the active list.
            os.mem.flags[g]! |= PG_REFERENCED;
            os.mem.lru.pushHead(ACTIVE_ANON, g);
          } else {
            os.freeFrame(g);
          }
          os.wakeFrame(g);
        }
        os.writebackDone();
      },
    );
  }

  // ---------------------------------------------------------------- page migration (compaction)

  /**
   * Compaction: migrates up to `pages` idle, unshared anonymous pages from the bottom of guest
   * memory into the highest free frames (Linux's migration scanner works up from the start of the
   * zone, its free scanner down from the end). Each is a copy into a frame the guest overwrites whole.
   */
  *migrate(pages: number): Program {
    const os = this.os;
    const { flags, use } = os.mem;
    let moved = 0;
    const { firstFrame, highFreePages } = this.compaction;
    for (let g = firstFrame; g < os.mem.pages && moved < pages; g++) {
      if (use[g] !== ANON || this.mapCount[g] !== 1 || flags[g]! & (PG_LOCKED | PG_WRITEBACK)) continue;
      if (os.mem.freePages <= highFreePages) return;
      const dst = os.mem.popHighest();
      if (dst < g) {
        // Scanners met: nothing above this page is free.
        os.freeFrame(dst);
        return;
      }
      const proc = this.procs.get(this.ownerPid[g]!)!;
      const vpage = this.ownerVpage[g]!;
      use[dst] = ANON;
      flags[dst] = PG_LOCKED;
      flags[g]! |= PG_LOCKED;
      yield* os.access(g, false);
      yield* os.overwritePage(dst, os.costs.guestCopyPageNs);
      if (proc.exited || proc.pte[vpage] !== g) {
        this.discardLocked(dst);
        this.discardLocked(g);
        continue;
      }
      flags[g]! &= ~PG_LOCKED;
      os.wakeFrame(g);
      proc.pte[vpage] = NONE;
      proc.rssPages--;
      this.mapCount[g] = 0;
      this.ownerPid[g] = NONE;
      const onList = os.mem.lru.on(g);
      os.mem.lru.remove(g);
      os.freeFrame(g);
      this.map(proc, vpage, dst);
      this.unlockOntoLru(dst, onList === INACTIVE_ANON ? INACTIVE_ANON : ACTIVE_ANON);
      this.migrations++;
      moved++;
    }
  }
}
