import { State } from '../store/page-table.js';
import { NONE } from '../types.js';
import type { Readahead, ReadaheadContext, ReadWindow } from './readahead.js';

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

  window(p: number): ReadWindow {
    const { pt, swap } = this.c;
    const s = pt.slot[p]!;
    const mask = (1 << this.c.pageClusterLog2) - 1;
    const lo = s & ~mask;
    const hi = Math.min(s | mask, swap.slotCount - 1);
    const pages: number[] = [];
    const units: number[] = [];
    for (let u = lo; u <= hi; u++) {
      // A slot another guest holds (a shared host swap area) is no page of ours: not read here.
      const q = swap.ownerOf(u);
      if (q === p || (q !== NONE && pt.state[q] === State.Swapped && pt.slot[q] === u)) {
        pages.push(q);
        units.push(u);
      }
    }
    return { pages, units };
  }

  started(): void {}

  hit(): void {}
}
