import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { EmulatedPage } from '../src/core/emulated-page.js';
import { Lruvecs } from '../src/core/store/lruvec.js';
import {
  type CoreConfig,
  Flag,
  type Gfn,
  LruList,
  type LruListKind,
  NO_FAULT,
  State,
} from '../src/core/index.js';
import { asBlock, asGfn, asVmmPage } from '../src/core/index.js';
import { CoreHarness } from './support/core-harness.js';
import { type CoreOp, playOp } from './support/core-ops.js';

/** A small harness with one zone and no readahead, so a test can follow pages one by one. */
function tiny(cfg: Partial<CoreConfig> & { guestPages: number; imageBlocks: number }): CoreHarness {
  return new CoreHarness({
    zoneWeights: [1],
    pageClusterLog2: 0,
    fileReadaroundPages: 1,
    reclaimBatchPages: 1,
    swapClusterSlots: 4,
    ...cfg,
  });
}

const GUEST = 24;
const BLOCKS = 6;

type Op = CoreOp;

const gfn = fc.integer({ min: 0, max: GUEST - 1 });
const block = fc.integer({ min: 0, max: BLOCKS - 1 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: gfn.map((g) => ({ k: 'read' as const, g })) },
  { weight: 2, arbitrary: gfn.map((g) => ({ k: 'hostRead' as const, g })) },
  { weight: 4, arbitrary: gfn.map((g) => ({ k: 'write' as const, g })) },
  { weight: 2, arbitrary: gfn.map((g) => ({ k: 'overwrite' as const, g })) },
  { weight: 6, arbitrary: fc.record({ b: block, g: gfn }).map((r) => ({ k: 'diskRead' as const, ...r })) },
  { weight: 5, arbitrary: fc.record({ g: gfn, b: block }).map((r) => ({ k: 'diskWrite' as const, ...r })) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 4 }).map((n) => ({ k: 'io' as const, n })) },
  { weight: 1, arbitrary: gfn.map((g) => ({ k: 'inflate' as const, g })) },
  { weight: 1, arbitrary: gfn.map((g) => ({ k: 'deflate' as const, g })) },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 6, max: GUEST }).map((pages) => ({ k: 'limit' as const, pages })),
  },
  {
    weight: 6,
    arbitrary: fc
      .record({ g: gfn, first: fc.integer({ min: 0, max: 63 }), n: fc.integer({ min: 1, max: 64 }) })
      .map((r) => ({ k: 'chunkWrite' as const, g: r.g, first: r.first, n: Math.min(r.n, 64 - r.first) })),
  },
  {
    weight: 3,
    arbitrary: fc
      .record({ g: gfn, first: fc.integer({ min: 0, max: 63 }), n: fc.integer({ min: 1, max: 8 }) })
      .map((r) => ({ k: 'chunkRead' as const, g: r.g, first: r.first, n: Math.min(r.n, 64 - r.first) })),
  },
  { weight: 2, arbitrary: fc.constant({ k: 'timer' as const }) },
);

function run(h: CoreHarness, ops: Op[]): void {
  for (const op of ops) playOp(h, op);
  h.verifyAll();
}

/** What the random runs exercised, so a test can check that they reached the interesting paths. */
const stats = {
  namedDrops: 0,
  swapWrites: 0,
  invalidations: 0,
  emulated: 0,
  remaps: 0,
  fallbacks: 0,
  rewrites: 0,
  released: 0,
  asyncReleases: 0,
};

function property(
  mapper: boolean,
  zones: number[],
  sabotage?: (h: CoreHarness) => void,
  preventer = false,
  swapSlots = GUEST * 2,
) {
  return fc.property(
    fc.array(opArb, { minLength: 1, maxLength: 250, size: 'large' }),
    fc.array(fc.nat(), { minLength: 1, maxLength: 16 }),
    // KVM's async page faults on (the paper's host) or off (faults resolved as the access was).
    fc.boolean(),
    (ops, picks, asyncPfWriteFaults) => {
      let i = 0;
      const h = new CoreHarness(
        {
          guestPages: GUEST,
          imageBlocks: BLOCKS,
          mapper,
          preventer,
          residentLimitPages: 7,
          zoneWeights: zones,
          pageClusterLog2: 2,
          fileReadaroundPages: 4,
          reclaimBatchPages: 4,
          swapClusterSlots: 8,
          swapSlots,
          asyncPfWriteFaults,
        },
        () => picks[i++ % picks.length]!,
      );
      sabotage?.(h);
      run(h, ops);
      stats.namedDrops += h.core.counters.namedDrops;
      stats.swapWrites += h.core.counters.swapWritePages;
      stats.invalidations += h.core.counters.invalidationReads;
      stats.emulated += h.core.counters.preventerEmulatedPages;
      stats.remaps += h.core.counters.preventerRemaps;
      stats.fallbacks += h.core.counters.preventerFallbacks;
      stats.rewrites += h.core.counters.swapRewrites;
      stats.released += h.core.counters.swapSlotsReleased;
      stats.asyncReleases += h.core.counters.asyncPfSlotReleases;
      return h.violations.length === 0 ? true : (assert.fail(h.violations.slice(0, 3).join('; ')), false);
    },
  );
}

for (const mapper of [false, true]) {
  for (const zones of [[1], [1, 2, 3]]) {
    test(`core never loses a write (mapper ${mapper ? 'on' : 'off'}, ${zones.length} zone(s))`, () => {
      stats.namedDrops = stats.swapWrites = stats.invalidations = stats.rewrites = stats.asyncReleases = 0;
      fc.assert(property(mapper, zones), { numRuns: 200, seed: 42 + zones.length + (mapper ? 100 : 0) });
      // The runs must have reached what they are meant to test, or a pass would mean nothing.
      assert.ok(stats.swapWrites > 1000, `only ${stats.swapWrites} swap writes`);
      assert.ok(stats.rewrites > 100, `only ${stats.rewrites} pages rewritten to the slot they kept`);
      assert.ok(stats.asyncReleases > 100, `only ${stats.asyncReleases} slots given up by async page faults`);
      if (mapper) {
        assert.ok(stats.namedDrops > 200, `only ${stats.namedDrops} named drops`);
        assert.ok(stats.invalidations > 20, `only ${stats.invalidations} invalidation reads`);
      }
    });
  }
}

for (const mapper of [false, true]) {
  test(`core never loses a write when swap is over half full and swapped-in pages give their slots back (mapper ${mapper ? 'on' : 'off'})`, () => {
    stats.swapWrites = stats.released = 0;
    fc.assert(property(mapper, [1, 2], undefined, false, GUEST), { numRuns: 200, seed: 77 });
    assert.ok(stats.swapWrites > 1000, `only ${stats.swapWrites} swap writes`);
    assert.ok(stats.released > 100, `only ${stats.released} slots released by vm_swap_full`);
  });
}

test('a page the guest only reads keeps its swap slot and is written back to it; a guest write gives the slot up', () => {
  // Faults resolved as the access they were (no KVM async page fault worker: see the next test).
  const h = tiny({
    guestPages: 16,
    imageBlocks: 4,
    residentLimitPages: 6,
    swapSlots: 64,
    asyncPfWriteFaults: false,
  });
  for (let g = 0; g < 16; g++) h.guestWrite(g);
  h.settle();
  const slot = (g: number): number => h.core.inspect(g).slot;
  const state = (g: number): number => h.core.inspect(g).state;
  const s0 = slot(0);
  const s1 = slot(1);
  assert.ok(s0 >= 0 && s1 >= 0, 'pages 0 and 1 were swapped out');
  h.guestRead(0);
  h.guestRead(1);
  assert.equal(slot(0), s0, 'a read fault leaves the page in the swap cache');
  h.guestWrite(1);
  assert.equal(slot(1), -1, 'a write frees the slot (reuse_swap_page)');
  const rewrites = h.core.counters.swapRewrites;
  for (let g = 2; g < 16; g++) h.guestRead(g);
  h.settle();
  assert.equal(state(0), State.Swapped, 'page 0 was evicted again');
  assert.equal(slot(0), s0, 'to the slot it kept');
  assert.ok(h.core.counters.swapRewrites > rewrites);
  h.verifyAll();
  assert.deepEqual(h.violations, []);
});

test('while swap is more than half full, the fault that maps a swapped-in page gives its slot back (vm_swap_full)', () => {
  for (const [slots, released] of [
    [64, false],
    [16, true],
  ] as const) {
    const h = tiny({
      guestPages: 16,
      imageBlocks: 4,
      residentLimitPages: 6,
      swapSlots: slots,
      asyncPfWriteFaults: false,
    });
    for (let g = 0; g < 16; g++) h.guestWrite(g);
    h.settle();
    assert.ok(h.core.census().swapUsed * 2 > 16 && h.core.census().swapUsed * 2 < 64);
    h.guestRead(0);
    assert.equal(h.core.inspect(0).slot === -1, released, `${slots} slots`);
    assert.equal(h.core.counters.swapSlotsReleased > 0, released);
    h.verifyAll();
    assert.deepEqual(h.violations, []);
  }
});

test("KVM's async page fault: the guest page a swap read was for gives its slot up and moves; pages read ahead keep theirs", () => {
  for (const asyncPfWriteFaults of [true, false]) {
    // Swap readahead of 4 slots, so one fault brings in neighbours that the guest reads afterwards.
    const h = tiny({
      guestPages: 16,
      imageBlocks: 4,
      residentLimitPages: 8,
      swapSlots: 64,
      pageClusterLog2: 2,
      asyncPfWriteFaults,
    });
    for (let g = 0; g < 16; g++) h.guestWrite(g);
    h.settle();
    const slot = (g: number): number => h.core.inspect(g).slot;
    const state = (g: number): number => h.core.inspect(g).state;
    const before = [0, 1, 2, 3, 4, 5, 6, 7].map(slot);
    assert.deepEqual(before, [0, 1, 2, 3, 4, 5, 6, 7], 'pages 0-7 were swapped out in order');
    // Room for a whole readahead window without waiting for writeback.
    h.core.setResidentLimit(16);
    h.guestRead(0);
    h.guestRead(1);
    h.guestRead(2);
    const faults = h.core.counters.hostFaultsInGuest;
    assert.equal(faults, 1, 'one fault, its readahead brought pages 1 and 2');
    assert.equal(slot(0) === -1, asyncPfWriteFaults, 'the faulting page left the swap cache');
    assert.equal(h.core.counters.asyncPfSlotReleases, asyncPfWriteFaults ? 1 : 0);
    assert.equal(slot(1), 1, 'a page read ahead keeps its slot');
    assert.equal(slot(2), 2);
    // A host-context access (QEMU reading guest memory) is not an async page fault.
    h.hostRead(5);
    assert.equal(slot(5), 5);
    // Squeeze: everything the guest read goes out again.
    h.core.setResidentLimit(1);
    h.settle();
    assert.equal(state(0), State.Swapped, 'page 0 was swapped out again');
    if (asyncPfWriteFaults) assert.ok(slot(0) >= 8, `to a new slot, got ${slot(0)}`);
    else assert.equal(slot(0), 0, 'to the slot it kept');
    assert.equal(state(1), State.Swapped);
    assert.equal(slot(1), 1, 'the page read ahead went back to its slot');
    h.verifyAll();
    assert.deepEqual(h.violations, []);
  }
});

test('the checker catches a Mapper that forgets to preserve a dropped page before its block is overwritten', () => {
  const broken = (h: CoreHarness): void => {
    // Deliberately break §4.1 "Data Consistency": the guest's disk write no longer invalidates
    // other pages that still hold the block's old content.
    h.core.beginBlockWrite = () => NO_FAULT;
  };
  const res = fc.check(property(true, [1], broken), { numRuns: 300, seed: 7 });
  assert.equal(res.failed, true, 'a broken consistency rule must produce a lost write');
  assert.match(String(res.errorInstance), /got .* want/);
});

test('a Mapper page the guest overwrote through the disk keeps its old content when dropped (§4.1 example)', () => {
  const h = tiny({ guestPages: 8, imageBlocks: 4, mapper: true, residentLimitPages: 4 });
  h.diskRead(0, 0); // page P holds block B (content C0), named
  for (let g = 1; g < 8; g++) h.guestWrite(g); // pressure: P is dropped without a write
  h.settle();
  assert.equal(h.core.counters.namedDrops > 0, true, 'the named page was dropped');
  h.guestWrite(7);
  h.diskWrite(7, 0); // the guest writes C1 to B through the disk
  h.guestRead(0); // P must still read C0
  assert.deepEqual(h.violations, []);
  assert.equal(h.core.counters.invalidationReads, 1, 'C0 was read back before C1 was written');
  assert.equal(h.core.counters.swapWritePages >= 0, true);
});

test('evicting a named page writes nothing; the baseline writes the same page to swap (a silent swap write)', () => {
  for (const mapper of [true, false]) {
    const h = tiny({
      guestPages: 16,
      imageBlocks: 8,
      mapper,
      residentLimitPages: 8,
      reclaimBatchPages: 4,
      swapClusterSlots: 8,
    });
    for (let b = 0; b < 8; b++) h.diskRead(b, b);
    for (let g = 8; g < 16; g++) h.guestWrite(g);
    h.settle();
    const c = h.core.counters;
    if (mapper) {
      assert.equal(c.silentSwapWrites, 0);
      assert.ok(c.namedDrops >= 4, `named drops ${c.namedDrops}`);
    } else {
      assert.ok(c.silentSwapWrites >= 4, `silent writes ${c.silentSwapWrites}`);
      assert.equal(c.namedDrops, 0);
    }
    h.verifyAll();
    assert.deepEqual(h.violations, []);
  }
});

test('a disk read into a swapped-out page is a stale swap read in the baseline and none with the Mapper', () => {
  for (const mapper of [false, true]) {
    const h = tiny({
      guestPages: 16,
      imageBlocks: 8,
      mapper,
      residentLimitPages: 6,
      reclaimBatchPages: 2,
      swapClusterSlots: 8,
    });
    for (let g = 0; g < 16; g++) h.guestWrite(g);
    h.settle();
    const swappedBefore = h.core.counters.swapReadPages;
    h.diskRead(3, 0); // page 0 was swapped out long ago
    assert.equal(h.core.counters.staleSwapReads, mapper ? 0 : 1);
    assert.equal(h.core.counters.swapReadPages - swappedBefore, mapper ? 0 : 1);
    h.verifyAll();
    assert.deepEqual(h.violations, []);
  }
});

test('a guest write to a named page breaks the association (copy-on-write) and the page is then swapped, not dropped', () => {
  const h = tiny({ guestPages: 8, imageBlocks: 4, mapper: true, residentLimitPages: 4 });
  h.diskRead(1, 0);
  assert.equal(h.core.census().mapperTracked, 1);
  h.guestWrite(0);
  assert.equal(h.core.census().mapperTracked, 0);
  for (let g = 1; g < 8; g++) h.guestWrite(g);
  h.settle();
  h.guestRead(0);
  assert.deepEqual(h.violations, []);
  assert.ok(h.core.counters.swapWritePages > 0);
});

test('resident pages never exceed the limit once writes in flight complete', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 63 }), { minLength: 10, maxLength: 300 }), (touches) => {
      const h = new CoreHarness({
        guestPages: 64,
        imageBlocks: 8,
        residentLimitPages: 12,
        zoneWeights: [2, 1],
        reclaimBatchPages: 4,
        swapClusterSlots: 16,
      });
      for (const g of touches) {
        h.guestWrite(g);
        h.settle();
        assert.ok(h.core.residentPages <= 12, `resident ${h.core.residentPages}`);
      }
    }),
    { numRuns: 100, seed: 3 },
  );
});

test('core configuration errors name the field', () => {
  assert.throws(
    () => new CoreHarness({ guestPages: 0, imageBlocks: 4 }),
    /guestPages: must be a positive integer/,
  );
  assert.throws(
    () => new CoreHarness({ guestPages: 8, imageBlocks: 4, swappiness: 300 }),
    /swappiness: must be within 0..200/,
  );
  assert.throws(() => new CoreHarness({ guestPages: 8, imageBlocks: 4, zoneWeights: [] }), /zoneWeights/);
  const h = new CoreHarness({ guestPages: 8, imageBlocks: 4 });
  assert.throws(() => h.core.setResidentLimit(0), /residentLimitPages: must be a positive integer/);
  assert.throws(() => h.core.endDmaWrite(asGfn(1), asBlock(0)), /not under device access/);
});

test('the Preventer remaps a swapped-out page the guest overwrites whole: no read, no false read, content intact', () => {
  for (const preventer of [false, true]) {
    const h = tiny({
      guestPages: 16,
      imageBlocks: 4,
      mapper: true,
      preventer,
      residentLimitPages: 6,
      reclaimBatchPages: 2,
      swapClusterSlots: 8,
    });
    for (let g = 0; g < 16; g++) h.guestWrite(g);
    h.settle();
    const readsBefore = h.core.counters.swapReadPages;
    h.guestOverwrite(0); // page 0 was swapped out long ago
    const c = h.core.counters;
    assert.equal(c.swapReadPages - readsBefore, preventer ? 0 : 1);
    assert.equal(c.falseSwapReads, preventer ? 0 : 1);
    assert.equal(c.preventerRemaps, preventer ? 1 : 0);
    h.verifyAll();
    assert.deepEqual(h.violations, []);
  }
});

test('core with the Preventer never loses a write (property): emulated writes, buffered reads, timeouts, device access, merges', () => {
  stats.emulated = stats.remaps = stats.fallbacks = stats.swapWrites = 0;
  fc.assert(property(true, [1, 2], undefined, true), { numRuns: 300, seed: 11 });
  assert.ok(stats.swapWrites > 1000, `only ${stats.swapWrites} swap writes`);
  assert.ok(stats.emulated > 300, `only ${stats.emulated} emulated pages`);
  assert.ok(stats.remaps > 100, `only ${stats.remaps} remaps`);
  assert.ok(stats.fallbacks > 100, `only ${stats.fallbacks} merges`);
});

test('the checker catches a Preventer that remaps a page before every byte of it was written', () => {
  const broken = (): void => {
    // Deliberately break §4.2: treat half a page as the whole page, dropping the other half.
    Object.defineProperty(EmulatedPage.prototype, 'full', {
      get(this: EmulatedPage) {
        return this.count >= 32;
      },
      configurable: true,
    });
  };
  const restore = Object.getOwnPropertyDescriptor(EmulatedPage.prototype, 'full')!;
  broken();
  try {
    const res = fc.check(property(true, [1], undefined, true), { numRuns: 300, seed: 13 });
    assert.equal(res.failed, true, 'a remap of a half-written page must lose bytes');
  } finally {
    Object.defineProperty(EmulatedPage.prototype, 'full', restore);
  }
});

test('emulation limits: at most 32 pages at once; a non-sequential write or the deadline ends emulation with a merge', () => {
  const h = tiny({
    guestPages: 120,
    imageBlocks: 4,
    mapper: true,
    preventer: true,
    residentLimitPages: 80,
    reclaimBatchPages: 4,
    swapClusterSlots: 8,
  });
  for (let g = 0; g < 120; g++) h.guestWrite(g);
  h.settle();
  const c = h.core.counters;
  const swapped = [...Array(120).keys()]
    .filter((g) => h.core.inspect(g).state === State.Swapped)
    .slice(0, 36);
  assert.equal(swapped.length, 36);
  h.setLimit(120); // frames to spare: the Preventer's buffers need them
  for (const g of swapped) h.chunkWrite(g, 0, 1);
  assert.equal(c.preventerEmulatedPages, 32);
  assert.equal(c.preventerRefused, 4);
  const fallbacks = c.preventerFallbacks;
  h.chunkWrite(swapped[0]!, 10, 1); // not where a sequential writer goes next
  assert.equal(c.preventerFallbacks, fallbacks + 1);
  h.fireTimer(); // the first page's deadline: already ending, nothing more
  h.fireTimer(); // the second page's deadline
  assert.equal(c.preventerFallbacks, fallbacks + 2);
  h.chunkWrite(swapped[2]!, 1, 63); // the third page is now written whole: remapped, no read
  assert.equal(c.preventerRemaps, 1);
  h.verifyAll();
  assert.deepEqual(h.violations, []);
  assert.throws(() => h.core.emulatedWrite(asGfn(3), 60, 8, 'guest'), /chunk range 60\+8 is outside a page/);
});

test('core with the Preventer and no Mapper never loses a write (property), over three zones', () => {
  stats.emulated = stats.remaps = stats.fallbacks = stats.swapWrites = 0;
  fc.assert(property(false, [1, 2, 3], undefined, true), { numRuns: 200, seed: 17 });
  assert.ok(stats.emulated > 200, `only ${stats.emulated} emulated pages`);
  assert.ok(stats.fallbacks > 50, `only ${stats.fallbacks} merges`);
});

test('the checker catches a Preventer whose deadline remaps the page instead of merging it with its old content', () => {
  const broken = (h: CoreHarness): void => {
    // Deliberately break §4.2: when the 1 ms deadline passes, the buffer becomes the page without
    // the old content being read and merged.
    const inner = h.core as unknown as {
      preventer: { finishRemap(p: number): unknown };
      faults: { wake(p: number): void };
    };
    h.core.timerFired = (g: Gfn): void => {
      if (!h.core.isEmulating(g)) return;
      inner.preventer.finishRemap(g);
      inner.faults.wake(g);
    };
  };
  const res = fc.check(property(true, [1], broken, true), { numRuns: 300, seed: 19 });
  assert.equal(res.failed, true, 'a merge skipped on termination must lose the unwritten bytes');
  assert.match(String(res.errorInstance), /got .* want|buffered read/);
});

test('the checker catches a Preventer that lets a device write land on an emulated page without dropping the buffer', () => {
  const broken = (h: CoreHarness): void => {
    // Deliberately break the device-access rule: DMA into an emulated page keeps the stale buffer,
    // which is later merged over the device's data.
    const drain = h.core.drain.bind(h.core);
    h.core.drain = () => drain().filter((a) => a.kind !== 'discardBuffer');
  };
  const res = fc.check(property(true, [1], broken, true), { numRuns: 300, seed: 23 });
  assert.equal(res.failed, true, 'a buffer that outlives a device write must corrupt the page');
  assert.match(String(res.errorInstance), /got .* want|buffered read/);
});

test("QEMU's code (VM_EXEC file pages): activated at its first reference; code run between faults stays resident", () => {
  const h = new CoreHarness({
    guestPages: 256,
    imageBlocks: 4,
    vmmPages: 4,
    residentLimitPages: 96,
    zoneWeights: [1],
  });
  const core = h.core;
  const code = (v: number) => core.vmmPageIndex(asVmmPage(v));
  const list = (p: number) => core.inspect(p).list;
  const referenced = (p: number) => (core.inspect(p).flags & Flag.Referenced) !== 0;
  const qemuRuns = () => {
    h.wait(core.touchVmm(asVmmPage(0)));
    h.wait(core.touchVmm(asVmmPage(1)));
  };
  for (let v = 0; v < 4; v++) h.wait(core.touchVmm(asVmmPage(v)));
  for (let v = 0; v < 4; v++)
    assert.equal(list(code(v)), LruList.InactiveFile, 'a code page faulted in starts inactive');
  // Guest pages stream through memory; QEMU executes pages 0 and 1 between faults, never 2 and 3.
  // Where reclaim puts page 0 each time it moves it: the first move after it was found referenced
  // must be to the active list (an ordinary file page would stay inactive with a second chance).
  // (Reclaim may demote and drop it again within the same pass: 3.7 force-scans a small file list.)
  // Reclaim puts pages on lists one by one (push) or in batches (pushMany, moveTailToHead).
  const moves: number[] = [];
  const proto = Lruvecs.prototype;
  const push = Object.getOwnPropertyDescriptor(proto, 'push')!;
  const pushMany = Object.getOwnPropertyDescriptor(proto, 'pushMany')!;
  const moveTail = Object.getOwnPropertyDescriptor(proto, 'moveTailToHead')!;
  Object.defineProperty(proto, 'push', {
    ...push,
    value(this: Lruvecs, zone: number, kind: LruListKind, page: number): void {
      if (page === code(0)) moves.push(kind);
      (push.value as Lruvecs['push']).call(this, zone, kind, page);
    },
  });
  Object.defineProperty(proto, 'pushMany', {
    ...pushMany,
    value(this: Lruvecs, zone: number, kind: LruListKind, pages: Int32Array, count: number): void {
      if (pages.subarray(0, count).includes(code(0))) moves.push(kind);
      (pushMany.value as Lruvecs['pushMany']).call(this, zone, kind, pages, count);
    },
  });
  Object.defineProperty(proto, 'moveTailToHead', {
    ...moveTail,
    value(
      this: Lruvecs,
      zone: number,
      from: LruListKind,
      to: LruListKind,
      n: number,
      out: Int32Array,
    ): number {
      const k = (moveTail.value as Lruvecs['moveTailToHead']).call(this, zone, from, to, n, out);
      if (out.subarray(0, k).includes(code(0))) moves.push(to);
      return k;
    },
  });
  let g = 0;
  try {
    // Until reclaim first looks at page 0 (its referenced bit is then clear).
    while (referenced(code(0))) {
      h.guestWrite(g++ % 256);
      if (referenced(code(0))) qemuRuns();
    }
  } finally {
    Object.defineProperty(proto, 'push', push);
    Object.defineProperty(proto, 'pushMany', pushMany);
    Object.defineProperty(proto, 'moveTailToHead', moveTail);
  }
  assert.equal(
    moves[0],
    LruList.ActiveFile,
    `activated at its first reference, no second trip (moves ${moves.join(' ')})`,
  );
  for (let i = 0; i < 512; i++) {
    h.guestWrite(g++ % 256);
    qemuRuns();
  }
  const faults = core.counters.hostFaultsVmm;
  for (let i = 0; i < 256 * 20; i++) {
    h.guestWrite(g++ % 256);
    qemuRuns();
  }
  h.settle();
  assert.equal(core.counters.hostFaultsVmm, faults, 'hot code is not refaulted');
  assert.equal(
    core.inspect(code(2)).state,
    State.InImage,
    'code nobody runs is dropped (it is in the executable)',
  );
  assert.equal(core.inspect(code(3)).state, State.InImage);
  assert.ok(core.counters.swapWritePages > 1000);
  h.verifyAll();
  assert.deepEqual(h.violations, []);
});

test('a disk read that waited for a frame while the Preventer began emulating its page supersedes the buffer', () => {
  // The device's read into page 0 must wait (every frame pinned); meanwhile one page is unpinned and
  // the guest writes a chunk of page 0, which the Preventer takes (reclaim drops the unpinned named
  // page for its frame). When the read gets its frame the page is being emulated: the device's data
  // supersedes the buffer, as when the read comes after the emulation began.
  const h = new CoreHarness({
    zoneWeights: [1],
    pageClusterLog2: 0,
    fileReadaroundPages: 1,
    guestPages: 64,
    imageBlocks: 64,
    mapper: true,
    preventer: true,
    residentLimitPages: 8,
  });
  h.guestWrite(0);
  for (let b = 1; b <= 9; b++) h.diskRead(b, b);
  h.settle();
  assert.equal(h.core.inspect(0).state, State.Swapped);
  const pinned = [1, 2, 3, 4, 5, 6, 7, 8];
  for (const g of pinned) h.hostPin(g, false);
  const moved = h.startDiskRead(20, 0);
  assert.equal(moved(), false, 'the read waits for a frame');
  h.hostUnpin(pinned[0]!);
  h.chunkWrite(0, 0, 1);
  assert.equal(h.core.isEmulating(asGfn(0)), true, 'the Preventer took the write');
  for (const g of pinned.slice(1)) h.hostUnpin(g);
  h.guestRead(30); // a fault: waiters for frames run after it
  h.settle();
  assert.equal(moved(), true, 'the read completed');
  assert.equal(h.core.isEmulating(asGfn(0)), false, 'the device superseded the buffer');
  h.verifyAll();
  assert.deepEqual(h.violations, []);
});
