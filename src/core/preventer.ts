import { guestPageAction, timerAction } from './actions.js';
import { EmulatedPage } from './emulated-page.js';
import { MissingBlockError } from './errors.js';
import type { Reclaim, Shrinker } from './reclaim.js';
import { LruList } from './store/lruvec.js';
import { Flag, State } from './store/page-table.js';
import type { Store } from './store/store.js';
import type { SwapCache } from './swap-cache.js';
import { type Gfn, NONE } from './types.js';

/** What became of a guest write to an absent page offered to the Preventer. */
export const Emulation = {
  /** Not taken (the Preventer is off, the page is not absent, or 32 pages are emulated): fault. */
  Refused: 0,
  /** Buffered: the guest goes on without waiting for the page. */
  Buffered: 1,
  /** Buffered, and the page is now written whole: the buffer became the page, nothing was read. */
  Remapped: 2,
} as const;
export type EmulationOutcome = (typeof Emulation)[keyof typeof Emulation];

/**
 * The False Reads Preventer (§4.2). A guest write to a page the host swapped out (or the Mapper
 * dropped) is emulated into a buffer of its own instead of faulting the old content in; reads of
 * buffered bytes are served from it. The emulation ends in a remap when the page has been written
 * whole (nothing read: the false read prevented), and otherwise in a read of the old content merged
 * under the buffer: 1 ms after the first write, at a write that does not continue the sequence, a
 * read of unwritten bytes, a device access, or memory pressure. At most 32 pages at once. A
 * whole-page overwrite of an absent page (the paper's REP string case) is remapped at once.
 */
export class Preventer implements Shrinker {
  private readonly emu = new Map<number, EmulatedPage>();

  constructor(
    private readonly s: Store,
    private readonly reclaim: Reclaim,
    private readonly swapCache: SwapCache,
  ) {
    reclaim.register(this);
  }

  /** Pages emulated now. */
  get active(): number {
    return this.emu.size;
  }

  isEmulating(p: number): boolean {
    return this.emu.has(p);
  }

  /** Whether every chunk in [first, first + chunks) of page `p` is in its buffer. */
  covers(p: number, first: number, chunks: number): boolean {
    return this.emu.get(p)?.covers(first, chunks) ?? false;
  }

  /** A guest write of chunks [first, first + chunks) to page `p`, which is not resident. */
  write(p: number, first: number, chunks: number): EmulationOutcome {
    const { pt, cfg } = this.s;
    let e = this.emu.get(p);
    if (e) {
      // Emulation stops at the first write that does not continue the sequence (§4.2).
      if (!e.terminating && first !== e.next) this.fallBack(p, e);
      e.record(first, chunks);
      if (!e.terminating && e.full) return this.finishRemap(p);
      return Emulation.Buffered;
    }
    const st = pt.state[p]!;
    const absent = st === State.Swapped || st === State.InImage;
    if (!cfg.preventer || !absent || this.s.isVmm(p)) return Emulation.Refused;
    if (this.emu.size >= cfg.preventerMaxPages) {
      this.s.counters.preventerRefused++;
      return Emulation.Refused;
    }
    if (this.reclaim.takeFrames(1) === 0 || pt.state[p] !== st) return Emulation.Refused;
    e = new EmulatedPage(first);
    this.emu.set(p, e);
    pt.state[p] = State.Emulating;
    pt.flags[p]! &= ~Flag.Named;
    this.s.frames.charge(p);
    this.s.counters.preventerEmulatedPages++;
    this.s.io.push(timerAction(p as Gfn, cfg.preventerTimeoutNs));
    e.record(first, chunks);
    if (e.full) return this.finishRemap(p);
    return Emulation.Buffered;
  }

  /**
   * The Preventer's remap of an absent page the guest overwrites whole: its old content is not
   * needed, so a fresh frame takes its place and nothing is read. False when no frame is free.
   */
  remapAbsent(p: number): boolean {
    const pt = this.s.pt;
    if (!this.reclaim.takeFrames(1)) return false;
    if (pt.state[p] === State.Swapped) this.swapCache.freeSlot(p);
    pt.unlinkBlock(p);
    pt.state[p] = State.Resident;
    pt.flags[p] = Flag.Dirty;
    this.s.frames.charge(p);
    this.s.put(LruList.ActiveAnon, p);
    this.s.counters.preventerRemaps++;
    this.s.io.push(guestPageAction('zero', p as Gfn));
    return true;
  }

  /**
   * Something supersedes all the guest wrote to page `p` (a whole-page overwrite, a device, the
   * balloon): the buffer is dropped. False when `p` is not emulated, or its merge has begun.
   */
  cancel(p: number): boolean {
    const e = this.emu.get(p);
    if (!e || e.terminating) return false;
    this.emu.delete(p);
    this.s.io.push(guestPageAction('discardBuffer', p as Gfn));
    return true;
  }

  /** An emulated page (its frame already counted) becomes an ordinary resident page, old content gone. */
  becomeResident(p: number): void {
    const pt = this.s.pt;
    this.swapCache.freeSlot(p);
    pt.unlinkBlock(p);
    pt.state[p] = State.Resident;
    pt.flags[p] = Flag.Dirty | Flag.Referenced;
    this.s.put(LruList.ActiveAnon, p);
    this.s.counters.preventerRemaps++;
  }

  /** Ends the emulation of page `p` in a merge (the emulation deadline, or an access it cannot serve). */
  fallBackIfActive(p: number): void {
    const e = this.emu.get(p);
    if (e && !e.terminating) this.fallBack(p, e);
  }

  /** Under memory pressure every emulation ends in a merge, after which those pages are evictable. */
  shrink(): boolean {
    if (this.emu.size === 0) return false;
    for (const [p, e] of this.emu) if (!e.terminating) this.fallBack(p, e);
    return true;
  }

  /**
   * The old content of page `p` arrived for its merge (the driver merged the buffer into it). False
   * when `p` was not being merged. The page is the guest's now, or the balloon's if it took it since.
   */
  mergeArrived(p: number): boolean {
    // Small enough to be inlined where every page read comes back; the merge itself is rare.
    return this.emu.size !== 0 && this.emu.has(p) && this.merged(p);
  }

  /** mergeArrived() of a page that was being merged. */
  private merged(p: number): true {
    const pt = this.s.pt;
    this.emu.delete(p);
    if (pt.flags[p]! & Flag.DiscardOnLoad) {
      pt.flags[p] = 0;
      this.swapCache.freeSlot(p);
      this.s.frames.uncharge();
      pt.state[p] = State.Ballooned;
      this.s.io.push(guestPageAction('discardBuffer', p as Gfn));
      this.s.io.pushDrop(p);
    } else {
      this.swapCache.freeSlot(p);
      pt.unlinkBlock(p);
      pt.state[p] = State.Resident;
      pt.flags[p] = Flag.Dirty | Flag.Referenced;
      this.s.put(LruList.ActiveAnon, p);
    }
    return true;
  }

  /** What is wrong with page `p` from the Preventer's point of view (undefined when nothing). */
  check(p: number): string | undefined {
    const st = this.s.pt.state[p]!;
    if ((st === State.Emulating) !== this.emu.has(p))
      return `page ${p}: state ${st} but emulation record ${this.emu.has(p)}`;
    return undefined;
  }

  /** Every byte of the emulated page was written: the buffer becomes the page, nothing is read. */
  private finishRemap(p: number): EmulationOutcome {
    this.emu.delete(p);
    this.s.io.push(guestPageAction('remap', p as Gfn));
    this.becomeResident(p);
    return Emulation.Remapped;
  }

  /** Emulation gives up: read the old content (swap slot or image block) to merge with the buffer. */
  private fallBack(p: number, e: EmulatedPage): void {
    e.terminating = true;
    this.s.counters.preventerFallbacks++;
    const pt = this.s.pt;
    let slot = pt.slot[p]!;
    // tests only: merge with the neighbouring slot's content instead of the page's own.
    if (this.s.cfg.plantedBug === 'preventer-merge-wrong-slot' && slot !== NONE)
      slot = slot + 1 < this.s.cfg.swapSlots ? slot + 1 : slot - 1;
    const unit = slot !== NONE ? slot : pt.block[p]!;
    if (unit === NONE) throw new MissingBlockError(p, 'is emulated but has no old content to merge with');
    this.s.io.emitRead(slot !== NONE ? 'swap' : 'image', [p], [unit]);
  }
}
