/**
 * Intrusive doubly linked LRU lists over page indices, in one typed array: a page's next, previous
 * and list sit side by side (16 bytes per page whatever the number of lists, no object per page), so
 * unlinking a cold page costs one cache line for it and one for each neighbour instead of one per
 * field. Head = most recently added, tail = next reclaim candidate.
 */
export const NOT_ON_LIST = 255;

/** Int32 slots per page in `link`: next, prev, list, and one unused (a power of two keeps lines whole). */
const STRIDE = 4;
const NEXT = 0;
const PREV = 1;
const LIST = 2;

export class LruLists {
  /** Per page: [next, prev, list (or NOT_ON_LIST), unused]. */
  private readonly link: Int32Array;
  readonly head: Int32Array;
  readonly tail: Int32Array;
  readonly size: Float64Array;

  constructor(pageCount: number, listCount: number) {
    if (listCount >= NOT_ON_LIST) throw new RangeError(`LruLists: at most ${NOT_ON_LIST - 1} lists`);
    this.link = new Int32Array(pageCount * STRIDE).fill(-1);
    for (let p = 0; p < pageCount; p++) this.link[p * STRIDE + LIST] = NOT_ON_LIST;
    this.head = new Int32Array(listCount).fill(-1);
    this.tail = new Int32Array(listCount).fill(-1);
    this.size = new Float64Array(listCount);
  }

  /** Adds at the head (most recent end). The page must not be on any list. */
  pushHead(list: number, page: number): void {
    const link = this.link;
    const h = this.head[list]!;
    const at = page * STRIDE;
    link[at + PREV] = -1;
    link[at + NEXT] = h;
    link[at + LIST] = list;
    if (h >= 0) link[h * STRIDE + PREV] = page;
    else this.tail[list] = page;
    this.head[list] = page;
    this.size[list]!++;
  }

  remove(page: number): void {
    const link = this.link;
    const at = page * STRIDE;
    const list = link[at + LIST]!;
    if (list === NOT_ON_LIST) return;
    const p = link[at + PREV]!;
    const n = link[at + NEXT]!;
    if (p >= 0) link[p * STRIDE + NEXT] = n;
    else this.head[list] = n;
    if (n >= 0) link[n * STRIDE + PREV] = p;
    else this.tail[list] = p;
    link[at + PREV] = -1;
    link[at + NEXT] = -1;
    link[at + LIST] = NOT_ON_LIST;
    this.size[list]!--;
  }

  moveToHead(list: number, page: number): void {
    this.remove(page);
    this.pushHead(list, page);
  }

  /** Removes and returns the tail page, or -1 when empty. */
  popTail(list: number): number {
    const t = this.tail[list]!;
    if (t >= 0) this.remove(t);
    return t;
  }

  on(page: number): number {
    return this.link[page * STRIDE + LIST]!;
  }

  /** The page after `page` on its list (towards the tail), or -1. */
  nextOf(page: number): number {
    return this.link[page * STRIDE + NEXT]!;
  }

  /** The page before `page` on its list (towards the head), or -1. */
  prevOf(page: number): number {
    return this.link[page * STRIDE + PREV]!;
  }

  /** Pages of a list from head to tail (tests and debugging only: allocates). */
  toArray(list: number): number[] {
    const out: number[] = [];
    for (let p = this.head[list]!; p >= 0; p = this.nextOf(p)) out.push(p);
    return out;
  }
}
