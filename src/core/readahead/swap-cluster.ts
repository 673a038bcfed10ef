import { State } from '../store/page-table.js';
import { NONE as NONE_BINDING } from '../types.js';
import type { Readahead, ReadaheadContext, ReadWindow } from './readahead.js';

/** NONE as a constant of this module, which the compiler writes in (see NOT_ON_LIST in store/lru-queues.ts). */
const NONE = NONE_BINDING;

/**
 * Linux 3.7's swapin_readahead() (mm/swap_state.c): the faulting slot's aligned cluster of
 * 2^page-cluster slots is read, every slot of it that holds a swapped page. It looks at the swap
 * area only: which pages the slots hold depends on the order they were evicted in.
 */
export class SwapClusterReadahead implements Readahead {
  readonly name = 'cluster';
  readonly source = 'swap';
  readonly tracksHits = false;

  constructor(private readonly c: ReadaheadContext) {}

  window(p: number, out: ReadWindow): number {
    const { pt, swap } = this.c;
    const s = pt.slot[p]!;
    const mask = (1 << this.c.pageClusterLog2) - 1;
    const lo = s & ~mask;
    const hi = Math.min(s | mask, swap.slotCount - 1);
    const pages = out.pages;
    const units = out.units;
    // The page table's state array in a local: read through pt, each slot of the loop re-checked
    // pt's shape and re-loaded the array (the loop's stores into the window arrays let the compiler
    // assume nothing across iterations).
    const state = pt.state;
    let n = 0;
    for (let u = lo; u <= hi; u++) {
      // A slot another guest holds (a shared host swap area) is no page of ours: not read here. A
      // slot's owner holds that slot (the swap cache allocates and frees both together, and the
      // invariants check it), so its slot need not be read: a cache miss per page saved.
      const q = swap.ownerOf(u);
      if (q === p || (q !== NONE && state[q] === State.Swapped)) {
        pages[n] = q;
        units[n++] = u;
      }
    }
    return n;
  }

  started(): void {}

  hit(): void {}
}
