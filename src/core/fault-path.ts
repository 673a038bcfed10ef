import type { Access } from './access.js';
import { type ReadSource, faultDoneAction } from './actions.js';
import { UnknownStateError } from './errors.js';
import type { Mapper } from './mapper.js';
import type { PageIn } from './page-in.js';
import type { Preventer } from './preventer.js';
import type { Reclaim } from './reclaim.js';
import type { Fault, FaultKind } from './store/fault-table.js';
import { LruList } from './store/lruvec.js';
import { Flag, State } from './store/page-table.js';
import type { Store } from './store/store.js';
import type { SwapCache } from './swap-cache.js';
import { type FaultContext, type FaultId, type IoId, NONE, NO_FAULT as NO_FAULT_BINDING } from './types.js';

/** A module constant, which the compiler writes in (see NOT_ON_LIST in store/lru-queues.ts). */
const NO_FAULT = NO_FAULT_BINDING;

/**
 * The life of a fault: started by what the page's state asks for (already there, being loaded,
 * emulated by the Preventer, never filled, swapped out, dropped to the image), parked while it
 * waits for a frame or for a load, woken when its page arrives, and completed with the effect it
 * was raised for. Faults that wait for frames run oldest first whenever frames may have been freed
 * (pump). Reads coming back land here too: each page is handed to whoever owns it.
 */
export class FaultPath {
  constructor(
    private readonly s: Store,
    private readonly reclaim: Reclaim,
    private readonly swapCache: SwapCache,
    private readonly pageIn: PageIn,
    private readonly mapper: Mapper,
    private readonly access: Access,
    private readonly preventer: Preventer,
  ) {}

  newFault(page: number, kind: FaultKind, write: boolean, ctx: FaultContext): Fault {
    // Every field from the start (asyncWrite too): a fault that gained one later would change
    // shape, and the code that reads faults would see two shapes and slow down.
    return this.s.faults.add({
      id: this.s.io.newFaultId(),
      page,
      kind,
      write,
      ctx,
      waiting: 0,
      asyncWrite: false,
      live: true,
    });
  }

  /** Raises a fault on page `p`: NO_FAULT when it completed at once, else the id to wait for. */
  fault(p: number, kind: FaultKind, write: boolean, ctx: FaultContext): FaultId {
    const f = this.newFault(p, kind, write, ctx);
    const faults = this.s.faults;
    const queued = !this.start(f);
    if (queued) faults.frameWaiters.push(f);
    // Reclaim on this fault's behalf may have freed more than it took: earlier waiters go next.
    else if (faults.frameWaiters.length > 0) this.pump();
    return faults.isLive(f) ? f.id : NO_FAULT;
  }

  /** Starts (or finishes) a fault. Returns false when it must wait for a frame. */
  start(f: Fault): boolean {
    const p = f.page;
    const st = this.s.pt.state[p]!;
    switch (st) {
      case State.Resident:
        this.complete(f, false);
        return true;
      case State.Loading:
        this.s.counters.minorFaults++;
        this.pageIn.markAsyncWrite(f);
        this.s.faults.waitOn(p, f);
        return true;
      case State.Emulating:
        // An access the buffer cannot serve: merge first, then go on.
        this.preventer.fallBackIfActive(p);
        this.s.faults.waitOn(p, f);
        return true;
      case State.Untouched:
      case State.Ballooned:
        if (!this.pageIn.zeroFill(p)) return false;
        this.complete(f, false);
        return true;
      case State.Swapped:
      case State.InImage:
        if (f.kind === 'overwrite' && this.s.cfg.preventer && !this.s.isVmm(p)) {
          if (!this.preventer.remapAbsent(p)) return false;
          this.complete(f, false);
          return true;
        }
        return st === State.Swapped ? this.pageIn.swapIn(f) : this.pageIn.fileIn(f);
      default:
        throw new UnknownStateError(p, st);
    }
  }

  /**
   * A device about to overwrite absent page `f.page` whose old content is not needed: a frame is
   * reserved (state Loading, pinned) and nothing is read. Returns false when it must wait.
   */
  startDiscarding(f: Fault): boolean {
    const p = f.page;
    const pt = this.s.pt;
    const st = pt.state[p]!;
    // The Preventer may have begun emulating the page while this waited for a frame.
    if (st === State.Emulating && this.deviceSupersedes(p)) return true;
    if (st === State.Resident || st === State.Loading || st === State.Emulating) return this.start(f);
    if (!this.reclaim.takeFrames(1)) return false;
    if (st === State.Swapped) this.swapCache.freeSlot(p);
    pt.unlinkBlock(p);
    pt.state[p] = State.Loading;
    pt.flags[p] = 0;
    pt.pin(p);
    this.s.frames.charge(p);
    return true;
  }

  /**
   * A device is about to overwrite page `p`, which the Preventer is emulating: what the guest wrote
   * is superseded, the emulation's frame becomes the device's (Loading, pinned), nothing is read.
   * False when the emulation's merge has begun (the device then waits for it).
   */
  deviceSupersedes(p: number): boolean {
    if (!this.preventer.cancel(p)) return false;
    const pt = this.s.pt;
    this.swapCache.freeSlot(p);
    pt.unlinkBlock(p);
    pt.state[p] = State.Loading;
    pt.flags[p] = 0;
    pt.pin(p);
    return true;
  }

  /** Page `p` is loaded (or gone again): its waiters complete, or start over if it went away. */
  wake(p: number): void {
    const w = this.s.faults.takeWaiters(p);
    if (w === undefined) return;
    if (Array.isArray(w)) for (const f of w) this.wakeOne(p, f);
    else this.wakeOne(p, w);
  }

  /** Fault `f`, which waited on page `p`, goes on (see wake). */
  private wakeOne(p: number, f: Fault): void {
    if (--f.waiting > 0) return;
    if (this.s.pt.state[p] !== State.Resident && f.kind !== 'invalidate') {
      // The page went away again (ballooned) before the waiter ran: start over.
      if (!this.start(f)) this.s.faults.frameWaiters.push(f);
    } else {
      this.complete(f, true);
    }
  }

  /** Runs faults that waited for frames, oldest first; the head one reclaims if nothing is free. */
  pump(): void {
    const { faults, pt, io } = this.s;
    const waiters = faults.frameWaiters;
    while (waiters.length > 0) {
      const f = waiters[0]!;
      const discarding = f.kind === 'dmaWrite' && !this.mapper.oldContentNeeded(pt.state[f.page]!);
      const started = discarding ? this.startDiscarding(f) : this.start(f);
      if (!started) break;
      waiters.shift();
      // Started and not waiting for a read: it is done (a discarding DMA only needed its frame).
      if (faults.isLive(f) && f.waiting === 0) faults.finish(f);
      if (!faults.isLive(f)) io.push(faultDoneAction(f.id));
    }
  }

  /** The read `id` is done: every page it loaded goes to its owner, and waiters run. */
  readDone(id: IoId): void {
    const { pt, io: pageIo } = this.s;
    const io = pageIo.takeRead(id);
    const swap = io.source === 'swap';
    // The arrays the loop reads for every page, held in locals (each read through its owners
    // re-checks their shapes).
    const pages = io.pages;
    const flags = pt.flags;
    const state = pt.state;
    // Whether any page is being emulated, asked once: nothing a waiter does starts an emulation, and
    // with none (nearly always) no page of the read can be a merge arriving.
    const merging = this.preventer.active !== 0;
    for (let i = 0; i < pages.length; i++) {
      const q = pages[i]!;
      if (merging && this.preventer.mergeArrived(q)) {
        this.wake(q);
        continue;
      }
      const f = flags[q]!;
      if (f & Flag.DiscardOnLoad) {
        this.discardArrived(q, swap);
      } else if (swap) {
        state[q] = State.Resident;
        // A page read ahead keeps its mark until its first touch (a readahead hit).
        flags[q] = Flag.SwapCache | (f & Flag.Readahead);
        this.s.put(LruList.InactiveAnon, q);
      } else {
        state[q] = State.Resident;
        this.fileArrived(q, io.source);
      }
      this.wake(q);
    }
    // Tested here, not only in pump(): most reads complete with no fault waiting for a frame, and
    // pump() stays a call.
    if (this.s.faults.frameWaiters.length > 0) this.pump();
  }

  /**
   * Page `q`, ballooned while its read was in flight, arrived: the content is not wanted any more.
   * (The rare cases of readDone are methods of their own, so that its loop stays small enough for
   * the compiler to inline the common one's calls.)
   */
  private discardArrived(q: number, swap: boolean): void {
    const pt = this.s.pt;
    pt.flags[q] = 0;
    if (swap && pt.slot[q] !== NONE) this.swapCache.freeSlot(q);
    this.s.frames.uncharge();
    pt.state[q] = State.Ballooned;
    this.s.io.pushDrop(q);
  }

  /** Page `q`, read from the image or from the hypervisor's executable, arrived. */
  private fileArrived(q: number, source: ReadSource): void {
    if (source === 'image') {
      this.mapper.imageArrived(q);
    } else {
      this.s.pt.flags[q] = 0;
      this.s.put(LruList.InactiveFile, q);
    }
  }

  /** Completes fault `f` with the effect it was raised for; `emit`: somebody waits for faultDone. */
  private complete(f: Fault, emit: boolean): void {
    const p = f.page;
    const pt = this.s.pt;
    switch (f.kind) {
      case 'touch':
        if (this.s.isVmm(p)) pt.flags[p]! |= Flag.Referenced;
        else {
          this.access.apply(p, f.write);
          // `=== true`: a boolean field's truth test is the generic one (see Access.readDirty).
          if (f.asyncWrite === true) this.swapCache.reuseForAsyncWrite(p);
        }
        break;
      case 'overwrite':
        this.access.apply(p, true);
        break;
      case 'dmaWrite':
      case 'dmaRead':
        pt.pin(p);
        break;
      case 'pin':
        this.access.apply(p, f.write);
        pt.pin(p);
        break;
      case 'invalidate':
        if (pt.state[p] === State.Resident) this.mapper.makeAnonymous(p);
        break;
    }
    // A fault finished synchronously (inside the call that raised it) needs no faultDone.
    if (this.s.faults.finish(f) && emit) this.s.io.push(faultDoneAction(f.id));
  }
}
