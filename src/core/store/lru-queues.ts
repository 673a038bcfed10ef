import { NOT_ON_LIST as NOT_ON_ANY_LIST } from './lru-lists.js';

/**
 * The same byte as a constant of this module, which the optimizing compiler writes in: an imported
 * binding is live, read from its cell and checked at every use, and popTailInto() stores it for
 * every page a reclaim scan takes.
 */
const NOT_ON_LIST = NOT_ON_ANY_LIST;

/** An array slot whose page was removed from the middle of its list. */
const HOLE = -1;
/** Slots a list starts with; it doubles when it is more than a quarter full of live pages. */
const INITIAL_SLOTS = 64;

/**
 * LRU lists over page indices, each an array of pages in the order they were added (oldest at
 * `lo`, newest just below `hi`), with a hole where a page was removed from the middle. They keep
 * the order and operations of doubly linked lists (LruLists) but not their pointer chase: the
 * pages reclaim takes from the tail are read from consecutive slots, so a scan does not wait for
 * each page's cold link to learn the next one, and the pages it will look at next can be fetched
 * while it works on this one. Adding a page touches nothing of its neighbours. Per page: its slot
 * and its list (5 bytes); per list four to eight times its longest length.
 */
export class LruQueues {
  private readonly pages: Int32Array[];
  /** Oldest live slot of each list (equal to hi when the list is empty). */
  private readonly lo: Int32Array;
  /** One past the newest slot of each list. */
  private readonly hi: Int32Array;
  /** Each page's slot in its list's array (valid while it is on a list). */
  private readonly at: Int32Array;
  /** Each page's list, or NOT_ON_LIST. */
  private readonly listOf: Uint8Array;
  /** Pages on each list (32-bit: a list holds fewer than 2^31 pages; adding one to it costs less than to a double). */
  readonly size: Int32Array;

  constructor(pageCount: number, listCount: number) {
    if (listCount >= NOT_ON_LIST) throw new RangeError(`LruQueues: at most ${NOT_ON_LIST - 1} lists`);
    this.pages = Array.from({ length: listCount }, () => new Int32Array(INITIAL_SLOTS));
    this.lo = new Int32Array(listCount);
    this.hi = new Int32Array(listCount);
    this.at = new Int32Array(pageCount);
    this.listOf = new Uint8Array(pageCount).fill(NOT_ON_LIST);
    this.size = new Int32Array(listCount);
  }

  /** Adds at the head (most recent end). The page must not be on any list. */
  pushHead(list: number, page: number): void {
    // Each array read once into a local: every typed-array access re-reads the array's base and
    // length, and this runs for every page read in and every page moved between lists.
    let arr = this.pages[list]!;
    let i = this.hi[list]!;
    if (i === arr.length) {
      this.makeRoom(list, 1);
      arr = this.pages[list]!;
      i = this.hi[list]!;
    }
    arr[i] = page;
    this.hi[list] = i + 1;
    this.at[page] = i;
    this.listOf[page] = list;
    this.size[list]!++;
  }

  /**
   * pushHead() of `pages[0]` .. `pages[count - 1]`, in that order (the last ends at the head). None
   * may be on a list. One pass with the list's end and the per-page arrays in locals, where a
   * reclaim scan's pushHead() per page re-read them all.
   */
  pushManyHead(list: number, pages: Int32Array, count: number): void {
    if (count <= 0) return;
    let arr = this.pages[list]!;
    let i = this.hi[list]!;
    while (i + count > arr.length) {
      this.makeRoom(list, count);
      arr = this.pages[list]!;
      i = this.hi[list]!;
    }
    const at = this.at;
    const listOf = this.listOf;
    for (let k = 0; k < count; k++) {
      const page = pages[k]!;
      arr[i] = page;
      at[page] = i++;
      listOf[page] = list;
    }
    this.hi[list] = i;
    this.size[list]! += count;
  }

  remove(page: number): void {
    const list = this.listOf[page]!;
    if (list === NOT_ON_LIST) return;
    this.listOf[page] = NOT_ON_LIST;
    this.size[list]!--;
    const arr = this.pages[list]!;
    const i = this.at[page]!;
    arr[i] = HOLE;
    // Keep both ends on live pages, so that tail() and the next push need no search.
    let lo = this.lo[list]!;
    let hi = this.hi[list]!;
    if (i === lo) while (lo < hi && arr[lo] === HOLE) lo++;
    if (i === hi - 1) while (hi > lo && arr[hi - 1] === HOLE) hi--;
    // An emptied list starts again at the bottom of its array.
    if (lo === hi) lo = hi = 0;
    this.lo[list] = lo;
    this.hi[list] = hi;
  }

  moveToHead(list: number, page: number): void {
    this.remove(page);
    this.pushHead(list, page);
  }

  /** Removes and returns the tail page, or -1 when empty. */
  popTail(list: number): number {
    let lo = this.lo[list]!;
    const hi = this.hi[list]!;
    if (lo === hi) return -1;
    // As remove(), without reading the page's slot: the tail's is `lo`.
    const arr = this.pages[list]!;
    const t = arr[lo]!;
    this.listOf[t] = NOT_ON_LIST;
    this.size[list]!--;
    lo++;
    while (lo < hi && arr[lo] === HOLE) lo++;
    if (lo === hi) {
      // Emptied: the list starts again at the bottom of its array.
      this.lo[list] = 0;
      this.hi[list] = 0;
    } else {
      this.lo[list] = lo;
    }
    return t;
  }

  /**
   * popTail() up to `n` times: the pages taken, oldest first, go to `out[0]` onwards (entries past
   * them are left as they were); returns how many (fewer than `n` when the list ran out). One pass
   * with the list's bounds in locals, where a reclaim scan's popTail() per page re-read them all;
   * into a typed array, whose stores cost the loop less than an array's.
   */
  popTailInto(list: number, n: number, out: Int32Array): number {
    if (n > out.length) throw new RangeError(`LruQueues.popTailInto: ${n} pages into ${out.length} entries`);
    const arr = this.pages[list]!;
    const listOf = this.listOf;
    let lo = this.lo[list]!;
    const hi = this.hi[list]!;
    let k = 0;
    // Slot by slot, each read once; the holes after the last page taken are passed below, so that
    // `lo` is left on a live page (remove and popTail keep it so).
    for (; k < n && lo < hi; lo++) {
      const t = arr[lo]!;
      if (t === HOLE) continue;
      listOf[t] = NOT_ON_LIST;
      out[k++] = t;
    }
    this.tookTail(list, arr, lo, hi, k);
    return k;
  }

  /**
   * `k` pages were taken from the tail of `list` (array `arr`), whose oldest slot not yet read is
   * `lo`: the holes after the last page taken are passed, so that `lo` is left on a live page, and
   * an emptied list starts again at the bottom of its array.
   */
  private tookTail(list: number, arr: Int32Array, lo: number, hi: number, k: number): void {
    while (lo < hi && arr[lo] === HOLE) lo++;
    this.size[list]! -= k;
    if (lo === hi) {
      this.lo[list] = 0;
      this.hi[list] = 0;
    } else {
      this.lo[list] = lo;
    }
  }

  /**
   * popTailInto() of list `from`, each page then pushed onto the head of list `to` in turn (as
   * pushManyHead() of the pages taken): what a scan that moves every page it takes does in one pass,
   * where the two would write each page's list twice and copy it twice. `from` and `to` differ.
   */
  moveTailToHead(from: number, to: number, n: number, out: Int32Array): number {
    if (n > out.length)
      throw new RangeError(`LruQueues.moveTailToHead: ${n} pages into ${out.length} entries`);
    if (from === to) throw new RangeError(`LruQueues.moveTailToHead: list ${from} onto itself`);
    let dst = this.pages[to]!;
    let i = this.hi[to]!;
    // Room for all `n` first (making room moves only `to`'s pages).
    while (i + n > dst.length) {
      this.makeRoom(to, n);
      dst = this.pages[to]!;
      i = this.hi[to]!;
    }
    const src = this.pages[from]!;
    const at = this.at;
    const listOf = this.listOf;
    let lo = this.lo[from]!;
    const hi = this.hi[from]!;
    let k = 0;
    for (; k < n && lo < hi; lo++) {
      const t = src[lo]!;
      if (t === HOLE) continue;
      dst[i] = t;
      at[t] = i++;
      listOf[t] = to;
      out[k++] = t;
    }
    this.tookTail(from, src, lo, hi, k);
    this.hi[to] = i;
    this.size[to]! += k;
    return k;
  }

  /** The oldest page of a list (the next reclaim candidate), or -1 when it is empty. */
  tail(list: number): number {
    const lo = this.lo[list]!;
    return lo < this.hi[list]! ? this.pages[list]![lo]! : -1;
  }

  on(page: number): number {
    return this.listOf[page]!;
  }

  /** The page after `page` on its list (towards the tail), or -1. */
  nextOf(page: number): number {
    const list = this.listOf[page]!;
    if (list === NOT_ON_LIST) return -1;
    const arr = this.pages[list]!;
    for (let i = this.at[page]! - 1; i >= this.lo[list]!; i--) if (arr[i] !== HOLE) return arr[i]!;
    return -1;
  }

  /** The page before `page` on its list (towards the head), or -1. */
  prevOf(page: number): number {
    const list = this.listOf[page]!;
    if (list === NOT_ON_LIST) return -1;
    const arr = this.pages[list]!;
    for (let i = this.at[page]! + 1; i < this.hi[list]!; i++) if (arr[i] !== HOLE) return arr[i]!;
    return -1;
  }

  /** Pages of a list from head to tail (tests and debugging only: allocates). */
  toArray(list: number): number[] {
    const out: number[] = [];
    const arr = this.pages[list]!;
    for (let i = this.hi[list]! - 1; i >= this.lo[list]!; i--) if (arr[i] !== HOLE) out.push(arr[i]!);
    return out;
  }

  /**
   * The list's array is full at the top: its live pages move down to the bottom, in order, into an
   * array twice as large when they fill more than a quarter of this one (so each page moves O(1) times
   * on average). A quarter, not half: every page a compaction moves costs a pass over the array, and
   * with half an array of room the compactions of the bench's swapping replay were 2 % of its
   * instructions; the room costs 4 bytes a slot. It also grows when compacting would leave less than
   * `need` free slots (a pushManyHead() of more pages than a quarter of the array).
   */
  private makeRoom(list: number, need: number): void {
    const old = this.pages[list]!;
    const live = this.size[list]!;
    const arr = live * 4 > old.length || live + need > old.length ? new Int32Array(old.length * 2) : old;
    let n = 0;
    for (let i = this.lo[list]!; i < this.hi[list]!; i++) {
      const p = old[i]!;
      if (p === HOLE) continue;
      arr[n] = p;
      this.at[p] = n++;
    }
    this.pages[list] = arr;
    this.lo[list] = 0;
    this.hi[list] = n;
  }
}
