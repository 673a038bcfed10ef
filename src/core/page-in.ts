import { type ReadSource, guestPageAction } from './actions.js';
import { ReadaheadWindowError, SlotOwnerError } from './errors.js';
import type { Readahead, ReadWindow } from './readahead/readahead.js';
import type { Reclaim } from './reclaim.js';
import type { Fault } from './store/fault-table.js';
import { copyRun } from './store/copy-run.js';
import { LruList } from './store/lruvec.js';
import { Flag, State } from './store/page-table.js';
import type { Store } from './store/store.js';
import { type Gfn, NONE as NONE_BINDING } from './types.js';

/** NONE as a constant of this module, which the compiler writes in (see NOT_ON_LIST in store/lru-queues.ts). */
const NONE = NONE_BINDING;

/**
 * How an absent page comes back (do_swap_page, filemap_fault, do_anonymous_page): frames taken
 * through reclaim, a window of pages chosen by the readahead policy of the page's source, trimmed
 * to the frames there are, marked Loading and read with one action per run of consecutive units;
 * or a zero-filled frame for a page that never had content. Counts the major faults by context.
 */
export class PageIn {
  /** CoreConfig.asyncPfWriteFaults, read once: markAsyncWrite runs on every swap-in. */
  private readonly asyncPfWrites: boolean;

  constructor(
    private readonly s: Store,
    private readonly reclaim: Reclaim,
    private readonly swapReadahead: Readahead,
    private readonly fileReadahead: Readahead,
  ) {
    this.asyncPfWrites = s.cfg.asyncPfWriteFaults === true;
  }

  /**
   * The window of the fault being started, written here by its policy (scratch kept for every
   * fault: the read actions copy their runs out of it).
   */
  private readonly scratch: ReadWindow = { pages: [], units: [] };

  /** Starts the swap-in that fault `f` needs. False when it must wait for a frame. */
  swapIn(f: Fault): boolean {
    const p = f.page;
    const s = this.s.pt.slot[p]!;
    if (this.s.swap.ownerOf(s) !== p) throw new SlotOwnerError(p, s);
    const n = this.window(this.swapReadahead, p);
    const got = this.reclaim.takeFrames(n);
    if (got === 0) return false;
    this.swapReadahead.started(p);
    this.swapMajor(f);
    this.load(n, p, got, 'swap', this.swapReadahead.tracksHits);
    this.s.faults.waitOn(p, f);
    return true;
  }

  /** Starts the read of a dropped named page (or QEMU's code) that fault `f` needs. */
  fileIn(f: Fault): boolean {
    const p = f.page;
    const vmm = this.s.isVmm(p);
    const n = this.window(this.fileReadahead, p);
    const got = this.reclaim.takeFrames(n);
    if (got === 0) return false;
    this.fileReadahead.started(p);
    this.countMajor(f);
    if (vmm) this.s.counters.hostFaultsVmm++;
    this.load(n, p, got, vmm ? 'vmm' : 'image', this.fileReadahead.tracksHits);
    this.s.faults.waitOn(p, f);
    return true;
  }

  /** A zero-filled frame for a page without content (never touched, or given back by the balloon). */
  zeroFill(p: number): boolean {
    if (!this.reclaim.takeFrames(1)) return false;
    const { pt, counters } = this.s;
    counters.zeroFills++;
    counters.minorFaults++;
    pt.state[p] = State.Resident;
    pt.flags[p] = Flag.Dirty;
    this.s.frames.charge(p);
    this.s.put(LruList.ActiveAnon, p);
    this.s.io.push(guestPageAction('zero', p as Gfn));
    return true;
  }

  /**
   * A guest-context access that must wait for a swap read goes through KVM's async page fault path
   * (the vCPU has interrupts on in everything our guests run), whose worker faults the page in for
   * writing.
   */
  markAsyncWrite(f: Fault): void {
    if (this.asyncPfWrites === true && f.kind === 'touch' && f.ctx === 'guest' && !this.s.isVmm(f.page))
      f.asyncWrite = this.s.pt.slot[f.page] !== NONE;
  }

  /** The policy's window of a fault on `p`, into the scratch; its length. */
  private window(policy: Readahead, p: number): number {
    const n = policy.window(p, this.scratch);
    if (!holds(this.scratch.pages, n, p)) throw new ReadaheadWindowError(p, policy.name);
    return n;
  }

  /**
   * countMajor() and markAsyncWrite() of a swap-in, in one call (two were two calls on every
   * swap-in): the page is Swapped, with a slot (swapIn checked that the slot is the page's).
   */
  private swapMajor(f: Fault): void {
    const c = this.s.counters;
    if (f.ctx === 'guest') {
      c.hostFaultsInGuest++;
      if (this.asyncPfWrites === true && f.kind === 'touch' && !this.s.isVmm(f.page)) f.asyncWrite = true;
    } else {
      c.hostFaultsInHost++;
    }
    if (f.kind === 'overwrite') c.falseSwapReads++;
  }

  private countMajor(f: Fault): void {
    const c = this.s.counters;
    if (f.ctx === 'guest') c.hostFaultsInGuest++;
    else c.hostFaultsInHost++;
    if (f.kind === 'overwrite') {
      if (this.s.pt.state[f.page] === State.Swapped) c.falseSwapReads++;
      else c.falseImageReads++;
    }
  }

  /** Loads `got` pages of the window of length `n` around `p` (all of it when there are frames for all). */
  private load(n: number, p: number, got: number, source: ReadSource, markReadahead: boolean): void {
    const { pages, units } = this.scratch;
    const from = got >= n ? 0 : trimmedFrom(pages, n, p, got);
    const to = Math.min(n, from + got);
    this.loadPages(pages, units, from, to, source);
    if (markReadahead === true) {
      const pt = this.s.pt;
      for (let i = from; i < to; i++) if (pages[i] !== p) pt.flags[pages[i]!]! |= Flag.Readahead;
    }
  }

  /**
   * Marks pages `from` .. `to` - 1 of the window Loading and emits one read action per contiguous
   * run of their units, each with a copy of its run. The pages are absent (a window holds only pages
   * its source serves), so none is on an LRU list: nothing to unlink, and their cold list links are
   * not read (a cache miss per page, most of this function's time).
   */
  private loadPages(pages: number[], units: number[], from: number, to: number, source: ReadSource): void {
    const { pt, frames } = this.s;
    // Windows are usually gathered in unit order; only one that is not pays for a sort.
    let sorted = true;
    for (let i = from + 1; i < to && sorted; i++) sorted = units[i - 1]! <= units[i]!;
    if (!sorted) sortByUnit(pages, units, from, to);
    let start = from;
    for (let i = from; i < to; i++) {
      const u = units[i]!;
      if (i > start && u !== units[i - 1] && u !== units[i - 1]! + 1) {
        this.emitRun(source, pages, units, start, i);
        start = i;
      }
      const q = pages[i]!;
      pt.state[q] = State.Loading;
      frames.charge(q);
    }
    this.emitRun(source, pages, units, start, to);
  }

  /**
   * The read action of entries `from` .. `to` - 1 of the window, with copies of them. A run of one
   * page, half the runs the swapping path reads (slot allocation fills holes one slot at a time),
   * or of two (a sixth), is copied here without a call: copyRun is too large to be inlined, and its
   * call, argument checks and jump table cost more than the small arrays themselves.
   */
  private emitRun(source: ReadSource, pages: number[], units: number[], from: number, to: number): void {
    const n = to - from;
    if (n === 1) this.s.io.emitRead(source, [pages[from]!], [units[from]!]);
    else if (n === 2)
      this.s.io.emitRead(source, [pages[from]!, pages[from + 1]!], [units[from]!, units[from + 1]!]);
    else this.s.io.emitRead(source, copyRun(pages, from, to), copyRun(units, from, to));
  }
}

/** Windows up to this long are sorted by insertion (quadratic at worst, so never a long one). */
const INSERTION_SORT_MAX = 64;

/**
 * Sorts entries `from` .. `to` - 1 of a window in place by unit, stably (pages holding one block
 * keep their order), as Array.prototype.sort of their indices by unit would.
 */
export function sortByUnit(pages: number[], units: number[], from: number, to: number): void {
  if (to - from > INSERTION_SORT_MAX) {
    const order: number[] = [];
    for (let i = from; i < to; i++) order.push(i);
    order.sort((a, b) => units[a]! - units[b]!);
    const p = order.map((i) => pages[i]!);
    const u = order.map((i) => units[i]!);
    for (let i = from; i < to; i++) {
      pages[i] = p[i - from]!;
      units[i] = u[i - from]!;
    }
    return;
  }
  for (let i = from + 1; i < to; i++) {
    const q = pages[i]!;
    const u = units[i]!;
    let j = i - 1;
    // Strictly greater: an equal unit stays ahead (stable).
    while (j >= from && units[j]! > u) {
      pages[j + 1] = pages[j]!;
      units[j + 1] = units[j]!;
      j--;
    }
    pages[j + 1] = q;
    units[j + 1] = u;
  }
}

/**
 * Where the `got` entries of the `n` of `want` to load start, when there are fewer frames than entries: they
 * are around `p`'s, growing upwards first. (A number, not a range: a fault would allocate a pair.)
 */
function trimmedFrom(want: number[], n: number, p: number, got: number): number {
  let at = 0;
  while (want[at] !== p) at++;
  let lo = at;
  let hi = at + 1;
  while (hi - lo < got) {
    if (hi < n) hi++;
    if (hi - lo < got && lo > 0) lo--;
  }
  return lo;
}

/**
 * pages.slice(0, n).includes(p), as a loop the optimizing compiler inlines: Array.prototype.includes stays a
 * call into V8's builtin on every fault.
 */
function holds(pages: readonly number[], n: number, p: number): boolean {
  for (let i = 0; i < n; i++) if (pages[i] === p) return true;
  return false;
}
