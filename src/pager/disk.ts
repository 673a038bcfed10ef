import { MIB, SECTORS_PER_PAGE } from '../core/index.js';
import { Hdd } from '../sim/disk/hdd.js';
import { DiskQueue, type StreamStats } from '../sim/disk/queue.js';
import type { Loop } from './loop.js';

export type DiskMode = 'immediate' | 'hdd-model';
type Stream = 'swap' | 'image';

/**
 * When the pager's disk requests complete. The data always moves with real I/O on this machine's
 * disk (reads when they complete, writes when they are issued); what differs is when the requester
 * hears about it:
 * - 'immediate': on the next turn of the loop, after the real I/O's own latency;
 * - 'hdd-model': when the simulator's model of the paper's drive (a 7200 rpm Seagate Constellation:
 *   seek curve, rotation, zoned transfer, its block-layer queue with merging and the deadline
 *   scheduler) would have finished it, on the real clock. Swap and image are placed on the one disk
 *   as in the simulator (the image file at 8 GiB, the swap file right after it), so seeks between
 *   them cost what they cost there. This is the seek-aware HDD-like mode; the qemu engine's
 *   token-bucket throttles cannot tell a seek from a sequential access.
 */
export class PagerDisk {
  readonly stats: Record<Stream, StreamStats> = {
    swap: { readOps: 0, writeOps: 0, readSectors: 0, writeSectors: 0 },
    image: { readOps: 0, writeOps: 0, readSectors: 0, writeSectors: 0 },
  };
  private readonly queue: DiskQueue | undefined;
  private readonly imageStartSector = (8 * 1024 * MIB) / 512;
  private readonly swapStartSector: number;

  constructor(
    private readonly loop: Loop,
    readonly mode: DiskMode,
    imagePages: number,
  ) {
    this.swapStartSector = this.imageStartSector + imagePages * SECTORS_PER_PAGE;
    if (mode === 'hdd-model') {
      this.queue = new DiskQueue(new Hdd(), loop.timers);
      // The model's queue counts requests as the device sees them (after merging).
      Object.assign(this.stats, { swap: this.queue.stats.swap, image: this.queue.stats.image });
    }
  }

  /** A request for `pages` pages from page `unit` of the stream; `done` runs when it completes. */
  submit(op: 'read' | 'write', stream: Stream, unit: number, pages: number, done: () => void): void {
    if (this.queue) {
      const base = stream === 'swap' ? this.swapStartSector : this.imageStartSector;
      this.queue.submit(op, stream, base + unit * SECTORS_PER_PAGE, pages * SECTORS_PER_PAGE, done);
      return;
    }
    const s = this.stats[stream];
    if (op === 'read') {
      s.readOps++;
      s.readSectors += pages * SECTORS_PER_PAGE;
    } else {
      s.writeOps++;
      s.writeSectors += pages * SECTORS_PER_PAGE;
    }
    this.loop.defer(done);
  }

  /** Requests queued or in service. */
  get busy(): number {
    return this.queue ? this.queue.queued : 0;
  }
}
