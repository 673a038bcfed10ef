import { fstatSync } from 'node:fs';
import {
  DEFAULT_CORE_TUNABLES,
  type Gfn,
  MemoryCore,
  NO_FAULT,
  type ImageReadAction,
  type ReadAction,
  State,
  type SwapReadAction,
  type SwapWriteAction,
  asGfn,
} from '../core/index.js';
import { type ActionPort, CoreDriver, type DriverAction } from '../driver/core-driver.js';
import type { PagerDisk } from './disk.js';
import { Emulation } from './emulation.js';
import type { InterceptRegion } from './intercept-region.js';
import type { GuestRam } from './guest-ram.js';
import type { RawFile } from './image-file.js';
import { FaultStage, FaultTrace } from './fault-trace.js';
import { type Loop, monoNs } from './loop.js';
import { type Mapping, PAGE, anonymous, memcpy } from './sys.js';
import { AccessSampler } from './sampler.js';
import type { ThreadContexts } from './threads.js';
import { RegisterMode, type Uffd, type UffdFault } from './uffd.js';

export interface PagerConfig {
  /** Track which pages hold unmodified image blocks and drop them on eviction (the Swap Mapper). */
  mapper: boolean;
  /** Guest RAM pages the pager keeps resident; more are evicted (the paper's cgroup limit, for guest RAM). */
  residentLimitPages: number;
  imageBlocks: number;
  swapSlots: number;
  /** Access sampling (see sampler.ts): slots for armed pages, pages armed per inactive list, period. */
  sampling: { slots: number; depth: number; periodMs: number };
  /** Linux's vm.page-cluster for swap readahead (default: the core's, Linux's 3). */
  pageClusterLog2?: number;
  /**
   * The False Reads Preventer (§4.2): needs QEMU's TCG intercept (the patched QEMU), whose region
   * and reply signal are given here. Absent pages are marked in it, so that the guest's loads and
   * stores to them come to `Emulation` instead of faulting.
   */
  preventer?: { region: InterceptRegion; signal: () => void };
  /**
   * For the torture test only: evict without write-protecting first, to show that the test catches
   * the writes this loses.
   */
  unsafeSkipWriteProtect?: boolean;
  /**
   * For the balloon test only: hear QEMU's discards but keep them from the core, to show that the
   * never-read-back counter catches a discarded page read back from swap.
   */
  unsafeIgnoreDiscards?: boolean;
  /**
   * For the Preventer's torture test only: a broken merge (the bytes the guest wrote to an absent
   * page are dropped instead of going over its old content) on the pages `sabotageMerges` names
   * (the torture program's: the guest kernel's own pages would crash the guest first), to show
   * that the test catches it.
   */
  unsafeDropMerges?: boolean;
}

/** What the pager did, beside the core's counters. */
export interface PagerStats {
  /** userfaultfd messages by the faulting thread's context, and of them write-protect faults. */
  uffdFaultsGuest: number;
  uffdFaultsHost: number;
  wpFaults: number;
  /** Pages installed in QEMU with UFFDIO_COPY, and copies that found a page already there. */
  copies: number;
  copyExists: number;
  /** Faults on a page the core says is present but the memfd does not hold: content lost (must be 0). */
  lostPages: number;
  /** Merges the torture test's planted bug dropped (`unsafeDropMerges`; 0 otherwise). */
  sabotagedMerges: number;
  punches: number;
  writeProtects: number;
  /** Pages QEMU had populated before the pager attached (firmware, kernel, boot data). */
  adopted: number;
  /**
   * Pages QEMU discarded itself (its balloon: UFFD_EVENT_REMOVE), given to the core's balloon; of
   * them, pages whose only copy was in swap (never read back now), and pages pinned by the back
   * end at that moment (left to the core as they were: never expected).
   */
  balloonRemoved: number;
  balloonRemovedSwapped: number;
  balloonRemovePinned: number;
  /**
   * Swap reads of a page QEMU discarded that had no new content since (the zero page it gets on its
   * next touch is new content): a ballooned page read back from swap. Must be 0.
   */
  balloonSwapReadBacks: number;
}

/** How many userfaultfd messages one read asks for (32 bytes each). */
const FAULTS_PER_READ = 256;
/** The states of `Pager.faulting`. */
const NOT_FAULTING = 0;
const FAULTING = 1;
const COPIED_WP = 2;
const COPIED_WRITABLE = 3;

/**
 * The external pager: the sans-I/O memory core decides (what to evict, where a page's content is,
 * what to read ahead, when a Mapper association breaks), and this class carries its actions out on
 * QEMU's memfd guest RAM through a userfaultfd created in QEMU:
 *
 * - evict to swap: write-protect the page in QEMU, copy it to our swap file, punch it out of the
 *   memfd once written (a guest write in between faults and is seen by the core first);
 * - evict a named page (Mapper) or a clean swap-cache page: punch it out, nothing written. Such
 *   pages are always write-protected in QEMU, so a write racing the eviction waits in its fault;
 * - a fault: the core's read (swap slots or image blocks, with its readahead) into a staging
 *   buffer, then UFFDIO_COPY of each page, write-protected unless the core considers it dirty;
 * - a write-protect fault: the core learns the page was written (the Mapper's copy-on-write), then
 *   the page is unprotected.
 *
 * Actions are carried out strictly in the order the core emitted them.
 */
export class Pager implements ActionPort {
  readonly core: MemoryCore;
  readonly driver: CoreDriver;
  readonly stats: PagerStats = {
    uffdFaultsGuest: 0,
    uffdFaultsHost: 0,
    wpFaults: 0,
    copies: 0,
    copyExists: 0,
    lostPages: 0,
    sabotagedMerges: 0,
    punches: 0,
    writeProtects: 0,
    adopted: 0,
    balloonRemoved: 0,
    balloonRemovedSwapped: 0,
    balloonRemovePinned: 0,
    balloonSwapReadBacks: 0,
  };
  /**
   * Per page, a fault of QEMU's waiting on it (read, not yet released): NOT_FAULTING, FAULTING, or
   * (once a copy installed the page, which woke every thread waiting on it) COPIED_WP or
   * COPIED_WRITABLE. A faulting page is installed first; one woken by its copy needs no wake.
   */
  private readonly faulting: Uint8Array;
  /** 1 for a page QEMU discarded (its balloon) and not filled since: it must never come from swap. */
  private readonly discarded: Uint8Array;
  /** A run of dropped pages held back to be punched out as one hole (first page, length). */
  private punchFrom = 0;
  private punchPages = 0;
  private readonly staging: Mapping;
  private readonly stagingPages = 64;
  private readonly zeroPage: Mapping;
  /** A page of ours where the bytes the guest wrote to an absent page are merged over its content. */
  private readonly mergePage: Mapping;
  /** Pages QEMU populated before we attached: their 'zero' action is not carried out. */
  private readonly adopting = new Set<number>();
  readonly sampler: AccessSampler;
  /** The Preventer's data path (with the patched QEMU only). */
  readonly emulation: Emulation | undefined;
  private stopped = false;
  /** The per-fault timeline, while a bench asks for it (`traceFaults`); undefined otherwise. */
  private trace: FaultTrace | undefined;

  constructor(
    readonly loop: Loop,
    readonly ram: GuestRam,
    readonly uffd: Uffd,
    readonly threads: ThreadContexts,
    readonly swap: RawFile,
    readonly image: RawFile,
    readonly disk: PagerDisk,
    readonly cfg: PagerConfig,
  ) {
    this.core = new MemoryCore({
      ...DEFAULT_CORE_TUNABLES,
      guestPages: ram.pages,
      vmmPages: 0,
      imageBlocks: cfg.imageBlocks,
      swapSlots: cfg.swapSlots,
      residentLimitPages: ram.pages,
      mapper: cfg.mapper,
      preventer: cfg.preventer !== undefined,
      // QEMU under TCG has no KVM async page fault worker: a fault is resolved as the access it was.
      asyncPfWriteFaults: false,
      ...(cfg.pageClusterLog2 !== undefined ? { pageClusterLog2: cfg.pageClusterLog2 } : {}),
    });
    this.driver = new CoreDriver(this.core, this);
    this.discarded = new Uint8Array(ram.pages);
    this.faulting = new Uint8Array(ram.pages);
    this.staging = anonymous(this.stagingPages * PAGE);
    this.zeroPage = anonymous(PAGE);
    this.mergePage = anonymous(PAGE);
    this.sampler = new AccessSampler(this.core, ram, uffd, cfg.sampling.slots, cfg.sampling.depth, (p) =>
      this.protect(p),
    );
    const pv = cfg.preventer;
    this.emulation = pv
      ? new Emulation(
          {
            core: this.core,
            after: (id, k) => this.driver.after(id, k),
            guestBytes: (g, write) => this.guestBytes(g, write),
          },
          pv.region,
          pv.signal,
        )
      : undefined;
  }

  /**
   * A resident page's bytes through our mapping, for an access the intercept handed over (the core
   * has seen it: a write made the page dirty, so QEMU may write it directly from now on too).
   */
  private guestBytes(g: Gfn, write: boolean): Uint8Array {
    this.ensureMapped(g);
    if (write) this.uffd.writeProtect(this.ram.qemuAddr(g), PAGE, false);
    return this.ram.ours.bytes.subarray(g * PAGE, (g + 1) * PAGE);
  }

  /** Arms the tails of the inactive lists for access sampling, every `periodMs`. */
  private sample(): void {
    if (this.stopped) return;
    if (this.cfg.sampling.depth > 0) this.sampler.tick();
    this.loop.after(this.cfg.sampling.periodMs * 1e6, () => this.sample());
  }

  stop(): void {
    this.stopped = true;
  }

  /**
   * Starts recording each fault's timeline (up to `capacity` faults), or stops and returns what was
   * recorded (FAULT_TRACE_FIELDS numbers a fault: see fault-trace.ts).
   */
  traceFaults(capacity: number | undefined): number[] {
    const records = this.trace?.records() ?? [];
    this.trace = capacity ? new FaultTrace(this.ram.pages, capacity) : undefined;
    return records;
  }

  /**
   * Makes a page the core considers resident usable through our mapping (an armed page is put
   * back first). Every direct access by the back end goes through here.
   */
  ensureMapped(page: Gfn): void {
    if (this.sampler.isArmed(page)) this.sampler.restore(page, false);
  }

  /**
   * The device overwrites `page` whole (a disk read into it): it has new content, so a page QEMU
   * discarded earlier (ballooned, then given back by a deflation) may come from swap again.
   */
  deviceFills(page: Gfn): void {
    this.discarded[page] = 0;
  }

  /**
   * Registers QEMU's guest RAM with the userfaultfd (missing and write-protect faults), then takes
   * over the pages QEMU already populated, then applies the resident limit.
   */
  attach(): void {
    this.uffd.register(this.ram.qemuBase, this.ram.pages * PAGE, RegisterMode.MISSING | RegisterMode.WP);
    // Registered first: a page QEMU touches from now on faults to us, so the scan below misses none.
    const present = this.ram.presentPages();
    for (const p of present) {
      this.adopting.add(p);
      if (!this.driver.settle(this.core.touch(asGfn(p), true, 'host'), () => {}))
        throw new Error(
          `pager: adopting page ${p} did not complete at once (the resident limit applies later)`,
        );
    }
    this.adopting.clear();
    this.stats.adopted = present.length;
    this.loop.watch(this.uffd.fd, () => this.onFaults());
    // Messages an ioctl had to read first (a remove event was pending) are served on the next turn.
    this.uffd.onBacklog = () => this.loop.defer(() => this.onFaults());
    this.setLimit(this.cfg.residentLimitPages);
    this.sample();
  }

  setLimit(pages: number): void {
    this.core.setResidentLimit(Math.min(pages, this.ram.pages));
    this.driver.pump();
  }

  // ------------------------------------------------------------------ faults from QEMU

  private onFaults(): void {
    for (;;) {
      const faults = this.uffd.readFaults(FAULTS_PER_READ, (start, end) => this.onRemove(start, end));
      if (faults.length === 0) break;
      const parsedNs = this.trace ? monoNs() : 0;
      for (const f of faults) this.onFault(f, parsedNs);
      this.driver.pump();
      // Fewer than asked for: the descriptor had no more (a read more would only say EAGAIN); any
      // that came since make it readable for the loop's next poll.
      if (faults.length < FAULTS_PER_READ) break;
    }
  }

  private onFault(f: UffdFault, parsedNs: number): void {
    const page = this.ram.pageOf(f.addr);
    if (page < 0) {
      // Not guest RAM (cannot happen: only guest RAM is registered); let the thread retry.
      this.uffd.wake(f.addr);
      return;
    }
    const ctx = this.threads.of(f.tid);
    if (ctx === 'guest') this.stats.uffdFaultsGuest++;
    else this.stats.uffdFaultsHost++;
    if (f.wp) this.stats.wpFaults++;
    const write = f.write || f.wp;
    const gfn = asGfn(page);
    this.faulting[page] = FAULTING;
    const trace = this.trace;
    if (trace) {
      trace.begin(page, this.loop.wokeNs, parsedNs);
      const id = this.core.touch(gfn, write, ctx);
      trace.stamp(page, FaultStage.touched);
      this.driver.after(id, () => this.release(gfn, write));
      return;
    }
    this.driver.after(this.core.touch(gfn, write, ctx), () => this.release(gfn, write));
  }

  /**
   * QEMU discarded [start, end) of its guest RAM itself (madvise after punching the memfd: its
   * balloon): the content is gone, so the core's balloon takes the pages (a swap copy is freed, never
   * read back; the next touch gets a zero page). QEMU waits in madvise until this event is read.
   */
  private onRemove(start: number, end: number): void {
    for (let a = start; a < end; a += PAGE) {
      const page = this.ram.pageOf(a);
      if (page < 0) continue;
      const g = asGfn(page);
      const info = this.core.inspect(page);
      if (info.pins > 0) {
        this.stats.balloonRemovePinned++;
        continue;
      }
      if (info.state === State.Ballooned) continue;
      if (info.state === State.Swapped) this.stats.balloonRemovedSwapped++;
      this.stats.balloonRemoved++;
      this.discarded[page] = 1;
      if (this.cfg.unsafeIgnoreDiscards) continue;
      // Bytes the guest wrote to it while absent are superseded too (QEMU's buffer, ours).
      this.emulation?.claim(page);
      this.emulation?.discard(page);
      this.core.balloonInflate(g);
    }
    this.driver.pump();
  }

  /** The core has the page (and has seen the access): let QEMU's thread go on. */
  private release(page: Gfn, write: boolean): void {
    const copied = this.faulting[page];
    this.faulting[page] = NOT_FAULTING;
    // A sampled page: the guest used it (the core has just seen the access); put it back.
    if (this.sampler.isArmed(page)) this.sampler.restore(page, true);
    if (!this.ram.isPresent(page)) {
      // The core says present, the memfd disagrees: a page was lost. Counted; never expected.
      this.stats.lostPages++;
    }
    const addr = this.ram.qemuAddr(page);
    // A write: the core now treats the page as dirty (any Mapper association is broken), so it may
    // be written freely. Unprotecting wakes the writer; a missing fault was woken by its copy (a
    // page copied in writable for a write, or at all for a read, needs neither ioctl).
    if (write) {
      if (copied !== COPIED_WRITABLE) this.uffd.writeProtect(addr, PAGE, false);
    } else if (copied !== COPIED_WP && copied !== COPIED_WRITABLE) this.uffd.wake(addr);
    this.trace?.end(page);
  }

  // ------------------------------------------------------------------ the core's actions

  /** One action of the core, in the order the core emitted them (the driver's loop calls it). */
  carryOut(a: DriverAction): void {
    if (a.kind === 'drop') {
      for (const page of a.pages) this.drop(page);
      return;
    }
    this.flush();
    switch (a.kind) {
      case 'read':
        this.read(a);
        return;
      case 'write':
        this.write(a);
        return;
      case 'zero':
        this.discarded[a.page] = 0;
        if (this.adopting.has(a.page)) return;
        this.emulation?.claim(a.page);
        if (this.emulation?.has(a.page)) {
          this.mergePage.bytes.fill(0);
          this.installMerged(a.page);
          return;
        }
        this.install(a.page, this.zeroPage.addr);
        return;
      case 'dropVmm':
        throw new Error('pager: the core manages no hypervisor pages here');
      case 'timer': {
        const page = a.page;
        this.loop.after(a.delayNs, () => {
          this.core.timerFired(page);
          this.driver.pump();
        });
        return;
      }
      case 'remap':
        // Every byte written (the core counted 64 whole chunks): the buffer is the page, nothing read.
        // (Bytes QEMU buffered for it since are taken first: they are newer.)
        this.emu('remap').claim(a.page);
        this.installRun(a.page, 1, this.emu('remap').remapSource(a.page), false);
        return;
      case 'discardBuffer':
        this.emu('discardBuffer').discard(a.page);
        return;
    }
  }

  private emu(what: string): Emulation {
    if (!this.emulation)
      throw new Error(`pager: action ${what} needs the False Reads Preventer, which is off`);
    return this.emulation;
  }

  /**
   * Bytes the guest wrote to page `p` while it was absent go over the content about to be installed
   * (the merge); the core then holds the page dirty, so it is installed writable.
   */
  private mergeBuffered(p: Gfn, dst: Uint8Array): void {
    if (this.brokenMerges?.[p] && this.emulation?.has(p)) {
      this.emulation.discard(p);
      this.stats.sabotagedMerges++;
      return;
    }
    if (!this.emulation?.mergeInto(p, dst)) return;
    if (!this.core.isDirty(p) && this.core.touch(p, true, 'guest') !== NO_FAULT)
      throw new Error(`pager: page ${p} being installed is not resident in the core`);
  }

  /** Pages whose merges drop the guest's bytes (`unsafeDropMerges` only). */
  private brokenMerges: Uint8Array | undefined;

  /** The torture test's planted bug, from now on, for the pages in `[from, to)` ranges. */
  sabotageMerges(ranges: ReadonlyArray<readonly [number, number]>): number {
    if (!this.cfg.unsafeDropMerges) throw new Error('pager: merges can be broken only with unsafeDropMerges');
    this.brokenMerges ??= new Uint8Array(this.ram.pages);
    let n = 0;
    for (const [from, to] of ranges)
      for (let p = Math.max(0, from); p < Math.min(to, this.ram.pages); p++, n++) this.brokenMerges[p] = 1;
    return n;
  }

  /** One page of a drop action: its frame was freed. */
  private drop(page: Gfn): void {
    if (!this.sampler.isArmed(page)) {
      // Reclaim drops pages in runs (often read in together): one hole per run.
      if (this.punchPages > 0 && page === this.punchFrom + this.punchPages) {
        this.punchPages++;
        return;
      }
      this.flush();
      this.punchFrom = page;
      this.punchPages = 1;
      return;
    }
    this.flush();
    // Armed: already out of the memfd, and its sampling slot held its content. Absent from now, as
    // any dropped page: the Preventer watches it too (most evictions are of armed pages).
    this.sampler.discard(page);
    this.cfg.preventer?.region.mark(page);
  }

  /** Punches out the run of dropped pages held back. */
  flush(): void {
    if (this.punchPages === 0) return;
    // Absent from now: the guest's loads and stores to these pages go to the Preventer (QEMU's TLB
    // entries filled before this still reach RAM, and fault: the ordinary path).
    const region = this.cfg.preventer?.region;
    if (region) for (let k = 0; k < this.punchPages; k++) region.mark(this.punchFrom + k);
    this.ram.punch(this.punchFrom, this.punchPages);
    this.stats.punches += this.punchPages;
    this.punchPages = 0;
  }

  /** Installs a page in QEMU from our memory, write-protected unless the core considers it dirty. */
  private install(page: Gfn, src: number): void {
    this.installRun(page, 1, src, !this.core.isDirty(page));
  }

  /** Installs `n` consecutive pages from consecutive memory at `src`, all with the same protection. */
  private installRun(page: number, n: number, src: number, wp: boolean): void {
    const region = this.cfg.preventer?.region;
    if (region) for (let k = 0; k < n; k++) region.unmark(page + k);
    const r = this.uffd.copy(this.ram.qemuAddr(page), src, n * PAGE, wp);
    if (r === 'exists') {
      // Some page of the run is there already: install the others one by one, counting each.
      if (n > 1) for (let k = 0; k < n; k++) this.installRun(page + k, 1, src + k * PAGE, wp);
      else this.stats.copyExists++;
      return;
    }
    this.stats.copies += n;
    // The copy woke every thread waiting on these pages (no UFFDIO_COPY_MODE_DONTWAKE).
    const f = this.faulting;
    for (let k = 0; k < n; k++)
      if (f[page + k] !== NOT_FAULTING) f[page + k] = wp ? COPIED_WP : COPIED_WRITABLE;
  }

  private read(a: ReadAction): void {
    if (a.source === 'vmm') throw new Error('pager: the core manages no hypervisor pages here');
    if (a.count > this.stagingPages)
      throw new Error(`pager: a read of ${a.count} pages exceeds the staging buffer`);
    const file = a.source === 'swap' ? this.swap : this.image;
    if (a.source === 'swap')
      for (const p of a.pages) if (this.discarded[p] === 1) this.stats.balloonSwapReadBacks++;
    this.stampPages(a.pages, FaultStage.submitted);
    this.disk.submit('read', a.source, a.start, a.count, () => {
      this.stampPages(a.pages, FaultStage.readStart);
      // SAFETY (in RawFile.read): a.count pages fit the staging buffer, checked above.
      file.read(this.staging.addr, a.count * PAGE, a.start * PAGE);
      this.stampPages(a.pages, FaultStage.readEnd);
      this.core.readDone(a.id);
      // The Preventer's merge (and stray bytes of pages it did not emulate, in our buffers or in
      // QEMU's write buffer, taken now that the pages come in): over the old content, in a copy of
      // the page's own, installed at once. Not in the staging buffer: with the Mapper, pages that
      // hold the same image block share one unit of the read (read once), and the bytes one of
      // them was written belong to that page alone.
      const merged = this.emulation ? this.mergeRead(a.pages, a.units, a.start) : undefined;
      // After readDone the core has applied the faulting access: a page it now considers dirty is
      // installed writable, a clean one (read ahead, or named) write-protected. Pages consecutive
      // both in guest RAM and in the staging buffer, with the same protection, go in one copy.
      this.installRead(a, merged);
      this.driver.pump();
    });
  }

  /**
   * Installs the pages of a read just done from the staging buffer. After readDone the core has
   * applied the faulting access: a page it now considers dirty is installed writable, a clean one
   * (read ahead, or named) write-protected. Pages consecutive both in guest RAM and in the staging
   * buffer, with the same protection, go in one copy. A thread waits on a faulting page until the
   * copy that holds it ends, so the run holding a faulting page is copied first, from that page on
   * (a read-ahead window's other pages cost it nothing then: 1.2 us a page of UFFDIO_COPY here);
   * the same pages get the same content and protection, only sooner or later.
   */
  private installRead(a: SwapReadAction | ImageReadAction, merged: Uint8Array | undefined): void {
    const core = this.core;
    const pages = a.pages;
    const skip = (k: number): boolean => !core.isResident(pages[k]!) || merged?.[k] === 1;
    // Runs [from, to) of indexes into pages; the ones to copy after the faulting pages' own.
    const later: number[] = [];
    let i = 0;
    while (i < pages.length) {
      const p = pages[i]!;
      if (skip(i)) {
        i++;
        continue;
      }
      const wp = !core.isDirty(p);
      let j = i + 1;
      while (
        j < pages.length &&
        pages[j] === p + (j - i) &&
        a.units[j] === a.units[i]! + (j - i) &&
        !skip(j) &&
        !core.isDirty(pages[j]!) === wp
      )
        j++;
      let k = i;
      while (k < j && this.faulting[pages[k]!] === 0) k++;
      if (k === j) later.push(i, j);
      else {
        this.installIndexes(a, k, j, wp);
        if (k > i) later.push(i, k);
      }
      i = j;
    }
    for (let r = 0; r < later.length; r += 2)
      this.installIndexes(a, later[r]!, later[r + 1]!, !core.isDirty(pages[later[r]!]!));
  }

  /** Copies pages[from, to) of a read (one run) from the staging buffer into QEMU. */
  private installIndexes(a: SwapReadAction | ImageReadAction, from: number, to: number, wp: boolean): void {
    const run = this.trace ? a.pages.slice(from, to) : undefined;
    if (run) this.stampPages(run, FaultStage.copying);
    this.installRun(a.pages[from]!, to - from, this.staging.addr + (a.units[from]! - a.start) * PAGE, wp);
    if (run) this.stampPages(run, FaultStage.installed);
  }

  /** Stamps `stage` on the open fault records of `pages` (tracing only). */
  private stampPages(pages: readonly number[], stage: FaultStage): void {
    const trace = this.trace;
    if (!trace) return;
    const now = monoNs();
    for (const p of pages) if (trace.isOpen(p)) trace.stamp(p, stage, now);
  }

  /**
   * The pages of a read just done (unit `units[i]` of page `pages[i]` in the staging buffer, from
   * unit `start`) the guest wrote bytes to while they were absent: each gets its unit's content
   * copied to a page of its own, the bytes merged over it, and is installed. Returns 1 for each
   * page so installed.
   */
  private mergeRead(pages: readonly Gfn[], units: readonly number[], start: number): Uint8Array {
    const emulation = this.emu('merge');
    const merged = new Uint8Array(pages.length);
    for (let i = 0; i < pages.length; i++) {
      const p = pages[i]!;
      if (!this.core.isResident(p)) continue;
      emulation.claim(p);
      if (!emulation.has(p)) continue;
      const off = (units[i]! - start) * PAGE;
      this.mergePage.bytes.set(this.staging.bytes.subarray(off, off + PAGE));
      this.installMerged(p);
      merged[i] = 1;
    }
    return merged;
  }

  /** Installs page `p` from `mergePage` (its old content, put there) with the guest's bytes over it. */
  private installMerged(p: Gfn): void {
    this.mergeBuffered(p, this.mergePage.bytes);
    this.install(p, this.mergePage.addr);
  }

  private write(a: SwapWriteAction): void {
    const n = a.pages.length;
    // Frozen first: from here a guest write faults, and the core hears of it before the page can go.
    // (An armed page is frozen already, and its content is in its sampling slot.)
    const src = (p: number): number =>
      this.sampler.isArmed(p) ? this.sampler.slotAddr(p) : this.ram.ourAddr(p);
    for (const p of a.pages) if (!this.sampler.isArmed(p)) this.protect(p);
    if (n <= this.stagingPages) {
      for (let i = 0; i < n; i++) memcpy(this.staging.addr + i * PAGE, src(a.pages[i]!), PAGE);
      this.swap.write(this.staging.addr, n * PAGE, a.start * PAGE);
    } else {
      for (let i = 0; i < n; i++) this.swap.write(src(a.pages[i]!), PAGE, (a.start + i) * PAGE);
    }
    this.disk.submit('write', 'swap', a.start, n, () => {
      this.core.writeDone(a.id);
      this.driver.pump();
    });
  }

  /** Write-protects a page in QEMU (a present page, or a marker on an absent one). */
  protect(page: number): void {
    if (this.cfg.unsafeSkipWriteProtect) return;
    this.uffd.writeProtect(this.ram.qemuAddr(page), PAGE, true);
    this.stats.writeProtects++;
  }

  /** Counts the core would report, plus ours. */
  snapshot(): Record<string, number> {
    const c = this.core.census();
    return {
      ...this.core.counters.snapshot(),
      ...this.stats,
      sampledArmed: this.sampler.stats.armed,
      sampledHits: this.sampler.stats.hits,
      sampledEvicted: this.sampler.stats.evictedArmed,
      armedNow: this.sampler.armedPages,
      residentPages: this.core.residentPages,
      residentLimitPages: this.core.residentLimit,
      namedResidentPages: c.namedResident,
      anonResidentPages: c.anonResident,
      mapperTrackedPages: c.mapperTracked,
      swapUsedSlots: c.swapUsed,
      waitingFaults: this.core.waitingFaults,
      // What the memfd really holds (the guest RAM QEMU and we share), and what sits in sampling slots.
      memfdBytes: fstatSync(this.ram.fd).blocks * 512,
      uffdEagainRetries: this.uffd.eagainRetries,
      armedBytes: this.sampler.armedPages * PAGE,
      ...this.interceptSnapshot(),
    };
  }

  /** QEMU's intercept counts and the emulation's, when the Preventer runs. */
  private interceptSnapshot(): Record<string, number> {
    const e = this.emulation;
    const region = this.cfg.preventer?.region;
    if (!e || !region) return {};
    const q = region.counters();
    return {
      interceptTlbFills: q.tlbFillsIntercepted,
      interceptTlbFlushes: q.tlbFlushesOnRelease,
      interceptWrites: e.stats.writes,
      interceptReads: e.stats.reads,
      interceptCombinedStores: q.combinedStores,
      interceptLoadsFromBuffer: q.loadsFromBuffer,
      interceptHandedFull: q.handedFull,
      interceptHandedOther: q.handedOther,
      interceptHandedLoad: q.handedLoad,
      interceptHandedDevice: q.handedDevice,
      interceptFlushes: e.stats.flushes,
      interceptBuffersTaken: e.stats.buffersTaken,
      interceptBufferLockContended: region.lockContended,
      interceptReadsFromBuffer: e.stats.servedFromBuffer,
      interceptServedPresent: e.stats.servedPresent,
      interceptWaited: e.stats.waited,
      interceptBufferedPages: e.bufferedPages,
    };
  }
}
