import { NONE } from '../../core/index.js';

/** A page-table entry of a guest process: a frame (>= 0), nothing yet (NONE), or a guest swap slot. */
const SWAP_BASE = -2;
export const swapEntry = (slot: number): number => SWAP_BASE - slot;
export const slotOfEntry = (entry: number): number => SWAP_BASE - entry;
export const isSwapEntry = (entry: number): boolean => entry <= SWAP_BASE;

/**
 * A guest process's anonymous address space, page by page (vpage -> frame or swap slot), with the
 * counts the OOM killer weighs. Memory is reserved in address-space order and populated on first
 * touch (a zero-filled page), as mmap/brk memory is.
 */
export class GuestProcess {
  pte: Int32Array;
  /** Address space reserved so far, in pages. */
  sizePages = 0;
  rssPages = 0;
  swapPages = 0;
  exited = false;

  constructor(
    readonly pid: number,
    readonly name: string,
    capacityPages = 256,
  ) {
    this.pte = new Int32Array(Math.max(1, capacityPages)).fill(NONE);
  }

  /** Reserves `pages` of address space (mmap of anonymous memory); returns the first page. */
  reserve(pages: number): number {
    if (!(Number.isInteger(pages) && pages > 0))
      throw new RangeError(`process ${this.name}: reserve needs a positive page count, got ${pages}`);
    const first = this.sizePages;
    const need = first + pages;
    if (need > this.pte.length) {
      let cap = this.pte.length;
      while (cap < need) cap *= 2;
      const grown = new Int32Array(cap).fill(NONE);
      grown.set(this.pte);
      this.pte = grown;
    }
    this.sizePages = need;
    return first;
  }

  checkRange(vpage: number, pages: number): void {
    if (!(Number.isInteger(vpage) && vpage >= 0 && pages >= 0 && vpage + pages <= this.sizePages))
      throw new RangeError(
        `process ${this.name}: pages ${vpage}+${pages} outside its ${this.sizePages}-page address space`,
      );
  }

  /** What the OOM killer weighs (oom_badness: resident plus swapped pages). */
  get badness(): number {
    return this.rssPages + this.swapPages;
  }
}
