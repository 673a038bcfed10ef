/**
 * Intrusive doubly linked LRU lists over page indices, in typed arrays: 9 bytes per page whatever the
 * number of lists, no object per page. Head = most recently added, tail = next reclaim candidate.
 */
export const NOT_ON_LIST = 255;

export class LruLists {
  readonly next: Int32Array;
  readonly prev: Int32Array;
  /** Which list each page is on, or NOT_ON_LIST. */
  readonly listOf: Uint8Array;
  readonly head: Int32Array;
  readonly tail: Int32Array;
  readonly size: Float64Array;

  constructor(pageCount: number, listCount: number) {
    if (listCount >= NOT_ON_LIST) throw new RangeError(`LruLists: at most ${NOT_ON_LIST - 1} lists`);
    this.next = new Int32Array(pageCount).fill(-1);
    this.prev = new Int32Array(pageCount).fill(-1);
    this.listOf = new Uint8Array(pageCount).fill(NOT_ON_LIST);
    this.head = new Int32Array(listCount).fill(-1);
    this.tail = new Int32Array(listCount).fill(-1);
    this.size = new Float64Array(listCount);
  }

  /** Adds at the head (most recent end). The page must not be on any list. */
  pushHead(list: number, page: number): void {
    const h = this.head[list]!;
    this.prev[page] = -1;
    this.next[page] = h;
    if (h >= 0) this.prev[h] = page;
    else this.tail[list] = page;
    this.head[list] = page;
    this.listOf[page] = list;
    this.size[list]!++;
  }

  remove(page: number): void {
    const list = this.listOf[page]!;
    if (list === NOT_ON_LIST) return;
    const p = this.prev[page]!;
    const n = this.next[page]!;
    if (p >= 0) this.next[p] = n;
    else this.head[list] = n;
    if (n >= 0) this.prev[n] = p;
    else this.tail[list] = p;
    this.prev[page] = -1;
    this.next[page] = -1;
    this.listOf[page] = NOT_ON_LIST;
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
    return this.listOf[page]!;
  }

  /** Pages of a list from head to tail (tests and debugging only: allocates). */
  toArray(list: number): number[] {
    const out: number[] = [];
    for (let p = this.head[list]!; p >= 0; p = this.next[p]!) out.push(p);
    return out;
  }
}
