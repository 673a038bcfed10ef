import { ConfigError } from './errors.js';
import { copyRun } from './store/copy-run.js';
import { LruList } from './store/lruvec.js';
import { Flag, State } from './store/page-table.js';
import type { Store } from './store/store.js';
import type { SwapCache } from './swap-cache.js';
import { type Gfn, NONE as NONE_BINDING, PAGE_SIZE_BYTES } from './types.js';

/** NONE as a constant of this module, which the compiler writes in (see NOT_ON_LIST in store/lru-queues.ts). */
const NONE = NONE_BINDING;

/**
 * Something else that holds frames and can give them back when reclaim finds nothing to free (a
 * Linux shrinker, as register_shrinker() registers): returns whether it had anything to give.
 */
export interface Shrinker {
  shrink(): boolean;
}

/**
 * The host's answer when this cgroup has too few frames and the host's memory is shared with
 * others (global pressure, no limit of its own): pages its limit may grow by now, and whether
 * memory is on its way (other cgroups' swap writes in flight) so the fault should wait for it
 * instead of evicting this cgroup's own pages.
 */
export interface HostMemory {
  shortOf(pages: number): { grantPages: number; wait: boolean };
}

/** What global reclaim (kswapd, or try_to_free_pages()) brings to its scan of one cgroup. */
export interface GlobalScan {
  /** The host's free pages now. */
  readonly freePages: number;
  /** The host's high watermark, the sum over its zones. */
  readonly highPages: number;
  /**
   * scan_control.nr_to_reclaim: once the cgroup's scan of one zone has freed this many pages
   * below DEF_PRIORITY, it stops (shrink_lruvec). kswapd's is unbounded (Infinity);
   * try_to_free_pages()'s is SWAP_CLUSTER_MAX.
   */
  readonly nrToReclaimPages: number;
}

/** Pages in a GiB: the unit of mem_cgroup_inactive_anon_is_low()'s `gb` (>> (30 - PAGE_SHIFT)). */
const PAGES_PER_GIB = 2 ** 30 / PAGE_SIZE_BYTES;

/**
 * The inactive_ratio Linux 3.7 keeps between a cgroup's active and inactive anonymous pages in one
 * zone, for `anonPages` of them: int_sqrt(10 x whole GiB), or 1 under 1 GiB (mm/memcontrol.c).
 */
export function inactiveAnonRatio(anonPages: number): number {
  const gib = Math.floor(anonPages / PAGES_PER_GIB);
  return gib === 0 ? 1 : Math.floor(Math.sqrt(10 * gib));
}

/**
 * Host reclaim of one memory cgroup, as Linux 3.7's mm/vmscan.c does it: direct reclaim in passes of
 * SWAP_CLUSTER_MAX pages, per priority every zone's lruvec in turn, the anon/file balance of
 * get_scan_count() (swappiness and recent rotations), second chance for referenced pages, clean
 * file-backed pages (the Mapper's named pages, QEMU's code) dropped, anonymous pages written to swap
 * in batches of consecutive slots. Frames come from here: takeFrames() reclaims when there are too
 * few free.
 */
export class Reclaim {
  private readonly shrinkers: Shrinker[] = [];
  private readonly recentScanned = new Float64Array(2);
  private readonly recentRotated = new Float64Array(2);
  private zoneCursor = 0;
  /** Pages a scan puts back where it found them (a scan takes at most reclaimBatchPages). */
  private readonly keepScratch: Int32Array;
  /** Pages a scan takes from a list's tail at once (a scan takes at most reclaimBatchPages). */
  private readonly takeScratch: Int32Array;
  /**
   * Dirty anonymous pages picked by the current reclaim pass, written as one batch: the first
   * `writeCount` entries (reused, written by index: emptying it would give its room back).
   */
  private readonly writeBatch: number[] = [];
  /**
   * The swap slot of each page of writeBatch, at the same index: the batch is sorted and cut into
   * runs by slot, and reading the slot here is one load where the page table's is two.
   */
  private readonly writeSlots: number[] = [];
  private writeCount = 0;
  /** Each zone's share of the host's memory (zoneWeights normalised): its share of the watermarks. */
  private readonly zoneShare: Float64Array;

  constructor(
    private readonly s: Store,
    private readonly swapCache: SwapCache,
  ) {
    const w = s.cfg.zoneWeights;
    const total = w.reduce((a, b) => a + b, 0);
    this.zoneShare = Float64Array.from(w, (x) => x / total);
    this.takeScratch = new Int32Array(s.cfg.reclaimBatchPages);
    this.keepScratch = new Int32Array(s.cfg.reclaimBatchPages);
  }

  register(shrinker: Shrinker): void {
    this.shrinkers.push(shrinker);
  }

  private host: HostMemory | null = null;

  /** A host whose memory this cgroup shares (global reclaim): asked before reclaiming its own. */
  setHost(host: HostMemory): void {
    this.host = host;
  }

  /** Makes `need` frames free if reclaim can; returns how many are free now (at most `need`). */
  takeFrames(need: number): number {
    const frames = this.s.frames;
    if (frames.free < need && this.host !== null) {
      const a = this.host.shortOf(need - frames.free);
      frames.limit += a.grantPages;
      if (a.wait) return Math.max(0, Math.min(need, frames.free));
    }
    if (frames.free < need) this.reclaimFor(need);
    return Math.max(0, Math.min(need, frames.free));
  }

  /**
   * Changes the cgroup limit. A lower limit reclaims at once until what stays resident (minus pages
   * whose swap write is in flight) fits.
   */
  setLimit(pages: number): void {
    if (!Number.isInteger(pages) || pages < 1)
      throw new ConfigError('residentLimitPages', `must be a positive integer, got ${pages}`);
    const frames = this.s.frames;
    frames.limit = pages;
    while (frames.resident - frames.writeback > frames.limit) {
      if (this.shrink(this.s.cfg.reclaimBatchPages) === 0) break;
    }
  }

  /**
   * Direct reclaim as memcg does it: passes of `reclaimBatchPages` until enough is free, or will be
   * once the writes in flight finish, or nothing more can be reclaimed now.
   */
  private reclaimFor(need: number): void {
    const frames = this.s.frames;
    // A pass that finds only referenced pages still clears their bits, so the next can succeed:
    // memcg retries (MEM_CGROUP_RECLAIM_RETRIES) before it gives up.
    let fruitless = 0;
    for (let pass = 0; pass < 64 && fruitless < 5; pass++) {
      const free = frames.free;
      if (free >= need) return;
      if (pass > 0 && free + frames.writeback >= need) return;
      fruitless = this.shrink(this.s.cfg.reclaimBatchPages) === 0 ? fruitless + 1 : 0;
      if (fruitless > 0 && this.runShrinkers()) return;
    }
  }

  private runShrinkers(): boolean {
    let any = false;
    for (const sh of this.shrinkers) if (sh.shrink()) any = true;
    return any;
  }

  /**
   * One reclaim pass: per priority, every zone's lruvec in turn (shrink_zones + shrink_lruvec with
   * get_scan_count), starting from the next zone each time as different CPUs would. Returns pages
   * freed or sent to swap.
   */
  private shrink(target: number): number {
    let reclaimed = 0;
    const first = this.zoneCursor++ % this.s.lru.zones;
    const swapFull = this.swapFull();
    for (let prio = 12; prio >= 0 && reclaimed < target; prio--)
      reclaimed += this.shrinkAtPriority(prio, target - reclaimed, first, swapFull);
    this.flushWriteBatch();
    return reclaimed;
  }

  /**
   * One pass of global reclaim over this memory cgroup at priority `prio`, as kswapd's
   * balance_pgdat() makes it in Linux 3.7: shrink_zone() walks every memcg and shrink_lruvec()
   * scans each of its lists by size >> prio (get_scan_count), with no reclaim target of its own
   * (kswapd's nr_to_reclaim is ULONG_MAX), so a cgroup whose scanned pages are referenced gives
   * up fewer than one whose pages are cold. Returns pages freed or sent to swap.
   */
  scanAtPriority(prio: number, host: GlobalScan): number {
    const first = this.zoneCursor++ % this.s.lru.zones;
    const reclaimed = this.shrinkAtPriority(prio, Infinity, first, this.swapFull(), host);
    this.flushWriteBatch();
    return reclaimed;
  }

  private swapFull(): boolean {
    return this.s.swap.usedSlots >= this.s.swap.slotCount;
  }

  /**
   * shrink_lruvec() of every zone at one priority, starting from zone `first`, until `target`.
   * `host` is given when the host's memory as a whole is short (global reclaim: kswapd, or
   * try_to_free_pages()), null when this cgroup is at its own limit.
   */
  private shrinkAtPriority(
    prio: number,
    target: number,
    first: number,
    swapFull: boolean,
    host: GlobalScan | null = null,
  ): number {
    const lru = this.s.lru;
    const batch = this.s.cfg.reclaimBatchPages;
    const zones = lru.zones;
    let reclaimed = 0;
    const fa0 = this.anonFraction(swapFull);
    // get_scan_count() raises a list's scan from 0 to SWAP_CLUSTER_MAX ("force_scan") only when
    // reclaiming for a cgroup's own limit (or for kswapd in a zone marked all_unreclaimable, not
    // modelled): under global reclaim a list smaller than 2^prio pages is not scanned at that
    // priority (Linux 3.7 mm/vmscan.c, get_scan_count).
    const forceScan = host === null;
    for (let zi = 0; zi < zones && reclaimed < target; zi++) {
      const zone = (first + zi) % zones;
      let fa = fa0;
      // Global reclaim with the zone's free pages plus this cgroup's file pages in it at or under
      // the zone's high watermark: anonymous pages only ("If we have very few page cache pages,
      // force-scan anon pages", get_scan_count, Linux 3.7). The host's free memory and watermark
      // are one pool here; each zone gets its share by size, as __setup_per_zone_wmarks() shares
      // min_free_kbytes and as frames are spread over the zones (zoneWeights).
      if (host !== null && fa0 > 0 && !swapFull) {
        const share = this.zoneShare[zone]!;
        const file = lru.size(zone, LruList.InactiveFile) + lru.size(zone, LruList.ActiveFile);
        if (file + host.freePages * share <= host.highPages * share) fa = 1;
      }
      const ff = 1 - fa;
      // The four lists' scan targets in locals (a typed array's every read and write re-checks it),
      // and the lists taken in their order, InactiveAnon to ActiveFile, in every round.
      let nrInactiveAnon = scanCount(lru.size(zone, LruList.InactiveAnon), prio, forceScan, batch, fa);
      let nrActiveAnon = scanCount(lru.size(zone, LruList.ActiveAnon), prio, forceScan, batch, fa);
      let nrInactiveFile = scanCount(lru.size(zone, LruList.InactiveFile), prio, forceScan, batch, ff);
      let nrActiveFile = scanCount(lru.size(zone, LruList.ActiveFile), prio, forceScan, batch, ff);
      const zoneTarget = host !== null && prio < 12 ? host.nrToReclaimPages : Infinity;
      let zoneReclaimed = 0;
      // As Linux 3.7's shrink_lruvec(): the active anonymous list's target alone does not keep the
      // loop going.
      while (
        (nrInactiveAnon > 0 || nrInactiveFile > 0 || nrActiveFile > 0) &&
        reclaimed < target &&
        zoneReclaimed < zoneTarget
      ) {
        if (nrInactiveAnon > 0) {
          const n = Math.min(nrInactiveAnon, batch);
          nrInactiveAnon -= n;
          const got = this.shrinkInactive(zone, false, n);
          reclaimed += got;
          zoneReclaimed += got;
        }
        if (nrActiveAnon > 0) {
          const n = Math.min(nrActiveAnon, batch);
          nrActiveAnon -= n;
          if (this.inactiveIsLow(zone, false)) this.shrinkActive(zone, false, n);
        }
        if (nrInactiveFile > 0) {
          const n = Math.min(nrInactiveFile, batch);
          nrInactiveFile -= n;
          const got = this.shrinkInactive(zone, true, n);
          reclaimed += got;
          zoneReclaimed += got;
        }
        if (nrActiveFile > 0) {
          const n = Math.min(nrActiveFile, batch);
          nrActiveFile -= n;
          if (this.inactiveIsLow(zone, true)) this.shrinkActive(zone, true, n);
        }
      }
      // As shrink_lruvec() ends: keep some anon pages inactive, so the next priority has
      // candidates even when the scan above found none.
      if (this.inactiveIsLow(zone, false)) this.shrinkActive(zone, false, batch);
    }
    return reclaimed;
  }

  /**
   * get_scan_count(): the share of a pass that goes to the anonymous lists (the rest to the file
   * lists), by swappiness and recent rotations.
   */
  private anonFraction(swapFull: boolean): number {
    const lru = this.s.lru;
    // Whole numbers of pages: summed zone by zone, they are the same sums as list by list.
    let anon = 0;
    let file = 0;
    for (let zone = 0; zone < lru.zones; zone++) {
      anon += lru.size(zone, LruList.InactiveAnon) + lru.size(zone, LruList.ActiveAnon);
      file += lru.size(zone, LruList.InactiveFile) + lru.size(zone, LruList.ActiveFile);
    }
    if (swapFull || anon === 0) return 0;
    if (file === 0) return 1;
    const rs = this.recentScanned;
    const rr = this.recentRotated;
    if (rs[0]! > anon / 4) {
      rs[0]! /= 2;
      rr[0]! /= 2;
    }
    if (rs[1]! > file / 4) {
      rs[1]! /= 2;
      rr[1]! /= 2;
    }
    const swappiness = this.s.cfg.swappiness;
    const ap = ((swappiness + 1) * (rs[0]! + 1)) / (rr[0]! + 1);
    const fp = ((200 - swappiness + 1) * (rs[1]! + 1)) / (rr[1]! + 1);
    return ap / (ap + fp);
  }

  /**
   * inactive_list_is_low() of this cgroup in one zone (Linux 3.7, memcg enabled): file pages keep
   * inactive >= active (mem_cgroup_inactive_file_is_low); anonymous pages keep inactive x ratio >=
   * active, where mem_cgroup_inactive_anon_is_low() takes ratio = int_sqrt(10 x GiB) of the
   * cgroup's anonymous pages in the zone, 1 below 1 GiB: a cgroup holding gigabytes of anonymous
   * memory keeps a smaller share of it inactive (a quarter at 1 GiB, ratio 3), so its scanning
   * concentrates on fewer candidates.
   */
  private inactiveIsLow(zone: number, file: boolean): boolean {
    const lru = this.s.lru;
    if (file) return lru.size(zone, LruList.InactiveFile) < lru.size(zone, LruList.ActiveFile);
    const inactive = lru.size(zone, LruList.InactiveAnon);
    const active = lru.size(zone, LruList.ActiveAnon);
    return inactive * inactiveAnonRatio(inactive + active) < active;
  }

  /** Deactivates pages; only referenced executable file pages (QEMU's code) keep their place. */
  private shrinkActive(zone: number, file: boolean, n: number): void {
    const { pt, lru } = this.s;
    const type = file ? 1 : 0;
    const active = file ? LruList.ActiveFile : LruList.ActiveAnon;
    const inactive = file ? LruList.InactiveFile : LruList.InactiveAnon;
    // The whole batch moved from the tail of `active` to the head of `inactive` first: the loop
    // reads no list, and the few pages that keep their place leave `inactive` after it, which
    // leaves both lists as moving page by page would.
    const taken = this.takeScratch;
    const m = lru.moveTailToHead(zone, active, inactive, n, taken);
    // The arrays the loop reads for every page, held in locals (each read through its owner
    // re-checks the owner's shape).
    const flags = pt.flags;
    const firstVmmPage = this.s.firstVmmPage;
    const keep = this.keepScratch;
    let kept = 0;
    // The recent scans and rotations counted in locals, one addition at a time as in the arrays
    // (the same sums, to the last bit), and stored once: nothing in the loop reads them.
    let scanned = this.recentScanned[type]!;
    let rotated = this.recentRotated[type]!;
    for (let i = 0; i < m; i++) {
      const p = taken[i]!;
      scanned++;
      const f = flags[p]!;
      if (f & Flag.Referenced) {
        flags[p] = f & ~Flag.Referenced;
        rotated++;
        if (file && p >= firstVmmPage) keep[kept++] = p;
      }
    }
    this.recentScanned[type] = scanned;
    this.recentRotated[type] = rotated;
    for (let i = 0; i < kept; i++) lru.remove(keep[i]!);
    lru.pushMany(zone, active, keep, kept);
  }

  /** shrink_page_list(): evicts unreferenced pages from the tail; referenced ones get a second chance. */
  private shrinkInactive(zone: number, file: boolean, n: number): number {
    const { pt, lru, swap, frames, counters } = this.s;
    const type = file ? 1 : 0;
    const list = file ? LruList.InactiveFile : LruList.InactiveAnon;
    const active = file ? LruList.ActiveFile : LruList.ActiveAnon;
    // Pages freed at once; those written to swap are counted from the batch after the loop.
    let freed = 0;
    const keep = this.keepScratch;
    let kept = 0;
    // The whole batch taken from the tail first: nothing below puts a page back on `list` before the
    // loop ends (kept pages go back after it), so this is popTail() page by page.
    const taken = this.takeScratch;
    const m = lru.popTailInto(zone, list, n, taken);
    counters.pagesScanned += m;
    // The arrays the loop reads for every page, held in locals (each read through its owner
    // re-checks the owner's shape).
    const flags = pt.flags;
    const state = pt.state;
    const firstVmmPage = this.s.firstVmmPage;
    const writeBatch = this.writeBatch;
    const writeSlots = this.writeSlots;
    // Counted in locals and stored once (see shrinkActive): nothing in the loop reads them. Every
    // page taken counts as scanned: the count grows by `m` after the loop (see addPages).
    let rotated = this.recentRotated[type]!;
    const writeCountBefore = this.writeCount;
    let writeCount = writeCountBefore;
    // The rarer counts (named drops, rewrites, silent writes, slots given up) go to the counters
    // where they happen: as locals they were four more values the loop carried.
    // Pages activated, in order, written over the front of `taken` and pushed in one batch after
    // the loop (see shrinkActive). An anonymous page that finds swap full joins them: its list is
    // `active` then.
    let activated = 0;
    for (let i = 0; i < m; i++) {
      const p = taken[i]!;
      const f = flags[p]!;
      if (pt.isPinned(p) || state[p] !== State.Resident) {
        keep[kept++] = p;
        continue;
      }
      const vmm = p >= firstVmmPage;
      if (f & Flag.Referenced) {
        flags[p] = f & ~Flag.Referenced;
        if (!file || vmm || f & Flag.SecondChance) {
          rotated++;
          // activate_locked: a page kept in memory gives its slot back when swap is filling up.
          if (f & Flag.SwapCache && !file && this.swapCache.mostlyUsed()) {
            counters.swapSlotsReleased++;
            this.swapCache.giveUpSlot(p, flags[p]);
          }
          taken[activated++] = p;
        } else {
          flags[p] |= Flag.SecondChance;
          keep[kept++] = p;
        }
        continue;
      }
      if (f & Flag.Named || vmm) {
        // A clean file-backed page: the image (or QEMU's executable) has the content, nothing is
        // written. The Mapper's named pages leave this way.
        flags[p] = f & Flag.Named;
        counters.namedDrops++;
        this.s.freeUnlisted(p, State.InImage);
        freed++;
      } else if (f & Flag.SwapCache && !(f & Flag.Dirty)) {
        flags[p] = 0;
        this.s.freeUnlisted(p, State.Swapped);
        freed++;
      } else if (f & Flag.SwapCache) {
        // Dirty but still in the swap cache: pageout() writes it to the slot it already has.
        flags[p] = Flag.SwapCache | Flag.Writeback;
        counters.swapRewrites++;
        if (pt.isLinked(p)) counters.silentSwapWrites++;
        writeSlots[writeCount] = pt.slot[p]!;
        writeBatch[writeCount++] = p;
      } else {
        const s = swap.allocate(p) as number;
        if (s === NONE) {
          if (file) lru.push(zone, LruList.ActiveAnon, p);
          else taken[activated++] = p;
          continue;
        }
        pt.slot[p] = s;
        flags[p] = Flag.SwapCache | Flag.Writeback;
        if (pt.isLinked(p)) counters.silentSwapWrites++;
        writeSlots[writeCount] = s;
        writeBatch[writeCount++] = p;
      }
    }
    this.recentScanned[type] = addPages(this.recentScanned[type]!, m);
    this.recentRotated[type] = rotated;
    this.writeCount = writeCount;
    // Every page added to the write batch is under writeback now, and counts as reclaimed.
    const written = writeCount - writeCountBefore;
    frames.writeback += written;
    lru.pushMany(zone, active, taken, activated);
    lru.pushMany(zone, list, keep, kept);
    return freed + written;
  }

  /** Writes the pass's dirty anonymous pages, one write per run of consecutive slots. */
  private flushWriteBatch(): void {
    const pages = this.writeBatch;
    const slots = this.writeSlots;
    const n = this.writeCount;
    if (n === 0) return;
    this.writeCount = 0;
    // Usually nearly in slot order (fresh slots come in ascending runs; pages written back to the
    // slots they kept fall in between): a direct reclaim pass's batch (a few dozen pages) is sorted
    // in place, where Array.prototype.sort would copy it on every pass; a global scan's, which may
    // be thousands of pages, by the builtin. Slots are distinct, so both give the one slot order.
    if (n > INSERTION_SORT_MAX) {
      const slot = this.s.pt.slot;
      pages.length = n;
      pages.sort((a, b) => slot[a]! - slot[b]!);
      for (let i = 0; i < n; i++) slots[i] = slot[pages[i]!]!;
    } else insertionSortBySlot(pages, slots, n);
    let from = 0;
    for (let i = 1; i <= n; i++) {
      if (i < n && slots[i] === slots[i - 1]! + 1) continue;
      const run = copyRun(pages, from, i);
      this.s.io.emitWrite(run, slots[from]!);
      from = i;
    }
  }

  /** The swap write of `pages` is done (end_page_writeback): each page is freed or stays. */
  writebackDone(pages: readonly number[]): void {
    const s = this.s;
    const { pt, frames } = s;
    // Held in a local: each read through `pt` re-checks its shape.
    const flags = pt.flags;
    // Every page leaves writeback: counted once (nothing below reads the count).
    frames.writeback -= pages.length;
    for (let i = 0; i < pages.length; i++) {
      const q = pages[i]!;
      const f = flags[q]! & ~Flag.Writeback;
      flags[q] = f;
      // The usual page, told by one test of its flags: in the swap cache and nothing else (not to be
      // discarded, named, dirtied or referenced meanwhile) and not pinned. It is freed; every other
      // page takes one of the rarer fates below.
      if ((f & WRITTEN_FLAGS) === Flag.SwapCache && !pt.isPinned(q)) {
        s.freeFrame(q, State.Swapped);
        continue;
      }
      if (f & Flag.DiscardOnLoad) {
        this.swapCache.freeSlot(q);
        flags[q] = 0;
        this.s.freeFrame(q, State.Ballooned);
      } else if (f & Flag.Named || !(f & Flag.SwapCache)) {
        // Re-read from disk, or its slot given up, while the write was in flight: the copy is stale.
        if (pt.slot[q] !== NONE) this.swapCache.freeSlot(q);
        flags[q] &= ~Flag.SwapCache;
        if (!(f & Flag.Named)) flags[q] |= Flag.Dirty;
        this.s.put(f & Flag.Named ? LruList.InactiveFile : LruList.ActiveAnon, q);
      } else {
        // Dirtied, referenced or pinned by a device during writeback (the first test let none of the
        // others through): the page stays and keeps its slot.
        this.s.put(LruList.ActiveAnon, q);
      }
    }
  }

  /**
   * The guest pages reclaim would look at next: up to `depthPerList` pages from the tail of every
   * inactive list, of which `visit` sees those reclaim could evict now (resident, unpinned,
   * unreferenced, not under writeback). `visit` returns false to stop. For a pager that samples
   * accesses (it cannot read QEMU's young bits) before reclaim decides.
   */
  forEachCandidate(depthPerList: number, visit: (gfn: Gfn) => boolean): void {
    const { pt, lru } = this.s;
    for (let zone = 0; zone < lru.zones; zone++) {
      for (const kind of [LruList.InactiveAnon, LruList.InactiveFile] as const) {
        let p = lru.tail(zone, kind);
        for (let k = 0; k < depthPerList && p >= 0; k++, p = lru.prev(p)) {
          const f = pt.flags[p]!;
          if (this.s.isVmm(p) || pt.state[p] !== State.Resident || pt.pins[p]! > 0) continue;
          if (f & (Flag.Referenced | Flag.Writeback)) continue;
          if (!visit(p as Gfn)) return;
        }
      }
    }
  }
}

/**
 * get_scan_count()'s target for one list of `size` pages at priority `prio`: everything at priority
 * 0, whatever the balance; else size / 2 ** prio (raised to a batch when that is 0 and `forceScan`),
 * times the list's share of the pass (`fraction`), rounded down.
 */
function scanCount(size: number, prio: number, forceScan: boolean, batch: number, fraction: number): number {
  if (prio === 0) return size;
  // A list with no share of the pass (file pages when there are none, anonymous ones when swap is
  // full) scans nothing: what the product below gives, without computing it.
  if (fraction === 0) return 0;
  // size / 2 ** prio rounded down, as an integer shift: a list's size is a whole number of pages
  // below 2 ** 32, and prio is 1..12 here.
  let scan = size >>> prio;
  if (scan === 0 && forceScan) scan = Math.min(size, batch);
  // Rounded down as an integer: scan * fraction is at least 0 and below 2^31 (a list of fewer than
  // 2^32 pages, shifted by at least 1, or a batch), where truncation is Math.floor, and the targets
  // stay integers in the loop that counts them down.
  return (scan * fraction) | 0;
}

/**
 * `sum` + 1, `n` times over, in floating point: what counting `n` pages one by one gives, to the last
 * bit. The recent scan counts are whole numbers of pages plus fractions left by get_scan_count()'s
 * halvings. Adding whole numbers to such a sum is exact until it crosses a power of two, where it is
 * rounded once; when `sum` >= `n` the additions cross at most one, so one addition of `n` rounds the
 * same (the sums here are far below 2^50, where whole numbers are multiples of every rounding step).
 * A smaller sum may cross several, each rounded: there it is counted one by one.
 */
export function addPages(sum: number, n: number): number {
  if (sum >= n) return sum + n;
  for (let i = 0; i < n; i++) sum++;
  return sum;
}

/** The flags writebackDone() tells its pages' fates by (see there). */
const WRITTEN_FLAGS = Flag.DiscardOnLoad | Flag.Named | Flag.SwapCache | Flag.Dirty | Flag.Referenced;

/** Batches up to this long are sorted by insertion (quadratic at worst, so never a long one). */
const INSERTION_SORT_MAX = 64;

/**
 * Sorts the first `n` pages in place by their slots (`slots[i]` is the slot of `pages[i]`, and moves
 * with it), each moved down past the larger slots before it. A page already above the one before it
 * (the usual case) costs one comparison.
 */
export function insertionSortBySlot(pages: number[], slots: number[], n: number): void {
  for (let i = 1; i < n; i++) {
    const s = slots[i]!;
    if (slots[i - 1]! < s) continue;
    const q = pages[i]!;
    let j = i - 1;
    while (j >= 0 && slots[j]! > s) {
      pages[j + 1] = pages[j]!;
      slots[j + 1] = slots[j]!;
      j--;
    }
    pages[j + 1] = q;
    slots[j + 1] = s;
  }
}
