import { State } from '../store/page-table.js';
import { NONE } from '../types.js';
import type { Readahead, ReadaheadContext, ReadWindow } from './readahead.js';

/**
 * The largest window is 2^min(page-cluster, SWAP_RA_ORDER_CEILING) pages. SWAP_RA_ORDER_CEILING is
 * 5 on 64-bit kernels (include/linux/swap.h from 4.14, later moved into mm/swap_state.c; 3 on
 * 32-bit ones, which copy the window's PTEs onto the stack). With the default page-cluster of 3
 * the ceiling does not bite: the window is at most 8 pages, as the cluster policy's.
 */
export const SWAP_RA_ORDER_CEILING = 5;

/**
 * Hits saturate at SWAP_RA_HITS_MAX = SWAP_RA_HITS_MASK = 2^(PAGE_SHIFT / 2) - 1 = 63 with 4 KiB
 * pages (mm/swap_state.c): Linux packs the hits into the low bits of vma->swap_readahead_info
 * under the page-aligned fault address.
 */
export const SWAP_RA_HITS_MAX = 63;

/**
 * GET_SWAP_RA_VAL (mm/swap_state.c) reads a VMA that never swapped in as 4 hits, "to start up
 * with a small window": its first fault reads min(8, max window) pages.
 */
const INITIAL_HITS = 4;

/**
 * The window never leaves the 2 MiB (PMD_SIZE on x86-64: 512 pages of 4 KiB) the faulting page is
 * in, because Linux walks the PTEs of one page-table page (swap_ra_clamp_pfn). Guest frame g
 * stands for virtual page base + g of QEMU's guest-RAM mapping, which QEMU aligns to 2 MiB, so
 * PMD boundaries fall on multiples of 512 guest frames.
 */
export const PMD_PAGES = 512;

/**
 * Linux starts a VMA's readahead state at address 0, which is never the page just before or
 * after a page of the guest's RAM (mapped at a nonzero address): no frame is adjacent to this.
 */
const NO_PREVIOUS = -2;

/**
 * Linux's VMA-based swap readahead (mm/swap_state.c, introduced in 4.14 as swap_readahead_detect()
 * and do_swap_page_readahead(), renamed swap_ra_info() and swap_vma_readahead() when 4.16 put both
 * policies behind swapin_readahead(); the default since 4.14, but only while no swap device is
 * rotational: swap_use_vma_readahead() checks nr_rotate_swap). The window is placed in the
 * faulting address space (guest frames here) instead of the swap area: the swapped pages around
 * the faulting one are read, each from its own slot, wherever eviction put them.
 *
 * Its size adapts (__swapin_nr_pages, with the "+ 2" heuristic of 3.14's swapin_nr_pages): pages
 * read ahead and then used (hits, counted in lookup_swap_cache()) since the previous fault widen
 * it; a fault next to the previous one with no hits gives 2; otherwise 1, but never below half the
 * previous window. Linux keeps the previous fault address, window and hits per VMA
 * (vma->swap_readahead_info); the guest's RAM is one VMA, so this policy keeps one set.
 */
export class SwapVmaReadahead implements Readahead {
  readonly name = 'vma';
  readonly source = 'swap';
  readonly tracksHits = true;

  /** The page of the previous fault or hit (SWAP_RA_ADDR). */
  private previous = NO_PREVIOUS;
  /** The previous window (SWAP_RA_WIN), which the next may shrink to no less than half of. */
  private previousWindow = 0;
  /** Pages read ahead and used since the previous fault (SWAP_RA_HITS). */
  private hits = INITIAL_HITS;

  constructor(private readonly c: ReadaheadContext) {}

  /** The window size a fault on `p` gets now (__swapin_nr_pages on the VMA's state). */
  windowSize(p: number): number {
    const max = 1 << Math.min(this.c.pageClusterLog2, SWAP_RA_ORDER_CEILING);
    return max === 1 ? 1 : swapinNrPages(this.previous, p, this.hits, max, this.previousWindow);
  }

  window(p: number, out: ReadWindow): number {
    const { state, slot } = this.c.pt;
    const win = this.windowSize(p);
    const { pages, units } = out;
    if (win === 1) {
      pages[0] = p;
      units[0] = slot[p]!;
      return 1;
    }
    // A fault right after the previous one reads ahead, right before it reads behind (a stack or
    // a backwards scan), elsewhere it reads around.
    const prev = this.previous;
    let lo: number;
    if (p === prev + 1) lo = p;
    else if (prev === p + 1) lo = p - win + 1;
    else lo = p - ((win - 1) >> 1);
    let hi = lo + win;
    const pmd = p - (p % PMD_PAGES);
    lo = Math.max(lo, pmd, 0);
    hi = Math.min(hi, pmd + PMD_PAGES, this.c.firstVmmPage);
    let n = 0;
    // Pages in order of address: their slots are wherever eviction put them, and page-in sorts
    // them into one read per run of consecutive slots.
    for (let q = lo; q < hi; q++) {
      if (q === p || (state[q] === State.Swapped && slot[q] !== NONE)) {
        pages[n] = q;
        units[n++] = slot[q]!;
      }
    }
    return n;
  }

  /** swap_ra_info() stores the fault's address and window, and starts counting hits again. */
  started(p: number): void {
    // With page-cluster 0 readahead is off, and Linux leaves the VMA's state alone.
    if (this.c.pageClusterLog2 === 0) return;
    this.previousWindow = this.windowSize(p);
    this.previous = p;
    this.hits = 0;
  }

  /** lookup_swap_cache() on a page read ahead: one more hit, and the address is the latest. */
  hit(p: number): void {
    this.previous = p;
    this.hits = Math.min(this.hits + 1, SWAP_RA_HITS_MAX);
  }
}

/**
 * __swapin_nr_pages() (mm/swap_state.c, 4.14 on): hits + 2 pages rounded up to a power of two no
 * smaller than 4; with no hits, 2 when the fault is next to the previous one and 1 otherwise; at
 * most `max`, and at least half the previous window ("don't shrink readahead too fast").
 */
export function swapinNrPages(prev: number, p: number, hits: number, max: number, prevWin: number): number {
  // Linux: "please don't ask what the '+ 2' means, it just happens to work well".
  let pages = hits + 2;
  if (hits === 0) {
    if (p !== prev + 1 && p !== prev - 1) pages = 1;
  } else {
    let round = 4;
    while (round < pages) round <<= 1;
    pages = round;
  }
  if (pages > max) pages = max;
  const floor = prevWin >> 1;
  return pages < floor ? floor : pages;
}
