import { SwapSpace } from '../../core/index.js';
import { asSlot } from '../../core/index.js';

/**
 * The guest's swap partition: a range of blocks on its own virtual disk, allocated the way Linux's
 * scan_swap_map() does (the same allocator as the host's swap area), with a reference count per slot
 * because a forked child shares its parent's swapped pages.
 */
export class SwapPartition {
  private readonly space: SwapSpace;
  private readonly refs: Uint16Array;

  constructor(
    readonly startBlock: number,
    readonly slots: number,
  ) {
    this.space = new SwapSpace(slots, 256);
    this.refs = new Uint16Array(slots);
  }

  get usedSlots(): number {
    return this.space.usedSlots;
  }
  get full(): boolean {
    return this.space.usedSlots >= this.slots;
  }

  /** A free slot for `gfn`'s content, or -1 when the partition is full. */
  allocate(gfn: number): number {
    const s = this.space.allocate(gfn) as number;
    if (s >= 0) this.refs[s] = 1;
    return s;
  }

  share(slot: number): void {
    this.refs[slot]!++;
  }

  /** Drops one reference; the slot is free again when none is left. */
  release(slot: number): void {
    if (this.refs[slot] === 0) throw new Error(`guest swap: slot ${slot} released twice`);
    if (--this.refs[slot]! === 0) this.space.free(asSlot(slot));
  }

  refsOf(slot: number): number {
    return this.refs[slot]!;
  }

  blockOf(slot: number): number {
    return this.startBlock + slot;
  }
}
