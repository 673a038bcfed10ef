import { Access } from './access.js';
import type { CoreAction } from './actions.js';
import { Balloon } from './balloon.js';
import { type CoreConfig, validateCoreConfig } from './config.js';
import type { CoreCounters } from './counters.js';
import { checkChunks } from './emulated-page.js';
import { ConfigError, StalledError } from './errors.js';
import { FaultPath } from './fault-path.js';
import { GuestIo } from './guest-io.js';
import { type Census, Invariants } from './invariants.js';
import { Mapper } from './mapper.js';
import { PageIn } from './page-in.js';
import { Emulation, Preventer } from './preventer.js';
import { makeReadahead } from './readahead/policies.js';
import { readaheadContext } from './readahead/readahead.js';
import { type GlobalScan, type HostMemory, Reclaim } from './reclaim.js';
import type { LruListKind } from './store/lruvec.js';
import { Flag, State, type StateCode } from './store/page-table.js';
import { Store } from './store/store.js';
import type { SwapArea } from './store/swap-space.js';
import { SwapCache } from './swap-cache.js';
import {
  type BlockNo,
  type FaultContext,
  type FaultId,
  type Gfn,
  type GfnArray,
  type IoId,
  NO_FAULT as NO_FAULT_BINDING,
  type VmmPage,
} from './types.js';

/** A module constant, which the compiler writes in (see NOT_ON_LIST in store/lru-queues.ts). */
const NO_FAULT = NO_FAULT_BINDING;

/** emulatedWrite()/emulatedRead(): the access went to (or was served from) the Preventer's buffer. */
export const BUFFERED = -1 as FaultId;

/** One page as the core holds it (tests and debugging: `MemoryCore.inspect`). */
export interface PageInfo {
  state: StateCode;
  flags: number;
  /** Its swap slot, or -1. */
  slot: number;
  /** The image block it holds (its provenance), or -1. */
  block: number;
  /** The LRU list it is on, or undefined. */
  list: LruListKind | undefined;
  pins: number;
}

/**
 * The sans-I/O memory core of one guest: the host's view of the guest's memory. It takes events (a
 * CPU touch, a device about to read or write a page, a block about to be overwritten, I/O
 * completions, balloon moves, a new limit), routes each to the mechanisms below, and queues actions
 * for its driver (drain). It never performs I/O or reads a clock, so the simulator and a real pager
 * drive the same code. The mechanisms, each in a file of its own, bottom up: the store (page table,
 * LRU lists, swap map, frames, I/O and faults in flight), the swap cache, reclaim, readahead, page-in,
 * the Swap Mapper (§4.1), the access path, the False Reads Preventer (§4.2), the fault path, the
 * guest's disk I/O, the balloon, the invariants.
 */
export class MemoryCore {
  readonly cfg: CoreConfig;
  readonly counters: CoreCounters;
  private readonly s: Store;
  private readonly reclaim: Reclaim;
  private readonly access: Access;
  private readonly preventer: Preventer;
  private readonly faults: FaultPath;
  private readonly io: GuestIo;
  private readonly balloon: Balloon;
  private readonly invariants: Invariants;
  /** Each page's state (held directly: touch runs for every access the host sees). */
  private readonly state: Uint8Array;

  /**
   * `swapArea`: the host's swap area when this guest's QEMU shares one swap device with others (a
   * view of the one allocator, as many slots as `cfg.swapSlots`); by default the core has its own.
   */
  constructor(cfg: CoreConfig, swapArea?: SwapArea) {
    validateCoreConfig(cfg);
    if (swapArea !== undefined && swapArea.slotCount !== cfg.swapSlots)
      throw new ConfigError(
        'swapSlots',
        `the shared swap area has ${swapArea.slotCount} slots, the configuration says ${cfg.swapSlots}`,
      );
    this.cfg = cfg;
    const s = (this.s = new Store(cfg, swapArea));
    this.counters = s.counters;
    const ra = readaheadContext(s.pt, s.swap, s.firstVmmPage, cfg);
    const swapRa = makeReadahead('swapReadahead', cfg.swapReadahead, ra);
    const fileRa = makeReadahead('fileReadahead', cfg.fileReadahead, ra);
    const swapCache = new SwapCache(s);
    this.reclaim = new Reclaim(s, swapCache);
    const pageIn = new PageIn(s, this.reclaim, swapRa, fileRa);
    const mapper = new Mapper(s, swapCache);
    this.access = new Access(s, mapper, swapCache, swapRa);
    this.preventer = new Preventer(s, this.reclaim, swapCache);
    this.faults = new FaultPath(s, this.reclaim, swapCache, pageIn, mapper, this.access, this.preventer);
    this.io = new GuestIo(s, mapper, this.preventer, this.faults);
    this.balloon = new Balloon(s, swapCache, this.preventer);
    this.invariants = new Invariants(s, mapper, this.preventer);
    this.state = s.pt.state;
  }

  // ---------------------------------------------------------------- queries

  get residentPages(): number {
    return this.s.frames.resident;
  }
  get residentLimit(): number {
    return this.s.frames.limit;
  }
  get pagesUnderWriteback(): number {
    return this.s.frames.writeback;
  }
  get inFlightIo(): number {
    return this.s.io.inFlight;
  }
  get waitingFaults(): number {
    return this.s.faults.size;
  }
  /** Whether a guest access to `gfn` would proceed without a host fault. */
  isResident(gfn: Gfn): boolean {
    return this.state[gfn] === State.Resident;
  }
  /** Whether the core holds `gfn` as modified since its last copy (a driver maps it writable then). */
  isDirty(gfn: Gfn): boolean {
    return (this.s.pt.flags[gfn]! & Flag.Dirty) !== 0;
  }
  isEmulating(gfn: Gfn): boolean {
    return this.preventer.isEmulating(gfn);
  }
  /** The core's page index of one of the hypervisor's code pages (tests and debugging). */
  vmmPageIndex(v: VmmPage): number {
    return this.s.firstVmmPage + v;
  }
  /** One page as the core holds it, by the core's page index (tests and debugging; allocates). */
  inspect(page: number): PageInfo {
    const pt = this.s.pt;
    return {
      state: pt.state[page]!,
      flags: pt.flags[page]!,
      slot: pt.slot[page]!,
      block: pt.block[page]!,
      list: this.s.lru.kindOf(page),
      pins: pt.pins[page]!,
    };
  }
  /** Named vs anonymous resident pages, and pages the Mapper tracks (resident or dropped). O(pages). */
  census(): Census {
    return this.invariants.census();
  }
  /** The guest pages reclaim would look at next (see Reclaim.forEachCandidate). */
  forEachReclaimCandidate(depthPerList: number, visit: (gfn: Gfn) => boolean): void {
    this.reclaim.forEachCandidate(depthPerList, visit);
  }

  /** Takes the queued actions (the driver calls this after every event it feeds). */
  drain(): CoreAction[] {
    return this.s.io.drain();
  }

  /**
   * drain() into the caller's array: the queued actions go to `out[0]` .. `out[n - 1]` (entries
   * past them are left as they were) and n is returned. A driver that drains after every event and
   * keeps one array for it allocates nothing per drain.
   */
  drainInto(out: CoreAction[]): number {
    return this.s.io.drainInto(out);
  }

  /**
   * Takes the oldest queued action, or undefined when none is left: drain() one action at a time,
   * for a driver that carries each out as it takes it. Actions that carrying one out queues (a
   * readDone's faultDone) come after those already queued, as with drain(). Nothing is copied or
   * allocated: a driver calling drainInto() after every event paid a copy of every action into its
   * array, and a write barrier for each (the array is long-lived, the action new).
   */
  nextAction(): CoreAction | undefined {
    return this.s.io.next();
  }
  get hasActions(): boolean {
    return this.s.io.queued > 0;
  }

  // ---------------------------------------------------------------- guest and host accesses

  /**
   * A CPU access to a guest page. Returns NO_FAULT when it proceeds at once, or a fault id whose
   * `faultDone` action releases the accessing context.
   */
  touch(gfn: Gfn, write: boolean, ctx: FaultContext): FaultId {
    if (this.state[gfn] === State.Resident) {
      this.access.apply(gfn, write);
      return NO_FAULT;
    }
    return this.faults.fault(gfn, 'touch', write, ctx);
  }

  /**
   * touch() of gfns[from], gfns[from + 1], ... while each proceeds at once and queues no action
   * (a resident page whose access only sets flags; see Access.applyPlainRun); returns the index of
   * the first page not touched, which the caller touches alone (it may fault, or do more).
   */
  touchRun(gfns: GfnArray, from: number, to: number, write: boolean): number {
    return this.access.applyPlainRun(gfns, from, to, write);
  }

  /** The guest CPU overwrites the whole page without reading it (zeroing, copy-on-write copies). */
  overwrite(gfn: Gfn, ctx: FaultContext): FaultId {
    if (this.s.pt.state[gfn] === State.Resident) {
      this.access.apply(gfn, true);
      return NO_FAULT;
    }
    if (this.preventer.cancel(gfn)) {
      // A whole-page write supersedes what was buffered.
      this.preventer.becomeResident(gfn);
      this.faults.wake(gfn);
      return NO_FAULT;
    }
    return this.faults.fault(gfn, 'overwrite', true, ctx);
  }

  /** The hypervisor process executes code on one of its own pages. */
  touchVmm(v: VmmPage): FaultId {
    const p = this.s.firstVmmPage + v;
    if (this.s.pt.state[p] === State.Resident) {
      this.s.pt.flags[p]! |= Flag.Referenced;
      return NO_FAULT;
    }
    return this.faults.fault(p, 'touch', false, 'host');
  }

  /**
   * The host's own code reads (or writes) guest page `gfn` and keeps it mapped until `unpinHost`:
   * a vring, a request header or status byte that the device emulation accesses in place (QEMU's
   * main loop, or an external back end, touching guest RAM). Absent pages are faulted in (host
   * context). Returns NO_FAULT when the page is present and pinned, or a fault id whose completion
   * pins it.
   */
  pinHost(gfn: Gfn, write: boolean): FaultId {
    if (this.s.pt.state[gfn] === State.Resident) {
      this.access.apply(gfn, write);
      this.s.pt.pin(gfn);
      return NO_FAULT;
    }
    return this.faults.fault(gfn, 'pin', write, 'host');
  }

  /** Ends a `pinHost` access: the page may be evicted again. */
  unpinHost(gfn: Gfn): void {
    this.io.unpin(gfn);
  }

  // ---------------------------------------------------------------- the False Reads Preventer (§4.2)

  /**
   * The guest writes `chunks` 64-byte chunks of `gfn` from `firstChunk`. Returns NO_FAULT when the
   * page is present (write it), BUFFERED when the Preventer took the write into its buffer for the
   * page (the guest goes on without waiting), or a fault id to wait for before writing the page.
   */
  emulatedWrite(gfn: Gfn, firstChunk: number, chunks: number, ctx: FaultContext): FaultId {
    checkChunks(firstChunk, chunks);
    if (this.s.pt.state[gfn] === State.Resident) {
      this.access.apply(gfn, true);
      return NO_FAULT;
    }
    const r = this.preventer.write(gfn, firstChunk, chunks);
    if (r === Emulation.Refused) return this.faults.fault(gfn, 'touch', true, ctx);
    if (r === Emulation.Remapped) this.faults.wake(gfn);
    return BUFFERED;
  }

  /**
   * The guest reads `chunks` chunks of `gfn` from `firstChunk`. Returns NO_FAULT when the page is
   * present, BUFFERED when every byte read is in the Preventer's buffer, or a fault id to wait for.
   */
  emulatedRead(gfn: Gfn, firstChunk: number, chunks: number, ctx: FaultContext): FaultId {
    checkChunks(firstChunk, chunks);
    if (this.preventer.covers(gfn, firstChunk, chunks)) return BUFFERED;
    return this.touch(gfn, false, ctx);
  }

  /** The emulation deadline of `gfn` (a timer action) has passed. */
  timerFired(gfn: Gfn): void {
    this.preventer.fallBackIfActive(gfn);
  }

  // ---------------------------------------------------------------- the guest's disk I/O (§4.1)

  /** A device is about to overwrite `gfn` with disk data (a guest disk read). See GuestIo. */
  beginDmaWrite(gfn: Gfn): FaultId {
    return this.io.beginDmaWrite(gfn);
  }

  /** The device finished writing image block `block` into `gfn` (the driver already moved the data). */
  endDmaWrite(gfn: Gfn, block: BlockNo): void {
    this.io.endDmaWrite(gfn, block);
  }

  /** A device is about to read `gfn` (a guest disk write): it must be present. */
  beginDmaRead(gfn: Gfn): FaultId {
    return this.io.beginDmaRead(gfn);
  }

  /**
   * The guest is about to overwrite image block `block` from page `source` (or NONE for part of a
   * page). Returns NO_FAULT when the block may be written, or a fault to wait for, after which the
   * driver asks again.
   */
  beginBlockWrite(block: BlockNo, source: Gfn): FaultId {
    return this.io.beginBlockWrite(block, source);
  }

  /** The device finished reading `gfn` and the block now holds its content. */
  endDmaRead(gfn: Gfn, block: BlockNo): void {
    this.io.endDmaRead(gfn, block);
  }

  // ---------------------------------------------------------------- balloon and limits

  /** The guest's balloon driver gave `gfn` to the host: its content is garbage and its frame freed. */
  balloonInflate(gfn: Gfn): void {
    if (this.balloon.inflate(gfn)) this.faults.pump();
  }

  /** The balloon returned `gfn` to the guest; its first touch gets a zero-filled frame. */
  balloonDeflate(gfn: Gfn): void {
    this.balloon.deflate(gfn);
  }

  /**
   * Changes the cgroup limit. A lower limit reclaims at once until what stays resident (minus pages
   * whose swap write is in flight) fits; faults wait for those writes.
   */
  setResidentLimit(pages: number): void {
    this.reclaim.setLimit(pages);
    this.faults.pump();
  }

  /**
   * This cgroup shares the host's memory with others: when it runs out of frames it asks `host`
   * (global direct reclaim) before it reclaims its own pages.
   */
  shareHostMemory(host: HostMemory): void {
    this.reclaim.setHost(host);
  }

  /**
   * Global reclaim (kswapd under host-wide pressure) scans this cgroup once at priority `prio`
   * (12 down to 0), with the host's free pages and high watermark as they are now (they decide
   * whether only anonymous pages are scanned): see Reclaim.scanAtPriority. Returns the pages it
   * freed or sent to swap.
   */
  scanAtPriority(prio: number, host: GlobalScan): number {
    if (!(Number.isInteger(prio) && prio >= 0 && prio <= 12))
      throw new ConfigError('reclaim priority', `must be an integer within 0..12, got ${prio}`);
    const n = this.reclaim.scanAtPriority(prio, host);
    this.faults.pump();
    return n;
  }

  // ---------------------------------------------------------------- I/O completions from the driver

  readDone(id: IoId): void {
    this.faults.readDone(id);
  }

  writeDone(id: IoId): void {
    this.reclaim.writebackDone(this.s.io.takeWrite(id));
    // Tested here, not only in pump(): most writes complete with no fault waiting for a frame.
    if (this.s.faults.frameWaiters.length > 0) this.faults.pump();
  }

  /**
   * Throws a StalledError if some fault waits for a frame while nothing is in flight that could free
   * one: the resident limit is smaller than what is pinned. Drivers call it when they have nothing
   * to do.
   */
  assertProgress(): void {
    const waiting = this.s.faults.frameWaiters.length;
    if (waiting > 0 && this.s.io.inFlight === 0)
      throw new StalledError(waiting, this.s.frames.resident, this.s.frames.limit);
  }

  /** The page table's internal consistency: the problems found (empty when sound). O(pages). */
  checkInvariants(): string[] {
    return this.invariants.check();
  }
}
