import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Flag, State, SwapSpace } from '../src/core/index.js';
import { type ReadaheadContext, windowOf } from '../src/core/readahead/readahead.js';
import { PMD_PAGES, SwapVmaReadahead, swapinNrPages } from '../src/core/readahead/swap-vma.js';
import { PageTable } from '../src/core/store/page-table.js';
import { CoreHarness } from './support/core-harness.js';

/**
 * Linux's VMA-based swap readahead (mm/swap_state.c, 4.14 on) on hand-made tables: every guest
 * frame swapped, to slots in a scrambled order, so that windows show where they are placed.
 */
function swappedGuest(guestPages: number, pageClusterLog2 = 3): ReadaheadContext {
  const pt = new PageTable(guestPages, 1);
  const swap = new SwapSpace(guestPages, guestPages);
  // Evicted in an order unrelated to the address: page (k * 7919) mod n goes out k-th.
  for (let k = 0; k < guestPages; k++) {
    const p = (k * 7919) % guestPages;
    pt.slot[p] = swap.allocate(p);
    pt.state[p] = State.Swapped;
  }
  return {
    pt,
    swap,
    firstVmmPage: guestPages,
    vmmPages: 0,
    imageBlocks: 1,
    pageClusterLog2,
    fileReadaroundPages: 32,
  };
}

const range = (lo: number, hi: number): number[] => Array.from({ length: hi - lo }, (_, i) => lo + i);

/** A fault on `p` as the core makes it: the window, then the read. */
function fault(ra: SwapVmaReadahead, p: number): number[] {
  const w = windowOf(ra, p);
  ra.started(p);
  return w.pages;
}

test('__swapin_nr_pages: hits + 2 rounded up to a power of two, 2 or 1 without hits, capped, halving at most', () => {
  assert.equal(swapinNrPages(99, 100, 0, 8, 0), 2, 'no hits, next to the previous fault');
  assert.equal(swapinNrPages(101, 100, 0, 8, 0), 2, 'no hits, just before the previous fault');
  assert.equal(swapinNrPages(50, 100, 0, 8, 0), 1, 'no hits, elsewhere');
  assert.deepEqual(
    [1, 2, 3, 6, 7, 30].map((h) => swapinNrPages(50, 100, h, 32, 0)),
    [4, 4, 8, 8, 16, 32],
  );
  assert.equal(swapinNrPages(50, 100, 30, 8, 0), 8, 'never above the largest window');
  assert.equal(swapinNrPages(50, 100, 0, 8, 8), 4, "don't shrink readahead too fast");
});

test('the first fault reads the 8 pages around it, each from its own slot', () => {
  const c = swappedGuest(2048);
  const ra = new SwapVmaReadahead(c);
  const w = windowOf(ra, 1000);
  // GET_SWAP_RA_VAL starts a VMA at 4 hits: 6 pages, rounded up to 8; centred, 3 before.
  assert.deepEqual(w.pages, range(997, 1005));
  assert.deepEqual(
    w.units,
    w.pages.map((q) => c.pt.slot[q]),
  );
  assert.ok(
    new Set(w.units).size === 8 && Math.max(...w.units) - Math.min(...w.units) > 8,
    'scattered slots',
  );
});

test('a sequential fault pattern whose read-ahead pages are used grows the window to its largest', () => {
  const ra = new SwapVmaReadahead(swappedGuest(2048));
  // Scattered faults first, so that the window starts from 1.
  for (const p of [100, 300, 500, 700]) fault(ra, p);
  assert.equal(ra.windowSize(1100), 1);
  const sizes: number[] = [];
  let p = 1100;
  for (let i = 0; i < 6; i++) {
    const pages = fault(ra, p);
    sizes.push(pages.length);
    // The scan uses every page read ahead (each a hit), then faults on the next one.
    for (const q of pages) if (q !== p) ra.hit(q);
    p = Math.max(...pages) + 1;
  }
  assert.deepEqual(sizes, [1, 2, 4, 8, 8, 8]);
});

test('a random fault pattern shrinks the window to 1, halving it each time', () => {
  const ra = new SwapVmaReadahead(swappedGuest(2048));
  const sizes = [1000, 40, 1900, 640, 1300, 222].map((p) => fault(ra, p).length);
  assert.deepEqual(sizes, [8, 4, 2, 1, 1, 1]);
});

test('direction: ahead after the previous fault, behind before it, around elsewhere', () => {
  const c = swappedGuest(2048);
  const ahead = new SwapVmaReadahead(c);
  fault(ahead, 1000);
  ahead.hit(1003);
  ahead.hit(1002);
  // The last hit is the previous address (lookup_swap_cache stores it): 1003 follows it.
  assert.deepEqual(windowOf(ahead, 1003).pages, range(1003, 1007));
  const behind = new SwapVmaReadahead(c);
  fault(behind, 1000);
  behind.hit(998);
  behind.hit(999);
  behind.hit(997);
  // 996 is just before the previous address 997: 3 hits give 8 pages, ending at 996.
  assert.deepEqual(windowOf(behind, 996).pages, range(989, 997));
  const around = new SwapVmaReadahead(c);
  fault(around, 1000);
  around.hit(1001);
  // (4 - 1) / 2 = 1 page before 1500 and 2 after.
  assert.deepEqual(windowOf(around, 1500).pages, range(1499, 1503));
});

test('the window never crosses a 2 MiB (512-page) boundary nor leaves the guest', () => {
  const c = swappedGuest(1300);
  assert.deepEqual(windowOf(new SwapVmaReadahead(c), 510).pages, range(507, 512));
  assert.deepEqual(windowOf(new SwapVmaReadahead(c), 512).pages, range(512, 517));
  assert.deepEqual(windowOf(new SwapVmaReadahead(c), 1).pages, range(0, 6));
  assert.deepEqual(windowOf(new SwapVmaReadahead(c), 1298).pages, range(1295, 1300));
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 7 }),
      fc.array(fc.record({ p: fc.nat({ max: 1299 }), hits: fc.nat({ max: 40 }) }), {
        minLength: 1,
        maxLength: 40,
      }),
      (log2, faults) => {
        const ra = new SwapVmaReadahead(swappedGuest(1300, log2));
        let prev = 0;
        for (const f of faults) {
          // Sequential faults half the time, so that windows reach their largest.
          const p = f.hits % 2 === 0 ? Math.min(prev + 1, 1299) : f.p;
          const pages = fault(ra, p);
          for (const q of pages) {
            assert.equal(Math.floor(q / PMD_PAGES), Math.floor(p / PMD_PAGES), `${q} and ${p}`);
            assert.ok(q >= 0 && q < 1300);
          }
          assert.ok(pages.length <= 1 << Math.min(log2, 5), 'SWAP_RA_ORDER_CEILING');
          for (let h = 0; h < f.hits; h++) ra.hit(pages[h % pages.length]!);
          prev = Math.max(...pages);
        }
      },
    ),
    { numRuns: 200, seed: 3 },
  );
});

test('page-cluster 0 reads only the faulting page; above 5 the window stops at 32 pages', () => {
  const off = new SwapVmaReadahead(swappedGuest(2048, 0));
  assert.deepEqual(fault(off, 1000), [1000]);
  assert.deepEqual(fault(off, 1001), [1001]);
  const wide = new SwapVmaReadahead(swappedGuest(2048, 7));
  for (let i = 0; i < 40; i++) wide.hit(1100);
  assert.equal(fault(wide, 1101).length, 32);
});

test('only swapped neighbours are read: resident, loading, dropped and untouched ones are not', () => {
  const c = swappedGuest(2048);
  c.pt.state[998] = State.Resident;
  c.pt.state[999] = State.Loading;
  c.pt.state[1001] = State.InImage;
  c.pt.state[1002] = State.Untouched;
  assert.deepEqual(windowOf(new SwapVmaReadahead(c), 1000).pages, [997, 1000, 1003, 1004]);
});

test('in the core: a window of scattered slots takes several reads, and its pages are hits when first used', () => {
  const later: Record<string, number> = {};
  for (const swapReadahead of ['cluster', 'vma'] as const) {
    const h = new CoreHarness({
      guestPages: 64,
      imageBlocks: 4,
      residentLimitPages: 16,
      zoneWeights: [1],
      reclaimBatchPages: 1,
      swapReadahead,
    });
    // Written (and so evicted) in a scrambled order: neighbours in memory are far apart in swap.
    // Pages 4 and 7 stay resident; 5, 6 and 8-13 are swapped.
    for (let k = 0; k < 64; k++) h.guestWrite((k * 37) % 64);
    h.settle();
    h.setLimit(64);
    const c = h.core.counters;
    const ops = c.swapReadOps;
    h.guestRead(8);
    if (swapReadahead === 'vma') {
      assert.equal(c.swapReadPages, 7, 'the swapped pages of 5-12 (centred on 8)');
      assert.ok(c.swapReadOps - ops > 1, `one read per run of slots, got ${c.swapReadOps - ops}`);
      assert.ok(h.core.inspect(9).flags & Flag.Readahead, 'marked until first used');
    }
    const faults = c.hostFaultsInGuest;
    for (let g = 9; g <= 12; g++) h.guestRead(g);
    later[swapReadahead] = c.hostFaultsInGuest - faults;
    if (swapReadahead === 'vma') assert.equal(h.core.inspect(9).flags & Flag.Readahead, 0, 'a hit clears it');
    h.verifyAll();
    assert.deepEqual(h.violations, []);
  }
  assert.equal(later.vma, 0, 'the VMA window had read 9-12');
  assert.ok(later.cluster! >= 3, `the cluster of slots held other pages: ${later.cluster} faults`);
});
