import { fstatSync } from 'node:fs';
import { type CoreAction, DEFAULT_CORE_TUNABLES, MemoryCore } from '../core/memory-core.js';
import { Flag, State } from '../core/page-table.js';
import { asGfn } from '../core/types.js';
import type { PagerDisk } from './disk.js';
import type { GuestRam } from './guest-ram.js';
import type { RawFile } from './image-file.js';
import type { Loop } from './loop.js';
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
  /**
   * For the torture test only: evict without write-protecting first, to show that the test catches
   * the writes this loses.
   */
  unsafeSkipWriteProtect?: boolean;
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
  punches: number;
  writeProtects: number;
  /** Pages QEMU had populated before the pager attached (firmware, kernel, boot data). */
  adopted: number;
}

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
export class Pager {
  readonly core: MemoryCore;
  readonly stats: PagerStats = {
    uffdFaultsGuest: 0,
    uffdFaultsHost: 0,
    wpFaults: 0,
    copies: 0,
    copyExists: 0,
    lostPages: 0,
    punches: 0,
    writeProtects: 0,
    adopted: 0,
  };
  /** What to do when the core finishes fault `id`. */
  private readonly waiters = new Map<number, () => void>();
  private pumping = false;
  /** Continuations to run once the queued actions are carried out. */
  private readonly afterActions: (() => void)[] = [];
  private readonly staging: Mapping;
  private readonly stagingPages = 64;
  private readonly zeroPage: Mapping;
  /** Pages QEMU populated before we attached: their 'zero' action is not carried out. */
  private readonly adopting = new Set<number>();
  readonly sampler: AccessSampler;
  private stopped = false;

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
      preventer: false,
      // QEMU under TCG has no KVM async page fault worker: a fault is resolved as the access it was.
      asyncPfWriteFaults: false,
    });
    this.staging = anonymous(this.stagingPages * PAGE);
    this.zeroPage = anonymous(PAGE);
    this.sampler = new AccessSampler(this.core, ram, uffd, cfg.sampling.slots, cfg.sampling.depth, (p) =>
      this.protect(p),
    );
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
   * Makes a page the core considers resident usable through our mapping (an armed page is put
   * back first). Every direct access by the back end goes through here.
   */
  ensureMapped(page: number): void {
    if (this.sampler.isArmed(page)) this.sampler.restore(page, false);
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
      if (this.core.touch(asGfn(p), true, 'host') !== 0)
        throw new Error(
          `pager: adopting page ${p} did not complete at once (the resident limit applies later)`,
        );
    }
    this.pump();
    this.adopting.clear();
    this.stats.adopted = present.length;
    this.loop.watch(this.uffd.fd, () => this.onFaults());
    this.setLimit(this.cfg.residentLimitPages);
    this.sample();
  }

  setLimit(pages: number): void {
    this.core.setResidentLimit(Math.min(pages, this.ram.pages));
    this.pump();
  }

  /**
   * Runs `then` when core fault `id` completes. With `id` 0 (the access succeeded at once) it runs
   * once the actions the core has queued so far are carried out: a page it just zero-filled or
   * read must be in place before anyone touches it.
   */
  wait(id: number, then: () => void): void {
    if (id !== 0) {
      this.waiters.set(id, then);
      return;
    }
    this.afterActions.push(then);
    this.pump();
  }

  // ------------------------------------------------------------------ faults from QEMU

  private onFaults(): void {
    for (;;) {
      const faults = this.uffd.readFaults(256);
      if (faults.length === 0) break;
      for (const f of faults) this.onFault(f);
      this.pump();
    }
  }

  private onFault(f: UffdFault): void {
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
    this.wait(this.core.touch(asGfn(page), write, ctx), () => this.release(page, write));
  }

  /** The core has the page (and has seen the access): let QEMU's thread go on. */
  private release(page: number, write: boolean): void {
    // A sampled page: the guest used it (the core has just seen the access); put it back.
    if (this.sampler.isArmed(page)) this.sampler.restore(page, true);
    if (!this.ram.isPresent(page)) {
      // The core says present, the memfd disagrees: a page was lost. Counted; never expected.
      this.stats.lostPages++;
    }
    const addr = this.ram.qemuAddr(page);
    // A write: the core now treats the page as dirty (any Mapper association is broken), so it may
    // be written freely. Unprotecting wakes the writer; a missing fault was woken by its copy.
    if (write) this.uffd.writeProtect(addr, PAGE, false);
    else this.uffd.wake(addr);
  }

  // ------------------------------------------------------------------ the core's actions

  /** Carries out every queued action, in order (re-entrant calls return at once). */
  pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (;;) {
        const actions = this.core.drain();
        if (actions.length > 0) {
          for (let i = 0; i < actions.length; i++) {
            const a = actions[i]!;
            if (a.kind !== 'drop' || this.sampler.isArmed(a.page)) {
              this.carryOut(a);
              continue;
            }
            // Reclaim drops pages in runs (often read in together): one hole per run.
            let n = 1;
            for (;;) {
              const b = actions[i + n];
              if (!b || b.kind !== 'drop' || b.page !== a.page + n || this.sampler.isArmed(b.page)) break;
              n++;
            }
            this.ram.punch(a.page, n);
            this.stats.punches += n;
            i += n - 1;
          }
          continue;
        }
        const then = this.afterActions.shift();
        if (!then) break;
        then();
      }
    } finally {
      this.pumping = false;
    }
  }

  private carryOut(a: CoreAction): void {
    switch (a.kind) {
      case 'read':
        this.read(a);
        return;
      case 'write':
        this.write(a);
        return;
      case 'drop':
        if (this.sampler.isArmed(a.page)) {
          // Already out of the memfd: the slot held its content.
          this.sampler.discard(a.page);
          return;
        }
        this.ram.punch(a.page);
        this.stats.punches++;
        return;
      case 'zero':
        if (this.adopting.has(a.page)) return;
        this.install(a.page, this.zeroPage.addr);
        return;
      case 'faultDone': {
        const then = this.waiters.get(a.fault);
        if (!then) throw new Error(`pager: fault ${a.fault} finished but nobody waits for it`);
        this.waiters.delete(a.fault);
        then();
        return;
      }
      case 'timer':
      case 'remap':
      case 'discardBuffer':
        throw new Error(
          `pager: action ${a.kind} needs the False Reads Preventer, which this engine does not run`,
        );
    }
  }

  /** Installs a page in QEMU from our memory, write-protected unless the core considers it dirty. */
  private install(page: number, src: number): void {
    this.installRun(page, 1, src, (this.core.pt.flags[page]! & Flag.Dirty) === 0);
  }

  /** Installs `n` consecutive pages from consecutive memory at `src`, all with the same protection. */
  private installRun(page: number, n: number, src: number, wp: boolean): void {
    const r = this.uffd.copy(this.ram.qemuAddr(page), src, n * PAGE, wp);
    if (r === 'exists') {
      // Some page of the run is there already: install the others one by one, counting each.
      if (n > 1) for (let k = 0; k < n; k++) this.installRun(page + k, 1, src + k * PAGE, wp);
      else this.stats.copyExists++;
    } else this.stats.copies += n;
  }

  private read(a: Extract<CoreAction, { kind: 'read' }>): void {
    if (a.source === 'vmm') throw new Error('pager: the core manages no hypervisor pages here');
    if (a.count > this.stagingPages)
      throw new Error(`pager: a read of ${a.count} pages exceeds the staging buffer`);
    const file = a.source === 'swap' ? this.swap : this.image;
    this.disk.submit('read', a.source, a.start, a.count, () => {
      // SAFETY (in RawFile.read): a.count pages fit the staging buffer, checked above.
      file.read(this.staging.addr, a.count * PAGE, a.start * PAGE);
      this.core.readDone(a.id);
      // After readDone the core has applied the faulting access: a page it now considers dirty is
      // installed writable, a clean one (read ahead, or named) write-protected. Pages consecutive
      // both in guest RAM and in the staging buffer, with the same protection, go in one copy.
      const pt = this.core.pt;
      let i = 0;
      while (i < a.pages.length) {
        const p = a.pages[i]!;
        if (pt.state[p] !== State.Resident) {
          i++;
          continue;
        }
        const wp = (pt.flags[p]! & Flag.Dirty) === 0;
        let j = i + 1;
        while (
          j < a.pages.length &&
          a.pages[j] === p + (j - i) &&
          a.units[j] === a.units[i]! + (j - i) &&
          pt.state[a.pages[j]!] === State.Resident &&
          ((pt.flags[a.pages[j]!]! & Flag.Dirty) === 0) === wp
        )
          j++;
        this.installRun(p, j - i, this.staging.addr + (a.units[i]! - a.start) * PAGE, wp);
        i = j;
      }
      this.pump();
    });
  }

  private write(a: Extract<CoreAction, { kind: 'write' }>): void {
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
      this.pump();
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
      armedBytes: this.sampler.armedPages * PAGE,
    };
  }
}
