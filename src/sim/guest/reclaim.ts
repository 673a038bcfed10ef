import type { AnonMemory } from './anon.js';
import type { PageCache } from './page-cache.js';

/** The guest's vm.swappiness (Linux default): anon_prio 60 against file_prio 140. */
export const GUEST_SWAPPINESS = 60;
/** SWAP_CLUSTER_MAX: pages one reclaim round aims at. */
const BATCH = 32;

/**
 * The guest's page reclaim: frees `target` frames from the page cache and, when it has swap space,
 * by swapping anonymous pages out, splitting each round between the two by list size weighted with
 * swappiness (get_scan_count without the rotation feedback). Returns frames freed now plus frames
 * whose swap-out write was started (free once it completes).
 */
export function reclaimGuest(cache: PageCache, anon: AnonMemory, anonPages: number, target: number): number {
  if (!anon.canSwap || anonPages === 0) {
    // Nothing to swap: the page cache alone, with a scan budget of twice its size.
    return cache.shrink(target, cache.pages * 2 + 64);
  }
  let done = 0;
  // Like shrink_zone() from priority 12 down to 0: up to everything, twice (referenced pages get a
  // second chance on the first pass).
  let budget = 2 * (cache.pages + anonPages) + BATCH;
  while (done < target && budget > 0) {
    budget -= BATCH;
    const file = cache.pages;
    const ap = GUEST_SWAPPINESS * anonPages;
    const fp = (200 - GUEST_SWAPPINESS) * file;
    const anonScan = Math.round((BATCH * ap) / (ap + fp || 1));
    const fileScan = BATCH - anonScan;
    let got = fileScan > 0 ? cache.shrink(Math.min(fileScan, target - done), fileScan * 2) : 0;
    if (done + got < target && anon.canSwap) got += anon.shrink(anonScan > 0 ? anonScan : BATCH);
    if (got === 0 && fileScan === 0) got = cache.shrink(target - done, BATCH * 2);
    done += got;
  }
  return done;
}
