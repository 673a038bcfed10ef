import type { Mapper } from './mapper.js';
import type { Preventer } from './preventer.js';
import { Flag, State } from './store/page-table.js';
import type { Store } from './store/store.js';
import { NONE } from './types.js';

/** How the guest's pages are held now (the counters every figure reports beside its events). */
export interface Census {
  namedResident: number;
  anonResident: number;
  /** Pages the Mapper tracks: named (resident or not) or dropped to the image. */
  mapperTracked: number;
  swapUsed: number;
}

/**
 * Checks on the core's tables, O(pages): the page table's consistency with the counts, the swap
 * map, the LRU lists and each mechanism's own records (for tests and debugging), and the census.
 */
export class Invariants {
  constructor(
    private readonly s: Store,
    private readonly mapper: Mapper,
    private readonly preventer: Preventer,
  ) {}

  /** The problems found (empty when sound), at most about 20. */
  check(): string[] {
    const out: string[] = [];
    const { pt, swap, lru, frames } = this.s;
    const { state, flags, slot, pins } = pt;
    let resident = 0;
    let writeback = 0;
    const push = (m: string | undefined): void => {
      if (m !== undefined) out.push(m);
    };
    for (let p = 0; p < pt.pageCount && out.length < 20; p++) {
      const st = state[p]!;
      const f = flags[p]!;
      const s = slot[p]!;
      if (st === State.Resident || st === State.Loading || st === State.Emulating) resident++;
      push(this.preventer.check(p));
      if (f & Flag.Writeback) writeback++;
      if (st === State.Swapped && (s === NONE || swap.ownerOf(s) !== p))
        out.push(`page ${p}: swapped but slot ${s} is not its own`);
      if (s !== NONE && swap.ownerOf(s) !== p) out.push(`page ${p}: slot ${s} owned by ${swap.ownerOf(s)}`);
      if (st === State.Resident && f & Flag.SwapCache && s === NONE)
        out.push(`page ${p}: swap cache without a slot`);
      if (st !== State.Resident && f & Flag.Writeback) out.push(`page ${p}: writeback while not resident`);
      if (st === State.Resident && !(f & Flag.Writeback) && !lru.isListed(p))
        out.push(`page ${p}: resident but on no LRU list`);
      if (st !== State.Resident && lru.isListed(p))
        out.push(`page ${p}: on an LRU list while in state ${st}`);
      if (st !== State.Resident && st !== State.Loading && pins[p]! > 0)
        out.push(`page ${p}: pinned while absent`);
      // The bitmaps reclaim and the write path read instead of the arrays.
      if (pt.isPinned(p) !== pins[p]! > 0) out.push(`page ${p}: pinned bit disagrees with ${pins[p]} pins`);
      if (pt.isLinked(p) !== (pt.block[p] !== NONE))
        out.push(`page ${p}: linked bit disagrees with block ${pt.block[p]}`);
      push(this.mapper.check(p));
      if (
        !this.s.isVmm(p) &&
        st === State.Resident &&
        !(f & (Flag.Named | Flag.SwapCache | Flag.Dirty)) &&
        !(f & Flag.Writeback)
      ) {
        out.push(`page ${p}: resident anonymous page that is neither dirty nor in swap`);
      }
    }
    // The converse of the slot check above, which swap readahead relies on: a slot's owner holds it.
    for (let u = 0; u < swap.slotCount && out.length < 20; u++) {
      const q = swap.ownerOf(u);
      if (q !== NONE && slot[q] !== u) out.push(`slot ${u}: owned by page ${q}, whose slot is ${slot[q]}`);
    }
    if (resident !== frames.resident)
      out.push(`resident count ${frames.resident} but ${resident} pages are resident`);
    if (writeback !== frames.writeback)
      out.push(`writeback count ${frames.writeback} but ${writeback} pages are under writeback`);
    return out;
  }

  census(): Census {
    let named = 0;
    let anon = 0;
    let tracked = 0;
    const { state, flags } = this.s.pt;
    for (let p = 0; p < this.s.firstVmmPage; p++) {
      const st = state[p]!;
      const isNamed = (flags[p]! & Flag.Named) !== 0;
      if (st === State.Resident || st === State.Loading || st === State.Emulating) {
        if (isNamed) named++;
        else anon++;
      }
      if (isNamed || st === State.InImage) tracked++;
    }
    return {
      namedResident: named,
      anonResident: anon,
      mapperTracked: tracked,
      swapUsed: this.s.swap.heldSlots,
    };
  }
}
