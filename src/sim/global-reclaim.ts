import { DEFAULT_CORE_TUNABLES, type GlobalScan, type HostMemory, type MemoryCore } from '../core/index.js';

/** SWAP_CLUSTER_MAX, the host kernel's one value, which every guest's core reclaims by too. */
const SWAP_CLUSTER_MAX = DEFAULT_CORE_TUNABLES.reclaimBatchPages;

/** One guest's QEMU process as the host's global reclaim sees it: its memory cgroup and its core. */
export interface ReclaimMember {
  readonly core: MemoryCore;
  /** memory.limit_in_bytes of its cgroup (a lower one reclaims at once, through the core). */
  setResidentLimit(pages: number): void;
  /**
   * Global reclaim's shrink_lruvec() of this cgroup at one priority, with the host's free memory
   * now: pages freed or sent to swap.
   */
  scanAtPriority(prio: number, host: GlobalScan): number;
}

/**
 * Linux 3.7's zone watermarks for a host of `hostPages`: min_free_kbytes = sqrt(lowmem_kbytes x 16)
 * (mm/page_alloc.c init_per_zone_wmark_min), low = min x 5/4, high = min x 3/2
 * (__setup_per_zone_wmarks). kswapd wakes below low and reclaims until high.
 */
export function hostWatermarks(hostPages: number): { minPages: number; lowPages: number; highPages: number } {
  const minKiB = Math.min(65536, Math.max(128, Math.floor(Math.sqrt(hostPages * 4 * 16))));
  const minPages = Math.ceil(minKiB / 4);
  return { minPages, lowPages: Math.ceil((minPages * 5) / 4), highPages: Math.ceil((minPages * 3) / 2) };
}

/**
 * One memory limit shared by several QEMU processes (the host's RAM, or a parent cgroup), reclaimed
 * the way Linux 3.7's kswapd does under global pressure. balance_pgdat() lowers the priority from
 * DEF_PRIORITY (12) to 0 until the zone is back above its high watermark; at each priority
 * shrink_zone() walks every memory cgroup (mem_cgroup_iter over the hierarchy) and shrink_lruvec()
 * scans each of its lists by size >> priority (get_scan_count), evicting the unreferenced pages and
 * giving referenced ones a second chance (page_check_references). So every guest is *scanned* in
 * proportion to what it holds, and gives up what it has not touched lately: a guest whose workload
 * has finished loses its cold memory before a running guest loses its working set. (An earlier
 * version took from every guest in proportion to its resident pages, whatever it had touched:
 * that is not what 3.7's scan does, and it took running guests' working sets as fast as idle
 * guests' garbage.) This runs once per `tickNs` (kswapd's cadence here): below the low watermark
 * it reclaims. What is free stays the host's: a guest that needs memory takes it (shortOf), and
 * reclaims from itself only if nothing else can give: global direct reclaim first takes what is free,
 * then scans the other guests as try_to_free_pages() -> shrink_zones() scans every memcg at
 * falling priorities until it has SWAP_CLUSTER_MAX (32) pages, and waits for their swap writes
 * rather than evict its own working set. (Before, a guest short of memory reclaimed from itself
 * alone, as if it had a cgroup limit; §5.2's guests have none, only the host's 8 GB: a newly
 * started guest then paged its own fresh pages out and back in while finished guests held on
 * to gigabytes they no longer touched.)
 */
export class GlobalReclaim {
  readonly minPages: number;
  readonly lowPages: number;
  readonly highPages: number;
  /** Pages global reclaim took from the guests, in total (kswapd and direct reclaim). */
  reclaimedPages = 0;
  passes = 0;
  /** Direct reclaims: a guest out of memory between two kswapd passes. */
  directReclaims = 0;
  /** A reclaim is running: a guest that runs short meanwhile gets only what is free. */
  private busy = false;
  private passesTicks = 0;

  /**
   * @param unreclaimablePages what the host holds besides its guests' pages and cannot reclaim
   *   (its kernel's memmap, each QEMU's heap, page tables and KVM's rmap: see host-overhead.ts).
   *   It counts as used, for the watermarks, the guests' headroom and what MOM reads as free.
   */
  constructor(
    readonly hostPages: number,
    private readonly members: readonly ReclaimMember[],
    readonly unreclaimablePages = 0,
  ) {
    if (!(Number.isInteger(hostPages) && hostPages > 0))
      throw new RangeError(`host memory: must be a positive number of pages, got ${hostPages}`);
    if (!(Number.isInteger(unreclaimablePages) && unreclaimablePages >= 0 && unreclaimablePages < hostPages))
      throw new RangeError(
        `host memory: what the host holds for itself must be 0 to ${hostPages - 1} pages, got ${unreclaimablePages}`,
      );
    const w = hostWatermarks(hostPages);
    this.minPages = w.minPages;
    this.lowPages = w.lowPages;
    this.highPages = w.highPages;
  }

  /** Pages in use: the host's own, and all guests' resident pages (writeback included). */
  get usedPages(): number {
    let used = this.unreclaimablePages;
    for (const m of this.members) used += m.core.residentPages;
    return used;
  }

  get freePages(): number {
    return this.hostPages - this.usedPages;
  }

  /**
   * What a cgroup's scan gets from global reclaim: the host's free pages now, its high watermark,
   * and the reclaim's nr_to_reclaim (kswapd's unbounded, direct reclaim's SWAP_CLUSTER_MAX).
   */
  private scanOf(nrToReclaimPages: number): GlobalScan {
    return { freePages: Math.max(0, this.freePages), highPages: this.highPages, nrToReclaimPages };
  }

  /** Resident pages that are not already on their way to swap. */
  private settledPages(): number {
    let n = this.unreclaimablePages;
    for (const m of this.members) n += m.core.residentPages - m.core.pagesUnderWriteback;
    return n;
  }

  /** What guest `i` asks its core to consult when it runs short (see HostMemory). */
  hostMemoryFor(i: number): HostMemory {
    return { shortOf: (pages: number) => this.shortOf(i, pages) };
  }

  /** Free memory above the min watermark that no guest holds. */
  private poolPages(): number {
    return this.hostPages - this.minPages - this.usedPages;
  }

  /** Guest `i` needs `pages` more than its limit allows: global direct reclaim. */
  shortOf(i: number, pages: number): { grantPages: number; wait: boolean } {
    let pool = this.poolPages();
    if (pool >= pages || this.busy) return { grantPages: Math.max(0, Math.min(pages, pool)), wait: false };
    this.directReclaims++;
    this.busy = true;
    try {
      // try_to_free_pages(): nr_to_reclaim = SWAP_CLUSTER_MAX, every memcg at each priority.
      const want = Math.max(pages - Math.max(0, pool), SWAP_CLUSTER_MAX);
      let got = 0;
      for (let prio = 12; prio >= 0 && got < want; prio--)
        for (let j = 0; j < this.members.length; j++)
          if (j !== i) got += this.members[j]!.scanAtPriority(prio, this.scanOf(SWAP_CLUSTER_MAX));
      this.reclaimedPages += got;
    } finally {
      this.busy = false;
    }
    pool = this.poolPages();
    const grantPages = Math.max(0, Math.min(pages, pool));
    let inFlight = 0;
    for (let j = 0; j < this.members.length; j++)
      if (j !== i) inFlight += this.members[j]!.core.pagesUnderWriteback;
    // Short still, but other guests' pages are on their way to swap: wait for them (the
    // allocator's congestion wait) rather than evict this guest's own pages.
    return { grantPages, wait: grantPages < pages && inFlight > 0 };
  }

  /** One pass: kswapd when below the low watermark, then the free memory handed out as headroom. */
  tick(): void {
    const members = this.members;
    if (this.freePages < this.lowPages && this.usedPages > this.unreclaimablePages) {
      this.passes++;
      this.busy = true;
      try {
        // balance_pgdat(): balanced once what is free, counting the swap writes just queued as
        // done, reaches high. Each pass (loop_again) starts at DEF_PRIORITY and goes deeper only
        // while it has reclaimed fewer than SWAP_CLUSTER_MAX pages; with that many and the host
        // not balanced yet, it starts again at DEF_PRIORITY ("so kswapd doesn't build up large
        // priorities", mm/vmscan.c since 2.6.9, in 3.7, removed in 3.11 by "mm: vmscan: Flatten
        // kswapd priority loop"). So kswapd takes small bites from every cgroup in turn and stops
        // within a bite of the high watermark, instead of one deep scan that frees far beyond it.
        // A pass that goes down to priority 0 and still frees fewer ends this wake-up (3.7 would
        // loop again at once; here the next tick does, after the queued writes have moved on).
        for (;;) {
          const settledBefore = this.settledPages();
          let passReclaimed = 0;
          let balanced = false;
          let prio = 12;
          for (; prio >= 0; prio--) {
            for (const m of members) passReclaimed += m.scanAtPriority(prio, this.scanOf(Infinity));
            balanced = this.hostPages - this.settledPages() >= this.highPages;
            if (balanced || passReclaimed >= SWAP_CLUSTER_MAX) break;
          }
          this.reclaimedPages += passReclaimed;
          // (A pass that moved nothing towards the watermark would only repeat itself.)
          if (balanced || prio < 0 || this.settledPages() >= settledBefore) break;
        }
      } finally {
        this.busy = false;
      }
    }
    // The free memory stays the host's: each cgroup's limit is what it holds, and a guest that
    // needs more takes it from the host (shortOf), first come first served, as Linux's page
    // allocator hands out free pages. Setting the limits also wakes faults that waited for memory
    // (they ask again); the guest asked first rotates, so none is always last.
    const n = members.length;
    const first = this.passesTicks++ % n;
    for (let k = 0; k < n; k++) {
      const m = members[(first + k) % n]!;
      m.setResidentLimit(Math.max(1, m.core.residentPages));
    }
  }
}
