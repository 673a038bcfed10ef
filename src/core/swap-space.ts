import { NONE, type SwapSlot, asSlot } from './types.js';

/**
 * The host swap area's slot allocator, shaped like Linux's scan_swap_map(): a run of allocations
 * takes consecutive slots from the current cluster; when the cluster is used up the allocator looks,
 * from the lowest free slot upwards, for a wholly free aligned cluster of `clusterSlots`; when none
 * is left it takes the next free slot after the previous allocation, wherever it is. Slots freed at
 * random (pages faulted back in and dirtied) therefore fragment the area over time: the mechanism
 * behind the paper's "decayed swap sequentiality".
 */
export class SwapSpace {
  readonly slotCount: number;
  readonly clusterSlots: number;
  /** Page index holding each slot, or NONE when the slot is free. */
  readonly owner: Int32Array;
  /** Free slots per aligned cluster, so the search for a free cluster skips full ones cheaply. */
  private readonly clusterFree: Int32Array;
  private clusterNext = 0;
  private clusterLeft = 0;
  private used = 0;
  /** Lowest slot that may be free: the search for free clusters starts here, as Linux's lowest_bit. */
  private lowestFree = 0;

  constructor(slotCount: number, clusterSlots = 256) {
    if (!Number.isInteger(slotCount) || slotCount <= 0)
      throw new RangeError(`SwapSpace: bad slot count ${slotCount}`);
    if (!Number.isInteger(clusterSlots) || clusterSlots <= 0)
      throw new RangeError(`SwapSpace: bad cluster size ${clusterSlots}`);
    this.slotCount = slotCount;
    this.clusterSlots = clusterSlots;
    this.owner = new Int32Array(slotCount).fill(NONE);
    const clusters = Math.ceil(slotCount / clusterSlots);
    this.clusterFree = new Int32Array(clusters);
    for (let c = 0; c < clusters; c++)
      this.clusterFree[c] = Math.min(clusterSlots, slotCount - c * clusterSlots);
  }

  get usedSlots(): number {
    return this.used;
  }

  /** Allocates a slot for `page`, or returns NONE when the area is full. */
  allocate(page: number): SwapSlot {
    if (this.used >= this.slotCount) return asSlot(NONE);
    let slot = -1;
    if (this.clusterLeft > 0) {
      slot = this.scanFrom(this.clusterNext);
      this.clusterLeft--;
    } else {
      const c = this.findFreeCluster();
      if (c >= 0) {
        slot = c * this.clusterSlots;
        this.clusterLeft = this.clusterSlots - 1;
      } else {
        slot = this.scanFrom(this.clusterNext);
        this.clusterLeft = this.clusterSlots - 1;
      }
    }
    this.owner[slot] = page;
    this.clusterFree[Math.floor(slot / this.clusterSlots)]!--;
    this.used++;
    this.clusterNext = slot + 1 >= this.slotCount ? 0 : slot + 1;
    if (slot === this.lowestFree) this.advanceLowest();
    return asSlot(slot);
  }

  free(slot: SwapSlot): void {
    if (this.owner[slot] === NONE) throw new Error(`SwapSpace: double free of slot ${slot}`);
    this.owner[slot] = NONE;
    this.clusterFree[Math.floor(slot / this.clusterSlots)]!++;
    this.used--;
    if (slot < this.lowestFree) this.lowestFree = slot;
  }

  /** The page holding a slot, or NONE when it is free. */
  ownerOf(slot: SwapSlot): number {
    return this.owner[slot]!;
  }

  private advanceLowest(): void {
    while (this.lowestFree < this.slotCount && this.owner[this.lowestFree] !== NONE) this.lowestFree++;
  }

  /** First free slot at or after `from`, wrapping to the lowest free slot. The area is not full. */
  private scanFrom(from: number): number {
    for (let s = from; s < this.slotCount; s++) if (this.owner[s] === NONE) return s;
    for (let s = this.lowestFree; s < from; s++) if (this.owner[s] === NONE) return s;
    throw new Error('SwapSpace: no free slot although the area is not full');
  }

  private findFreeCluster(): number {
    const clusters = this.clusterFree.length;
    for (let c = Math.floor(this.lowestFree / this.clusterSlots); c < clusters; c++) {
      const size = Math.min(this.clusterSlots, this.slotCount - c * this.clusterSlots);
      if (size === this.clusterSlots && this.clusterFree[c] === size) return c;
    }
    return -1;
  }
}
