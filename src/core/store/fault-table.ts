import type { FaultContext, FaultId } from '../types.js';
import { InFlightMap } from './in-flight-map.js';
import {
  clearBit as clearBitBinding,
  hasBit as hasBitBinding,
  newBitmap,
  setBitOn as setBitOnBinding,
} from './bitmap.js';

/** Module constants, which the compiler writes in (see NOT_ON_LIST in lru-queues.ts). */
const hasBit = hasBitBinding;
const setBitOn = setBitOnBinding;
const clearBit = clearBitBinding;

/**
 * What a fault was raised for: a CPU access (`touch`), a whole-page overwrite by the guest CPU
 * (`overwrite`), a device about to write (`dmaWrite`) or read (`dmaRead`) the page, the host's own
 * code pinning it (`pin`), or the read-back of a page whose block is about to change (`invalidate`).
 */
export type FaultKind = 'touch' | 'overwrite' | 'dmaWrite' | 'dmaRead' | 'invalidate' | 'pin';

export interface Fault {
  id: FaultId;
  page: number;
  kind: FaultKind;
  write: boolean;
  ctx: FaultContext;
  /** Pages whose load this fault still waits for. */
  waiting: number;
  /** Finished as KVM's async page fault worker does: a write fault (CoreConfig.asyncPfWriteFaults). */
  asyncWrite: boolean;
  /** Not finished yet (FaultTable.finish clears it). */
  live: boolean;
}

/**
 * The faults in flight: each fault until it completes, the faults waiting on each page's load, and
 * the faults waiting for a free frame (oldest first).
 */
export class FaultTable {
  /** Faults not finished: each fault carries its own mark (Fault.live), so no map by id is kept. */
  private liveCount = 0;
  // Not a Map: it fills and empties on every fault, and a Map reallocates as it empties. Few pages
  // have waiters at once, so a page's low bits nearly always find its slot free (see InFlightMap).
  /** A page's waiters: the one fault (the usual case, no array for it), or several, oldest first. */
  private readonly pageWaiters = new InFlightMap<Fault | Fault[]>();
  /**
   * One bit per page, set where pageWaiters has an entry: most loaded pages have none, and skip the
   * map. Bits, not bytes: a read completes pages scattered over the guest, and at 32 KiB per GiB of
   * guest the bitmap stays in cache where a byte per page (256 KiB per GiB) missed on most pages.
   */
  private readonly hasWaiters: Int32Array;
  /** Faults that wait for a frame, oldest first. */
  readonly frameWaiters: Fault[] = [];

  constructor(pageCount: number) {
    this.hasWaiters = newBitmap(pageCount);
  }

  get size(): number {
    return this.liveCount;
  }

  /** Counts a new fault (made with `live` true) as in flight. */
  add(f: Fault): Fault {
    this.liveCount++;
    return f;
  }

  isLive(f: Fault): boolean {
    // A comparison, not the field itself: the callers' truth test of a boolean field is the
    // generic one (string, number and bigint checks), of a comparison a branch.
    return f.live === true;
  }

  /** Forgets a fault; false when it was not live (already finished). */
  finish(f: Fault): boolean {
    if (f.live !== true) return false;
    f.live = false;
    this.liveCount--;
    return true;
  }

  /** `f` waits until page `p` is loaded. */
  waitOn(p: number, f: Fault): FaultId {
    f.waiting++;
    // The page's bit says whether the map holds waiters for it (they are set and taken together):
    // the first waiter of a page, the usual case, goes in without a lookup first.
    const w = hasBit(this.hasWaiters, p) ? this.pageWaiters.get(p) : undefined;
    setBitOn(this.hasWaiters, p);
    if (w === undefined) this.pageWaiters.set(p, f);
    else if (Array.isArray(w)) w.push(f);
    else {
      // A second waiter (rare): the entry becomes an array of both.
      this.pageWaiters.take(p);
      this.pageWaiters.set(p, [w, f]);
    }
    return f.id;
  }

  /**
   * Takes the faults waiting on page `p`'s load: one fault, or several in an array, oldest first
   * (undefined when there are none).
   */
  takeWaiters(p: number): Fault | Fault[] | undefined {
    // The bit test alone, small enough to be inlined for every page a read brings in; the map is
    // looked up for the few pages that have waiters. The test is hasBit() written out: where this is
    // inlined into a driver's loop the compiler's inlining budget is spent, and hasBit stayed a
    // call for every page read.
    return (this.hasWaiters[p >>> 5]! & (1 << (p & 31))) !== 0 ? this.takeListed(p) : undefined;
  }

  private takeListed(p: number): Fault | Fault[] | undefined {
    clearBit(this.hasWaiters, p);
    return this.pageWaiters.take(p);
  }
}
