import { SwapSlotError } from '../errors.js';
import { NONE as NONE_BINDING, type SwapSlot } from '../types.js';
import { newBitmap, setBit as setBitBinding } from './bitmap.js';

/** A module constant, which the compiler writes in (see NOT_ON_LIST in lru-queues.ts). */
const setBit = setBitBinding;

/** NONE as a constant of this module, which the compiler writes in (see NOT_ON_LIST in store/lru-queues.ts). */
const NONE = NONE_BINDING;

/**
 * What the core needs of the host's swap area: slots to allocate and free for its pages, which of
 * its pages holds a slot, and how full the area is. A guest alone has a SwapSpace of its own; guests
 * sharing one host swap device see it through a view of the one allocator (the simulator's
 * host-swap-area.ts), where a slot another guest holds has no owner as far as this core knows.
 */
export interface SwapArea {
  readonly slotCount: number;
  /** Slots in use in the whole area (vm_swap_full and a full area are the device's, not a guest's). */
  readonly usedSlots: number;
  /** Slots this address space holds (its share of usedSlots). */
  readonly heldSlots: number;
  /** A slot for `page`, or NONE when the area is full. */
  allocate(page: number): SwapSlot;
  free(slot: SwapSlot): void;
  /** The page of this address space holding `slot`, or NONE when it is free or another's. */
  ownerOf(slot: number): number;
}

/**
 * The host swap area's slot allocator, as Linux 3.7's scan_swap_map() does it on a rotating disk:
 * a run of allocations takes the next free slots after the previous one (cluster_next) for
 * `clusterSlots` allocations; then it looks, from the lowest free slot upwards, for `clusterSlots`
 * consecutive free slots (any alignment) and continues there; when there is no such run it takes
 * the first free slot from the bottom of the area and goes on upwards from it, filling holes.
 * Slots freed where pages were faulted back in therefore decide where later evictions land.
 */
export class SwapSpace implements SwapArea {
  readonly slotCount: number;
  readonly clusterSlots: number;
  /** Page index holding each slot, or NONE when the slot is free. */
  readonly owner: Int32Array;
  /**
   * One bit per slot, set while the slot is used (owner not NONE): the search for a free slot
   * reads 32 slots per word instead of one owner entry each.
   */
  private readonly usedBits: Int32Array;
  /** Free slots per aligned block of `clusterSlots`, so scans skip full blocks cheaply. */
  private readonly blockFree: Int32Array;
  /**
   * Per aligned block, how many slots at its end (freeTail) and at its start (freeHead) are free in a
   * row, kept as slots come and go: a free run across two blocks is a tail and the next head, so the
   * search for one reads two numbers per block instead of walking slots.
   */
  private readonly freeTail: Int32Array;
  private readonly freeHead: Int32Array;
  /**
   * One bit per aligned block, set when a run of `clusterSlots` free slots starts in it (its free
   * tail, with the next block's free head when the tail is shorter), kept as the two counts change:
   * the search for the lowest run reads 32 blocks per word. Without it the search read every block
   * from the lowest free slot up, and with the lower part of the area fragmented by swap-ins that
   * was about a thousand blocks per search (3 % of the bench's swapping path).
   */
  private readonly runStarts: Int32Array;
  /** Where the next allocation looks first (Linux's cluster_next). */
  private clusterNext = 0;
  /** Allocations left before the next search for a free run (Linux's cluster_nr). */
  private clusterLeft = 0;
  private used = 0;
  /** The lowest free slot (Linux's lowest_bit; exact here). */
  private lowestFree = 0;

  constructor(slotCount: number, clusterSlots = 256) {
    if (!Number.isInteger(slotCount) || slotCount <= 0)
      throw new SwapSlotError(`SwapSpace: bad slot count ${slotCount}`);
    if (!Number.isInteger(clusterSlots) || clusterSlots <= 0)
      throw new SwapSlotError(`SwapSpace: bad cluster size ${clusterSlots}`);
    this.slotCount = slotCount;
    this.clusterSlots = clusterSlots;
    this.owner = new Int32Array(slotCount).fill(NONE);
    this.usedBits = newBitmap(slotCount);
    const blocks = Math.ceil(slotCount / clusterSlots);
    this.blockFree = new Int32Array(blocks);
    for (let b = 0; b < blocks; b++) this.blockFree[b] = Math.min(clusterSlots, slotCount - b * clusterSlots);
    this.freeTail = this.blockFree.slice();
    this.freeHead = this.blockFree.slice();
    this.runStarts = newBitmap(blocks);
    for (let b = 0; b < blocks; b++) this.updateRunStart(b);
  }

  get usedSlots(): number {
    return this.used;
  }

  /** A SwapSpace serves one address space: it holds every used slot. */
  get heldSlots(): number {
    return this.used;
  }

  /** Allocates a slot for `page`, or returns NONE when the area is full. */
  allocate(page: number): SwapSlot {
    if (this.used >= this.slotCount) return NONE as SwapSlot;
    let from = this.clusterNext;
    if (this.clusterLeft === 0) {
      this.clusterLeft = this.clusterSlots;
      if (this.slotCount - this.used >= this.clusterSlots) {
        // No free run: scan_swap_map restarts from lowest_bit (rotational devices) and fills holes.
        const run = this.findFreeRun();
        from = run !== NONE ? run : this.lowestFree;
      }
    }
    this.clusterLeft--;
    const slot = this.firstFreeFrom(from);
    this.owner[slot] = page;
    setBit(this.usedBits, slot, true);
    this.taken(slot);
    this.used++;
    this.clusterNext = slot + 1 >= this.slotCount ? this.lowestFree : slot + 1;
    if (slot === this.lowestFree) this.advanceLowest();
    // A cast, not asSlot(): an imported function costs optimized code a cell read and checks per call.
    return slot as SwapSlot;
  }

  free(slot: SwapSlot): void {
    if (this.owner[slot] === NONE) throw new SwapSlotError(`SwapSpace: double free of slot ${slot}`);
    this.owner[slot] = NONE;
    setBit(this.usedBits, slot, false);
    this.released(slot);
    this.used--;
    if (slot < this.lowestFree) this.lowestFree = slot;
  }

  /** The page holding a slot, or NONE when it is free. */
  ownerOf(slot: number): number {
    return this.owner[slot]!;
  }

  // Block numbers are (slot / k) | 0, not Math.floor(slot / k): slots are whole numbers under 2^31,
  // where the two agree, and the optimizing compiler divides the integers instead of going through
  // a double division and a rounding (a tenth of an allocation's instructions).

  /** Slot `slot` was just taken: its block's counts shrink around it. */
  private taken(slot: number): void {
    const k = this.clusterSlots;
    const b = (slot / k) | 0;
    const blockStart = b * k;
    const blockEnd = blockStart + k < this.slotCount ? blockStart + k : this.slotCount;
    this.blockFree[b]!--;
    if (slot >= blockEnd - this.freeTail[b]!) {
      this.freeTail[b] = blockEnd - slot - 1;
      this.updateRunStart(b);
    }
    if (slot < blockStart + this.freeHead[b]!) {
      this.freeHead[b] = slot - blockStart;
      // The head of a block completes a run that starts in the block before it.
      if (b > 0) this.updateRunStart(b - 1);
    }
  }

  /** Slot `slot` was just freed: a free run at either end of its block may now reach further. */
  private released(slot: number): void {
    const owner = this.owner;
    const k = this.clusterSlots;
    const b = (slot / k) | 0;
    const blockStart = b * k;
    const blockEnd = blockStart + k < this.slotCount ? blockStart + k : this.slotCount;
    this.blockFree[b]!++;
    if (slot === blockEnd - this.freeTail[b]! - 1) {
      let s = slot;
      while (s > blockStart && owner[s - 1] === NONE) s--;
      this.freeTail[b] = blockEnd - s;
      this.updateRunStart(b);
    }
    if (slot === blockStart + this.freeHead[b]!) {
      let s = slot + 1;
      while (s < blockEnd && owner[s] === NONE) s++;
      this.freeHead[b] = s - blockStart;
      if (b > 0) this.updateRunStart(b - 1);
    }
  }

  /**
   * Whether a run of `clusterSlots` free slots starts in block `b`, from its free tail and the next
   * block's free head, into runStarts. A run that would pass the end of the area does not count:
   * the blocks after `b` hold fewer than `clusterSlots` slots then, so no later block has one either.
   */
  private updateRunStart(b: number): void {
    const k = this.clusterSlots;
    const tail = this.freeTail[b]!;
    let run = tail === k;
    if (!run && tail > 0) {
      const need = k - tail;
      // Integers compared, not Math.min(): the optimizing compiler takes Math.min's operands as
      // doubles (converted and compared as such, about 15 instructions per taken slot).
      const end = b * k + k;
      const blockEnd = end < this.slotCount ? end : this.slotCount;
      run = blockEnd + need <= this.slotCount && this.freeHead[b + 1]! >= need;
    }
    setBit(this.runStarts, b, run);
  }

  private advanceLowest(): void {
    const s = this.firstFreeAtOrAfter(this.lowestFree);
    this.lowestFree = s === NONE ? this.slotCount : s;
  }

  /** First free slot at or after `from`, wrapping to the lowest free slot. The area is not full. */
  private firstFreeFrom(from: number): number {
    let free = this.firstFreeAtOrAfter(from);
    if (free === NONE) free = this.firstFreeIn(this.lowestFree, from);
    if (free !== NONE) return free;
    throw new SwapSlotError('SwapSpace: no free slot although the area is not full');
  }

  /** First free slot at or after `from`, or NONE. */
  private firstFreeAtOrAfter(from: number): number {
    const k = this.clusterSlots;
    const n = this.slotCount;
    // Block by block (one division per block, not per slot): full blocks are skipped whole.
    for (let b = (from / k) | 0, s = from; s < n; b++, s = b * k) {
      if (this.blockFree[b] === 0) continue;
      const free = this.firstFreeIn(s, (b + 1) * k < n ? (b + 1) * k : n);
      if (free !== NONE) return free;
    }
    return NONE;
  }

  /** The first free slot in [from, end), or NONE, read from the bitmap a word at a time. */
  private firstFreeIn(from: number, end: number): number {
    const used = this.usedBits;
    for (let s = from; s < end;) {
      const w = s >>> 5;
      // The free slots of this word at or above s.
      const free = ~used[w]! & (-1 << (s & 31));
      if (free !== 0) {
        const slot = (w << 5) + 31 - Math.clz32(free & -free);
        return slot < end ? slot : NONE;
      }
      s = (w + 1) << 5;
    }
    return NONE;
  }

  /**
   * Start of the lowest run of `clusterSlots` free slots, at any alignment, or NONE. Such a run is
   * a wholly free aligned block, or the free tail of one block and the free head of the next (3.7
   * walked every slot): the lowest block at or above the lowest free slot's with its runStarts bit
   * set holds its start.
   */
  private findFreeRun(): number {
    const k = this.clusterSlots;
    const bits = this.runStarts;
    const first = (this.lowestFree / k) | 0;
    for (let w = first >>> 5; w < bits.length; w++) {
      // The run starts of this word at or above `first`.
      const starts = w === first >>> 5 ? bits[w]! & (-1 << (first & 31)) : bits[w]!;
      if (starts === 0) continue;
      const b = (w << 5) + 31 - Math.clz32(starts & -starts);
      const tail = this.freeTail[b]!;
      return tail === k ? b * k : Math.min(this.slotCount, b * k + k) - tail;
    }
    return NONE;
  }
}
