import type { GuestOs, Program } from './guest/guest-os.js';
import { SYNC } from './guest/steps.js';

/**
 * virtio_balloon's pages per inflate or deflate message (VIRTIO_BALLOON_ARRAY_PFNS_MAX, 256): the
 * driver's kthread moves at most this many before it looks at the target again.
 */
const PFNS_PER_MESSAGE = 256;

/**
 * The guest's balloon kthread (virtio_balloon's balloon()): it wakes when the host changes the
 * target (the config-change interrupt) and inflates or deflates toward it, a message at a time;
 * allocations that fail back off (inside BalloonDriver.inflate) and are tried again.
 */
export class BalloonWorker {
  private targetPages = 0;
  private wake: (() => void) | null = null;

  constructor(private readonly os: GuestOs) {}

  /** The host's new target: the balloon's size in pages. */
  setTarget(pages: number): void {
    this.targetPages = Math.max(0, Math.round(pages));
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  get target(): number {
    return this.targetPages;
  }

  *run(): Program {
    const os = this.os;
    while (!os.stopping) {
      const diff = this.targetPages - os.balloon.size;
      if (diff > 0) yield* os.balloon.inflate(Math.min(diff, PFNS_PER_MESSAGE), 1);
      else if (diff < 0) {
        os.balloon.deflate(Math.min(-diff, PFNS_PER_MESSAGE));
        if (os.cpu(1000)) yield SYNC;
      } else
        yield* os.sleepUnlessKicked(1e9, (k) => {
          this.wake = k;
        });
    }
  }
}
