import type { Preventer } from './preventer.js';
import { Flag, State } from './store/page-table.js';
import type { Store } from './store/store.js';
import type { SwapCache } from './swap-cache.js';
import { BalloonPinnedError } from './errors.js';

/**
 * The host's side of the virtio balloon: a page the guest gives up has no content the guest will
 * read again, so its frame (or swap slot) is freed at once, and a read in flight for it is dropped
 * when it lands. A page the balloon gives back starts empty: its first touch gets a zero-filled frame.
 */
export class Balloon {
  constructor(
    private readonly s: Store,
    private readonly swapCache: SwapCache,
    private readonly preventer: Preventer,
  ) {}

  /**
   * The guest gave page `p` to the host. Returns whether a frame (or slot) was freed now, so that
   * faults waiting for one may run; false when the page is freed only once its I/O lands.
   */
  inflate(p: number): boolean {
    const pt = this.s.pt;
    if (pt.pins[p]! > 0) throw new BalloonPinnedError(p);
    const st = pt.state[p]!;
    const counters = this.s.counters;
    if (this.preventer.cancel(p)) {
      counters.balloonFramesFreed++;
      this.swapCache.freeSlot(p);
      pt.unlinkBlock(p);
      pt.state[p] = State.Resident;
      this.s.freeFrame(p, State.Ballooned);
      pt.flags[p] = 0;
      return true;
    }
    pt.unlinkBlock(p);
    if (
      st === State.Loading ||
      st === State.Emulating ||
      (st === State.Resident && pt.flags[p]! & Flag.Writeback)
    ) {
      counters.balloonFramesFreed++;
      pt.flags[p]! |= Flag.DiscardOnLoad;
      return false;
    }
    if (st === State.Resident) {
      counters.balloonFramesFreed++;
      this.swapCache.dropSwapCopy(p);
      this.s.freeFrame(p, State.Ballooned);
    } else if (st === State.Swapped) {
      counters.balloonSlotsFreed++;
      this.swapCache.freeSlot(p);
      pt.state[p] = State.Ballooned;
    } else {
      counters.balloonNothingFreed++;
      pt.state[p] = State.Ballooned;
    }
    pt.flags[p] = 0;
    return true;
  }

  /** The balloon returned page `p` to the guest. */
  deflate(p: number): void {
    if (this.s.pt.state[p] === State.Ballooned) this.s.pt.state[p] = State.Untouched;
  }
}
