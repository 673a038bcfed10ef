import { NOT_ON_LIST } from './lru-lists.js';
import { LruQueues } from './lru-queues.js';

/** The four lists of a Linux lruvec (mm/vmscan.c): active and inactive, anonymous and file-backed. */
// A const enum, so that tsc writes the number in at every use (see State in page-table.ts).
export const enum LruList {
  InactiveAnon = 0,
  ActiveAnon = 1,
  InactiveFile = 2,
  ActiveFile = 3,
}
export type LruListKind = LruList;
const KINDS = 4;

/**
 * The host's LRU lists, one lruvec of four lists per memory zone, as Linux keeps them per zone (3.7)
 * within a memory cgroup. Lists are named by zone and kind; how they are numbered inside is this
 * file's business alone.
 */
export class Lruvecs {
  private readonly lists: LruQueues;

  constructor(
    pageCount: number,
    readonly zones: number,
  ) {
    this.lists = new LruQueues(pageCount, KINDS * zones);
  }

  private id(zone: number, kind: LruListKind): number {
    return zone * KINDS + kind;
  }

  size(zone: number, kind: LruListKind): number {
    return this.lists.size[zone * KINDS + kind]!;
  }

  /** Pages on `kind` lists across every zone. */
  total(kind: LruListKind): number {
    const size = this.lists.size;
    let n = 0;
    for (let b: number = kind; b < size.length; b += KINDS) n += size[b]!;
    return n;
  }

  /** Adds the page at the head (most recently used end) of list `kind` of `zone`. */
  push(zone: number, kind: LruListKind, page: number): void {
    this.lists.pushHead(this.id(zone, kind), page);
  }

  /** push() of `pages[0]` .. `pages[count - 1]` in that order: the last ends at the head. */
  pushMany(zone: number, kind: LruListKind, pages: Int32Array, count: number): void {
    this.lists.pushManyHead(this.id(zone, kind), pages, count);
  }

  /**
   * Takes up to `n` pages from the tail (the next reclaim candidates) of a list, oldest first, into
   * `out` from index 0; returns how many were taken (fewer when the list ran out).
   */
  popTailInto(zone: number, kind: LruListKind, n: number, out: Int32Array): number {
    return this.lists.popTailInto(this.id(zone, kind), n, out);
  }

  /**
   * popTailInto() of list `from` of a zone, the pages taken then pushed in turn onto the head of its
   * list `to` (another kind).
   */
  moveTailToHead(zone: number, from: LruListKind, to: LruListKind, n: number, out: Int32Array): number {
    return this.lists.moveTailToHead(this.id(zone, from), this.id(zone, to), n, out);
  }

  tail(zone: number, kind: LruListKind): number {
    return this.lists.tail(this.id(zone, kind));
  }

  /** The page before `page` on its list (towards the head), or -1. */
  prev(page: number): number {
    return this.lists.prevOf(page);
  }

  remove(page: number): void {
    this.lists.remove(page);
  }

  isListed(page: number): boolean {
    return this.lists.on(page) !== NOT_ON_LIST;
  }

  /** The kind of list the page is on, or undefined when it is on none. */
  kindOf(page: number): LruListKind | undefined {
    const l = this.lists.on(page);
    return l === NOT_ON_LIST ? undefined : l % KINDS;
  }

  /** Pages of a list from head to tail (tests and debugging only: allocates). */
  toArray(zone: number, kind: LruListKind): number[] {
    return this.lists.toArray(this.id(zone, kind));
  }
}
