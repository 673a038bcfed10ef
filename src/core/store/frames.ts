import { SplitMix } from './split-mix.js';

/**
 * Host frames charged to the guest's memory cgroup, and the zone each one comes from. The count of
 * resident pages (state Resident, Loading or Emulating) is what the cgroup charges against the limit;
 * pages whose swap write is in flight still count until the write is done.
 */
export class Frames {
  /** Pages holding a frame. */
  resident = 0;
  /** Of them, pages whose swap write is in flight (they free their frame when it completes). */
  writeback = 0;
  /** The cgroup limit, in pages. */
  limit: number;
  /** The zone each page's frame came from (its lruvec). */
  readonly zoneOf: Uint8Array;
  private readonly zoneCdf: number[];
  private readonly rng: SplitMix;
  private allocZone = 0;
  private allocRunLeft = 0;

  constructor(
    pageCount: number,
    limitPages: number,
    private readonly zoneWeights: readonly number[],
    private readonly allocRunPagesPerGiB: number,
    seed: number,
  ) {
    this.limit = limitPages;
    this.zoneOf = new Uint8Array(pageCount);
    const total = zoneWeights.reduce((a, b) => a + b, 0);
    let acc = 0;
    this.zoneCdf = zoneWeights.map((w) => (acc += w / total));
    this.rng = new SplitMix(seed);
  }

  get zones(): number {
    return this.zoneWeights.length;
  }

  /** Frames the cgroup can still charge (negative while over a lowered limit). */
  get free(): number {
    return this.limit - this.resident;
  }

  /** Charges a frame for `page`, taken from the zone the allocator is serving. */
  charge(page: number): void {
    this.zoneOf[page] = this.pickZone();
    this.resident++;
  }

  uncharge(): void {
    this.resident--;
  }

  /**
   * The zone a new frame comes from: the current run's, or a new run in a zone drawn by size. The
   * allocator serves one zone until it falls below its low watermark and kswapd tops it up: runs of
   * the low-to-high gap, which Linux 3.7 sets in proportion to the zone's size.
   */
  private pickZone(): number {
    if (this.allocRunLeft > 0) {
      this.allocRunLeft--;
      return this.allocZone;
    }
    const u = this.rng.next();
    const cdf = this.zoneCdf;
    let z = 0;
    while (z < cdf.length - 1 && u >= cdf[z]!) z++;
    this.allocZone = z;
    this.allocRunLeft = Math.max(1, Math.round(this.allocRunPagesPerGiB * this.zoneWeights[z]!)) - 1;
    return z;
  }
}
