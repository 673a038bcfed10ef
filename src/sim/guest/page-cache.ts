import { NONE } from '../../core/index.js';
import type { AnonMemory } from './anon.js';
import type { GuestKernel } from './kernel.js';
import { BLOCK, type Proc, type Program, SYNC } from './steps.js';
import {
  ACTIVE_FILE,
  CACHE,
  INACTIVE_FILE,
  PG_DIRTY,
  PG_LOCKED,
  PG_READAHEAD,
  PG_REFERENCED,
  PG_UPTODATE,
  PG_WRITEBACK,
} from './memory.js';
import type { GuestProcess } from './process.js';

export interface GuestFileSpec {
  name: string;
  sizePages: number;
}

interface FileState {
  name: string;
  startBlock: number;
  sizePages: number;
  gfnOf: Int32Array;
  raStart: number;
  raSize: number;
  raAsync: number;
}

/** Where a read() copies to or a write() copies from: pages of a process's anonymous memory. */
export interface UserPages {
  proc: GuestProcess;
  vpage: number;
}

/** Linux's writeback tunables (mm/page-writeback.c defaults). */
export interface WritebackParams {
  /** vm.dirty_background_ratio: the flusher starts writing when dirty pages exceed this share. */
  backgroundRatio: number;
  /** vm.dirty_ratio: a writer is throttled while dirty and writeback pages exceed this share. */
  dirtyRatio: number;
  /** vm.dirty_expire_centisecs: dirty data older than this is written by the periodic flush. */
  expireNs: number;
  /** vm.dirty_writeback_centisecs: how often the flusher wakes. */
  intervalNs: number;
  /** MAX_WRITEBACK_PAGES: pages the flusher writes per round. */
  chunkPages: number;
  /**
   * A writer that, instead of Linux's rounds, starts this share of the dirty pages once per wake-up
   * and sleeps again (Windows' lazy writer: an eighth each second). Absent for Linux.
   */
  sharePerWake?: number;
}

export const LINUX_3_7_WRITEBACK: WritebackParams = {
  backgroundRatio: 0.1,
  dirtyRatio: 0.2,
  expireNs: 30e9,
  intervalNs: 5e9,
  chunkPages: 1024,
};

/** Where the page cache's files lie on the guest's disk, and how far it reads ahead. */
export interface PageCacheLayout {
  /** The first block of the first file, in 4 KiB blocks. */
  dataStartBlock: number;
  /** Files must end before this block (the swap partition, or the end of the disk). */
  endBlock: number;
  /** Linux read_ahead_kb / 4 KiB. */
  readAheadMaxPages: number;
}

/** PageCache.read()'s target for pages a process maps rather than copies (its text, say). */
export const MAPPED = 'mapped';

/** The largest write request the guest's block layer builds (max_sectors_kb 512). */
const MAX_IO_PAGES = 128;

/**
 * The guest's page cache: files on its disk, two LRU lists, on-demand sequential readahead,
 * buffered writes that dirty pages, a flusher that writes them back, and the file side of reclaim.
 */
export class PageCache {
  private readonly files: FileState[] = [];
  private dirtyCount = 0;
  private writebackCount = 0;
  /**
   * Pages in the order they were dirtied, with the time: the flusher's queue. An entry is stale
   * when its frame has been cleaned, or freed and dirtied again since (`seq` no longer the frame's
   * `dirtySeq`): a frame's file page removed dirty and the frame reused for another file's page
   * must be written once, not once per entry.
   */
  private readonly dirtyQueue: { g: number; atNs: number; seq: number }[] = [];
  /** The sequence number of each frame's latest setDirty(), matched against its queue entries. */
  private readonly dirtySeq: Float64Array;
  private dirtySeqNext = 1;
  private dirtyHead = 0;
  private flusherRunning = false;
  private flusherKick: (() => void) | null = null;
  /** The file and index each page-cache frame holds. */
  private readonly pageFile: Int32Array;
  private readonly pageIndex: Int32Array;
  private readonly readAheadMaxPages: number;

  constructor(
    private readonly os: GuestKernel,
    /** Where read() copies to and write() copies from, when the caller names a process's pages. */
    private readonly anon: AnonMemory,
    files: GuestFileSpec[],
    layout: PageCacheLayout,
    readonly writeback: WritebackParams = LINUX_3_7_WRITEBACK,
  ) {
    const n = os.mem.pages;
    this.dirtySeq = new Float64Array(n);
    this.pageFile = new Int32Array(n).fill(NONE);
    this.pageIndex = new Int32Array(n).fill(NONE);
    this.readAheadMaxPages = layout.readAheadMaxPages;
    const endBlock = layout.endBlock;
    let block = layout.dataStartBlock;
    for (const f of files) {
      if (!(Number.isInteger(f.sizePages) && f.sizePages > 0))
        throw new RangeError(`guest file ${f.name}: size must be a positive number of pages`);
      if (block + f.sizePages > endBlock)
        throw new RangeError(`guest file ${f.name} does not fit on the disk`);
      this.files.push({
        name: f.name,
        startBlock: block,
        sizePages: f.sizePages,
        gfnOf: new Int32Array(f.sizePages).fill(NONE),
        raStart: 0,
        raSize: 0,
        raAsync: 0,
      });
      block += f.sizePages;
    }
  }

  get pages(): number {
    return this.os.mem.cachePages;
  }
  get dirtyPages(): number {
    return this.dirtyCount;
  }
  get writebackPages(): number {
    return this.writebackCount;
  }
  get fileCount(): number {
    return this.files.length;
  }

  fileSize(fileNo: number): number {
    return this.file(fileNo).sizePages;
  }

  private file(fileNo: number): FileState {
    const f = this.files[fileNo];
    if (!f) throw new RangeError(`guest file ${fileNo} does not exist (${this.files.length} files)`);
    return f;
  }

  // ---------------------------------------------------------------- read()

  /**
   * read() of `nPages` pages at page `index` of file `fileNo`, copied to `into` (a process's pages)
   * or to the program's pinned buffer. With `into` = MAPPED, a process executes or reads the pages
   * where it maps them (a program's text and read-only data): no system call and no copy, and a
   * miss is a major fault (filemap_fault's VM_FAULT_MAJOR), read around the faulting page.
   */
  *read(fileNo: number, index: number, nPages: number, into?: UserPages | typeof MAPPED): Program {
    const os = this.os;
    const f = this.file(fileNo);
    const flags = os.mem.flags;
    const mapped = into === MAPPED;
    if (!mapped) {
      if (os.cpu(os.costs.guestSyscallNs)) yield SYNC;
      if (!os.tryTouchKernelText()) yield* os.touchKernelText();
    }
    const end = Math.min(f.sizePages, index + nPages);
    for (let j = index; j < end; j++) {
      let g = f.gfnOf[j]!;
      if (g === NONE) {
        yield* this.syncReadahead(fileNo, j, end - j, mapped);
        g = f.gfnOf[j]!;
      }
      if (g !== NONE && flags[g]! & PG_READAHEAD) {
        flags[g]! &= ~PG_READAHEAD;
        yield* this.readahead(fileNo, f.raStart + f.raSize, this.nextRaSize(f.raSize), true);
      }
      while (g !== NONE && f.gfnOf[j] === g && !(flags[g]! & PG_UPTODATE)) {
        os.waitFrame(g);
        yield BLOCK;
      }
      if (g === NONE || f.gfnOf[j] !== g) {
        // Reclaimed meanwhile (the page's frame may even hold something else now): look it up again.
        j--;
        continue;
      }
      this.markAccessed(g);
      // No generator, nor a closure when the host has the page (startAccess tries that first).
      if (!os.startAccess(g, false)) yield BLOCK;
      if (mapped) continue;
      if (os.cpu(os.costs.guestCopyPageNs)) yield SYNC;
      if (into) yield* this.anon.touch(into.proc, into.vpage + (j - index), true, false);
      else if (!os.tryCopyToPinnedBuffer(j)) yield* os.copyToPinnedBuffer(j);
    }
  }

  private markAccessed(g: number): void {
    const { flags, lru } = this.os.mem;
    const fl = flags[g]!;
    if (lru.on(g) === INACTIVE_FILE && fl & PG_REFERENCED) {
      flags[g] = fl & ~PG_REFERENCED;
      lru.moveToHead(ACTIVE_FILE, g);
    } else {
      flags[g] = fl | PG_REFERENCED;
    }
  }

  private initRaSize(reqPages: number): number {
    const max = this.readAheadMaxPages;
    let r = 1;
    while (r < reqPages) r <<= 1;
    if (r <= max / 32) return Math.min(max, r * 4);
    if (r <= max / 4) return Math.min(max, r * 2);
    return max;
  }

  private nextRaSize(cur: number): number {
    const max = this.readAheadMaxPages;
    return Math.min(max, cur < max / 16 ? cur * 4 : cur * 2);
  }

  /**
   * A miss: reads the page and the window around it. `major`: the miss is a page fault on a mapped
   * file, which Linux counts as a major fault (mm/filemap.c filemap_fault: count_vm_event(PGMAJFAULT),
   * VM_FAULT_MAJOR); a read() that misses (do_generic_file_read) counts none.
   */
  private *syncReadahead(fileNo: number, j: number, reqPages: number, major: boolean): Program {
    const f = this.files[fileNo]!;
    if (major) this.os.counters.majorFaults++;
    if (f.raSize > 0 && j === f.raStart + f.raSize)
      yield* this.readahead(fileNo, j, this.nextRaSize(f.raSize), true);
    else {
      const size = this.initRaSize(reqPages);
      yield* this.readahead(fileNo, j, size, false, Math.max(0, size - reqPages));
    }
  }

  /** Adds the window's missing pages to the cache (locked) and submits them as block requests. */
  private *readahead(
    fileNo: number,
    start: number,
    size: number,
    asyncWhole: boolean,
    asyncPages = 0,
  ): Program {
    const os = this.os;
    const lru = os.mem.lru;
    const f = this.files[fileNo]!;
    const asyncSize = asyncWhole ? size : asyncPages;
    f.raStart = start;
    f.raSize = size;
    f.raAsync = asyncSize;
    const end = Math.min(f.sizePages, start + size);
    const markAt = start + size - asyncSize;
    let runBlocks: number[] = [];
    let runGfns: number[] = [];
    for (let k = start; k <= end; k++) {
      let missing = k < end && f.gfnOf[k] === NONE;
      if (missing) {
        let g = os.tryAllocFrame();
        if (g < 0) g = yield* os.allocFrame();
        if (f.gfnOf[k] !== NONE) {
          // Another thread read it in while this one waited for memory.
          os.freeFrame(g);
          missing = false;
        } else {
          this.insert(fileNo, k, g, PG_LOCKED | (k === markAt && asyncSize > 0 ? PG_READAHEAD : 0));
          lru.pushHead(INACTIVE_FILE, g);
          runBlocks.push(f.startBlock + k);
          runGfns.push(g);
        }
      }
      if ((!missing || k === end) && runGfns.length > 0) {
        if (os.cpu(os.costs.guestSubmitNs)) yield SYNC;
        os.submitIo('read', runBlocks, runGfns);
        runBlocks = [];
        runGfns = [];
      }
    }
  }

  private insert(fileNo: number, index: number, g: number, flags: number): void {
    const os = this.os;
    this.files[fileNo]!.gfnOf[index] = g;
    os.mem.use[g] = CACHE;
    this.pageFile[g] = fileNo;
    this.pageIndex[g] = index;
    os.mem.flags[g] = flags;
  }

  // ---------------------------------------------------------------- write()

  /**
   * write() of `nPages` whole pages at page `index` of file `fileNo`, copied from `from` (a
   * process's pages) or from nothing in particular (the program's data). A page not in the cache is
   * allocated and written whole (no read: the old block content is overwritten), the way a
   * full-page copy_from_user fills a new page-cache page.
   */
  *write(fileNo: number, index: number, nPages: number, from?: UserPages): Program {
    const os = this.os;
    const f = this.file(fileNo);
    if (index < 0 || index + nPages > f.sizePages)
      throw new RangeError(`guest write: pages ${index}+${nPages} outside file ${f.name}`);
    const { flags, lru } = os.mem;
    if (os.cpu(os.costs.guestSyscallNs)) yield SYNC;
    if (!os.tryTouchKernelText()) yield* os.touchKernelText();
    for (let j = index; j < index + nPages; j++) {
      if (from) yield* this.anon.touch(from.proc, from.vpage + (j - index), false, false);
      let g = f.gfnOf[j]!;
      if (g !== NONE) {
        // Stable pages: a page under I/O is not modified until the I/O is done.
        while (f.gfnOf[j] === g && flags[g]! & (PG_WRITEBACK | PG_LOCKED)) {
          os.waitFrame(g);
          yield BLOCK;
        }
        if (f.gfnOf[j] !== g) {
          j--;
          continue;
        }
        this.markAccessed(g);
        if (os.cpu(os.costs.guestCopyPageNs)) yield SYNC;
        if (!os.startAccess(g, true)) yield BLOCK;
      } else {
        g = os.tryAllocFrame();
        if (g < 0) g = yield* os.allocFrame();
        if (f.gfnOf[j] !== NONE) {
          os.freeFrame(g);
          j--;
          continue;
        }
        this.insert(fileNo, j, g, PG_LOCKED | PG_UPTODATE | PG_REFERENCED);
        lru.pushHead(INACTIVE_FILE, g);
        yield* os.overwritePage(g, os.costs.guestCopyPageNs);
        flags[g]! &= ~PG_LOCKED;
        os.wakeFrame(g);
      }
      this.setDirty(g);
      yield* this.throttle();
    }
  }

  private setDirty(g: number): void {
    const flags = this.os.mem.flags;
    if (flags[g]! & PG_DIRTY) return;
    flags[g]! |= PG_DIRTY;
    this.dirtyCount++;
    const seq = this.dirtySeqNext++;
    this.dirtySeq[g] = seq;
    this.dirtyQueue.push({ g, atNs: this.os.nowNs, seq });
    this.ensureFlusher();
  }

  /** Memory that may hold dirty data (global_dirtyable_memory): free frames and the page cache. */
  private dirtyable(): number {
    return this.os.freePages + this.os.mem.cachePages;
  }

  /** balance_dirty_pages(): a writer over the dirty limit waits for writeback to catch up. */
  private *throttle(): Program {
    const wb = this.writeback;
    if (this.dirtyCount > wb.backgroundRatio * this.dirtyable()) this.kickFlusher();
    while (this.dirtyCount + this.writebackCount > wb.dirtyRatio * this.dirtyable()) {
      this.kickFlusher();
      if (this.writebackCount === 0 && this.dirtyCount === 0) break;
      yield* this.os.waitForWriteback();
    }
  }

  // ---------------------------------------------------------------- writeback

  private ensureFlusher(): void {
    if (this.flusherRunning) return;
    this.flusherRunning = true;
    this.os.spawnKernelThread(this.flusher());
  }

  private kickFlusher(): void {
    const k = this.flusherKick;
    if (k) {
      this.flusherKick = null;
      k();
    }
  }

  /** The bdi flusher thread: periodic writeback of expired data, and background writeback above the threshold. */
  private *flusher(): Program {
    const os = this.os;
    const wb = this.writeback;
    while (!os.stopping) {
      yield* os.sleepUnlessKicked(wb.intervalNs, (kick) => (this.flusherKick = kick));
      this.flusherKick = null;
      if (wb.sharePerWake !== undefined) {
        if (this.dirtyCount > 0)
          yield* this.writeOldest(Math.ceil(this.dirtyCount * wb.sharePerWake), Infinity);
        continue;
      }
      while (!os.stopping) {
        const over = this.dirtyCount > wb.backgroundRatio * this.dirtyable();
        const expiredBefore = over ? Infinity : os.nowNs - wb.expireNs;
        const sent = yield* this.writeOldest(wb.chunkPages, expiredBefore);
        if (sent === 0) break;
        while (this.writebackCount > 0) yield* os.waitForWriteback();
      }
    }
  }

  /** Starts writeback of up to `max` dirty pages dirtied before `beforeNs`, oldest first. */
  private *writeOldest(max: number, beforeNs: number): Proc<number> {
    const os = this.os;
    const flags = os.mem.flags;
    const picked: number[] = [];
    const q = this.dirtyQueue;
    while (this.dirtyHead < q.length && picked.length < max) {
      const e = q[this.dirtyHead]!;
      if (e.atNs > beforeNs) break;
      this.dirtyHead++;
      const fl = flags[e.g]!;
      if (!(fl & PG_DIRTY) || fl & (PG_WRITEBACK | PG_LOCKED) || os.mem.use[e.g] !== CACHE) continue;
      if (this.dirtySeq[e.g] !== e.seq) continue;
      picked.push(e.g);
    }
    if (this.dirtyHead > 4096 && this.dirtyHead * 2 > q.length) {
      q.splice(0, this.dirtyHead);
      this.dirtyHead = 0;
    }
    if (picked.length === 0) return 0;
    // The writeback of one file goes in block order, as write_cache_pages() walks the mapping.
    picked.sort((a, b) => this.blockOf(a) - this.blockOf(b));
    let run: number[] = [];
    const flush = (): void => {
      if (run.length === 0) return;
      const gfns = run;
      run = [];
      const blocks = gfns.map((g) => this.blockOf(g));
      for (const g of gfns) {
        flags[g] = (flags[g]! & ~PG_DIRTY) | PG_WRITEBACK;
        this.dirtyCount--;
        this.writebackCount++;
      }
      os.submitIo('write', blocks, gfns, () => {
        for (const g of gfns) {
          flags[g]! &= ~PG_WRITEBACK;
          this.writebackCount--;
          os.wakeFrame(g);
        }
        os.writebackDone();
      });
    };
    for (const g of picked) {
      const last = run.length > 0 ? run[run.length - 1]! : -1;
      if (last >= 0 && (this.blockOf(g) !== this.blockOf(last) + 1 || run.length >= MAX_IO_PAGES)) flush();
      run.push(g);
    }
    flush();
    if (os.cpu(os.costs.guestSubmitNs)) yield SYNC;
    return picked.length;
  }

  private blockOf(g: number): number {
    return this.files[this.pageFile[g]!]!.startBlock + this.pageIndex[g]!;
  }

  // ---------------------------------------------------------------- reclaim and removal

  /**
   * Frees up to `target` clean, unlocked pages from the inactive tail (shrinking the active list as
   * needed), scanning at most `scanBudget`. Dirty pages wake the flusher and go back to the head.
   */
  shrink(target: number, scanBudget: number): number {
    const os = this.os;
    const { flags, lru } = os.mem;
    let freed = 0;
    let budget = scanBudget;
    let dirtySeen = 0;
    while (freed < target && budget-- > 0) {
      const g = os.mem.popInactive(INACTIVE_FILE, ACTIVE_FILE);
      if (g < 0) break;
      const fl = flags[g]!;
      if (fl & (PG_LOCKED | PG_DIRTY | PG_WRITEBACK)) {
        if (fl & PG_DIRTY) dirtySeen++;
        lru.pushHead(INACTIVE_FILE, g);
        continue;
      }
      this.evict(g);
      freed++;
    }
    if (dirtySeen > 0) this.kickFlusher();
    return freed;
  }

  private evict(g: number): void {
    const os = this.os;
    os.mem.lru.remove(g);
    this.files[this.pageFile[g]!]!.gfnOf[this.pageIndex[g]!] = NONE;
    this.pageFile[g] = NONE;
    this.pageIndex[g] = NONE;
    os.freeFrame(g);
  }

  /** Clean pages that reclaim could free now. */
  get reclaimablePages(): number {
    return this.os.mem.cachePages - this.dirtyCount - this.writebackCount;
  }

  /** unlink(): the file's cached pages go (dirty ones unwritten); waits for writeback in flight. */
  *remove(fileNo: number): Program {
    const os = this.os;
    const f = this.file(fileNo);
    const flags = os.mem.flags;
    for (let j = 0; j < f.sizePages; j++) {
      const g = f.gfnOf[j]!;
      if (g === NONE) continue;
      while (f.gfnOf[j] === g && flags[g]! & (PG_WRITEBACK | PG_LOCKED)) {
        os.waitFrame(g);
        yield BLOCK;
      }
      if (f.gfnOf[j] !== g) continue;
      if (flags[g]! & PG_DIRTY) this.dirtyCount--;
      this.evict(g);
    }
    f.raSize = 0;
  }
}
