import type { EventQueue } from '../event-queue.js';
import type { DiskModel } from './model.js';

/** What a request is for, so counters can split image and swap traffic. */
export type Stream = 'image' | 'swap' | 'vmm';
export const STREAMS: readonly Stream[] = ['image', 'swap', 'vmm'];

export interface StreamStats {
  readOps: number;
  writeOps: number;
  readSectors: number;
  writeSectors: number;
}

interface Pending {
  op: 'read' | 'write';
  stream: Stream;
  sector: number;
  sectors: number;
  submitNs: number;
  dones: (() => void)[];
}

export interface QueueParams {
  /** Largest request after merging (Linux max_sectors_kb = 512). */
  maxRequestSectors: number;
  /** A write that waited this long is served before reads (the deadline scheduler's write_expire). */
  writeExpireNs: number;
  /** Requests dispatched in one direction before the scheduler reconsiders (fifo_batch). */
  fifoBatch: number;
  /** Read batches that may pass waiting writes before a write batch must go (writes_starved). */
  writesStarved: number;
}

const SECTOR_BUCKETS = 4096;
/** Sectors are whole numbers below 2^53; `& BUCKET_MASK` keeps their low bits. */
const BUCKET_MASK = SECTOR_BUCKETS - 1;

/** Linux's deadline I/O scheduler defaults. */
export const DEFAULT_QUEUE: QueueParams = {
  maxRequestSectors: 1024,
  writeExpireNs: 5e9,
  fifoBatch: 16,
  writesStarved: 2,
};

/**
 * The host block layer in front of one device: adjacent requests merge (front and back), reads go
 * before writes unless a write has expired, and within a direction the elevator sweeps upwards from
 * the head (C-LOOK). Operations and sectors are counted here, as the device sees them.
 */
export class DiskQueue {
  readonly stats: Record<Stream, StreamStats> = {
    image: { readOps: 0, writeOps: 0, readSectors: 0, writeSectors: 0 },
    swap: { readOps: 0, writeOps: 0, readSectors: 0, writeSectors: 0 },
    vmm: { readOps: 0, writeOps: 0, readSectors: 0, writeSectors: 0 },
  };
  busyNs = 0;
  /** Requests dispatched to the device, the sectors the head moved to reach them, and their wait in the queue (for the many-guest timeline: how far apart the guests' I/O lands). */
  dispatchedOps = 0;
  seekSectorsTotal = 0;
  queueWaitNsTotal = 0;
  private readonly pending: Pending[] = [];
  /**
   * How many pending requests start, and end, at sectors with each value of the low bits: a new
   * request can merge only where one of these counts is not zero, so most submissions skip the scan
   * of the queue (a collision of the low bits only costs that scan).
   */
  private readonly pendingStarts = new Uint32Array(SECTOR_BUCKETS);
  private readonly pendingEnds = new Uint32Array(SECTOR_BUCKETS);
  /** pick()'s per-direction choices (reused: it runs for every request). */
  private readonly pickBest = new Int32Array(2);
  private readonly pickWrap = new Int32Array(2);
  private inFlight = 0;
  private headSector = 0;
  private batchOp: 'read' | 'write' = 'read';
  private batchLeft = 0;
  /** Read batches dispatched while writes waited. */
  private starved = 0;

  constructor(
    readonly model: DiskModel,
    private readonly events: EventQueue,
    private readonly params: QueueParams = DEFAULT_QUEUE,
  ) {}

  get queued(): number {
    return this.pending.length + this.inFlight;
  }

  submit(op: 'read' | 'write', stream: Stream, sector: number, sectors: number, done: () => void): void {
    if (!(sectors > 0) || sector < 0 || sector + sectors > this.model.capacitySectors) {
      throw new RangeError(
        `disk ${this.model.name}: request ${sector}+${sectors} outside 0..${this.model.capacitySectors}`,
      );
    }
    const max = this.params.maxRequestSectors;
    if (
      this.pendingEnds[sector & BUCKET_MASK]! > 0 ||
      this.pendingStarts[(sector + sectors) & BUCKET_MASK]! > 0
    ) {
      for (const r of this.pending) {
        if (r.op !== op || r.stream !== stream || r.sectors + sectors > max) continue;
        const back = r.sector + r.sectors === sector;
        if (!back && sector + sectors !== r.sector) continue;
        // Merged behind `r` or in front of it.
        this.forget(r);
        if (!back) r.sector = sector;
        r.sectors += sectors;
        this.remember(r);
        r.dones.push(done);
        return;
      }
    }
    const r: Pending = { op, stream, sector, sectors, submitNs: this.events.nowNs, dones: [done] };
    this.pending.push(r);
    this.remember(r);
    this.dispatch();
  }

  private remember(r: Pending): void {
    this.pendingStarts[r.sector & BUCKET_MASK]!++;
    this.pendingEnds[(r.sector + r.sectors) & BUCKET_MASK]!++;
  }

  private forget(r: Pending): void {
    this.pendingStarts[r.sector & BUCKET_MASK]!--;
    this.pendingEnds[(r.sector + r.sectors) & BUCKET_MASK]!--;
  }

  private dispatch(): void {
    while (this.inFlight < this.model.parallelism && this.pending.length > 0) {
      const i = this.pick();
      const r = this.pending[i]!;
      this.pending.splice(i, 1);
      this.forget(r);
      this.inFlight++;
      const s = this.stats[r.stream];
      if (r.op === 'read') {
        s.readOps++;
        s.readSectors += r.sectors;
      } else {
        s.writeOps++;
        s.writeSectors += r.sectors;
      }
      // The pending request is itself a MediaRequest (models only read it).
      const serviceNs = this.model.service(r, this.events.nowNs);
      this.busyNs += serviceNs;
      this.dispatchedOps++;
      this.seekSectorsTotal += Math.abs(r.sector - this.headSector);
      this.queueWaitNsTotal += this.events.nowNs - r.submitNs;
      this.headSector = r.sector + r.sectors;
      this.events.after(serviceNs, () => {
        this.inFlight--;
        for (const d of r.dones) d();
        this.dispatch();
      });
    }
  }

  /**
   * The deadline scheduler's choice: keep going in the current direction for a batch; then reads,
   * unless writes have waited through `writesStarved` read batches or one has expired. Within a
   * direction the elevator sweeps upwards from the head (C-LOOK).
   */
  private pick(): number {
    const now = this.events.nowNs;
    const head = this.headSector;
    const pending = this.pending;
    let expiredWrite = false;
    // One pass finds, for each direction (reads at 0, writes at 1), the elevator's choice: the
    // lowest sector at or above the head (first such request on ties), else the lowest below it
    // (wrapping round).
    const best = this.pickBest;
    const wrap = this.pickWrap;
    best[0] = best[1] = wrap[0] = wrap[1] = -1;
    for (let i = 0; i < pending.length; i++) {
      const r = pending[i]!;
      const d = r.op === 'read' ? 0 : 1;
      if (d === 1 && now - r.submitNs >= this.params.writeExpireNs) expiredWrite = true;
      if (r.sector >= head) {
        if (best[d]! < 0 || r.sector < pending[best[d]!]!.sector) best[d] = i;
      } else if (wrap[d]! < 0 || r.sector < pending[wrap[d]!]!.sector) wrap[d] = i;
    }
    const hasRead = best[0] >= 0 || wrap[0] >= 0;
    const hasWrite = best[1] >= 0 || wrap[1] >= 0;
    let op: 'read' | 'write';
    if (this.batchLeft > 0 && (this.batchOp === 'read' ? hasRead : hasWrite)) {
      op = this.batchOp;
    } else {
      op =
        hasRead && !(hasWrite && (expiredWrite || this.starved >= this.params.writesStarved))
          ? 'read'
          : 'write';
      if (op === 'read' && hasWrite) this.starved++;
      if (op === 'write') this.starved = 0;
      this.batchOp = op;
      this.batchLeft = this.params.fifoBatch;
    }
    this.batchLeft--;
    const d = op === 'read' ? 0 : 1;
    return best[d]! >= 0 ? best[d]! : wrap[d]!;
  }
}
