import { type BlockNo, type Gfn, NONE } from '../core/index.js';
import type { CoreDriver } from './core-driver.js';

/**
 * A guest block request as virtio-blk carries it, cut at page boundaries: whole pages moved between
 * guest frame `gfns[i]` and image block `blocks[i]`, and the blocks a write changes only in part.
 * `read` moves disk to guest (a device writes the pages), `write` guest to disk.
 */
export interface GuestIoRequest {
  op: 'read' | 'write';
  gfns: readonly Gfn[];
  blocks: readonly BlockNo[];
  /** Blocks a write changes only in part: their other holders keep the old content too. */
  partialBlocks?: readonly BlockNo[];
}

/** Where a sequence step waited for a fault: pinning a page, or preserving a block's old content. */
export type GuestIoStep = 'pin' | 'invalidate';

/** What a driver supplies to run guest I/O through the core. */
export interface GuestIoPort {
  /**
   * The sequence waited for a fault at `step` and continues with `k`: a driver with a clock
   * charges the fault's cost here (the simulator); others call `k` at once.
   */
  resume(step: GuestIoStep, k: () => void): void;
  /**
   * Every page is present and pinned and, for a write, every block safe to overwrite: move the data
   * (whole pages, then the parts), calling `t.moved(from, to)` as pages [from, to) of the request
   * have moved, each page exactly once. The request is the driver's to complete.
   */
  transfer(t: GuestIoTransfer): void;
}

/** A request whose data may now move. */
export class GuestIoTransfer {
  constructor(
    private readonly driver: CoreDriver,
    readonly req: GuestIoRequest,
  ) {}

  /** Pages [from, to) of the request moved: the core records what each page and block now hold. */
  moved(from: number, to: number): void {
    const { core } = this.driver;
    const { gfns, blocks } = this.req;
    for (let i = from; i < to; i++) {
      if (this.req.op === 'read') core.endDmaWrite(gfns[i]!, blocks[i]!);
      else core.endDmaRead(gfns[i]!, blocks[i]!);
    }
    this.driver.pump();
  }
}

/**
 * The §4.1 guest I/O sequence, written once: pin every page in order (a disk read discards an absent
 * page's old content with the Mapper and faults it in, a stale swap read, without; a disk write
 * faults absent pages in), then, for a write, have every other holder of each block's old content
 * keep it (asking again for the same block until none is left), then hand the request over for the
 * data to move. Faults are waited for through the driver, in order; nothing here performs I/O.
 */
export function runGuestIo(driver: CoreDriver, req: GuestIoRequest, port: GuestIoPort): void {
  const { core } = driver;
  const { gfns, blocks } = req;
  const partial = req.partialBlocks ?? [];
  const transfer = (): void => port.transfer(new GuestIoTransfer(driver, req));
  // One holder of a block's old content read back at a time: the same block is asked again.
  const invalidate = (): void =>
    driver.each(
      blocks.length + partial.length,
      (i) =>
        i < blocks.length
          ? core.beginBlockWrite(blocks[i]!, gfns[i]!)
          : core.beginBlockWrite(partial[i - blocks.length]!, NONE as Gfn),
      transfer,
      { repeat: true, resume: (k) => port.resume('invalidate', k) },
    );
  // Earlier pages stay pinned while a later one comes in.
  driver.each(
    gfns.length,
    (i) => (req.op === 'read' ? core.beginDmaWrite(gfns[i]!) : core.beginDmaRead(gfns[i]!)),
    req.op === 'write' ? invalidate : transfer,
    { resume: (k) => port.resume('pin', k) },
  );
}
