import { CoreCounters } from './counters.js';
import { EmulatedPage, checkChunks } from './emulation.js';
import { IdMap } from './id-map.js';
import { ConfigError, CoreError } from './errors.js';
import { LruLists, NOT_ON_LIST } from './lru.js';
import { Flag, PageTable, State } from './page-table.js';
import { SwapSpace } from './swap-space.js';
import { SplitMix } from './split-mix.js';
import {
  type BlockNo,
  type FaultContext,
  type Gfn,
  NONE,
  type SwapSlot,
  type VmmPage,
  asSlot,
} from './types.js';

/** Host LRU lists, as Linux's per-cgroup lruvec. */
export const Lru = { InactiveAnon: 0, ActiveAnon: 1, InactiveFile: 2, ActiveFile: 3 } as const;

export interface CoreConfig {
  guestPages: number;
  /** The hypervisor process's own file-backed pages (QEMU's code), reclaimed beside the guest's. */
  vmmPages: number;
  imageBlocks: number;
  swapSlots: number;
  /** The cgroup limit: guest frames plus the hypervisor's pages that may be resident at once. */
  residentLimitPages: number;
  /** The Swap Mapper: track which guest pages hold unmodified image blocks and drop them on eviction. */
  mapper: boolean;
  /**
   * The False Reads Preventer (§4.2). Here: its short-circuit for whole-page writes (the paper's REP
   * string case), which remaps an absent page to a fresh frame without reading its old content.
   */
  preventer: boolean;
  /** At most this many pages are emulated at once; more writes to absent pages fault (§4.2: 32). */
  preventerMaxPages: number;
  /** Emulation of a page stops this long after its first emulated write (§4.2: 1 ms). */
  preventerTimeoutNs: number;
  /** Linux vm.swappiness: anon vs file reclaim pressure (anon_prio = swappiness, file_prio = 200 - it). */
  swappiness: number;
  /** Linux vm.page-cluster: swap readahead reads an aligned window of 2^pageClusterLog2 slots. */
  pageClusterLog2: number;
  /** Read-around window, in pages, when a dropped named page (or QEMU code) is faulted back. */
  fileReadaroundPages: number;
  /** SWAP_CLUSTER_MAX: pages each reclaim pass tries to free. */
  reclaimBatchPages: number;
  swapClusterSlots: number;
  /**
   * Hardware without EPT dirty bits (the paper's Sandy Bridge Xeon): the host treats every guest page
   * it maps as dirty, so a page swapped in and touched loses its swap copy and is written again.
   */
  hostAssumesDirty: boolean;
  /**
   * KVM's asynchronous page faults (Linux 3.7, a guest that enabled them): a vCPU fault on a page
   * that needs I/O is finished by a worker calling get_user_pages() with write=1
   * (virt/kvm/async_pf.c, async_pf_execute), whatever the guest's access was. The host fault is
   * then a write fault: do_swap_page's reuse_swap_page() takes the page out of the swap cache and
   * dirties it, so its next eviction writes it to a newly allocated slot. Only the faulting page is
   * affected: pages swap readahead brought in are mapped later by plain faults and keep their slots.
   */
  asyncPfWriteFaults: boolean;
  /**
   * Sizes in GiB of the host's memory zones (per NUMA node: DMA32, Normal). Each zone keeps its own
   * LRU lists, as Linux's per-zone lruvec does; a page lands in the zone its frame came from, and
   * reclaim takes its batches zone by zone, so eviction interleaves several LRU orders.
   */
  zoneWeights: readonly number[];
  /**
   * New frames come from one zone in runs: the allocator serves from a zone until it falls below its
   * low watermark and kswapd tops it up to its high one. The run is that gap, min_pages / 4, which
   * Linux 3.7 sets in proportion to the zone's size: this many pages per GiB of zone.
   */
  allocRunPagesPerGiB: number;
  /** Seeds the choice of zone for new frames: the core's only randomness, so it stays deterministic. */
  seed: number;
}

export const DEFAULT_CORE_TUNABLES = {
  swappiness: 60,
  pageClusterLog2: 3,
  fileReadaroundPages: 32,
  reclaimBatchPages: 32,
  swapClusterSlots: 256,
  hostAssumesDirty: true,
  asyncPfWriteFaults: true,
  preventer: false,
  preventerMaxPages: 32,
  preventerTimeoutNs: 1_000_000,
  // The paper's Dell R420 with 16 GB on two sockets: node 0 has DMA32 (about 3 GB) and Normal
  // (5 GB), node 1 has Normal (8 GB).
  zoneWeights: [3, 5, 8],
  // min_free_kbytes = sqrt(16 x 16 GiB in KiB) = 16 MiB, shared by the zones by size: 256 pages of
  // min per GiB, and a low-to-high watermark gap of a quarter of that.
  allocRunPagesPerGiB: 64,
  seed: 1,
} as const;

export type ReadSource = 'swap' | 'image' | 'vmm';

/** What the core asks its driver to do. The driver performs it and reports back (readDone/writeDone). */
export type CoreAction =
  /** Read contiguous units (swap slots, image blocks or QEMU file pages) `units[i]` into `pages[i]`. */
  | {
      kind: 'read';
      id: number;
      source: ReadSource;
      start: number;
      count: number;
      pages: number[];
      units: number[];
    }
  /** Write `pages[i]` to swap slot `start + i`. The content is the page's as of this action. */
  | { kind: 'write'; id: number; start: number; pages: number[] }
  /** The page's frame was freed; its content is gone from memory. */
  | { kind: 'drop'; page: number }
  /** A zero-filled frame was installed for the page. */
  | { kind: 'zero'; page: number }
  /** The fault (or wait) `fault` has completed: whoever waited on it may continue. */
  | { kind: 'faultDone'; fault: number }
  /** Call timerFired(page) after `delayNs` (the Preventer's emulation deadline). */
  | { kind: 'timer'; page: number; delayNs: number }
  /** The Preventer's buffer for the page, now written whole, becomes the page. */
  | { kind: 'remap'; page: number }
  /** The Preventer's buffer for the page is dropped (a device or the balloon supersedes it). */
  | { kind: 'discardBuffer'; page: number };

/** emulatedWrite()/emulatedRead(): the access went to (or was served from) the Preventer's buffer. */
export const BUFFERED = -1;

type FaultKind = 'touch' | 'overwrite' | 'dmaWrite' | 'dmaRead' | 'invalidate' | 'pin';

interface Fault {
  id: number;
  page: number;
  kind: FaultKind;
  write: boolean;
  ctx: FaultContext;
  /** Pages whose load this fault still waits for. */
  waiting: number;
  /** Invalidation: the pages to convert to anonymous once loaded. */
  pages?: number[];
  /** Finished as KVM's async page fault worker does: a write fault (see asyncPfWriteFaults). */
  asyncWrite?: boolean;
}

interface PendingIo {
  source: ReadSource | 'swap-write';
  pages: number[];
  units: number[];
}

/**
 * The sans-I/O memory core of one guest: where each page lives, host reclaim (Linux-like
 * active/inactive anon and file lists with second chance and swappiness), the swap area, swap and
 * file readahead, the cgroup limit, the Swap Mapper's consistency rules and the balloon. It takes
 * events (touches, device accesses, I/O completions) and queues actions; it never performs I/O or
 * reads a clock, so the simulator and a real pager drive the same code.
 */
export class MemoryCore {
  readonly cfg: CoreConfig;
  readonly pt: PageTable;
  readonly lru: LruLists;
  readonly swap: SwapSpace;
  readonly counters = new CoreCounters();
  /** Actions not yet taken by the driver, in order (drain() hands the array over, not a copy). */
  actions: CoreAction[] = [];

  private readonly firstVmmPage: number;
  private limit: number;
  /** Pages in state Resident or Loading: what the cgroup charges. */
  private resident = 0;
  private writebackPages = 0;
  private nextId = 1;
  // IdMaps, not Maps: these fill and empty on every fault, and a Map reallocates as it empties.
  private readonly faults = new IdMap<Fault>();
  private readonly pageWaiters = new IdMap<Fault[]>();
  /** Pages the Preventer is emulating. */
  private readonly emu = new Map<number, EmulatedPage>();
  /** 1 where pageWaiters has an entry: most loaded pages have none, and skip the map. */
  private readonly hasWaiters: Uint8Array;
  private readonly frameWaiters: Fault[] = [];
  private readonly pendingIo = new IdMap<PendingIo>();
  private readonly recentScanned = new Float64Array(2);
  private readonly recentRotated = new Float64Array(2);
  private lastSwapReadEnd = -1;
  private readonly zoneOf: Uint8Array;
  private readonly zoneCdf: number[];
  private readonly rng: SplitMix;
  private zoneCursor = 0;
  private allocZone = 0;
  private allocRunLeft = 0;
  /** Per-list scan targets of one zone at one priority (reused: reclaim runs on every fault). */
  private readonly scanScratch = new Float64Array(4);
  /** Pages a scan puts back where it found them (reused, written by index: never emptied). */
  private readonly keepScratch: number[] = [];
  /** Dirty anonymous pages picked by the current reclaim pass, written as one batch (reused). */
  private readonly writeBatch: number[] = [];

  constructor(cfg: CoreConfig) {
    validateCoreConfig(cfg);
    this.cfg = cfg;
    const pageCount = cfg.guestPages + cfg.vmmPages;
    this.pt = new PageTable(pageCount, cfg.imageBlocks);
    const zones = cfg.zoneWeights.length;
    this.lru = new LruLists(pageCount, 4 * zones);
    this.zoneOf = new Uint8Array(pageCount);
    this.hasWaiters = new Uint8Array(pageCount);
    const total = cfg.zoneWeights.reduce((a, b) => a + b, 0);
    let acc = 0;
    this.zoneCdf = cfg.zoneWeights.map((w) => (acc += w / total));
    this.rng = new SplitMix(cfg.seed);
    this.swap = new SwapSpace(cfg.swapSlots, cfg.swapClusterSlots);
    this.firstVmmPage = cfg.guestPages;
    this.limit = cfg.residentLimitPages;
    // The hypervisor's code starts on disk (in its executable) and is demand-paged like any file.
    for (let i = 0; i < cfg.vmmPages; i++) this.pt.state[this.firstVmmPage + i] = State.InImage;
  }

  // ---------------------------------------------------------------- queries

  get residentPages(): number {
    return this.resident;
  }
  get residentLimit(): number {
    return this.limit;
  }
  get pagesUnderWriteback(): number {
    return this.writebackPages;
  }
  get inFlightIo(): number {
    return this.pendingIo.size;
  }
  get waitingFaults(): number {
    return this.faults.size;
  }
  vmmPageIndex(v: VmmPage): number {
    return this.firstVmmPage + v;
  }
  isVmm(page: number): boolean {
    return page >= this.firstVmmPage;
  }

  /** Named vs anonymous resident pages, and pages the Mapper tracks (resident or dropped). O(pages). */
  census(): { namedResident: number; anonResident: number; mapperTracked: number; swapUsed: number } {
    let named = 0;
    let anon = 0;
    let tracked = 0;
    const { state, flags } = this.pt;
    for (let p = 0; p < this.firstVmmPage; p++) {
      const st = state[p]!;
      const isNamed = (flags[p]! & Flag.Named) !== 0;
      if (st === State.Resident || st === State.Loading || st === State.Emulating) {
        if (isNamed) named++;
        else anon++;
      }
      if (isNamed || st === State.InImage) tracked++;
    }
    return {
      namedResident: named,
      anonResident: anon,
      mapperTracked: tracked,
      swapUsed: this.swap.usedSlots,
    };
  }

  /** Takes the queued actions (the driver calls this after every event it feeds). */
  drain(): CoreAction[] {
    if (this.actions.length === 0) return EMPTY;
    const out = this.actions;
    this.actions = [];
    return out;
  }

  // ---------------------------------------------------------------- guest and host accesses

  /**
   * A CPU access to a guest page. Returns 0 when it proceeds at once, or a fault id whose
   * `faultDone` action releases the accessing context.
   */
  touch(gfn: Gfn, write: boolean, ctx: FaultContext): number {
    const p = gfn as number;
    if (this.pt.state[p] === State.Resident) {
      this.applyTouch(p, write);
      return 0;
    }
    return this.fault(p, 'touch', write, ctx);
  }

  /** The guest CPU overwrites the whole page without reading it (zeroing, copy-on-write copies). */
  overwrite(gfn: Gfn, ctx: FaultContext): number {
    const p = gfn as number;
    if (this.pt.state[p] === State.Resident) {
      this.applyTouch(p, true);
      return 0;
    }
    const e = this.emu.get(p);
    if (e && !e.terminating) {
      // A whole-page write supersedes what was buffered.
      this.emu.delete(p);
      this.actions.push({ kind: 'discardBuffer', page: p });
      this.remapEmulated(p);
      return 0;
    }
    return this.fault(p, 'overwrite', true, ctx);
  }

  /** The hypervisor process executes code on one of its own pages. */
  touchVmm(v: VmmPage): number {
    const p = this.firstVmmPage + v;
    if (this.pt.state[p] === State.Resident) {
      this.pt.flags[p]! |= Flag.Referenced;
      return 0;
    }
    return this.fault(p, 'touch', false, 'host');
  }

  /**
   * The host's own code reads (or writes) guest page `gfn` and keeps it mapped until `unpinHost`:
   * a vring, a request header or status byte that the device emulation accesses in place (QEMU's
   * main loop, or an external back end, touching guest RAM). Absent pages are faulted in (host
   * context). Returns 0 when the page is present and pinned, or a fault id whose completion pins it.
   */
  pinHost(gfn: Gfn, write: boolean): number {
    const p = gfn as number;
    if (this.pt.state[p] === State.Resident) {
      this.applyTouch(p, write);
      this.pt.pins[p]!++;
      return 0;
    }
    return this.fault(p, 'pin', write, 'host');
  }

  /** Ends a `pinHost` access: the page may be evicted again. */
  unpinHost(gfn: Gfn): void {
    this.unpin(gfn as number);
  }

  // ---------------------------------------------------------------- the False Reads Preventer (§4.2)

  /**
   * The guest writes `chunks` 64-byte chunks of `gfn` from `firstChunk`. Returns 0 when the page is
   * present (write it), BUFFERED when the Preventer took the write into its buffer for the page
   * (the guest goes on without waiting), or a fault id to wait for before writing the page.
   */
  emulatedWrite(gfn: Gfn, firstChunk: number, chunks: number, ctx: FaultContext): number {
    checkChunks(firstChunk, chunks);
    const p = gfn as number;
    const pt = this.pt;
    const st = pt.state[p]!;
    if (st === State.Resident) {
      this.applyTouch(p, true);
      return 0;
    }
    let e = this.emu.get(p);
    if (e) {
      // Emulation stops at the first write that does not continue the sequence (§4.2).
      if (!e.terminating && firstChunk !== e.next) this.terminate(p, e);
      e.record(firstChunk, chunks);
      if (!e.terminating && e.full) this.finishRemap(p);
      return BUFFERED;
    }
    const absent = st === State.Swapped || st === State.InImage;
    if (this.cfg.preventer && absent && !this.isVmm(p)) {
      if (this.emu.size >= this.cfg.preventerMaxPages) {
        this.counters.preventerRefused++;
      } else if (this.takeFrames(1) > 0 && pt.state[p] === st) {
        e = new EmulatedPage(firstChunk);
        this.emu.set(p, e);
        pt.state[p] = State.Emulating;
        pt.flags[p]! &= ~Flag.Named;
        this.zoneOf[p] = this.pickZone();
        this.resident++;
        this.counters.preventerEmulatedPages++;
        this.actions.push({ kind: 'timer', page: p, delayNs: this.cfg.preventerTimeoutNs });
        e.record(firstChunk, chunks);
        if (e.full) this.finishRemap(p);
        return BUFFERED;
      }
    }
    return this.fault(p, 'touch', true, ctx);
  }

  /**
   * The guest reads `chunks` chunks of `gfn` from `firstChunk`. Returns 0 when the page is present,
   * BUFFERED when every byte read is in the Preventer's buffer, or a fault id to wait for.
   */
  emulatedRead(gfn: Gfn, firstChunk: number, chunks: number, ctx: FaultContext): number {
    checkChunks(firstChunk, chunks);
    const e = this.emu.get(gfn as number);
    if (e?.covers(firstChunk, chunks)) return BUFFERED;
    return this.touch(gfn, false, ctx);
  }

  /** The emulation deadline of `page` (a timer action) has passed. */
  timerFired(page: number): void {
    const e = this.emu.get(page);
    if (e && !e.terminating) this.terminate(page, e);
  }

  isEmulating(gfn: Gfn): boolean {
    return this.emu.has(gfn as number);
  }

  /** Emulation gives up: read the old content (swap slot or image block) to merge with the buffer. */
  private terminate(p: number, e: EmulatedPage): void {
    e.terminating = true;
    this.counters.preventerFallbacks++;
    const pt = this.pt;
    const slot = pt.slot[p]!;
    const source: ReadSource = slot !== NONE ? 'swap' : 'image';
    const unit = slot !== NONE ? slot : pt.block[p]!;
    if (unit === NONE) throw new CoreError(`emulated page ${p} has no old content to merge with`);
    const id = this.nextId++;
    this.pendingIo.set(id, { source, pages: [p], units: [unit] });
    this.actions.push({ kind: 'read', id, source, start: unit, count: 1, pages: [p], units: [unit] });
    if (source === 'swap') {
      this.counters.swapReadOps++;
      this.counters.swapReadPages++;
      if (unit !== this.lastSwapReadEnd) this.counters.swapReadRuns++;
      this.lastSwapReadEnd = unit + 1;
    } else {
      this.counters.imageReadOps++;
      this.counters.imageReadPages++;
    }
  }

  /** Every byte of the emulated page was written: the buffer becomes the page, nothing is read. */
  private finishRemap(p: number): void {
    this.emu.delete(p);
    this.actions.push({ kind: 'remap', page: p });
    this.remapEmulated(p);
  }

  /** An emulated page (its frame already counted) becomes an ordinary resident page, old content gone. */
  private remapEmulated(p: number): void {
    const pt = this.pt;
    this.freeSlot(p);
    pt.unlinkBlock(p);
    pt.state[p] = State.Resident;
    pt.flags[p] = Flag.Dirty | Flag.Referenced;
    this.put(Lru.ActiveAnon, p);
    this.counters.preventerRemaps++;
    this.wake(p);
  }

  // ---------------------------------------------------------------- the guest's disk I/O, as the host serves it

  /**
   * A device (the emulated disk) is about to overwrite guest page `gfn` with disk data. Baseline: the
   * host must have the page, so an absent page is faulted in first (a stale swap read). Mapper: the
   * old content is discarded and a frame reserved, with no read.
   */
  beginDmaWrite(gfn: Gfn): number {
    const p = gfn as number;
    const pt = this.pt;
    const st = pt.state[p]!;
    // By definition a stale swap read is swap content read into a page only to be overwritten by
    // the device: the page was faulted in for the DMA, or swap readahead brought it and nobody
    // has used it since.
    const unusedSwapIn =
      (st === State.Loading && pt.slot[p] !== NONE) ||
      (st === State.Resident &&
        (pt.flags[p]! & (Flag.SwapCache | Flag.Referenced | Flag.Dirty)) === Flag.SwapCache);
    if (unusedSwapIn) this.counters.staleSwapReads++;
    if (st === State.Resident) {
      pt.pins[p]!++;
      return 0;
    }
    if (st === State.Emulating && !this.emu.get(p)!.terminating) {
      // The device overwrites the whole page: what the guest wrote before is superseded.
      this.emu.delete(p);
      this.actions.push({ kind: 'discardBuffer', page: p });
      this.freeSlot(p);
      pt.unlinkBlock(p);
      pt.state[p] = State.Loading;
      pt.flags[p] = 0;
      pt.pins[p]!++;
      return 0;
    }
    if (st === State.Loading || st === State.Emulating)
      return this.waitOn(p, this.newFault(p, 'dmaWrite', true, 'host'));
    if (this.cfg.mapper || st === State.Untouched || st === State.Ballooned) {
      const f = this.newFault(p, 'dmaWrite', true, 'host');
      if (this.startDiscardingFault(f)) {
        this.faults.delete(f.id);
        if (this.frameWaiters.length > 0) this.pump();
        return 0;
      }
      this.frameWaiters.push(f);
      return f.id;
    }
    this.counters.staleSwapReads++;
    return this.fault(p, 'dmaWrite', true, 'host');
  }

  /** The device finished writing image block `block` into `gfn` (the driver already moved the data). */
  endDmaWrite(gfn: Gfn, block: BlockNo): void {
    const p = gfn as number;
    const pt = this.pt;
    this.unpin(p);
    const wasLoading = pt.state[p] === State.Loading;
    if (wasLoading) pt.state[p] = State.Resident;
    this.dropSwapCopy(p);
    pt.linkBlock(p, block);
    if (this.cfg.mapper) {
      pt.flags[p] = (pt.flags[p]! & Flag.Writeback) | Flag.Named | Flag.Referenced;
      this.lru.remove(p);
      if (!(pt.flags[p]! & Flag.Writeback)) this.put(Lru.InactiveFile, p);
    } else {
      pt.flags[p] = (pt.flags[p]! & Flag.Writeback) | Flag.Dirty | Flag.Referenced;
      if (this.lru.on(p) === NOT_ON_LIST && !(pt.flags[p]! & Flag.Writeback)) this.put(Lru.InactiveAnon, p);
    }
    if (wasLoading) this.wake(p);
    this.pump();
  }

  /** A device is about to read guest page `gfn` (the guest writes it to disk): it must be present. */
  beginDmaRead(gfn: Gfn): number {
    const p = gfn as number;
    if (this.pt.state[p] === State.Resident) {
      this.pt.pins[p]!++;
      return 0;
    }
    return this.fault(p, 'dmaRead', false, 'host');
  }

  /**
   * The guest is about to overwrite image block `block` through its disk, from page `source`.
   * Every other page that holds the block's current content keeps it (§4.1 Data Consistency): a
   * resident one becomes anonymous at once; a dropped one must first be read back. Returns 0 when
   * the block may be written, or a fault to wait for, after which the driver calls again.
   */
  beginBlockWrite(block: BlockNo, source: Gfn): number {
    const pt = this.pt;
    for (const q of pt.pagesOfBlock(block)) {
      if (q === (source as number)) continue;
      const st = pt.state[q]!;
      if (st === State.Emulating) {
        // Its merge needs the block's old content: read it before the block changes.
        const e = this.emu.get(q)!;
        if (!e.terminating) this.terminate(q, e);
        const f = this.newFault(q, 'invalidate', false, 'host');
        f.pages = [q];
        return this.waitOn(q, f);
      }
      const absentNamed = this.cfg.mapper && (pt.flags[q]! & Flag.Named) !== 0 && st !== State.Resident;
      if (!absentNamed) {
        // Resident (or, without the Mapper, a mere record of provenance): the page keeps its
        // content and is simply no longer equal to the block.
        this.makeAnonymous(q);
        continue;
      }
      const f = this.newFault(q, 'invalidate', false, 'host');
      f.pages = [q];
      if (st === State.Loading) return this.waitOn(q, f);
      this.counters.invalidationReads++;
      if (!this.startFault(f)) this.frameWaiters.push(f);
      return f.id;
    }
    return 0;
  }

  /** The device finished reading `gfn` and the block now holds its content. */
  endDmaRead(gfn: Gfn, block: BlockNo): void {
    const p = gfn as number;
    const pt = this.pt;
    this.unpin(p);
    if (this.cfg.mapper) {
      this.dropSwapCopy(p);
      pt.linkBlock(p, block);
      pt.flags[p] = (pt.flags[p]! & (Flag.Writeback | Flag.Referenced)) | Flag.Named;
      this.lru.remove(p);
      if (!(pt.flags[p]! & Flag.Writeback)) this.put(Lru.InactiveFile, p);
    } else {
      pt.linkBlock(p, block);
    }
    this.pump();
  }

  // ---------------------------------------------------------------- balloon and limits

  /** The guest's balloon driver gave `gfn` to the host: its content is garbage and its frame freed. */
  balloonInflate(gfn: Gfn): void {
    const p = gfn as number;
    const pt = this.pt;
    if (pt.pins[p]! > 0) throw new CoreError(`balloonInflate: gfn ${p} is under device access`);
    const st = pt.state[p]!;
    const e = this.emu.get(p);
    if (e && !e.terminating) {
      this.emu.delete(p);
      this.actions.push({ kind: 'discardBuffer', page: p });
      this.freeSlot(p);
      pt.unlinkBlock(p);
      pt.state[p] = State.Resident;
      this.freeFrame(p, State.Ballooned);
      pt.flags[p] = 0;
      this.pump();
      return;
    }
    pt.unlinkBlock(p);
    if (
      st === State.Loading ||
      st === State.Emulating ||
      (st === State.Resident && pt.flags[p]! & Flag.Writeback)
    ) {
      pt.flags[p]! |= Flag.DiscardOnLoad;
      return;
    }
    if (st === State.Resident) {
      this.dropSwapCopy(p);
      this.freeFrame(p, State.Ballooned);
    } else if (st === State.Swapped) {
      this.freeSlot(p);
      pt.state[p] = State.Ballooned;
    } else {
      pt.state[p] = State.Ballooned;
    }
    pt.flags[p] = 0;
    this.pump();
  }

  /** The balloon returned `gfn` to the guest; its first touch gets a zero-filled frame. */
  balloonDeflate(gfn: Gfn): void {
    const p = gfn as number;
    if (this.pt.state[p] === State.Ballooned) this.pt.state[p] = State.Untouched;
  }

  /**
   * Changes the cgroup limit. A lower limit reclaims at once until what stays resident (minus pages
   * whose swap write is in flight) fits; faults wait for those writes.
   */
  setResidentLimit(pages: number): void {
    if (!Number.isInteger(pages) || pages < 1)
      throw new ConfigError('residentLimitPages', `must be a positive integer, got ${pages}`);
    this.limit = pages;
    while (this.resident - this.writebackPages > this.limit) {
      if (this.shrink(this.cfg.reclaimBatchPages) === 0) break;
    }
    this.pump();
  }

  // ---------------------------------------------------------------- I/O completions from the driver

  readDone(id: number): void {
    const io = this.pendingIo.get(id);
    if (!io || io.source === 'swap-write') throw new CoreError(`readDone: no read ${id} in flight`);
    this.pendingIo.delete(id);
    const pt = this.pt;
    for (let i = 0; i < io.pages.length; i++) {
      const q = io.pages[i]!;
      if (this.emu.size > 0 && this.emu.has(q)) {
        // The old content arrived: the driver merged the buffer into it; the page is now the guest's.
        this.emu.delete(q);
        if (pt.flags[q]! & Flag.DiscardOnLoad) {
          pt.flags[q] = 0;
          this.freeSlot(q);
          this.resident--;
          pt.state[q] = State.Ballooned;
          this.actions.push({ kind: 'discardBuffer', page: q }, { kind: 'drop', page: q });
        } else {
          this.freeSlot(q);
          pt.unlinkBlock(q);
          pt.state[q] = State.Resident;
          pt.flags[q] = Flag.Dirty | Flag.Referenced;
          this.put(Lru.ActiveAnon, q);
        }
        this.wake(q);
        continue;
      }
      if (pt.flags[q]! & Flag.DiscardOnLoad) {
        // Ballooned while the read was in flight: the content is not wanted any more.
        pt.flags[q] = 0;
        if (io.source === 'swap' && pt.slot[q] !== NONE) this.freeSlot(q);
        this.resident--;
        pt.state[q] = State.Ballooned;
        this.actions.push({ kind: 'drop', page: q });
      } else {
        pt.state[q] = State.Resident;
        if (io.source === 'swap') {
          pt.flags[q] = Flag.SwapCache;
          this.put(Lru.InactiveAnon, q);
        } else if (io.source === 'image') {
          pt.flags[q] = this.cfg.mapper ? Flag.Named : Flag.Dirty;
          this.put(this.cfg.mapper ? Lru.InactiveFile : Lru.InactiveAnon, q);
        } else {
          pt.flags[q] = 0;
          this.put(Lru.InactiveFile, q);
        }
      }
      this.wake(q);
    }
    this.pump();
  }

  writeDone(id: number): void {
    const io = this.pendingIo.get(id);
    if (!io || io.source !== 'swap-write') throw new CoreError(`writeDone: no write ${id} in flight`);
    this.pendingIo.delete(id);
    const pt = this.pt;
    for (const q of io.pages) {
      pt.flags[q]! &= ~Flag.Writeback;
      this.writebackPages--;
      const f = pt.flags[q]!;
      if (f & Flag.DiscardOnLoad) {
        this.freeSlot(q);
        pt.flags[q] = 0;
        this.freeFrame(q, State.Ballooned);
      } else if (f & Flag.Named || !(f & Flag.SwapCache)) {
        // Re-read from disk, or its slot given up, while the write was in flight: the copy is stale.
        if (pt.slot[q] !== NONE) this.freeSlot(q);
        pt.flags[q]! &= ~Flag.SwapCache;
        if (!(f & Flag.Named)) pt.flags[q]! |= Flag.Dirty;
        this.put(f & Flag.Named ? Lru.InactiveFile : Lru.ActiveAnon, q);
      } else if (f & (Flag.Dirty | Flag.Referenced) || pt.pins[q]! > 0) {
        // Touched (or pinned by a device) during writeback: the page stays and keeps its slot.
        this.put(Lru.ActiveAnon, q);
      } else {
        this.freeFrame(q, State.Swapped);
      }
    }
    this.pump();
  }

  /**
   * Throws if some fault waits for a frame while nothing is in flight that could free one: the
   * resident limit is smaller than what is pinned. Drivers call it when they have nothing to do.
   */
  assertProgress(): void {
    if (this.frameWaiters.length > 0 && this.pendingIo.size === 0) {
      throw new CoreError(
        `stalled: ${this.frameWaiters.length} fault(s) wait for a frame, ${this.resident} of ${this.limit} pages resident, nothing in flight`,
      );
    }
  }

  /**
   * Checks the page table's internal consistency and returns the problems found (empty when sound).
   * O(pages); for tests and debugging.
   */
  checkInvariants(): string[] {
    const out: string[] = [];
    const { state, flags, slot, pins } = this.pt;
    let resident = 0;
    let writeback = 0;
    for (let p = 0; p < this.pt.pageCount && out.length < 20; p++) {
      const st = state[p]!;
      const f = flags[p]!;
      const s = slot[p]!;
      if (st === State.Resident || st === State.Loading || st === State.Emulating) resident++;
      if ((st === State.Emulating) !== this.emu.has(p))
        out.push(`page ${p}: state ${st} but emulation record ${this.emu.has(p)}`);
      if (f & Flag.Writeback) writeback++;
      if (st === State.Swapped && (s === NONE || this.swap.owner[s] !== p))
        out.push(`page ${p}: swapped but slot ${s} is not its own`);
      if (s !== NONE && this.swap.owner[s] !== p)
        out.push(`page ${p}: slot ${s} owned by ${this.swap.owner[s]}`);
      if (st === State.Resident && f & Flag.SwapCache && s === NONE)
        out.push(`page ${p}: swap cache without a slot`);
      if (st !== State.Resident && f & Flag.Writeback) out.push(`page ${p}: writeback while not resident`);
      if (st === State.Resident && !(f & Flag.Writeback) && this.lru.on(p) === NOT_ON_LIST)
        out.push(`page ${p}: resident but on no LRU list`);
      if (st !== State.Resident && this.lru.on(p) !== NOT_ON_LIST)
        out.push(`page ${p}: on an LRU list while in state ${st}`);
      if (st !== State.Resident && st !== State.Loading && pins[p]! > 0)
        out.push(`page ${p}: pinned while absent`);
      if (this.cfg.mapper && st === State.InImage && !this.isVmm(p) && !(f & Flag.Named))
        out.push(`page ${p}: in image but not named`);
      if (
        !this.isVmm(p) &&
        st === State.Resident &&
        !(f & (Flag.Named | Flag.SwapCache | Flag.Dirty)) &&
        !(f & Flag.Writeback)
      ) {
        out.push(`page ${p}: resident anonymous page that is neither dirty nor in swap`);
      }
    }
    if (resident !== this.resident)
      out.push(`resident count ${this.resident} but ${resident} pages are resident`);
    if (writeback !== this.writebackPages)
      out.push(`writeback count ${this.writebackPages} but ${writeback} pages are under writeback`);
    return out;
  }

  // ---------------------------------------------------------------- internals: faults

  private newFault(page: number, kind: FaultKind, write: boolean, ctx: FaultContext): Fault {
    const f: Fault = { id: this.nextId++, page, kind, write, ctx, waiting: 0 };
    this.faults.set(f.id, f);
    return f;
  }

  private fault(p: number, kind: FaultKind, write: boolean, ctx: FaultContext): number {
    const f = this.newFault(p, kind, write, ctx);
    const queued = !this.startFault(f);
    if (queued) this.frameWaiters.push(f);
    // Reclaim on this fault's behalf may have freed more than it took: earlier waiters go next.
    else if (this.frameWaiters.length > 0) this.pump();
    return this.faults.has(f.id) ? f.id : 0;
  }

  /** Starts (or finishes) a fault. Returns false when it must wait for a frame. */
  private startFault(f: Fault): boolean {
    const p = f.page;
    const pt = this.pt;
    switch (pt.state[p]) {
      case State.Resident:
        this.completeFault(f, false);
        return true;
      case State.Loading:
        this.counters.minorFaults++;
        this.markAsyncWrite(f);
        this.waitOn(p, f);
        return true;
      case State.Emulating: {
        // An access the buffer cannot serve: merge first, then go on.
        const e = this.emu.get(p)!;
        if (!e.terminating) this.terminate(p, e);
        this.waitOn(p, f);
        return true;
      }
      case State.Untouched:
      case State.Ballooned: {
        if (!this.takeFrames(1)) return false;
        this.counters.zeroFills++;
        this.counters.minorFaults++;
        pt.state[p] = State.Resident;
        pt.flags[p] = Flag.Dirty;
        this.zoneOf[p] = this.pickZone();
        this.resident++;
        this.put(Lru.ActiveAnon, p);
        this.actions.push({ kind: 'zero', page: p });
        this.completeFault(f, false);
        return true;
      }
      case State.Swapped:
      case State.InImage:
        if (f.kind === 'overwrite' && this.cfg.preventer && !this.isVmm(p)) return this.startRemap(f);
        return pt.state[p] === State.Swapped ? this.startSwapIn(f) : this.startFileIn(f);
      default:
        throw new CoreError(`fault on page ${p} in unknown state ${pt.state[p]}`);
    }
  }

  /**
   * The Preventer's remap: the guest overwrites all of an absent page, so its old content is not
   * needed; a fresh frame takes its place and nothing is read. Returns false when it must wait.
   */
  private startRemap(f: Fault): boolean {
    const p = f.page;
    const pt = this.pt;
    if (!this.takeFrames(1)) return false;
    if (pt.state[p] === State.Swapped) this.freeSlot(p);
    pt.unlinkBlock(p);
    pt.state[p] = State.Resident;
    pt.flags[p] = Flag.Dirty;
    this.zoneOf[p] = this.pickZone();
    this.resident++;
    this.put(Lru.ActiveAnon, p);
    this.counters.preventerRemaps++;
    this.actions.push({ kind: 'zero', page: p });
    this.completeFault(f, false);
    return true;
  }

  /** Mapper DMA into an absent page: no read, just a frame. Returns false when it must wait. */
  private startDiscardingFault(f: Fault): boolean {
    const p = f.page;
    const pt = this.pt;
    const st = pt.state[p]!;
    if (st === State.Resident || st === State.Loading) return this.startFault(f);
    if (!this.takeFrames(1)) return false;
    if (st === State.Swapped) this.freeSlot(p);
    pt.unlinkBlock(p);
    pt.state[p] = State.Loading;
    pt.flags[p] = 0;
    pt.pins[p]!++;
    this.zoneOf[p] = this.pickZone();
    this.resident++;
    return true;
  }

  /**
   * A guest-context access that must wait for a swap read goes through KVM's async page fault path
   * (the vCPU has interrupts on in everything our guests run), whose worker faults the page in for
   * writing.
   */
  private markAsyncWrite(f: Fault): void {
    if (this.cfg.asyncPfWriteFaults && f.kind === 'touch' && f.ctx === 'guest' && !this.isVmm(f.page))
      f.asyncWrite = this.pt.slot[f.page] !== NONE;
  }

  private countMajor(f: Fault): void {
    if (f.ctx === 'guest') this.counters.hostFaultsInGuest++;
    else this.counters.hostFaultsInHost++;
    if (f.kind === 'overwrite') {
      if (this.pt.state[f.page] === State.Swapped) this.counters.falseSwapReads++;
      else this.counters.falseImageReads++;
    }
  }

  private startSwapIn(f: Fault): boolean {
    const p = f.page;
    const pt = this.pt;
    const s = pt.slot[p]!;
    const mask = (1 << this.cfg.pageClusterLog2) - 1;
    const lo = s & ~mask;
    const hi = Math.min(s | mask, this.swap.slotCount - 1);
    const want: number[] = [];
    const units: number[] = [];
    const owner = this.swap.owner;
    for (let u = lo; u <= hi; u++) {
      const q = owner[u]!;
      if (q === p || (q !== NONE && pt.state[q] === State.Swapped && pt.slot[q] === u)) {
        want.push(q);
        units.push(u);
      }
    }
    if (owner[s] !== p) throw new CoreError(`page ${p}'s slot ${s} is not its own`);
    const got = this.takeFrames(want.length);
    if (got === 0) return false;
    this.countMajor(f);
    this.markAsyncWrite(f);
    const [from, to] = this.trimAround(want, p, got);
    const whole = from === 0 && to === want.length;
    this.loadPages(whole ? want : want.slice(from, to), whole ? units : units.slice(from, to), 'swap');
    this.waitOn(p, f);
    return true;
  }

  private startFileIn(f: Fault): boolean {
    const p = f.page;
    const pt = this.pt;
    const vmm = this.isVmm(p);
    const unit = vmm ? p - this.firstVmmPage : pt.block[p]!;
    if (unit === NONE) throw new CoreError(`page ${p} is in the image but names no block`);
    const half = this.cfg.fileReadaroundPages >> 1;
    const limitUnits = vmm ? this.cfg.vmmPages : this.cfg.imageBlocks;
    const lo = Math.max(0, unit - half);
    const hi = Math.min(limitUnits - 1, lo + this.cfg.fileReadaroundPages - 1);
    const want: number[] = [];
    const units: number[] = [];
    for (let u = lo; u <= hi; u++) {
      if (vmm) {
        const q = this.firstVmmPage + u;
        if (pt.state[q] === State.InImage) {
          want.push(q);
          units.push(u);
        }
      } else {
        // Only blocks that back a dropped guest page are read: the host keeps no cache of its own.
        for (let q = pt.blockHead[u]!; q !== NONE; q = pt.nextSameBlock[q]!) {
          if (pt.state[q] === State.InImage && pt.flags[q]! & Flag.Named) {
            want.push(q);
            units.push(u);
          }
        }
      }
    }
    if (!want.includes(p)) throw new CoreError(`page ${p} is not in its own read-around window`);
    const got = this.takeFrames(want.length);
    if (got === 0) return false;
    this.countMajor(f);
    if (vmm) this.counters.hostFaultsVmm++;
    const [from, to] = this.trimAround(want, p, got);
    const whole = from === 0 && to === want.length;
    this.loadPages(
      whole ? want : want.slice(from, to),
      whole ? units : units.slice(from, to),
      vmm ? 'vmm' : 'image',
    );
    this.waitOn(p, f);
    return true;
  }

  /** The index range of `want` (in unit order) to load: `got` entries around `p`'s. */
  private trimAround(want: number[], p: number, got: number): [number, number] {
    if (got >= want.length) return [0, want.length];
    const at = want.indexOf(p);
    let lo = at;
    let hi = at + 1;
    while (hi - lo < got) {
      if (hi < want.length) hi++;
      if (hi - lo < got && lo > 0) lo--;
    }
    return [lo, hi];
  }

  /** Marks pages Loading and emits one read action per contiguous run of units. */
  private loadPages(pages: number[], units: number[], source: ReadSource): void {
    const pt = this.pt;
    // Windows are gathered in unit order; only a caller that breaks that pays for a sort.
    let sorted = true;
    for (let i = 1; i < units.length && sorted; i++) sorted = units[i - 1]! <= units[i]!;
    if (!sorted) {
      const order = pages.map((_, i) => i).sort((a, b) => units[a]! - units[b]!);
      pages = order.map((i) => pages[i]!);
      units = order.map((i) => units[i]!);
    }
    let from = 0;
    for (let i = 0; i < pages.length; i++) {
      const u = units[i]!;
      if (i > from && u !== units[i - 1] && u !== units[i - 1]! + 1) {
        this.emitRead(source, pages.slice(from, i), units.slice(from, i));
        from = i;
      }
      const q = pages[i]!;
      this.lru.remove(q);
      pt.state[q] = State.Loading;
      this.zoneOf[q] = this.pickZone();
      this.resident++;
    }
    if (from === 0) this.emitRead(source, pages, units);
    else this.emitRead(source, pages.slice(from), units.slice(from));
  }

  /** One read action for a run of units (the caller's arrays become the action's). */
  private emitRead(source: ReadSource, pages: number[], units: number[]): void {
    if (pages.length === 0) return;
    const id = this.nextId++;
    const start = units[0]!;
    const count = units[units.length - 1]! - start + 1;
    this.pendingIo.set(id, { source, pages, units });
    this.actions.push({ kind: 'read', id, source, start, count, pages, units });
    const c = this.counters;
    if (source === 'swap') {
      c.swapReadOps++;
      c.swapReadPages += pages.length;
      if (start !== this.lastSwapReadEnd) c.swapReadRuns++;
      this.lastSwapReadEnd = start + count;
    } else if (source === 'image') {
      c.imageReadOps++;
      c.imageReadPages += pages.length;
    } else {
      c.vmmReadOps++;
      c.vmmReadPages += pages.length;
    }
  }

  private waitOn(p: number, f: Fault): number {
    f.waiting++;
    this.hasWaiters[p] = 1;
    const list = this.pageWaiters.get(p);
    if (list) list.push(f);
    else this.pageWaiters.set(p, [f]);
    return f.id;
  }

  private wake(p: number): void {
    if (this.hasWaiters[p] === 0) return;
    this.hasWaiters[p] = 0;
    const list = this.pageWaiters.get(p);
    if (!list) return;
    this.pageWaiters.delete(p);
    for (const f of list) {
      if (--f.waiting > 0) continue;
      if (this.pt.state[p] !== State.Resident && f.kind !== 'invalidate') {
        // The page went away again (ballooned) before the waiter ran: start over.
        if (!this.startFault(f)) this.frameWaiters.push(f);
      } else {
        this.completeFault(f, true);
      }
    }
  }

  private completeFault(f: Fault, emit: boolean): void {
    const p = f.page;
    const pt = this.pt;
    switch (f.kind) {
      case 'touch':
        if (this.isVmm(p)) pt.flags[p]! |= Flag.Referenced;
        else {
          this.applyTouch(p, f.write);
          if (f.asyncWrite) this.reuseSwapPage(p);
        }
        break;
      case 'overwrite':
        this.applyTouch(p, true);
        break;
      case 'dmaWrite':
      case 'dmaRead':
        pt.pins[p]!++;
        break;
      case 'pin':
        this.applyTouch(p, f.write);
        pt.pins[p]!++;
        break;
      case 'invalidate':
        for (const q of f.pages ?? []) if (pt.state[q] === State.Resident) this.makeAnonymous(q);
        break;
    }
    // A fault finished synchronously (inside the call that raised it) needs no faultDone.
    if (this.faults.delete(f.id) && emit) this.actions.push({ kind: 'faultDone', fault: f.id });
  }

  /** Effects of a CPU access on a present page: the young bit, and what a write or a mapping breaks. */
  private applyTouch(p: number, write: boolean): void {
    const pt = this.pt;
    let f = pt.flags[p]! | Flag.Referenced;
    if (write) {
      if (f & Flag.Named || pt.block[p] !== NONE) {
        // The paper's copy-on-write: a modified page is no longer the block's content.
        pt.unlinkBlock(p);
        if (f & Flag.Named) {
          f &= ~Flag.Named;
          if (!(f & Flag.Writeback)) this.move(Lru.ActiveAnon, p);
        }
      }
      f |= Flag.Dirty;
    } else if (!(f & Flag.Named) && this.cfg.hostAssumesDirty) {
      // Without EPT dirty bits KVM marks every page it unmaps dirty (kvm_set_pfn_dirty), so a page
      // the guest only read is written again when evicted; but a read fault leaves it in the swap
      // cache, and that write goes back to its old slot.
      f |= Flag.Dirty;
    }
    if (f & Flag.SwapCache && !(f & Flag.Writeback)) {
      // A write frees the slot (reuse_swap_page); so does the fault that first maps a swapped-in
      // page while swap is more than half full (do_swap_page's vm_swap_full check).
      const firstMap = (pt.flags[p]! & (Flag.SwapCache | Flag.Dirty)) === Flag.SwapCache;
      if (write || (firstMap && this.swapMostlyUsed())) {
        if (!write) this.counters.swapSlotsReleased++;
        this.giveUpSlot(p, f);
        return;
      }
    }
    pt.flags[p] = f;
  }

  /**
   * reuse_swap_page() under a write fault that does not change the content: the page leaves the
   * swap cache, dirty, and gives its slot back. The Mapper's association is untouched (the bytes
   * are still the block's), and a page under writeback keeps its slot until the write is done.
   */
  private reuseSwapPage(p: number): void {
    const pt = this.pt;
    const f = pt.flags[p]!;
    if (pt.state[p] !== State.Resident || !(f & Flag.SwapCache) || f & (Flag.Writeback | Flag.Named)) return;
    this.counters.asyncPfSlotReleases++;
    this.giveUpSlot(p, f);
  }

  /**
   * The page leaves the swap cache with flags `f`, dirty (its only copy is now in memory), and its
   * slot is freed: its next eviction writes it to a new one.
   */
  private giveUpSlot(p: number, f: number): void {
    this.pt.flags[p] = (f | Flag.Dirty) & ~Flag.SwapCache;
    this.freeSlot(p);
  }

  /** Linux's vm_swap_full(): more than half of the swap area is in use. */
  private swapMostlyUsed(): boolean {
    return this.swap.usedSlots * 2 > this.swap.slotCount;
  }

  /** A named (or merely same-as-block) page stops being equal to its block but keeps its content. */
  private makeAnonymous(q: number): void {
    const pt = this.pt;
    const wasNamed = (pt.flags[q]! & Flag.Named) !== 0;
    pt.unlinkBlock(q);
    if (!wasNamed) return;
    if (pt.state[q] === State.Resident) {
      pt.flags[q]! |= Flag.Dirty;
      if (!(pt.flags[q]! & Flag.Writeback)) this.move(Lru.ActiveAnon, q);
    }
  }

  private unpin(p: number): void {
    if (this.pt.pins[p] === 0) throw new CoreError(`page ${p} was not under device access`);
    this.pt.pins[p]!--;
  }

  private dropSwapCopy(p: number): void {
    const pt = this.pt;
    if (pt.flags[p]! & Flag.SwapCache && !(pt.flags[p]! & Flag.Writeback)) {
      pt.flags[p]! &= ~Flag.SwapCache;
      this.freeSlot(p);
    } else if (pt.flags[p]! & Flag.Writeback) {
      // writeDone frees the slot once the write no longer uses it.
      pt.flags[p]! &= ~Flag.SwapCache;
    }
  }

  private freeSlot(p: number): void {
    const s = this.pt.slot[p]!;
    if (s === NONE) return;
    this.swap.free(asSlot(s) as SwapSlot);
    this.pt.slot[p] = NONE;
  }

  private freeFrame(p: number, next: number): void {
    this.lru.remove(p);
    this.pt.state[p] = next;
    this.resident--;
    this.actions.push({ kind: 'drop', page: p });
  }

  /** Runs faults that waited for frames, oldest first; the head one reclaims if nothing is free. */
  private pump(): void {
    while (this.frameWaiters.length > 0) {
      const f = this.frameWaiters[0]!;
      const discarding =
        f.kind === 'dmaWrite' && (this.cfg.mapper || this.pt.state[f.page] !== State.Swapped);
      const started = discarding ? this.startDiscardingFault(f) : this.startFault(f);
      if (!started) break;
      this.frameWaiters.shift();
      // Started and not waiting for a read: it is done (a discarding DMA only needed its frame).
      if (this.faults.has(f.id) && f.waiting === 0) this.faults.delete(f.id);
      if (!this.faults.has(f.id)) this.actions.push({ kind: 'faultDone', fault: f.id });
    }
  }

  // ---------------------------------------------------------------- internals: reclaim

  /** The zone a new frame comes from: the current run's, or a new run in a zone drawn by size. */
  private pickZone(): number {
    if (this.allocRunLeft > 0) {
      this.allocRunLeft--;
      return this.allocZone;
    }
    const u = this.rng.next();
    const cdf = this.zoneCdf;
    let z = 0;
    while (z < cdf.length - 1 && u >= cdf[z]!) z++;
    this.allocZone = z;
    this.allocRunLeft = Math.max(1, Math.round(this.cfg.allocRunPagesPerGiB * this.cfg.zoneWeights[z]!)) - 1;
    return z;
  }

  /** Puts a page at the head of LRU list `type` of its zone. */
  private put(type: number, p: number): void {
    this.lru.pushHead(this.zoneOf[p]! * 4 + type, p);
  }

  private move(type: number, p: number): void {
    this.lru.remove(p);
    this.put(type, p);
  }

  /** Makes `need` frames free if reclaim can; returns how many are free now (at most `need`). */
  private takeFrames(need: number): number {
    if (this.limit - this.resident < need) this.reclaimFor(need);
    return Math.max(0, Math.min(need, this.limit - this.resident));
  }

  /**
   * Direct reclaim as memcg does it: passes of `reclaimBatchPages` until enough is free, or will be
   * once the writes in flight finish, or nothing more can be reclaimed now.
   */
  private reclaimFor(need: number): void {
    // A pass that finds only referenced pages still clears their bits, so the next can succeed:
    // memcg retries (MEM_CGROUP_RECLAIM_RETRIES) before it gives up.
    let fruitless = 0;
    for (let pass = 0; pass < 64 && fruitless < 5; pass++) {
      const free = this.limit - this.resident;
      if (free >= need) return;
      if (pass > 0 && free + this.writebackPages >= need) return;
      fruitless = this.shrink(this.cfg.reclaimBatchPages) === 0 ? fruitless + 1 : 0;
      if (fruitless > 0 && this.emu.size > 0) {
        // Under pressure the Preventer gives its frames back: every emulation ends in a merge,
        // after which those pages are ordinary (evictable) pages.
        for (const [p, e] of this.emu) if (!e.terminating) this.terminate(p, e);
        return;
      }
    }
  }

  /**
   * One reclaim pass: per priority, every zone's lruvec in turn (shrink_zones + shrink_lruvec with
   * get_scan_count), starting from the next zone each time as different CPUs would. Returns pages
   * freed or sent to swap.
   */
  private shrink(target: number): number {
    const lru = this.lru;
    const batch = this.cfg.reclaimBatchPages;
    const zones = this.cfg.zoneWeights.length;
    const swapFull = this.swap.usedSlots >= this.swap.slotCount;
    let reclaimed = 0;
    const first = this.zoneCursor++ % zones;
    for (let prio = 12; prio >= 0 && reclaimed < target; prio--) {
      const fa = this.anonFraction(swapFull);
      const ff = 1 - fa;
      for (let zi = 0; zi < zones && reclaimed < target; zi++) {
        const base = ((first + zi) % zones) * 4;
        const nr = this.scanScratch;
        nr[0] = nr[1] = nr[2] = nr[3] = 0;
        for (let l = 0; l < 4; l++) {
          const size = lru.size[base + l]!;
          if (prio === 0) {
            // get_scan_count() at priority 0 scans everything, whatever the balance.
            nr[l] = size;
            continue;
          }
          // 1 << prio is 2 ** prio exactly, without a call to Math.pow for every list of every zone.
          let scan = Math.floor(size / (1 << prio));
          if (scan === 0) scan = Math.min(size, batch);
          nr[l] = Math.floor(scan * (l < 2 ? fa : ff));
        }
        while ((nr[0]! > 0 || nr[2]! > 0 || nr[3]! > 0) && reclaimed < target) {
          for (let l = 0; l < 4; l++) {
            if (nr[l]! <= 0) continue;
            const n = Math.min(nr[l]!, batch);
            nr[l]! -= n;
            if (l === Lru.ActiveAnon || l === Lru.ActiveFile) {
              if (this.inactiveIsLow(base, l === Lru.ActiveFile))
                this.shrinkActive(base, l === Lru.ActiveFile, n);
            } else {
              reclaimed += this.shrinkInactive(base, l === Lru.InactiveFile, n);
            }
          }
        }
        // As shrink_lruvec() ends: keep some anon pages inactive, so the next priority has
        // candidates even when the scan above found none.
        if (this.inactiveIsLow(base, false)) this.shrinkActive(base, false, batch);
      }
    }
    this.flushWriteBatch();
    return reclaimed;
  }

  /**
   * get_scan_count(): the share of a pass that goes to the anonymous lists (the rest to the file
   * lists), by swappiness and recent rotations.
   */
  private anonFraction(swapFull: boolean): number {
    const size = this.lru.size;
    let anon = 0;
    let file = 0;
    for (let b = 0; b < size.length; b += 4) {
      anon += size[b + Lru.InactiveAnon]! + size[b + Lru.ActiveAnon]!;
      file += size[b + Lru.InactiveFile]! + size[b + Lru.ActiveFile]!;
    }
    if (swapFull || anon === 0) return 0;
    if (file === 0) return 1;
    const rs = this.recentScanned;
    const rr = this.recentRotated;
    if (rs[0]! > anon / 4) {
      rs[0]! /= 2;
      rr[0]! /= 2;
    }
    if (rs[1]! > file / 4) {
      rs[1]! /= 2;
      rr[1]! /= 2;
    }
    const ap = ((this.cfg.swappiness + 1) * (rs[0]! + 1)) / (rr[0]! + 1);
    const fp = ((200 - this.cfg.swappiness + 1) * (rs[1]! + 1)) / (rr[1]! + 1);
    return ap / (ap + fp);
  }

  private inactiveIsLow(base: number, file: boolean): boolean {
    const s = this.lru.size;
    return file
      ? s[base + Lru.InactiveFile]! < s[base + Lru.ActiveFile]!
      : s[base + Lru.InactiveAnon]! < s[base + Lru.ActiveAnon]!;
  }

  /** Deactivates pages; only referenced executable file pages (QEMU's code) keep their place. */
  private shrinkActive(base: number, file: boolean, n: number): void {
    const pt = this.pt;
    const type = file ? 1 : 0;
    const active = base + (file ? Lru.ActiveFile : Lru.ActiveAnon);
    const inactive = base + (file ? Lru.InactiveFile : Lru.InactiveAnon);
    const keep = this.keepScratch;
    let kept = 0;
    for (let i = 0; i < n; i++) {
      const p = this.lru.popTail(active);
      if (p < 0) break;
      this.recentScanned[type]!++;
      if (pt.flags[p]! & Flag.Referenced) {
        pt.flags[p]! &= ~Flag.Referenced;
        this.recentRotated[type]!++;
        if (file && this.isVmm(p)) {
          keep[kept++] = p;
          continue;
        }
      }
      this.lru.pushHead(inactive, p);
    }
    for (let i = 0; i < kept; i++) this.lru.pushHead(active, keep[i]!);
  }

  /** shrink_page_list(): evicts unreferenced pages from the tail; referenced ones get a second chance. */
  private shrinkInactive(base: number, file: boolean, n: number): number {
    const pt = this.pt;
    const type = file ? 1 : 0;
    const list = base + (file ? Lru.InactiveFile : Lru.InactiveAnon);
    const active = base + (file ? Lru.ActiveFile : Lru.ActiveAnon);
    let reclaimed = 0;
    const keep = this.keepScratch;
    let kept = 0;
    for (let i = 0; i < n; i++) {
      const p = this.lru.popTail(list);
      if (p < 0) break;
      this.counters.pagesScanned++;
      this.recentScanned[type]!++;
      const f = pt.flags[p]!;
      if (pt.pins[p]! > 0 || pt.state[p] !== State.Resident) {
        keep[kept++] = p;
        continue;
      }
      if (f & Flag.Referenced) {
        pt.flags[p] = f & ~Flag.Referenced;
        if (!file || this.isVmm(p) || f & Flag.SecondChance) {
          this.recentRotated[type]!++;
          // activate_locked: a page kept in memory gives its slot back when swap is filling up.
          if (f & Flag.SwapCache && !file && this.swapMostlyUsed()) {
            this.counters.swapSlotsReleased++;
            this.giveUpSlot(p, pt.flags[p]!);
          }
          this.lru.pushHead(active, p);
        } else {
          pt.flags[p]! |= Flag.SecondChance;
          keep[kept++] = p;
        }
        continue;
      }
      if (f & Flag.Named || this.isVmm(p)) {
        // The Mapper's eviction: the image (or QEMU's executable) has the content; nothing is written.
        pt.flags[p] = f & Flag.Named;
        this.counters.namedDrops++;
        this.freeFrame(p, State.InImage);
        reclaimed++;
      } else if (f & Flag.SwapCache && !(f & Flag.Dirty)) {
        pt.flags[p] = 0;
        this.freeFrame(p, State.Swapped);
        reclaimed++;
      } else if (f & Flag.SwapCache) {
        // Dirty but still in the swap cache: pageout() writes it to the slot it already has.
        pt.flags[p] = Flag.SwapCache | Flag.Writeback;
        this.writebackPages++;
        this.counters.swapRewrites++;
        if (pt.block[p] !== NONE) this.counters.silentSwapWrites++;
        this.writeBatch.push(p);
        reclaimed++;
      } else {
        const s = this.swap.allocate(p) as number;
        if (s === NONE) {
          this.lru.pushHead(base + Lru.ActiveAnon, p);
          continue;
        }
        pt.slot[p] = s;
        pt.flags[p] = Flag.SwapCache | Flag.Writeback;
        this.writebackPages++;
        if (pt.block[p] !== NONE) this.counters.silentSwapWrites++;
        this.writeBatch.push(p);
        reclaimed++;
      }
    }
    for (let i = 0; i < kept; i++) this.lru.pushHead(list, keep[i]!);
    return reclaimed;
  }

  private flushWriteBatch(): void {
    const pages = this.writeBatch;
    if (pages.length === 0) return;
    const slot = this.pt.slot;
    // Usually already in slot order (fresh slots come in ascending runs); sorting is then a no-op.
    let sorted = true;
    for (let i = 1; i < pages.length && sorted; i++) sorted = slot[pages[i - 1]!]! < slot[pages[i]!]!;
    if (!sorted) pages.sort((a, b) => slot[a]! - slot[b]!);
    let from = 0;
    for (let i = 1; i <= pages.length; i++) {
      if (i < pages.length && slot[pages[i]!] === slot[pages[i - 1]!]! + 1) continue;
      this.emitWrite(pages.slice(from, i));
      from = i;
    }
    pages.length = 0;
  }

  /** One write action for pages whose slots are consecutive. */
  private emitWrite(run: number[]): void {
    const id = this.nextId++;
    this.pendingIo.set(id, { source: 'swap-write', pages: run, units: EMPTY_UNITS });
    this.actions.push({ kind: 'write', id, start: this.pt.slot[run[0]!]!, pages: run });
    this.counters.swapWriteOps++;
    this.counters.swapWritePages += run.length;
  }
}

const EMPTY: CoreAction[] = [];
const EMPTY_UNITS: number[] = [];

function validateCoreConfig(c: CoreConfig): void {
  const positive: (keyof CoreConfig)[] = [
    'guestPages',
    'imageBlocks',
    'swapSlots',
    'residentLimitPages',
    'reclaimBatchPages',
    'swapClusterSlots',
    'fileReadaroundPages',
  ];
  for (const k of positive) {
    const v = c[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0)
      throw new ConfigError(k, `must be a positive integer, got ${String(v)}`);
  }
  if (!Number.isInteger(c.vmmPages) || c.vmmPages < 0)
    throw new ConfigError('vmmPages', `must be a non-negative integer, got ${c.vmmPages}`);
  if (!(c.swappiness >= 0 && c.swappiness <= 200))
    throw new ConfigError('swappiness', `must be within 0..200, got ${c.swappiness}`);
  if (c.zoneWeights.length < 1 || c.zoneWeights.length > 63 || c.zoneWeights.some((w) => !(w > 0))) {
    throw new ConfigError('zoneWeights', 'must list 1 to 63 positive zone sizes');
  }
  if (!(c.allocRunPagesPerGiB > 0))
    throw new ConfigError('allocRunPagesPerGiB', `must be positive, got ${c.allocRunPagesPerGiB}`);
  if (!Number.isInteger(c.pageClusterLog2) || c.pageClusterLog2 < 0 || c.pageClusterLog2 > 10) {
    throw new ConfigError('pageClusterLog2', `must be an integer within 0..10, got ${c.pageClusterLog2}`);
  }
}
