import { LruLists } from '../../core/index.js';

/** What a guest frame holds. */
export const FREE = 0;
export const KERNEL = 1;
export const CACHE = 2;
export const ANON = 3;
export const BALLOON = 4;
/** Pinned user memory outside the LRU (a program's small I/O buffer). */
export const PINNED = 5;

/** The guest's LRU lists: one lruvec, as a 1-vCPU guest with one zone has. */
export const INACTIVE_FILE = 0;
export const ACTIVE_FILE = 1;
export const INACTIVE_ANON = 2;
export const ACTIVE_ANON = 3;

/** Page flags (struct page's, the ones the model needs). */
export const PG_UPTODATE = 1;
/** Under I/O (a read in flight, or being zeroed or copied before first use): waiters sleep on it. */
export const PG_LOCKED = 2;
/** The page that triggers the next asynchronous readahead when read. */
export const PG_READAHEAD = 4;
export const PG_REFERENCED = 8;
export const PG_DIRTY = 16;
export const PG_WRITEBACK = 32;

/**
 * The guest's physical frames: what each holds, its flags and LRU position, and the free pool.
 * The pool is a stack, as Linux's per-CPU free lists are: the most recently freed (cache-hot)
 * frame is handed out first.
 */
export class GuestMemory {
  readonly use: Uint8Array;
  readonly flags: Uint8Array;
  /** 1: free and reported to the host since it was last freed (PageReported, page-reporting.ts). */
  readonly reported: Uint8Array;
  readonly lru: LruLists;
  private readonly freeStack: Int32Array;
  private freeTop = 0;

  constructor(readonly pages: number) {
    this.use = new Uint8Array(pages).fill(KERNEL);
    this.flags = new Uint8Array(pages);
    this.reported = new Uint8Array(pages);
    this.lru = new LruLists(pages, 4);
    this.freeStack = new Int32Array(pages);
  }

  get freePages(): number {
    return this.freeTop;
  }

  get cachePages(): number {
    return this.lru.size[INACTIVE_FILE]! + this.lru.size[ACTIVE_FILE]!;
  }

  get anonLruPages(): number {
    return this.lru.size[INACTIVE_ANON]! + this.lru.size[ACTIVE_ANON]!;
  }

  /** Takes the most recently freed frame; -1 when none is free. */
  pop(): number {
    if (this.freeTop === 0) return -1;
    return this.freeStack[--this.freeTop]!;
  }

  /** Takes the highest-numbered free frame (compaction's free scanner works down from the top). */
  popHighest(): number {
    if (this.freeTop === 0) return -1;
    let best = 0;
    for (let i = 1; i < this.freeTop; i++) if (this.freeStack[i]! > this.freeStack[best]!) best = i;
    const g = this.freeStack[best]!;
    this.freeStack[best] = this.freeStack[--this.freeTop]!;
    return g;
  }

  /**
   * Reclaim's next candidate: the tail of the `inactive` list (-1 when it is empty), after one page
   * moved from the tail of `active`, its referenced bit cleared, while the inactive list is the
   * smaller (the balance shrink_active_list keeps).
   */
  popInactive(inactive: number, active: number): number {
    const lru = this.lru;
    if (lru.size[inactive]! < lru.size[active]!) {
      const a = lru.popTail(active);
      if (a >= 0) {
        this.flags[a]! &= ~PG_REFERENCED;
        lru.pushHead(inactive, a);
      }
    }
    return lru.popTail(inactive);
  }

  push(g: number): void {
    this.use[g] = FREE;
    this.flags[g] = 0;
    // Freed after a use: its content is new to the host, not reported yet.
    this.reported[g] = 0;
    this.freeStack[this.freeTop++] = g;
  }
}
