import type { MemoryCore } from '../core/index.js';

/** One guest's QEMU process as the host's global reclaim sees it: its memory cgroup and its core. */
export interface ReclaimMember {
  readonly core: MemoryCore;
  /** memory.limit_in_bytes of its cgroup (a lower one reclaims at once, through the core). */
  setResidentLimit(pages: number): void;
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
 * the way Linux 3.7 does under global pressure: shrink_zone() walks every memory cgroup's LRU lists
 * (mem_cgroup_iter over the hierarchy) and get_scan_count() scans each list by its size >> priority,
 * so every guest gives up pages in proportion to what it holds, whoever allocated. The core charges
 * each guest against its own cgroup limit; this class keeps the sum of those limits within the host,
 * once per `tickNs` (kswapd's cadence here): when free memory falls below the low watermark it takes
 * what brings it back to the high one from every guest proportionally (a lowered limit reclaims at
 * once, in the guest's own LRU order), then shares what is free equally as each guest's headroom. A
 * guest that uses up its headroom before the next tick reclaims from itself: the approximation.
 */
export class GlobalReclaim {
  readonly minPages: number;
  readonly lowPages: number;
  readonly highPages: number;
  /** Pages global reclaim asked the guests for, in total. */
  reclaimedPages = 0;
  passes = 0;

  constructor(
    readonly hostPages: number,
    private readonly members: readonly ReclaimMember[],
  ) {
    if (!(Number.isInteger(hostPages) && hostPages > 0))
      throw new RangeError(`host memory: must be a positive number of pages, got ${hostPages}`);
    const w = hostWatermarks(hostPages);
    this.minPages = w.minPages;
    this.lowPages = w.lowPages;
    this.highPages = w.highPages;
  }

  /** Pages charged to all guests (their resident pages, writeback included). */
  get usedPages(): number {
    let used = 0;
    for (const m of this.members) used += m.core.residentPages;
    return used;
  }

  get freePages(): number {
    return this.hostPages - this.usedPages;
  }

  /** One pass: reclaim when below the low watermark, then hand the free memory out as headroom. */
  tick(): void {
    const members = this.members;
    const resident = members.map((m) => m.core.residentPages);
    const used = resident.reduce((a, b) => a + b, 0);
    const free = this.hostPages - used;
    const target = resident.slice();
    if (free < this.lowPages && used > 0) {
      const need = this.highPages - free;
      this.passes++;
      for (let i = 0; i < members.length; i++) {
        const r = Math.min(resident[i]!, Math.round((need * resident[i]!) / used));
        if (r <= 0) continue;
        target[i] = resident[i]! - r;
        this.reclaimedPages += r;
        members[i]!.setResidentLimit(target[i]!);
      }
    }
    // What is free once those pages are gone, down to the emergency reserve (the min watermark).
    const after = target.reduce((a, b) => a + b, 0);
    const headroom = Math.max(0, Math.floor((this.hostPages - this.minPages - after) / members.length));
    for (let i = 0; i < members.length; i++) members[i]!.setResidentLimit(target[i]! + headroom);
  }
}
