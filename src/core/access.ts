import type { Mapper } from './mapper.js';
import type { Readahead } from './readahead/readahead.js';
import { Flag, State } from './store/page-table.js';
import type { Store } from './store/store.js';
import type { SwapCache } from './swap-cache.js';

/**
 * What a CPU access does to a present page (the hot path: every guest access the host sees): the
 * young bit, the dirty bit (always, on hardware without EPT dirty bits), the Mapper's copy-on-write
 * break on a write, a readahead hit, and the swap cache giving the page's slot up.
 */
export class Access {
  /**
   * Flag.Dirty when a read marks the page dirty (CoreConfig.hostAssumesDirty), else 0: a number, so
   * that the hit path ORs it in. (A boolean field is held as a heap object, and every test of one
   * in optimized code was the generic truth test: string, number and bigint checks included.)
   */
  private readonly readDirty: number;
  // The page table's arrays, held directly: this runs for every access the host sees.
  private readonly flags: Uint8Array;
  private readonly state: Uint8Array;

  constructor(
    s: Store,
    private readonly mapper: Mapper,
    private readonly swapCache: SwapCache,
    private readonly swapReadahead: Readahead,
  ) {
    this.readDirty = s.cfg.hostAssumesDirty ? Flag.Dirty : 0;
    this.flags = s.pt.flags;
    this.state = s.pt.state;
  }

  /**
   * apply() to pages[from], pages[from + 1], ... for as long as each is resident and its access only
   * sets flags: no readahead hit, no swap slot it may give up, and for a write no name to break (a
   * copy-on-write fault the guest pays for). Such an access queues no action and counts nothing, so a
   * run of them equals one access after another. Returns the index of the first page not accessed.
   */
  applyPlainRun(pages: Int32Array, from: number, to: number, write: boolean): number {
    const flags = this.flags;
    const state = this.state;
    const notPlain = Flag.Readahead | Flag.SwapCache | (write ? Flag.Named : 0);
    for (let i = from; i < to; i++) {
      const p = pages[i]!;
      if (state[p] !== State.Resident || flags[p]! & notPlain) return i;
      this.apply(p, write);
    }
    return to;
  }

  apply(p: number, write: boolean): void {
    const was = this.flags[p]!;
    let f = was | Flag.Referenced;
    // `=== true`, not a truth test: `write` often comes from a fault's field (see readDirty).
    if (write === true) {
      f = this.mapper.breakOnWrite(p, f) | Flag.Dirty;
    } else if (!(f & Flag.Named)) {
      // Without EPT dirty bits KVM marks every page it unmaps dirty (kvm_set_pfn_dirty), so a page
      // the guest only read is written again when evicted; but a read fault leaves it in the swap
      // cache, and that write goes back to its old slot.
      f |= this.readDirty;
    }
    if (f & Flag.Readahead) {
      f &= ~Flag.Readahead;
      this.swapReadahead.hit(p);
    }
    // A page in the swap cache (not under writeback) gives its slot up on a write, or on the read
    // that first maps it after a swap-in (still clean) when swap is filling up: SwapCache.
    // releasesOnAccess, whose cases that cannot release (every later read of a page in the swap
    // cache) are tested here, without a call.
    if (
      f & Flag.SwapCache &&
      !(f & Flag.Writeback) &&
      (write === true || (was & (Flag.SwapCache | Flag.Dirty)) === Flag.SwapCache) &&
      this.swapCache.releasesOnAccess(p, write)
    ) {
      this.swapCache.giveUpSlot(p, f);
      return;
    }
    this.flags[p] = f;
  }
}
