import type { Gfn, MemoryCore } from '../core/index.js';
import type { GuestRam } from './guest-ram.js';
import { type Mapping, PAGE, anonymous, memcpy, munmap } from './sys.js';
import type { Uffd } from './uffd.js';

/**
 * Access sampling for reclaim: which resident pages has the guest used lately? Linux asks the page
 * tables (the young bit) of the pages it is about to reclaim; an external pager cannot read QEMU's
 * young bits (this kernel has no idle page tracking, and pagemap does not expose them), so it takes
 * the page away and watches for the fault, as KVM does on hardware without accessed bits.
 *
 * The pages about to be reclaimed are the ones at the tails of the core's inactive lists. Each tick
 * "arms" up to `depth` of them per list: write-protect (so a write racing the copy waits), copy the
 * page into a slot of our own buffer, punch it out of the memfd. For the core the page stays
 * resident; its content is now in the slot. When QEMU touches an armed page it faults; the pager
 * puts the page back from the slot (UFFDIO_COPY), and the core hears of the access (the young bit
 * it reads at its next scan). When the core evicts an armed page, the slot is the content.
 *
 * Cost (measured per run in the pager's counters): per armed page one write-protect ioctl, a 4 KiB
 * copy and a hole punch; per armed page the guest then touches, one fault round trip through this
 * process and a copy back. Pages not touched before they are evicted cost nothing more: their
 * eviction is already done, except for writing a dirty one to swap. Memory: the slots hold content
 * the memfd no longer does, so armed pages count once either way.
 */
export class AccessSampler {
  private readonly slots: Mapping;
  private readonly free: number[] = [];
  /** Slot of each armed page (-1 when not armed). */
  private readonly slotOf: Int32Array;
  readonly stats = { armed: 0, hits: 0, evictedArmed: 0 };

  constructor(
    private readonly core: MemoryCore,
    private readonly ram: GuestRam,
    private readonly uffd: Uffd,
    readonly capacity: number,
    readonly depth: number,
    private readonly protect: (page: number) => void,
  ) {
    this.slots = anonymous(capacity * PAGE);
    for (let i = capacity - 1; i >= 0; i--) this.free.push(i);
    this.slotOf = new Int32Array(ram.pages).fill(-1);
  }

  isArmed(page: number): boolean {
    return this.slotOf[page]! >= 0;
  }

  get armedPages(): number {
    return this.capacity - this.free.length;
  }

  /** Our address of an armed page's content (valid until it is restored or discarded). */
  slotAddr(page: number): number {
    return this.slots.addr + this.slotOf[page]! * PAGE;
  }

  /** Arms unreferenced pages at the tail of every inactive list, up to `depth` per list. */
  tick(): void {
    if (this.free.length === 0) return;
    this.core.forEachReclaimCandidate(this.depth, (p) => {
      if (this.slotOf[p]! < 0) this.arm(p);
      return this.free.length > 0;
    });
  }

  private arm(page: Gfn): void {
    const slot = this.free.pop()!;
    // Frozen before the copy: a guest write from now on waits in its fault, and finds the slot.
    this.protect(page);
    memcpy(this.slots.addr + slot * PAGE, this.ram.ourAddr(page), PAGE);
    this.ram.punch(page);
    this.slotOf[page] = slot;
    this.stats.armed++;
  }

  /**
   * Puts an armed page back into QEMU's memory (write-protected unless the core considers it
   * dirty). Before the guest, or the back end through our mapping, may use it again.
   */
  restore(page: Gfn, hit: boolean): void {
    const slot = this.slotOf[page]!;
    if (slot < 0) return;
    const wp = !this.core.isDirty(page);
    this.uffd.copy(this.ram.qemuAddr(page), this.slots.addr + slot * PAGE, PAGE, wp);
    this.release(page, slot);
    if (hit) this.stats.hits++;
  }

  /** The page is evicted (or overwritten whole): its slot is no longer needed. */
  discard(page: number): void {
    const slot = this.slotOf[page]!;
    if (slot < 0) return;
    this.release(page, slot);
    this.stats.evictedArmed++;
  }

  private release(page: number, slot: number): void {
    this.slotOf[page] = -1;
    this.free.push(slot);
  }

  /** Copies an armed page's content to `dst` (our memory). */
  copyOut(page: number, dst: number): void {
    memcpy(dst, this.slotAddr(page), PAGE);
  }

  close(): void {
    munmap(this.slots);
  }
}
