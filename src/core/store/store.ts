import type { CoreConfig } from '../config.js';
import { CoreCounters } from '../counters.js';
import { FaultTable } from './fault-table.js';
import { Frames } from './frames.js';
import { type LruListKind, Lruvecs } from './lruvec.js';
import { PageIo } from './page-io.js';
import { type StateCode, PageTable, State } from './page-table.js';
import { type SwapArea, SwapSpace } from './swap-space.js';

/**
 * The bottom of the core: every table of one guest's memory, built from its configuration, and the
 * few operations on them that every mechanism above shares. The page index space covers guest frames
 * [0, guestPages) and then the hypervisor's own file-backed pages (QEMU's code).
 */
export class Store {
  readonly pt: PageTable;
  readonly lru: Lruvecs;
  readonly swap: SwapArea;
  readonly frames: Frames;
  readonly io: PageIo;
  readonly faults: FaultTable;
  readonly counters = new CoreCounters();
  readonly firstVmmPage: number;

  /** `swapArea`: the host swap area when this guest shares one with others; by default its own. */
  constructor(
    readonly cfg: CoreConfig,
    swapArea?: SwapArea,
  ) {
    const pageCount = cfg.guestPages + cfg.vmmPages;
    this.pt = new PageTable(pageCount, cfg.imageBlocks);
    this.lru = new Lruvecs(pageCount, cfg.zoneWeights.length);
    this.swap = swapArea ?? new SwapSpace(cfg.swapSlots, cfg.swapClusterSlots);
    this.frames = new Frames(
      pageCount,
      cfg.residentLimitPages,
      cfg.zoneWeights,
      cfg.allocRunPagesPerGiB,
      cfg.seed,
    );
    this.firstVmmPage = cfg.guestPages;
    this.io = new PageIo(this.counters, this.firstVmmPage);
    this.faults = new FaultTable(pageCount);
    // The hypervisor's code starts on disk (in its executable) and is demand-paged like any file.
    for (let i = 0; i < cfg.vmmPages; i++) this.pt.state[this.firstVmmPage + i] = State.InImage;
  }

  isVmm(page: number): boolean {
    return page >= this.firstVmmPage;
  }

  /** Puts a page at the head of list `kind` of the lruvec of its frame's zone. */
  put(kind: LruListKind, p: number): void {
    this.lru.push(this.frames.zoneOf[p]!, kind, p);
  }

  move(kind: LruListKind, p: number): void {
    this.lru.remove(p);
    this.put(kind, p);
  }

  /** Frees the page's frame: off its list, uncharged, in state `next`, and the driver told. */
  freeFrame(p: number, next: StateCode): void {
    this.lru.remove(p);
    this.freeUnlisted(p, next);
  }

  /** freeFrame() of a page on no list (reclaim's, just taken from a list's tail). */
  freeUnlisted(p: number, next: StateCode): void {
    this.pt.state[p] = next;
    this.frames.uncharge();
    this.io.pushDrop(p);
  }
}
