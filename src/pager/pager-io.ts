import { asBlock, asGfn, NONE } from '../core/types.js';
import { type BlkRequest, BlkStatus, DEVICE_ID, SECTOR_BYTES, scatter } from './blk-request.js';
import type { GuestMemory } from './guest-memory.js';
import type { Pager } from './pager.js';
import { PAGE } from './sys.js';
import type { BlockIo, FileRange, MemoryGate } from './vhost-server.js';

/** A request's data cut at page boundaries: one guest page (or part of one) and where it goes on disk. */
interface Chunk {
  page: number;
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
      out.push({ page: Math.floor(off / PAGE), at, len, diskOff });
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
    const pages = new Map<number, boolean>();
    for (const r of ranges) {
      for (let p = Math.floor(r.off / PAGE); p * PAGE < r.off + Math.max(1, r.len); p++)
        pages.set(p, (pages.get(p) ?? false) || r.write);
    }
    this.pinAll([...pages], 0, fn);
  }

  private pinAll(pages: [number, boolean][], from: number, fn: () => void): void {
    const core = this.pager.core;
    for (let i = from; i < pages.length; i++) {
      const [p, write] = pages[i]!;
      const id = core.pinHost(asGfn(p), write);
      if (id !== 0) {
        // Earlier pages stay pinned while this one comes in.
        this.pager.wait(id, () => this.pinAll(pages, i + 1, fn));
        this.pager.pump();
        return;
      }
    }
    // Pages zero-filled or read just now are installed first.
    this.pager.wait(0, () => {
      for (const [p] of pages) this.pager.ensureMapped(p);
      try {
        fn();
      } finally {
        for (const [p] of pages) core.unpinHost(asGfn(p));
        this.pager.pump();
      }
    });
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

  /** Runs `step(i)` for i = from.. in order; a step returning a fault id resumes after it. */
  private each(n: number, from: number, step: (i: number) => number, then: () => void): void {
    for (let i = from; i < n; i++) {
      const id = step(i);
      if (id !== 0) {
        this.pager.wait(id, () => this.each(n, i + 1, step, then));
        this.pager.pump();
        return;
      }
    }
    this.pager.wait(0, then);
  }

  private diskToGuest(chunks: Chunk[], mem: GuestMemory, done: (status: number) => void): void {
    const whole = chunks.filter(isWhole);
    const core = this.pager.core;
    this.each(
      whole.length,
      0,
      (i) => core.beginDmaWrite(asGfn(whole[i]!.page)),
      () => {
        // Every whole page is present or reserved, and pinned.
        for (const c of whole) this.pager.ensureMapped(c.page);
        if (core.cfg.mapper) for (const c of whole) this.pager.protect(c.page);
        this.runs(whole, 'read', () =>
          this.partials(
            chunks.filter((c) => !isWhole(c)),
            mem,
            true,
            () => done(BlkStatus.OK),
          ),
        );
      },
    );
  }

  private guestToDisk(chunks: Chunk[], mem: GuestMemory, done: (status: number) => void): void {
    const whole = chunks.filter(isWhole);
    const parts = chunks.filter((c) => !isWhole(c));
    const core = this.pager.core;
    const blocks = [
      ...whole.map((c) => ({ block: c.diskOff / PAGE, page: c.page })),
      ...parts.map((c) => ({ block: Math.floor(c.diskOff / PAGE), page: NONE })),
    ];
    const write = (): void => {
      for (const c of whole) this.pager.ensureMapped(c.page);
      if (core.cfg.mapper) for (const c of whole) this.pager.protect(c.page);
      this.runs(whole, 'write', () => this.partials(parts, mem, false, () => done(BlkStatus.OK)));
    };
    // Pages that still hold a block's old content get it before the block changes; the core is
    // asked again for the same block until none is left.
    const invalidate = (from: number): void => {
      for (let i = from; i < blocks.length; i++) {
        const id = core.beginBlockWrite(asBlock(blocks[i]!.block), asGfn(blocks[i]!.page));
        if (id !== 0) {
          this.pager.wait(id, () => invalidate(i));
          this.pager.pump();
          return;
        }
      }
      this.pager.wait(0, write);
    };
    this.each(
      whole.length,
      0,
      (i) => core.beginDmaRead(asGfn(whole[i]!.page)),
      () => invalidate(0),
    );
  }

  /**
   * Moves whole pages, grouped in runs contiguous both in guest RAM and on disk. A read lands when
   * the disk completes it; a write leaves when it is issued. The core hears of each page as its data
   * moves, in the same step, so no guest access can come between.
   */
  private runs(whole: Chunk[], op: 'read' | 'write', then: () => void): void {
    const pager = this.pager;
    const core = pager.core;
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
      const run = whole.slice(i, j);
      const first = run[0]!;
      const n = run.length;
      const addr = pager.ram.ourAddr(first.page);
      outstanding++;
      if (op === 'read') {
        pager.disk.submit('read', 'image', first.diskOff / PAGE, n, () => {
          // SAFETY (in RawFile.read): the run's pages are consecutive in our mapping of guest RAM,
          // each reserved for this transfer by beginDmaWrite.
          pager.image.read(addr, n * PAGE, first.diskOff);
          for (const c of run) core.endDmaWrite(asGfn(c.page), asBlock(c.diskOff / PAGE));
          pager.pump();
          finish();
        });
      } else {
        pager.image.write(addr, n * PAGE, first.diskOff);
        for (const c of run) core.endDmaRead(asGfn(c.page), asBlock(c.diskOff / PAGE));
        pager.pump();
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
