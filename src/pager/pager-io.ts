import { type BlockNo, type Gfn, asBlock, asGfn } from '../core/index.js';
import { type GuestIoTransfer, runGuestIo } from '../driver/guest-io.js';
import { type BlkRequest, BlkStatus, DEVICE_ID, SECTOR_BYTES, scatter } from './blk-request.js';
import type { GuestMemory } from './guest-memory.js';
import type { Pager } from './pager.js';
import { PAGE } from './sys.js';
import type { BlockIo, FileRange, MemoryGate } from './vhost-server.js';

/** A request's data cut at page boundaries: one guest page (or part of one) and where it goes on disk. */
interface Chunk {
  page: Gfn;
  /** Offset and length inside the page. */
  at: number;
  len: number;
  /** Byte offset on the disk. */
  diskOff: number;
}

/** A whole, block-aligned page: what the core can associate with an image block. */
const isWhole = (c: Chunk): boolean => c.at === 0 && c.len === PAGE && c.diskOff % PAGE === 0;

/** Cuts a request's data into chunks of at most a page each. */
export function chunksOf(req: BlkRequest, mem: GuestMemory): Chunk[] {
  const out: Chunk[] = [];
  let diskOff = req.sector * SECTOR_BYTES;
  for (const p of req.data) {
    // A piece lies inside one region, so its file offsets are contiguous.
    let off = mem.fileOffsetOfGpa(p.gpa);
    let left = p.len;
    while (left > 0) {
      const at = off % PAGE;
      const len = Math.min(left, PAGE - at);
      out.push({ page: asGfn(Math.floor(off / PAGE)), at, len, diskOff });
      off += len;
      diskOff += len;
      left -= len;
    }
  }
  return out;
}

/**
 * Guest RAM access for the back end, through the core: the pages of each range are made present
 * (faulted in, host context) and pinned while `fn` runs, then unpinned.
 */
export class PagerGate implements MemoryGate {
  constructor(private readonly pager: Pager) {}

  with(_mem: GuestMemory, ranges: FileRange[], fn: () => void): void {
    const pages = new Map<Gfn, boolean>();
    for (const r of ranges) {
      for (let p = Math.floor(r.off / PAGE); p * PAGE < r.off + Math.max(1, r.len); p++)
        pages.set(asGfn(p), (pages.get(asGfn(p)) ?? false) || r.write);
    }
    this.pinAll([...pages], fn);
  }

  private pinAll(pages: [Gfn, boolean][], fn: () => void): void {
    const { core, driver } = this.pager;
    driver.each(
      pages.length,
      (i) => core.pinHost(pages[i]![0], pages[i]![1]),
      () => {
        // Every page is pinned, and those zero-filled or read just now are installed.
        for (const [p] of pages) this.pager.ensureMapped(p);
        try {
          fn();
        } finally {
          for (const [p] of pages) core.unpinHost(p);
          driver.pump();
        }
      },
    );
  }
}

/**
 * Block requests through the core, as the Swap Mapper's QEMU served them (§4.1 "Guest I/O Flow"):
 * - a read (disk to guest pages): each whole page is handed to the core first (beginDmaWrite: the
 *   baseline faults an absent page in, a stale swap read; the Mapper only reserves a frame), the
 *   blocks are read straight into the pages, and the core records each page as holding its block
 *   (named, and write-protected in QEMU, with the Mapper);
 * - a write (guest pages to disk): the pages are made present (beginDmaRead), every other page that
 *   still holds a block's old content gets it first (beginBlockWrite, §4.1 Data Consistency), then
 *   the pages are write-protected (Mapper), written, and become named;
 * - pieces smaller than a page go through the gate (present, pinned) and are never named.
 */
export class PagerIo implements BlockIo {
  constructor(
    private readonly pager: Pager,
    private readonly gate: PagerGate,
  ) {}

  submit(req: BlkRequest, mem: GuestMemory, done: (status: number) => void): void {
    switch (req.kind) {
      case 'read':
        this.diskToGuest(chunksOf(req, mem), mem, done);
        return;
      case 'write':
        this.guestToDisk(chunksOf(req, mem), mem, done);
        return;
      case 'flush':
        this.pager.image.flush();
        done(BlkStatus.OK);
        return;
      case 'get-id': {
        const ranges = req.data.map((p) => ({ off: mem.fileOffsetOfGpa(p.gpa), len: p.len, write: true }));
        this.gate.with(mem, ranges, () => {
          scatter(
            mem,
            req.data,
            new TextEncoder().encode(DEVICE_ID.padEnd(20, '\0')).subarray(0, req.dataBytes),
          );
          done(BlkStatus.OK);
        });
        return;
      }
      case 'unsupported':
        done(BlkStatus.UNSUPP);
        return;
    }
  }

  private diskToGuest(chunks: Chunk[], mem: GuestMemory, done: (status: number) => void): void {
    const whole = chunks.filter(isWhole);
    const parts = chunks.filter((c) => !isWhole(c));
    this.sequence('read', whole, [], (t) =>
      this.runs(t, whole, () => this.partials(parts, mem, true, () => done(BlkStatus.OK))),
    );
  }

  private guestToDisk(chunks: Chunk[], mem: GuestMemory, done: (status: number) => void): void {
    const whole = chunks.filter(isWhole);
    const parts = chunks.filter((c) => !isWhole(c));
    const partial = parts.map((c) => asBlock(Math.floor(c.diskOff / PAGE)));
    this.sequence('write', whole, partial, (t) =>
      this.runs(t, whole, () => this.partials(parts, mem, false, () => done(BlkStatus.OK))),
    );
  }

  /**
   * The §4.1 sequence for the whole pages (the core driver's); once every page is present and
   * pinned, they are made usable through our mapping and, with the Mapper, write-protected in QEMU
   * (a guest write to a named page must reach the core), before `move` moves the data.
   */
  private sequence(
    op: 'read' | 'write',
    whole: Chunk[],
    partialBlocks: BlockNo[],
    move: (t: GuestIoTransfer) => void,
  ): void {
    const pager = this.pager;
    const gfns: Gfn[] = whole.map((c) => c.page);
    const blocks: BlockNo[] = whole.map((c) => asBlock(c.diskOff / PAGE));
    runGuestIo(
      pager.driver,
      { op, gfns, blocks, partialBlocks },
      {
        resume: (_step, k) => k(),
        transfer: (t) => {
          for (const c of whole) pager.ensureMapped(c.page);
          // The device overwrites these pages whole: bytes the guest wrote to them while absent are
          // superseded (the core discards its own record of them the same way).
          // (QEMU's write buffer too: the pages are unmarked first, so it buffers nothing more.)
          if (op === 'read')
            for (const c of whole) {
              pager.emulation?.claim(c.page);
              pager.emulation?.discard(c.page);
              pager.deviceFills(c.page);
            }
          if (pager.core.cfg.mapper) for (const c of whole) pager.protect(c.page);
          move(t);
        },
      },
    );
  }

  /**
   * Moves whole pages, grouped in runs contiguous both in guest RAM and on disk. A read lands when
   * the disk completes it; a write leaves when it is issued. The core hears of each page as its data
   * moves, in the same step, so no guest access can come between.
   */
  private runs(t: GuestIoTransfer, whole: Chunk[], then: () => void): void {
    const pager = this.pager;
    let outstanding = 1;
    const finish = (): void => {
      if (--outstanding === 0) then();
    };
    let i = 0;
    while (i < whole.length) {
      let j = i + 1;
      while (
        j < whole.length &&
        whole[j]!.page === whole[j - 1]!.page + 1 &&
        whole[j]!.diskOff === whole[j - 1]!.diskOff + PAGE
      )
        j++;
      const first = whole[i]!;
      const from = i;
      const n = j - i;
      const addr = pager.ram.ourAddr(first.page);
      outstanding++;
      if (t.req.op === 'read') {
        pager.disk.submit('read', 'image', first.diskOff / PAGE, n, () => {
          // SAFETY (in RawFile.read): the run's pages are consecutive in our mapping of guest RAM,
          // each reserved for this transfer by beginDmaWrite.
          pager.image.read(addr, n * PAGE, first.diskOff);
          t.moved(from, from + n);
          finish();
        });
      } else {
        pager.image.write(addr, n * PAGE, first.diskOff);
        t.moved(from, from + n);
        pager.disk.submit('write', 'image', first.diskOff / PAGE, n, finish);
      }
      i = j;
    }
    finish();
  }

  /** Pieces smaller than a page, one at a time, through the gate. */
  private partials(parts: Chunk[], mem: GuestMemory, toGuest: boolean, then: () => void): void {
    const pager = this.pager;
    const go = (k: number): void => {
      if (k >= parts.length) {
        then();
        return;
      }
      const c = parts[k]!;
      this.gate.with(mem, [{ off: c.page * PAGE + c.at, len: c.len, write: toGuest }], () => {
        const addr = pager.ram.ourAddr(c.page) + c.at;
        if (toGuest) pager.image.read(addr, c.len, c.diskOff);
        else pager.image.write(addr, c.len, c.diskOff);
        // The gate ran this at once or once the page came in; the next piece goes after it.
        pager.loop.defer(() => go(k + 1));
      });
    };
    go(0);
  }
}
