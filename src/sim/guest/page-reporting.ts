import { asGfn } from '../../core/index.js';
import type { BalloonPort } from './balloon.js';
import type { Frames, Scheduler } from './kernel.js';
import { FREE } from './memory.js';
import { SYNC, type Program } from './steps.js';

/**
 * Linux's free page reporting (mm/page_reporting.c, Linux 5.7 and later; virtio_balloon's
 * VIRTIO_BALLOON_F_REPORTING): the guest tells the host which of its pages are free, the host
 * discards them (QEMU's `free-page-reporting=on`: ram_block_discard_range), and a later touch of
 * such a page gets a zero-filled frame instead of a swap read. Only whole free blocks of
 * PAGE_REPORTING_MIN_ORDER (pageblock_order) are reported, never single pages.
 */

/** pageblock_order on x86-64 is HPAGE_PMD_ORDER, 9: blocks of 512 pages (2 MiB). */
export const PAGEBLOCK_PAGES = 512;
/** PAGE_REPORTING_CAPACITY: blocks per report (one scatterlist), and the watermark's margin. */
export const PAGE_REPORTING_CAPACITY = 32;
/** PAGE_REPORTING_DELAY (2 * HZ): a pass runs 2 s after a free block was formed. */
export const PAGE_REPORTING_DELAY_NS = 2e9;
/** The guest's CPU per block it reports (one scatterlist entry, as the balloon driver's per page). */
const REPORT_BLOCK_NS = 200;

/**
 * The guest kernel's page reporting worker. Where Linux's buddy allocator knows its free blocks of
 * order 9 and up, the simulated guest's free pool is a stack of frames, so the worker finds them as
 * the allocator would have merged them: aligned runs of 512 frames that are all free. A frame keeps
 * its reported mark (GuestMemory.reported) until it is freed again after a use. Linux requests a pass
 * when a free block of that order forms, and runs it 2 s later; the model looks every 2 s.
 */
export class PageReporter {
  /** Blocks reported so far (each PAGEBLOCK_PAGES pages, discarded by the host). */
  reportedBlocks = 0;

  constructor(
    private readonly os: Frames & Scheduler,
    private readonly port: BalloonPort,
    /** The zone's low watermark, in pages (the guest's kswapd threshold). */
    private readonly lowFreePages: number,
  ) {}

  /** The worker: a pass every PAGE_REPORTING_DELAY_NS until the guest stops. */
  *run(): Program {
    while (!this.os.stopping) {
      yield* this.os.sleep(PAGE_REPORTING_DELAY_NS);
      if (!this.os.stopping) yield* this.pass();
    }
  }

  /** Waits until a pass would report nothing (the guest's history settles before the host squeezes it). */
  *settle(): Program {
    while (this.aboveWatermark() && this.unreportedBlocks() > 0)
      yield* this.os.sleep(PAGE_REPORTING_DELAY_NS);
  }

  /** Whether free memory exceeds the low watermark by PAGE_REPORTING_CAPACITY blocks. */
  private aboveWatermark(): boolean {
    return this.os.freePages >= this.lowFreePages + PAGE_REPORTING_CAPACITY * PAGEBLOCK_PAGES;
  }

  /** Free blocks not reported yet. */
  unreportedBlocks(): number {
    let n = 0;
    const blocks = Math.floor(this.os.mem.pages / PAGEBLOCK_PAGES);
    for (let b = 0; b < blocks; b++) if (this.blockToReport(b)) n++;
    return n;
  }

  /**
   * One pass (page_reporting_process_zone): nothing unless free memory exceeds the low watermark by
   * PAGE_REPORTING_CAPACITY blocks, so that reporting never takes what the guest needs; then every
   * whole free block with an unreported frame. Linux isolates up to 32 blocks per report so the
   * allocator cannot hand them out meanwhile; here a block is reported in one step, which has the
   * same effect.
   */
  *pass(): Program {
    const mem = this.os.mem;
    if (!this.aboveWatermark()) return;
    const blocks = Math.floor(mem.pages / PAGEBLOCK_PAGES);
    for (let b = 0; b < blocks; b++) {
      // Checked again after each yield: the guest may have taken a frame of the block meanwhile.
      if (!this.blockToReport(b)) continue;
      for (let g = b * PAGEBLOCK_PAGES; g < (b + 1) * PAGEBLOCK_PAGES; g++) {
        if (mem.reported[g]) continue;
        mem.reported[g] = 1;
        this.port.balloonReportFree(asGfn(g));
      }
      this.reportedBlocks++;
      if (this.os.cpu(REPORT_BLOCK_NS)) yield SYNC;
    }
  }

  private blockToReport(b: number): boolean {
    const mem = this.os.mem;
    let unreported = false;
    for (let g = b * PAGEBLOCK_PAGES; g < (b + 1) * PAGEBLOCK_PAGES; g++) {
      if (mem.use[g] !== FREE) return false;
      if (!mem.reported[g]) unreported = true;
    }
    return unreported;
  }
}
