import { type Gfn, asGfn } from '../../core/index.js';
import type { Frames, Scheduler } from './kernel.js';
import { type Program, SYNC } from './steps.js';
import { BALLOON } from './memory.js';

/** virtio_balloon's back-off when the guest has no page to give (msleep(200) in fill_balloon). */
const RETRY_NS = 200e6;

/** What virtio-balloon carries between the guest's driver and the host's device. */
export interface BalloonPort {
  /** The guest gives frame `gfn` to the host (a PFN on the inflate queue). */
  balloonInflate(gfn: Gfn): void;
  /** The guest takes frame `gfn` back (a PFN on the deflate queue). */
  balloonDeflate(gfn: Gfn): void;
  /**
   * Free page reporting (the reporting queue): frame `gfn` is free and the guest keeps it; the host
   * discards its content, and its next touch gets a zero-filled frame.
   */
  balloonReportFree(gfn: Gfn): void;
}

/**
 * The guest's balloon driver (virtio_balloon): inflating takes frames from the guest allocator, which
 * reclaims (drops cache, swaps to the guest's own disk) to find them, and hands them to the host.
 * Its allocations never invoke the OOM killer themselves (__GFP_NORETRY): when nothing can be freed
 * the driver backs off and tries again, and the memory it holds is what the guest's own programs
 * then lack (over-ballooning, §2.4).
 */
export class BalloonDriver {
  private readonly pages: number[] = [];
  /**
   * Allocations that found no page and backed off (fill_balloon's "Out of puff!" and msleep(200)):
   * the balloon asked more of the guest than it could give without swapping or killing.
   */
  backoffs = 0;

  constructor(
    private readonly os: Frames & Scheduler,
    private readonly port: BalloonPort,
  ) {}

  get size(): number {
    return this.pages.length;
  }

  /** Inflates by `pages`; gives up after `maxRetries` back-offs without progress. */
  *inflate(pages: number, maxRetries = 50): Program {
    const os = this.os;
    let retries = 0;
    for (let i = 0; i < pages;) {
      const g = os.tryAllocFrame();
      if (g < 0) {
        if (retries++ >= maxRetries) break;
        this.backoffs++;
        yield* os.sleep(RETRY_NS);
        continue;
      }
      retries = 0;
      os.mem.use[g] = BALLOON;
      this.pages.push(g);
      this.port.balloonInflate(asGfn(g));
      if (os.cpu(200)) yield SYNC;
      i++;
    }
  }

  /** Deflates by `pages`: the frames go back to the guest's free pool. */
  deflate(pages: number): void {
    const os = this.os;
    for (let i = 0; i < pages && this.pages.length > 0; i++) {
      const g = this.pages.pop()!;
      this.port.balloonDeflate(asGfn(g));
      os.freeFrame(g);
    }
  }
}
