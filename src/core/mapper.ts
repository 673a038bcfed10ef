import { LruList } from './store/lruvec.js';
import { Flag, type PageTable, State } from './store/page-table.js';
import type { Store } from './store/store.js';
import type { SwapCache } from './swap-cache.js';
import { NONE } from './types.js';

/**
 * The Swap Mapper (§4.1). A guest page filled from, or written to, a block of the guest's disk image
 * holds that block's content; the Mapper names it (Flag.Named: file-backed, on the file lists), so
 * reclaim drops it instead of writing it to swap, and a later fault reads it back from the image.
 * The name is broken when the page changes: a CPU write (the paper's copy-on-write), or a new write
 * of the block by the guest, before which every other page still holding the block's old content
 * keeps it (§4.1 "Data Consistency": resident ones become anonymous, dropped ones are read back).
 * Without the Mapper (`enabled` false) the same events make pages dirty anonymous memory, as a stock
 * host would; the block each page came from is still recorded, so silent swap writes can be counted.
 */
export class Mapper {
  readonly enabled: boolean;
  /** The page table (held directly: breakOnWrite runs on every write the host sees). */
  private readonly pt: PageTable;
  /** Tests only (test/planted-bugs.test.ts): the copy-on-write unlink left out on purpose. */
  private readonly plantedNoUnlink: boolean;

  constructor(
    private readonly s: Store,
    private readonly swapCache: SwapCache,
  ) {
    this.enabled = s.cfg.mapper;
    this.pt = s.pt;
    this.plantedNoUnlink = this.enabled && s.cfg.plantedBug === 'mapper-no-cow-unlink';
  }

  /**
   * Whether a device about to overwrite a page absent in state `st` needs its old content read
   * first (the paper's stale swap read): only without the Mapper, and only if swap holds it.
   */
  oldContentNeeded(st: number): boolean {
    return !this.enabled && st === State.Swapped;
  }

  /** The device wrote image block `block` into page `p` (a guest disk read): the page now holds it. */
  deviceFilled(p: number, block: number): void {
    const pt = this.s.pt;
    this.swapCache.dropSwapCopy(p);
    pt.linkBlock(p, block);
    if (this.enabled) {
      pt.flags[p] = (pt.flags[p]! & Flag.Writeback) | Flag.Named | Flag.Referenced;
      this.s.lru.remove(p);
      if (!(pt.flags[p] & Flag.Writeback)) this.s.put(LruList.InactiveFile, p);
    } else {
      pt.flags[p] = (pt.flags[p]! & Flag.Writeback) | Flag.Dirty | Flag.Referenced;
      if (!this.s.lru.isListed(p) && !(pt.flags[p] & Flag.Writeback)) this.s.put(LruList.InactiveAnon, p);
    }
  }

  /** The device read page `p` into image block `block` (a guest disk write): the block holds the page. */
  deviceStored(p: number, block: number): void {
    const pt = this.s.pt;
    if (this.enabled) {
      this.swapCache.dropSwapCopy(p);
      pt.linkBlock(p, block);
      pt.flags[p] = (pt.flags[p]! & (Flag.Writeback | Flag.Referenced)) | Flag.Named;
      this.s.lru.remove(p);
      if (!(pt.flags[p] & Flag.Writeback)) this.s.put(LruList.InactiveFile, p);
    } else {
      pt.linkBlock(p, block);
    }
  }

  /**
   * Block `block` is about to be overwritten from page `source`. Every other holder of its current
   * content that can keep it at once (a resident page, or any page without the Mapper) becomes
   * anonymous; returns the first holder that cannot (a dropped named page, which must be read back
   * first, or one the Preventer is emulating), or NONE when none is left.
   */
  nextHolderToPreserve(block: number, source: number): number {
    const pt = this.s.pt;
    for (const q of pt.pagesOfBlock(block)) {
      if (q === source) continue;
      const st = pt.state[q]!;
      if (st === State.Emulating) return q;
      const absentNamed = this.enabled && (pt.flags[q]! & Flag.Named) !== 0 && st !== State.Resident;
      if (absentNamed) return q;
      // Resident (or, without the Mapper, a mere record of provenance): the page keeps its content
      // and is simply no longer equal to the block.
      this.makeAnonymous(q);
    }
    return NONE;
  }

  /** Page `q` was read back from the image (a refault of a dropped named page). */
  imageArrived(q: number): void {
    this.s.pt.flags[q] = this.enabled ? Flag.Named : Flag.Dirty;
    this.s.put(this.enabled ? LruList.InactiveFile : LruList.InactiveAnon, q);
  }

  /**
   * A CPU write to present page `p` whose flags are `f`: a modified page is no longer its block's
   * content (the paper's copy-on-write). Returns the flags without the name.
   */
  breakOnWrite(p: number, f: number): number {
    if (f & Flag.Named || this.pt.isLinked(p)) {
      if (this.plantedNoUnlink) return f;
      this.s.pt.unlinkBlock(p);
      if (f & Flag.Named) {
        this.s.counters.namedCowFaults++;
        f &= ~Flag.Named;
        if (!(f & Flag.Writeback)) this.s.move(LruList.ActiveAnon, p);
      }
    }
    return f;
  }

  /** A named (or merely same-as-block) page stops being equal to its block but keeps its content. */
  makeAnonymous(q: number): void {
    const pt = this.s.pt;
    const wasNamed = (pt.flags[q]! & Flag.Named) !== 0;
    pt.unlinkBlock(q);
    if (!wasNamed) return;
    if (pt.state[q] === State.Resident) {
      pt.flags[q]! |= Flag.Dirty;
      if (!(pt.flags[q]! & Flag.Writeback)) this.s.move(LruList.ActiveAnon, q);
    }
  }

  /** What is wrong with page `p` from the Mapper's point of view (undefined when nothing). */
  check(p: number): string | undefined {
    const { state, flags } = this.s.pt;
    if (this.enabled && state[p] === State.InImage && !this.s.isVmm(p) && !(flags[p]! & Flag.Named))
      return `page ${p}: in image but not named`;
    return undefined;
  }
}
