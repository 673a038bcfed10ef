import { NONE, type SwapArea, type SwapSlot, SwapSlotError, SwapSpace } from '../core/index.js';

/**
 * The host's one swap device, shared by every QEMU process on the host (§5.2's guests). Linux 3.7
 * has one slot allocator per swap device, not per process or cgroup: get_swap_page() takes the
 * device from the global swap_list and scan_swap_map() hands out the slot after the device's
 * cluster_next for SWAPFILE_CLUSTER (256) allocations in a row, then looks for the next free run
 * (mm/swapfile.c; the loop itself is SwapSpace's). Whichever guest reclaim is evicting from takes
 * the next slots, so guests swapping out at the same time share clusters, and a guest's later
 * swap-ins of pages it evicted together skip over the other guests' slots and seek: the "decayed
 * swap sequentiality" of the paper's §2.3 and §3.
 *
 * Each guest's core sees the device through its own view (`viewFor`): the slot numbers are the
 * device's, the owner of a slot is a page of that guest, and a slot another guest holds has no
 * owner as far as that guest's core knows. Fullness is the device's (vm_swap_full and a full area
 * compare nr_swap_pages with total_swap_pages, host-wide).
 */
export class HostSwapArea {
  private readonly space: SwapSpace;
  /** The guest holding each used slot (stale for free slots). */
  private readonly guestOf: Uint16Array;
  /** Slots each guest holds. */
  private readonly held: Int32Array;
  private readonly views: SwapArea[] = [];

  constructor(
    readonly slotCount: number,
    readonly guests: number,
    clusterSlots = 256,
  ) {
    if (!(Number.isInteger(guests) && guests >= 1 && guests <= 0xffff))
      throw new SwapSlotError(`HostSwapArea: guests must be an integer within 1..65535, got ${guests}`);
    this.space = new SwapSpace(slotCount, clusterSlots);
    this.guestOf = new Uint16Array(slotCount);
    this.held = new Int32Array(guests);
    for (let g = 0; g < guests; g++) this.views.push(this.makeView(g));
  }

  get usedSlots(): number {
    return this.space.usedSlots;
  }

  /** The area as guest `guest`'s core sees it. */
  viewFor(guest: number): SwapArea {
    const v = this.views[guest];
    if (v === undefined) throw new SwapSlotError(`HostSwapArea: no guest ${guest} (${this.guests} guests)`);
    return v;
  }

  /** The guest holding `slot`, or NONE when it is free. */
  guestHolding(slot: number): number {
    return this.space.ownerOf(slot) === NONE ? NONE : this.guestOf[slot]!;
  }

  private makeView(g: number): SwapArea {
    const space = this.space;
    const guestOf = this.guestOf;
    const held = this.held;
    return {
      slotCount: space.slotCount,
      get usedSlots(): number {
        return space.usedSlots;
      },
      get heldSlots(): number {
        return held[g]!;
      },
      allocate(page: number): SwapSlot {
        const s = space.allocate(page);
        if (s !== NONE) {
          guestOf[s] = g;
          held[g]!++;
        }
        return s;
      },
      free(slot: SwapSlot): void {
        if (space.ownerOf(slot) === NONE)
          throw new SwapSlotError(`HostSwapArea: guest ${g} frees slot ${slot}, which is free`);
        if (guestOf[slot] !== g)
          throw new SwapSlotError(
            `HostSwapArea: guest ${g} frees slot ${slot}, which guest ${guestOf[slot]} holds`,
          );
        space.free(slot);
        held[g]!--;
      },
      ownerOf(slot: number): number {
        return guestOf[slot] === g ? space.ownerOf(slot) : NONE;
      },
    };
  }
}
