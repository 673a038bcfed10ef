/**
 * The Preventer's data path in the pager (src/pager/emulation.ts) against the real core, without
 * QEMU: this test plays QEMU's TCG intercept (QemuInterceptModel: stores combined in the write
 * buffer of the shared region and handed over, requests posted, as tcg_intercept_access does) and a
 * minimal pager carrying out the core's actions on an in-memory "memfd" and swap area (reads and
 * writes completing later, in random order with the guest's accesses; the Preventer's deadline
 * firing at random moments). Guest loads and stores of every size and alignment race evictions;
 * pages are read while partly written; a stale TLB entry (RAM or I/O) takes its own path; a device
 * reads and writes pages whose stores may still be in QEMU's buffer, with or without the kick that
 * flushes it. Every load and every byte a device reads is checked against a reference copy of guest
 * memory, and every page at the end. A merge that drops the buffered bytes is caught, and so is a
 * pager that does not take QEMU's buffer over when it brings a page in.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  DEFAULT_CORE_TUNABLES,
  type Gfn,
  MemoryCore,
  NO_FAULT,
  type ReadAction,
  type SwapWriteAction,
  asBlock,
  asGfn,
} from '../src/core/index.js';
import { CoreDriver, type DriverAction } from '../src/driver/core-driver.js';
import { Emulation } from '../src/pager/emulation.js';
import {
  InterceptRegion,
  interceptRegionBytes,
  QemuInterceptModel,
  postRequestAsQemu,
  takeReplyAsQemu,
} from '../src/pager/intercept-region.js';

const PAGE = 4096;

/** One guest access, as the random program gives it. */
type Op =
  | {
      k: 'access';
      page: number;
      slot: number;
      size: 1 | 2 | 4 | 8;
      write: boolean;
      /** A TLB entry filled before the page's bit changed: RAM (faults if absent), or I/O. */
      stale: 'ram' | 'io' | false;
    }
  | { k: 'dma'; page: number; toGuest: boolean; kick: boolean }
  | { k: 'fill'; page: number; from: number; to: number } // sequential 8-byte stores, as a memset
  | { k: 'limit'; pages: number }
  | { k: 'io' }
  | { k: 'timer' };

class World {
  readonly mem: Uint8Array;
  readonly present: Uint8Array;
  readonly ref: Uint8Array;
  readonly swap: Uint8Array;
  readonly core: MemoryCore;
  readonly driver: CoreDriver;
  readonly regionBytes: Uint8Array;
  readonly region: InterceptRegion;
  readonly emu: Emulation;
  readonly qemu: QemuInterceptModel;
  /** Planted bug: the pager does not take QEMU's write buffer over when a page comes in. */
  skipClaim = false;
  dmaChecked = 0;
  private readonly pendingIo: (() => void)[] = [];
  private readonly timers: Gfn[] = [];
  private replies = 0;
  loadsChecked = 0;

  constructor(
    readonly pages: number,
    private readonly rnd: () => number,
  ) {
    this.mem = new Uint8Array(pages * PAGE);
    this.present = new Uint8Array(pages);
    this.ref = new Uint8Array(pages * PAGE);
    this.swap = new Uint8Array(pages * 2 * PAGE);
    this.core = new MemoryCore({
      ...DEFAULT_CORE_TUNABLES,
      guestPages: pages,
      vmmPages: 0,
      imageBlocks: 16,
      swapSlots: pages * 2,
      residentLimitPages: pages,
      mapper: false,
      preventer: true,
      asyncPfWriteFaults: false,
    });
    this.driver = new CoreDriver(this.core, { carryOut: (a) => this.carryOut(a) });
    this.regionBytes = new Uint8Array(interceptRegionBytes(pages));
    this.region = new InterceptRegion(this.regionBytes, pages, true);
    this.emu = new Emulation(
      {
        core: this.core,
        after: (id, k) => this.driver.after(id, k),
        guestBytes: (g) => {
          assert.equal(this.present[g], 1, `page ${g} accessed through our mapping while absent`);
          return this.mem.subarray(g * PAGE, (g + 1) * PAGE);
        },
      },
      this.region,
      () => this.replies++,
    );
    this.qemu = new QemuInterceptModel(
      this.regionBytes,
      (write, offset, data) => {
        const seq = postRequestAsQemu(
          this.regionBytes,
          write,
          offset,
          write === false ? new Uint8Array(data.length) : data,
        );
        this.emu.poll();
        this.driver.pump();
        let reply: Uint8Array | undefined;
        this.runUntil(
          () => (reply = takeReplyAsQemu(this.regionBytes, seq, data.length)) !== undefined,
          'a reply',
        );
        return reply!;
      },
      // A released page: the access on RAM (the ordinary fault path when absent).
      (write, offset, data) => this.ramAccess(Math.floor(offset / PAGE), offset % PAGE, write, data),
    );
  }

  /** The pager's step before a page comes in: QEMU's buffered bytes for it are taken. */
  private claim(p: number): void {
    if (this.skipClaim) this.region.unmark(p);
    else this.emu.claim(p);
  }

  private install(p: number, content: Uint8Array): void {
    assert.equal(this.present[p], 0, `page ${p} installed twice`);
    this.mem.set(content, p * PAGE);
    this.present[p] = 1;
    this.region.unmark(p);
  }

  /** What the pager does after `readDone` or before a zero: the buffered bytes over the content. */
  private merge(p: Gfn, dst: Uint8Array): void {
    if (!this.emu.mergeInto(p, dst)) return;
    if (!this.core.isDirty(p)) assert.equal(this.core.touch(p, true, 'guest'), NO_FAULT);
  }

  private carryOut(a: DriverAction): void {
    switch (a.kind) {
      case 'read':
        this.read(a);
        return;
      case 'write':
        this.write(a);
        return;
      case 'drop':
        for (const page of a.pages) {
          this.present[page] = 0;
          this.mem.fill(0xee, page * PAGE, (page + 1) * PAGE);
          this.region.mark(page);
        }
        return;
      case 'zero': {
        const z = new Uint8Array(PAGE);
        this.claim(a.page);
        this.merge(a.page, z);
        this.install(a.page, z);
        return;
      }
      case 'remap': {
        const src = new Uint8Array(PAGE);
        // The emulation's scratch page is real memory: read it back through a copy of the buffer.
        this.claim(a.page);
        this.emu.remapSource(a.page);
        src.set(this.emuScratch());
        this.install(a.page, src);
        return;
      }
      case 'discardBuffer':
        this.emu.discard(a.page);
        return;
      case 'timer':
        this.timers.push(a.page);
        return;
      default:
        throw new Error(`unexpected action ${a.kind}`);
    }
  }

  private emuScratch(): Uint8Array {
    // SAFETY of the test: Emulation keeps its remap source in `scratch` (a private Mapping).
    return (this.emu as unknown as { scratch: { bytes: Uint8Array } }).scratch.bytes;
  }

  private read(a: ReadAction): void {
    assert.equal(a.source, 'swap');
    this.pendingIo.push(() => {
      const staged = a.units.map((u) => this.swap.slice(u * PAGE, (u + 1) * PAGE));
      this.core.readDone(a.id);
      for (let i = 0; i < a.pages.length; i++) {
        const p = a.pages[i]!;
        if (!this.core.isResident(p) || this.present[p]) continue;
        this.claim(p);
        this.merge(p, staged[i]!);
        this.install(p, staged[i]!);
      }
      this.driver.pump();
    });
  }

  private write(a: SwapWriteAction): void {
    for (let i = 0; i < a.pages.length; i++) {
      const p = a.pages[i]!;
      this.swap.set(this.mem.subarray(p * PAGE, (p + 1) * PAGE), (a.start + i) * PAGE);
    }
    this.pendingIo.push(() => {
      this.core.writeDone(a.id);
      this.driver.pump();
    });
  }

  /** Completes one pending I/O (a random one: completions are not in issue order). */
  completeOne(): boolean {
    if (this.pendingIo.length === 0) return false;
    const i = Math.floor(this.rnd() * this.pendingIo.length);
    const [f] = this.pendingIo.splice(i, 1);
    f!();
    return true;
  }

  fireTimer(): void {
    const p = this.timers.shift();
    if (p === undefined) return;
    this.core.timerFired(p);
    this.driver.pump();
  }

  /** The guest's access; returns when QEMU would go on (reply, or fault done). */
  access(
    page: number,
    at: number,
    size: number,
    write: boolean,
    stale: 'ram' | 'io' | false,
    value: Uint8Array,
  ): void {
    const off = page * PAGE + at;
    if (write) this.ref.set(value, off);
    if ((!this.region.isMarked(page) && stale !== 'io') || stale === 'ram') {
      // A RAM TLB entry (fresh or stale): the access reaches the memfd, or faults if absent.
      const data = write ? value.slice() : new Uint8Array(size);
      this.ramAccess(page, at, write, data);
      if (!write) this.checkLoad(page, at, data);
      return;
    }
    // An I/O TLB entry: QEMU's intercept (its write buffer, or a request).
    const data = write ? value.slice() : new Uint8Array(size);
    this.qemu.access(write, off, data);
    if (!write) this.checkLoad(page, at, data);
  }

  /** An access on guest RAM: at once when present, else through the core's fault. */
  private ramAccess(page: number, at: number, write: boolean, data: Uint8Array): void {
    const g = asGfn(page);
    const off = page * PAGE + at;
    const direct = (): void => {
      assert.equal(this.present[page], 1, `page ${page} absent after its fault completed`);
      if (write) this.mem.set(data, off);
      else data.set(this.mem.subarray(off, off + data.length));
    };
    if (this.present[page] && this.core.isResident(g)) {
      assert.equal(this.core.touch(g, write, 'guest'), NO_FAULT);
      direct();
      return;
    }
    let done = false;
    this.driver.after(this.core.touch(g, write, 'guest'), () => {
      direct();
      done = true;
    });
    this.runUntil(() => done, 'a fault');
  }

  /**
   * A disk request on page `page`, served by the device (the pager's back end): into the page
   * (the device overwrites it whole) or from it (the device must read every byte the guest wrote,
   * including those still in QEMU's buffer). `kick`: the guest's notify (a device access: QEMU
   * hands its buffer over first); without it, the device found the request on the ring by itself.
   */
  dma(page: number, toGuest: boolean, kick: boolean, content: Uint8Array): void {
    if (kick) this.qemu.device();
    const g = asGfn(page);
    let done = false;
    if (toGuest) {
      this.driver.after(this.core.beginDmaWrite(g), () => {
        // As pager-io's transfer: the pages come in (unmarked, QEMU's bytes taken), overwritten.
        this.emu.claim(page);
        this.emu.discard(page);
        this.mem.set(content, page * PAGE);
        this.ref.set(content, page * PAGE);
        this.present[page] = 1;
        this.core.endDmaWrite(g, asBlock(page % 16));
        this.driver.pump();
        done = true;
      });
    } else {
      this.driver.after(this.core.beginDmaRead(g), () => {
        assert.equal(this.present[page], 1, `page ${page} absent for the device`);
        assert.deepEqual(
          this.mem.subarray(page * PAGE, (page + 1) * PAGE),
          this.ref.subarray(page * PAGE, (page + 1) * PAGE),
          `page ${page} as the device reads it`,
        );
        this.dmaChecked++;
        this.core.endDmaRead(g, asBlock(page % 16));
        this.driver.pump();
        done = true;
      });
    }
    this.runUntil(() => done, 'a device access');
  }

  private runUntil(done: () => boolean, what: string): void {
    for (let spins = 0; !done(); spins++) {
      if (!this.completeOne()) this.fireTimer();
      if (spins > 100000) assert.fail(`${what} never came`);
    }
  }

  private checkLoad(page: number, at: number, got: Uint8Array): void {
    const off = page * PAGE + at;
    assert.deepEqual(
      [...got],
      [...this.ref.subarray(off, off + got.length)],
      `load of page ${page} at ${at}`,
    );
    this.loadsChecked++;
  }

  /** Everything back in, every page compared with the reference; the core's invariants. */
  finish(): void {
    this.core.setResidentLimit(this.pages);
    this.driver.pump();
    for (let p = 0; p < this.pages; p++) {
      let done = false;
      this.driver.after(this.core.touch(asGfn(p), false, 'guest'), () => (done = true));
      this.runUntil(() => done, `page ${p} at the end`);
    }
    while (this.completeOne());
    for (let p = 0; p < this.pages; p++)
      assert.deepEqual(
        this.mem.subarray(p * PAGE, (p + 1) * PAGE),
        this.ref.subarray(p * PAGE, (p + 1) * PAGE),
        `page ${p} at the end`,
      );
    assert.deepEqual(this.core.checkInvariants(), []);
  }
}

const PAGES = 24;
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.record({
      k: fc.constant('access' as const),
      page: fc.nat(PAGES - 1),
      slot: fc.nat(PAGE - 1),
      size: fc.constantFrom(1 as const, 2 as const, 4 as const, 8 as const),
      write: fc.boolean(),
      stale: fc.nat(7).map((n) => (n === 0 ? ('ram' as const) : n === 1 ? ('io' as const) : false)),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('dma' as const),
      page: fc.nat(PAGES - 1),
      toGuest: fc.boolean(),
      kick: fc.boolean(),
    }),
  },
  {
    weight: 3,
    arbitrary: fc
      .record({ page: fc.nat(PAGES - 1), a: fc.nat(512), b: fc.nat(512) })
      .map(({ page, a, b }) => ({
        k: 'fill' as const,
        page,
        from: Math.min(a, b) * 8,
        to: (Math.max(a, b) === Math.min(a, b) ? 512 : Math.max(a, b)) * 8,
      })),
  },
  {
    // A whole page overwritten from its start (a memset, a copy): the Preventer's remap.
    weight: 2,
    arbitrary: fc.nat(PAGES - 1).map((page) => ({ k: 'fill' as const, page, from: 0, to: PAGE })),
  },
  {
    weight: 2,
    arbitrary: fc.integer({ min: 4, max: PAGES }).map((pages) => ({ k: 'limit' as const, pages })),
  },
  { weight: 3, arbitrary: fc.constant({ k: 'io' as const }) },
  { weight: 1, arbitrary: fc.constant({ k: 'timer' as const }) },
);

function play(ops: Op[], seed: number, sabotage: 'merge' | 'claim' | false = false): World {
  let s = seed >>> 0 || 1;
  const rnd = (): number => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) % 1;
  const w = new World(PAGES, rnd);
  if (sabotage === 'merge')
    w.emu.mergeInto = (p: number): boolean => (w.emu.has(p) ? (w.emu.discard(p), true) : false);
  if (sabotage === 'claim') w.skipClaim = true;
  // Every page written once (resident, dirty), then the random program.
  for (let p = 0; p < PAGES; p++) w.access(p, 0, 8, true, false, new Uint8Array(8).fill(p + 1));
  let v = 1;
  const value = (n: number): Uint8Array => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = v = (v * 31 + 7) & 0xff;
    return b;
  };
  for (const op of ops) {
    switch (op.k) {
      case 'access': {
        const at = Math.floor(op.slot / op.size) * op.size;
        w.access(op.page, at, op.size, op.write, op.stale, op.write ? value(op.size) : new Uint8Array(0));
        break;
      }
      case 'fill':
        for (let at = op.from; at < op.to; at += 8) w.access(op.page, at, 8, true, false, value(8));
        // A load of bytes just written (from QEMU's buffer while it holds them), and one before them.
        w.access(op.page, op.from, 4, false, false, new Uint8Array(0));
        if (op.from > 0) w.access(op.page, op.from - 8, 8, false, false, new Uint8Array(0));
        break;
      case 'limit':
        w.core.setResidentLimit(op.pages);
        w.driver.pump();
        break;
      case 'io':
        w.completeOne();
        break;
      case 'dma':
        w.dma(op.page, op.toGuest, op.kick, value(PAGE));
        break;
      case 'timer':
        w.fireTimer();
        break;
    }
  }
  w.finish();
  return w;
}

test('intercepted loads and stores of every size and alignment racing evictions: every load and page right', (t) => {
  const totals = {
    emulated: 0,
    remaps: 0,
    fallbacks: 0,
    loads: 0,
    dmaChecked: 0,
    combined: 0,
    loadsFromBuffer: 0,
    handedFull: 0,
    handedOther: 0,
    handedLoad: 0,
    handedDevice: 0,
    takenByPager: 0,
  };
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 50, maxLength: 400 }), fc.integer(), (ops, seed) => {
      const w = play(ops, seed);
      const c = w.core.counters.snapshot();
      const q = w.region.counters();
      totals.emulated += c.preventerEmulatedPages ?? 0;
      totals.remaps += c.preventerRemaps ?? 0;
      totals.fallbacks += c.preventerFallbacks ?? 0;
      totals.loads += w.loadsChecked;
      totals.dmaChecked += w.dmaChecked;
      totals.combined += q.combinedStores;
      totals.loadsFromBuffer += q.loadsFromBuffer;
      totals.handedFull += q.handedFull;
      totals.handedOther += q.handedOther;
      totals.handedLoad += q.handedLoad;
      totals.handedDevice += q.handedDevice;
      totals.takenByPager += w.emu.stats.buffersTaken - w.emu.stats.flushes;
    }),
    { numRuns: 150, seed: 13 },
  );
  t.diagnostic(`over 150 programs: ${JSON.stringify(totals)}`);
  // The paths were taken: pages emulated, remapped whole, merged after a fallback; QEMU's buffer
  // combined stores, answered loads, was handed over for every reason and taken by the pager.
  assert.ok(totals.emulated > 50, `pages emulated: ${totals.emulated}`);
  assert.ok(totals.remaps > 5, `remaps: ${totals.remaps}`);
  assert.ok(totals.fallbacks > 5, `fallbacks (merges): ${totals.fallbacks}`);
  assert.ok(totals.loads > 1000, `loads checked: ${totals.loads}`);
  assert.ok(totals.dmaChecked > 100, `pages a device read: ${totals.dmaChecked}`);
  assert.ok(totals.combined > 1000, `stores combined: ${totals.combined}`);
  for (const k of [
    'loadsFromBuffer',
    'handedFull',
    'handedOther',
    'handedLoad',
    'handedDevice',
    'takenByPager',
  ] as const)
    assert.ok(totals[k] > 5, `${k}: ${totals[k]}`);
});

test('a merge that drops the buffered bytes is caught', (t) => {
  let caught = 0;
  for (let seed = 1; seed <= 20; seed++) {
    const ops = fc.sample(fc.array(opArb, { minLength: 300, maxLength: 300 }), { numRuns: 1, seed })[0]!;
    try {
      play(ops, seed, 'merge');
    } catch (e) {
      if (e instanceof assert.AssertionError) caught++;
      else throw e;
    }
  }
  t.diagnostic(`caught in ${caught} of 20 programs`);
  assert.ok(caught >= 10, `the broken merge was caught in ${caught} of 20 programs`);
});

test("a pager that does not take QEMU's write buffer over when a page comes in is caught", (t) => {
  let caught = 0;
  for (let seed = 1; seed <= 30; seed++) {
    const ops = fc.sample(fc.array(opArb, { minLength: 300, maxLength: 300 }), { numRuns: 1, seed })[0]!;
    try {
      play(ops, seed, 'claim');
    } catch (e) {
      if (e instanceof assert.AssertionError) caught++;
      else throw e;
    }
  }
  t.diagnostic(`caught in ${caught} of 30 programs`);
  // A bad take-over reorders bytes rather than losing them: caught when a later access sees it.
  assert.ok(caught >= 10, `the missing take-over was caught in ${caught} of 30 programs`);
});
