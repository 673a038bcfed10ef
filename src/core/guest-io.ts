import { UnbalancedPinError } from './errors.js';
import type { FaultPath } from './fault-path.js';
import type { Mapper } from './mapper.js';
import type { Preventer } from './preventer.js';
import { Flag, State } from './store/page-table.js';
import type { Store } from './store/store.js';
import { type FaultId, NONE, NO_FAULT } from './types.js';

/**
 * The guest's disk I/O as the host serves it, page by page (§4.1 "Guest I/O Flow"): a device about
 * to write a guest page (a disk read) or to read one (a disk write) must find it present, and pins
 * it; a block about to be overwritten first has its other holders keep their content; the end of
 * each transfer tells the Mapper what the page now holds. Stale swap reads are counted here, where
 * they happen.
 */
export class GuestIo {
  constructor(
    private readonly s: Store,
    private readonly mapper: Mapper,
    private readonly preventer: Preventer,
    private readonly faults: FaultPath,
  ) {}

  /**
   * A device (the emulated disk) is about to overwrite page `p` with disk data. Baseline: the host
   * must have the page, so an absent page is faulted in first (a stale swap read). Mapper: the old
   * content is discarded and a frame reserved, with no read.
   */
  beginDmaWrite(p: number): FaultId {
    const { pt, counters } = this.s;
    const st = pt.state[p]!;
    // By definition a stale swap read is swap content read into a page only to be overwritten by
    // the device: the page was faulted in for the DMA, or swap readahead brought it and nobody
    // has used it since.
    const unusedSwapIn =
      (st === State.Loading && pt.slot[p] !== NONE) ||
      (st === State.Resident &&
        (pt.flags[p]! & (Flag.SwapCache | Flag.Referenced | Flag.Dirty)) === Flag.SwapCache);
    if (unusedSwapIn) counters.staleSwapReads++;
    if (st === State.Resident) {
      pt.pin(p);
      return NO_FAULT;
    }
    if (st === State.Emulating && this.faults.deviceSupersedes(p)) return NO_FAULT;
    if (st === State.Loading || st === State.Emulating)
      return this.s.faults.waitOn(p, this.faults.newFault(p, 'dmaWrite', true, 'host'));
    if (!this.mapper.oldContentNeeded(st)) {
      const f = this.faults.newFault(p, 'dmaWrite', true, 'host');
      if (this.faults.startDiscarding(f)) {
        this.s.faults.finish(f);
        if (this.s.faults.frameWaiters.length > 0) this.faults.pump();
        return NO_FAULT;
      }
      this.s.faults.frameWaiters.push(f);
      return f.id;
    }
    counters.staleSwapReads++;
    return this.faults.fault(p, 'dmaWrite', true, 'host');
  }

  /** The device finished writing image block `block` into page `p` (the driver moved the data). */
  endDmaWrite(p: number, block: number): void {
    const pt = this.s.pt;
    this.unpin(p);
    const wasLoading = pt.state[p] === State.Loading;
    if (wasLoading) pt.state[p] = State.Resident;
    this.mapper.deviceFilled(p, block);
    if (wasLoading) this.faults.wake(p);
    this.faults.pump();
  }

  /** A device is about to read page `p` (the guest writes it to disk): it must be present. */
  beginDmaRead(p: number): FaultId {
    if (this.s.pt.state[p] === State.Resident) {
      this.s.pt.pin(p);
      return NO_FAULT;
    }
    return this.faults.fault(p, 'dmaRead', false, 'host');
  }

  /**
   * The guest is about to overwrite image block `block` through its disk, from page `source` (or
   * NONE for a part of a page). Every other page that holds the block's current content keeps it
   * (§4.1 Data Consistency). Returns NO_FAULT when the block may be written, or a fault to wait
   * for, after which the driver asks again.
   */
  beginBlockWrite(block: number, source: number): FaultId {
    const q = this.mapper.nextHolderToPreserve(block, source);
    if (q === NONE) return NO_FAULT;
    const st = this.s.pt.state[q]!;
    if (st === State.Emulating) {
      // Its merge needs the block's old content: read it before the block changes.
      this.preventer.fallBackIfActive(q);
      return this.s.faults.waitOn(q, this.faults.newFault(q, 'invalidate', false, 'host'));
    }
    const f = this.faults.newFault(q, 'invalidate', false, 'host');
    if (st === State.Loading) return this.s.faults.waitOn(q, f);
    this.s.counters.invalidationReads++;
    if (!this.faults.start(f)) this.s.faults.frameWaiters.push(f);
    return f.id;
  }

  /** The device finished reading page `p` and image block `block` now holds its content. */
  endDmaRead(p: number, block: number): void {
    this.unpin(p);
    this.mapper.deviceStored(p, block);
    this.faults.pump();
  }

  /** A device (or the host's own code) is done with page `p`: it may be evicted again. */
  unpin(p: number): void {
    if (this.s.pt.pins[p] === 0) throw new UnbalancedPinError(p);
    this.s.pt.unpin(p);
  }
}
