import type { ControlBackend } from '../../src/pager/control/protocol.js';

/** A pager's control surface without a pager: a resident set that follows the limit at once. */
export class FakeControlBackend implements ControlBackend {
  readonly memoryPages: number;
  readonly floorPages: number;
  limit: number;
  resident: number;
  counters: Record<string, number> = { swapReadOps: 7, staleSwapReads: 3, uffdFaultsGuest: 11 };
  failStats = false;

  constructor(memoryPages = 1024, floorPages = 16) {
    this.memoryPages = memoryPages;
    this.floorPages = floorPages;
    this.limit = memoryPages;
    this.resident = memoryPages / 2;
  }

  status(): Record<string, unknown> {
    return { running: true, attached: true, mapper: true };
  }
  stats(): Record<string, number> {
    if (this.failStats) throw new Error('the pager is gone');
    return { ...this.counters, residentPages: this.resident, residentLimitPages: this.limit };
  }
  page(gfn: number): Record<string, unknown> {
    return { state: gfn % 2 === 0 ? 'resident' : 'swapped', slot: gfn % 2 === 0 ? -1 : gfn, block: -1 };
  }
  limitPages(): number {
    return this.limit;
  }
  setLimit(pages: number): number {
    this.limit = pages;
    this.resident = Math.min(this.resident, pages);
    return this.resident;
  }
}
