import { copyRun } from '../store/copy-run.js';
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

  /**
   * The window gathered in place, as long as the largest cluster (never handed out): the fresh
   * arrays returned are copies of exactly the window's length, where arrays grown by push would
   * allocate room for 16 entries each, on every fault.
   */
  private readonly pagesScratch: number[];
  private readonly unitsScratch: number[];

  constructor(private readonly c: ReadaheadContext) {
    // Pushed, not new Array(size): a packed array of small integers, as its copies are, like
    // every window and read action (an action of another elements kind would make the code that
    // reads actions polymorphic).
    this.pagesScratch = [];
    this.unitsScratch = [];
    for (let i = 0; i < 1 << c.pageClusterLog2; i++) {
      this.pagesScratch.push(0);
      this.unitsScratch.push(0);
    }
  }

  window(p: number): ReadWindow {
    const { pt, swap } = this.c;
    const s = pt.slot[p]!;
    const mask = (1 << this.c.pageClusterLog2) - 1;
    const lo = s & ~mask;
    const hi = Math.min(s | mask, swap.slotCount - 1);
    const pages = this.pagesScratch;
    const units = this.unitsScratch;
    let n = 0;
    for (let u = lo; u <= hi; u++) {
      // A slot another guest holds (a shared host swap area) is no page of ours: not read here. A
      // slot's owner holds that slot (the swap cache allocates and frees both together, and the
      // invariants check it), so its slot need not be read: a cache miss per page saved.
      const q = swap.ownerOf(u);
      if (q === p || (q !== NONE && pt.state[q] === State.Swapped)) {
        pages[n] = q;
        units[n++] = u;
      }
    }
    return { pages: copyRun(pages, 0, n), units: copyRun(units, 0, n) };
  }

  started(): void {}

  hit(): void {}
}
