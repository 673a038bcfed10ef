import { Flag, State } from './store/page-table.js';
import type { Store } from './store/store.js';
import { NONE as NONE_BINDING, type SwapSlot } from './types.js';

/** NONE as a constant of this module, which the compiler writes in (see NOT_ON_LIST in store/lru-queues.ts). */
const NONE = NONE_BINDING;

/**
 * Linux 3.7's swap cache (mm/swap_state.c, and the slot rules of do_swap_page in mm/memory.c): a
 * page read back from swap keeps its slot while its content still equals the slot's, so a clean
 * eviction writes nothing and a dirty one writes back to the same slot. The slot is given up when
 * the page is written (reuse_swap_page), when it is first mapped or activated while swap is more
 * than half full (vm_swap_full), or when KVM's async page fault worker faults it in for writing.
 */
export class SwapCache {
  constructor(private readonly s: Store) {}

  /** Linux's vm_swap_full(): more than half of the swap area is in use. */
  mostlyUsed(): boolean {
    return this.s.swap.usedSlots * 2 > this.s.swap.slotCount;
  }

  /**
   * A CPU access to a present page that holds a slot (not under writeback): whether the page gives
   * the slot up. A write does (reuse_swap_page); so does the fault that first maps a swapped-in page
   * while swap is more than half full (do_swap_page's vm_swap_full check).
   */
  releasesOnAccess(p: number, write: boolean): boolean {
    const firstMap = (this.s.pt.flags[p]! & (Flag.SwapCache | Flag.Dirty)) === Flag.SwapCache;
    if (write === true) return true;
    if (firstMap && this.mostlyUsed()) {
      this.s.counters.swapSlotsReleased++;
      return true;
    }
    return false;
  }

  /**
   * reuse_swap_page() under a write fault that does not change the content (KVM's async page fault
   * worker): the page leaves the swap cache, dirty, and gives its slot back. The Mapper's
   * association is untouched (the bytes are still the block's), and a page under writeback keeps its
   * slot until the write is done.
   */
  reuseForAsyncWrite(p: number): void {
    const pt = this.s.pt;
    const f = pt.flags[p]!;
    if (pt.state[p] !== State.Resident || !(f & Flag.SwapCache) || f & (Flag.Writeback | Flag.Named)) return;
    this.s.counters.asyncPfSlotReleases++;
    this.giveUpSlot(p, f);
  }

  /**
   * The page leaves the swap cache with flags `f`, dirty (its only copy is now in memory), and its
   * slot is freed: its next eviction writes it to a new one.
   */
  giveUpSlot(p: number, f: number): void {
    this.s.pt.flags[p] = (f | Flag.Dirty) & ~Flag.SwapCache;
    this.freeSlot(p);
  }

  /** The page's content changes wholesale (a device wrote it): its swap copy is stale. */
  dropSwapCopy(p: number): void {
    const pt = this.s.pt;
    if (pt.flags[p]! & Flag.SwapCache && !(pt.flags[p]! & Flag.Writeback)) {
      pt.flags[p]! &= ~Flag.SwapCache;
      this.freeSlot(p);
    } else if (pt.flags[p]! & Flag.Writeback) {
      // The write's completion frees the slot once the write no longer uses it.
      pt.flags[p]! &= ~Flag.SwapCache;
    }
  }

  freeSlot(p: number): void {
    const s = this.s.pt.slot[p]!;
    if (s === NONE) return;
    // A cast, not asSlot(): an imported function costs optimized code a cell read and checks per call.
    this.s.swap.free(s as SwapSlot);
    this.s.pt.slot[p] = NONE;
  }
}
