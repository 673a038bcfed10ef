import type { ReadSource } from './actions.js';
import { ReadaheadWindowError, SlotOwnerError } from './errors.js';
import type { Readahead } from './readahead/readahead.js';
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
  constructor(
    private readonly s: Store,
    private readonly reclaim: Reclaim,
    private readonly swapReadahead: Readahead,
    private readonly fileReadahead: Readahead,
  ) {}

  /** Starts the swap-in that fault `f` needs. False when it must wait for a frame. */
  swapIn(f: Fault): boolean {
    const p = f.page;
    const s = this.s.pt.slot[p]!;
    if (this.s.swap.ownerOf(s) !== p) throw new SlotOwnerError(p, s);
    const { pages, units } = this.window(this.swapReadahead, p);
    const got = this.reclaim.takeFrames(pages.length);
    if (got === 0) return false;
    this.swapReadahead.started(p);
    this.countMajor(f);
    this.markAsyncWrite(f);
    this.load(pages, units, p, got, 'swap', this.swapReadahead.tracksHits);
    this.s.faults.waitOn(p, f);
    return true;
  }

  /** Starts the read of a dropped named page (or QEMU's code) that fault `f` needs. */
  fileIn(f: Fault): boolean {
    const p = f.page;
    const vmm = this.s.isVmm(p);
    const { pages, units } = this.window(this.fileReadahead, p);
    const got = this.reclaim.takeFrames(pages.length);
    if (got === 0) return false;
    this.fileReadahead.started(p);
    this.countMajor(f);
    if (vmm) this.s.counters.hostFaultsVmm++;
    this.load(pages, units, p, got, vmm ? 'vmm' : 'image', this.fileReadahead.tracksHits);
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
    this.s.io.push({ kind: 'zero', page: p as Gfn });
    return true;
  }

  /**
   * A guest-context access that must wait for a swap read goes through KVM's async page fault path
   * (the vCPU has interrupts on in everything our guests run), whose worker faults the page in for
   * writing.
   */
  markAsyncWrite(f: Fault): void {
    if (this.s.cfg.asyncPfWriteFaults && f.kind === 'touch' && f.ctx === 'guest' && !this.s.isVmm(f.page))
      f.asyncWrite = this.s.pt.slot[f.page] !== NONE;
  }

  private window(policy: Readahead, p: number): { pages: number[]; units: number[] } {
    const w = policy.window(p);
    if (!holds(w.pages, p)) throw new ReadaheadWindowError(p, policy.name);
    return w;
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

  /** Loads `got` pages of the window around `p` (all of it when there are frames for all). */
  private load(
    pages: number[],
    units: number[],
    p: number,
    got: number,
    source: ReadSource,
    markReadahead: boolean,
  ): void {
    const from = got >= pages.length ? 0 : trimmedFrom(pages, p, got);
    const to = Math.min(pages.length, from + got);
    const whole = from === 0 && to === pages.length;
    this.loadPages(
      whole ? pages : copyRun(pages, from, to),
      whole ? units : copyRun(units, from, to),
      source,
    );
    if (markReadahead) {
      const pt = this.s.pt;
      for (let i = from; i < to; i++) if (pages[i] !== p) pt.flags[pages[i]!]! |= Flag.Readahead;
    }
  }

  /**
   * Marks pages Loading and emits one read action per contiguous run of units. The pages are absent
   * (a window holds only pages its source serves), so none is on an LRU list: nothing to unlink, and
   * their cold list links are not read (a cache miss per page, most of this function's time).
   */
  private loadPages(pages: number[], units: number[], source: ReadSource): void {
    const { pt, frames, io } = this.s;
    // Windows are usually gathered in unit order; only one that is not pays for a sort.
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
        io.emitRead(source, copyRun(pages, from, i), copyRun(units, from, i));
        from = i;
      }
      const q = pages[i]!;
      pt.state[q] = State.Loading;
      frames.charge(q);
    }
    if (from === 0) io.emitRead(source, pages, units);
    else io.emitRead(source, copyRun(pages, from, pages.length), copyRun(units, from, units.length));
  }
}

/**
 * Where the `got` entries of `want` to load start, when there are fewer frames than entries: they
 * are around `p`'s, growing upwards first. (A number, not a range: a fault would allocate a pair.)
 */
function trimmedFrom(want: number[], p: number, got: number): number {
  const at = want.indexOf(p);
  let lo = at;
  let hi = at + 1;
  while (hi - lo < got) {
    if (hi < want.length) hi++;
    if (hi - lo < got && lo > 0) lo--;
  }
  return lo;
}

/**
 * pages.includes(p), as a loop the optimizing compiler inlines: Array.prototype.includes stays a
 * call into V8's builtin on every fault.
 */
function holds(pages: readonly number[], p: number): boolean {
  for (let i = 0; i < pages.length; i++) if (pages[i] === p) return true;
  return false;
}
