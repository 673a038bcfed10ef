import {
  type CoreAction,
  type DropAction,
  type ReadSource,
  type SwapWriteAction,
  dropAction,
  imageReadAction,
  swapReadAction,
  vmmDropAction,
  vmmReadAction,
  writeAction,
} from '../actions.js';
import type { CoreCounters } from '../counters.js';
import { UnknownIoError } from '../errors.js';
import type { BlockNo, FaultId, Gfn, IoId, SwapSlot, VmmPage } from '../types.js';
import { InFlightMap } from './in-flight-map.js';

/** A read the driver has not finished: its source and pages in the core's index space, with their units. */
export interface PendingRead {
  readonly kind: 'read';
  readonly source: ReadSource;
  readonly pages: readonly number[];
  readonly units: readonly number[];
}

/**
 * An I/O the core asked for and the driver has not finished. A guest page's number is the same in
 * the core and in an action, so swap and image reads and swap writes are kept as their actions
 * themselves (no second object per I/O); a read of the hypervisor's pages, whose action numbers them
 * in its executable, is kept with the core's numbers.
 */
type PendingIo = PendingRead | SwapWriteAction;

const EMPTY_ACTIONS: CoreAction[] = [];

/**
 * The way out of the core (Linux's page_io.c, and the queue the driver drains): actions in the order
 * they were decided, the reads and writes in flight, and the I/O counters, counted where the I/O is
 * issued. The core indexes guest frames and then the hypervisor's own pages in one space; actions
 * leave it typed per address space.
 */
export class PageIo {
  /**
   * Actions not yet taken by the driver, in order: entries `takenCount` .. `queuedCount` - 1 (written
   * by index and kept, so that a driver draining after every event costs no array per drain). Taken
   * entries are cleared, so the array keeps no taken action alive.
   */
  private readonly actions: (CoreAction | undefined)[] = [];
  private queuedCount = 0;
  private takenCount = 0;
  // Not a Map: it fills and empties on every fault, and a Map reallocates as it empties.
  private readonly pending = new InFlightMap<PendingIo>();
  /** Fault and I/O ids come from one counter, so an id names one thing only. */
  private lastId = 0;
  /** The last drop action queued: a page freed while it is still the queue's last joins it. */
  private lastDrop: DropAction | undefined = undefined;
  /** Where the previous swap read ended: the next one continues a run if it starts there. */
  private lastSwapReadEnd = -1;

  constructor(
    private readonly counters: CoreCounters,
    private readonly firstVmmPage: number,
  ) {}

  newFaultId(): FaultId {
    return ++this.lastId as FaultId;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  get queued(): number {
    return this.queuedCount - this.takenCount;
  }

  push(a: CoreAction): void {
    this.actions[this.queuedCount++] = a;
  }

  /** Takes the queued actions (a fresh array). */
  drain(): CoreAction[] {
    if (this.queued === 0) return EMPTY_ACTIONS;
    const out = this.actions.slice(this.takenCount, this.queuedCount) as CoreAction[];
    this.forget();
    return out;
  }

  /** Moves the queued actions into `out[0]` onwards and returns how many (see MemoryCore.drainInto). */
  drainInto(out: CoreAction[]): number {
    const from = this.takenCount;
    const n = this.queuedCount - from;
    const actions = this.actions;
    // Moved and cleared in one pass (see forget).
    for (let i = 0; i < n; i++) {
      out[i] = actions[from + i]!;
      actions[from + i] = undefined;
    }
    this.queuedCount = this.takenCount = 0;
    return n;
  }

  /**
   * Takes the oldest queued action, or undefined when none is queued (see MemoryCore.nextAction).
   * Nothing is copied: the entry is cleared (a store of undefined, which needs no write barrier),
   * and the queue starts again from its first entry once it is empty.
   */
  next(): CoreAction | undefined {
    const i = this.takenCount;
    if (i === this.queuedCount) {
      this.queuedCount = this.takenCount = 0;
      return undefined;
    }
    const a = this.actions[i];
    this.actions[i] = undefined;
    this.takenCount = i + 1;
    return a;
  }

  /** Empties the queue; the entries are cleared so the array keeps no taken action alive. */
  private forget(): void {
    const actions = this.actions;
    for (let i = this.takenCount; i < this.queuedCount; i++) actions[i] = undefined;
    this.queuedCount = this.takenCount = 0;
  }

  /**
   * The freed frame of page `p` (a guest frame or one of the hypervisor's pages). A guest page
   * joins the drop action queued last, if no other action came after it and the driver has not
   * taken it (a taken entry is cleared, so it is not `last`).
   */
  pushDrop(p: number): void {
    if (p >= this.firstVmmPage) {
      this.push(vmmDropAction((p - this.firstVmmPage) as VmmPage));
      return;
    }
    const last = this.lastDrop;
    if (last !== undefined && this.queuedCount > 0 && this.actions[this.queuedCount - 1] === last) {
      last.pages.push(p as Gfn);
      return;
    }
    const a = dropAction([p as Gfn]);
    this.lastDrop = a;
    this.push(a);
  }

  /** One read action for a run of units (the caller's arrays become the action's). */
  emitRead(source: ReadSource, pages: number[], units: number[]): void {
    if (pages.length === 0) return;
    const id = ++this.lastId as IoId;
    const start = units[0]!;
    const count = units[units.length - 1]! - start + 1;
    const c = this.counters;
    if (source === 'swap') {
      const a = swapReadAction(id, start as SwapSlot, count, pages as Gfn[], units as SwapSlot[]);
      this.pending.set(id, a);
      this.push(a);
      c.swapReadOps++;
      c.swapReadPages += pages.length;
      if (start !== this.lastSwapReadEnd) c.swapReadRuns++;
      this.lastSwapReadEnd = start + count;
    } else if (source === 'image') {
      const a = imageReadAction(id, start as BlockNo, count, pages as Gfn[], units as BlockNo[]);
      this.pending.set(id, a);
      this.push(a);
      c.imageReadOps++;
      c.imageReadPages += pages.length;
    } else {
      // The action numbers the pages in QEMU's executable; the record keeps the core's numbers.
      this.pending.set(id, { kind: 'read', source, pages, units });
      this.push(vmmReadAction(id, start as VmmPage, count, units as VmmPage[]));
      c.vmmReadOps++;
      c.vmmReadPages += pages.length;
    }
  }

  /** One write action for pages whose slots are consecutive from `start`. */
  emitWrite(pages: number[], start: number): void {
    const id = ++this.lastId as IoId;
    const a = writeAction(id, start as SwapSlot, pages as Gfn[]);
    this.pending.set(id, a);
    this.push(a);
    this.counters.swapWriteOps++;
    this.counters.swapWritePages += pages.length;
  }

  /** The read `id` is done: its record, which is forgotten. */
  takeRead(id: IoId): PendingRead {
    const io = this.pending.take(id);
    if (io !== undefined && io.kind === 'read') return io;
    return this.notInFlight('read', id, io);
  }

  /** The write `id` is done: its pages. */
  takeWrite(id: IoId): readonly number[] {
    const io = this.pending.take(id);
    if (io !== undefined && io.kind === 'write') return io.pages;
    return this.notInFlight('write', id, io);
  }

  /**
   * No I/O of `kind` is in flight under `id`: `io`, another kind of I/O under this id, stays in
   * flight, as if never looked at. (A method of its own, so that takeRead and takeWrite stay small
   * enough to be inlined where every completion comes in.)
   */
  private notInFlight(kind: 'read' | 'write', id: IoId, io: PendingIo | undefined): never {
    if (io !== undefined) this.pending.set(id, io);
    throw new UnknownIoError(kind, id);
  }
}
