import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MemoryCore } from '../src/core/index.js';
import { runMulti } from '../src/experiments/multi-runner.js';
import type { GuestBalloonStats } from '../src/policy/balloon-policy.js';
import { GlobalReclaim, hostWatermarks } from '../src/sim/global-reclaim.js';
import { QEMU_HEAP_MIB_MEASURED, memmapMiB, qemuOverheadMiB } from '../src/sim/host-overhead.js';
import { PAPER_MACHINE } from '../src/sim/machine.js';
import { type GuestSlot, MultiMachine } from '../src/sim/multi-machine.js';
import { smallMulti } from './support/small-multi.js';

/**
 * A guest's cgroup as global reclaim sees it, without a core: `cold` of its pages are unreferenced
 * (a scan frees them, or queues them for swap when `writes`), the rest are referenced and stay.
 */
function fakeMember(
  resident: number,
  cold: number,
  writes = false,
): {
  core: MemoryCore;
  setResidentLimit(p: number): void;
  scanAtPriority(prio: number): number;
  limit: number;
  cold: number;
  scanned: number;
} {
  const core = { residentPages: resident, pagesUnderWriteback: 0 };
  const m = {
    core: core as unknown as MemoryCore,
    limit: Infinity,
    cold,
    scanned: 0,
    setResidentLimit(p: number): void {
      m.limit = p;
      core.residentPages = Math.min(core.residentPages, p);
    },
    scanAtPriority(prio: number): number {
      // shrink_lruvec: size >> prio pages scanned (at least a batch); only cold ones go.
      const scan = Math.min(core.residentPages, Math.max(32, core.residentPages >> prio));
      m.scanned += scan;
      const n = Math.min(m.cold, scan);
      m.cold -= n;
      if (writes) core.pagesUnderWriteback += n;
      else core.residentPages -= n;
      return n;
    },
  };
  return m;
}

test("Linux's watermarks for an 8 GB host: min_free_kbytes = sqrt(16 x 8 GiB in KiB)", () => {
  const w = hostWatermarks(2 * 1024 * 1024);
  // sqrt(8388608 x 16) = 11585 KiB: 2897 pages; low 5/4, high 3/2 of it.
  assert.deepEqual(w, { minPages: 2897, lowPages: 3622, highPages: 4346 });
});

test('kswapd scans every guest by its size and takes the unreferenced pages, until free is above high', () => {
  const hostPages = 100_000;
  const { lowPages, highPages } = hostWatermarks(hostPages);
  const idle = fakeMember(60_000, 60_000); // finished: nothing referenced
  const busy = fakeMember(30_000, 0); // running: its whole working set referenced
  const small = fakeMember(10_000 - lowPages + 100, 1000);
  const gr = new GlobalReclaim(hostPages, [idle, busy, small]);
  gr.tick();
  assert.ok(gr.freePages >= highPages, `free ${gr.freePages} >= high ${highPages}`);
  assert.ok(busy.scanned > 0, 'the running guest was scanned too');
  assert.equal(busy.core.residentPages, 30_000, 'but its referenced pages stayed');
  assert.ok(idle.core.residentPages < 60_000, 'the idle guest gave its cold pages');
  // No headroom is handed out: each limit is what the guest holds (free memory stays the host's).
  for (const m of [idle, busy, small]) assert.equal(m.limit, m.core.residentPages);
  // Above the low watermark nothing is reclaimed.
  const total = gr.reclaimedPages;
  gr.tick();
  assert.equal(gr.reclaimedPages, total);
});

test('a guest short of memory takes what is free, then reclaims from the others, not from itself', () => {
  const hostPages = 100_000;
  const { minPages } = hostWatermarks(hostPages);
  const a = fakeMember(50_000, 50_000);
  const b = fakeMember(40_000, 40_000);
  const gr = new GlobalReclaim(hostPages, [a, b]);
  // Free above min: 100000 - 90000 - minPages; a short of 100 gets them at once, nothing scanned.
  assert.deepEqual(gr.shortOf(1, 100), { grantPages: 100, wait: false });
  assert.equal(a.scanned + b.scanned, 0);
  // Fill the host: now b's shortage is met by scanning a (the other guest), never b itself.
  const free = hostPages - minPages - 90_000;
  (b.core as unknown as { residentPages: number }).residentPages += free; // (as if b took it all)
  const r = gr.shortOf(1, 50);
  assert.equal(r.grantPages, 50);
  assert.ok(a.scanned > 0 && b.scanned === 0, `scanned a ${a.scanned}, b ${b.scanned}`);
  assert.ok(gr.directReclaims === 1);
  // When what the others give is only on its way to swap, the guest waits for it.
  const c = fakeMember(50_000, 50_000, true);
  const d = fakeMember(50_000 - minPages, 0);
  const gr2 = new GlobalReclaim(hostPages, [c, d]);
  assert.deepEqual(gr2.shortOf(1, 10), { grantPages: 0, wait: true });
  // With nothing to give anywhere, it must reclaim from itself (no wait).
  const e = fakeMember(50_000, 0);
  const gr3 = new GlobalReclaim(hostPages, [e, fakeMember(50_000 - minPages, 0)]);
  assert.deepEqual(gr3.shortOf(1, 10), { grantPages: 0, wait: false });
});

const small = smallMulti;

test('many guests under one host limit: every guest finishes intact, global reclaim kept the host within it', () => {
  const r = runMulti(small('baseline', 8));
  assert.equal(r.guests.length, 8);
  for (const g of r.guests) {
    assert.equal(g.killed, undefined, `guest ${g.guest}`);
    assert.ok(g.runtimeS! > 0);
    assert.equal(g.metrics.integrityViolations, 0, `guest ${g.guest}`);
  }
  assert.ok(r.globalReclaimPages > 0, 'eight guests overcommit the host: global reclaim ran');
  // The host's memory is never overdrawn by more than what guests may take within one tick.
  assert.ok(
    Math.min(...r.timeline.hostFreePages) > -1000,
    `host free: ${Math.min(...r.timeline.hostFreePages)}`,
  );
  // Under pressure the first guest (finished, idle) lost pages to the later ones.
  const res0 = r.timeline.residentPages[0]!;
  assert.ok(res0[res0.length - 1]! < Math.max(...res0), 'the idle guest gave pages back');
  assert.ok(
    r.guests.some((g) => g.metrics.swapWriteSectors! > 0),
    'the host swapped guest memory',
  );
});

test('balloon configuration: MOM decides targets under pressure and the balloons move', () => {
  const r = runMulti(small('balloon', 8));
  assert.ok(r.timeline.decisions.length > 0);
  assert.ok(
    r.timeline.balloonPages.some((b) => Math.max(...b) > 0),
    'some balloon inflated',
  );
  for (const g of r.guests) assert.equal(g.metrics.integrityViolations, 0);
});

test("QEMU 1.2 reports no guest statistics: MOM never sees a guest, and the balloon run is the baseline's", () => {
  const off = runMulti({ ...small('balloon', 8), guestStatsReported: false });
  assert.equal(off.timeline.decisions.length, 0);
  assert.ok(off.timeline.balloonPages.every((b) => Math.max(...b) === 0));
  const base = runMulti(small('baseline', 8));
  assert.deepEqual(
    off.guests.map((g) => g.runtimeS),
    base.guests.map((g) => g.runtimeS),
  );
});

test('a guest whose OOM killer fires is reported as killed, and the others still run', () => {
  // Guests too small for the word count's tables and without swap: the OOM killer ends them.
  const r = runMulti(small('baseline', 2, 30));
  assert.equal(r.guests.length, 2);
  for (const g of r.guests) {
    assert.match(g.killed ?? '', /./, `guest ${g.guest} reported killed`);
    assert.equal(g.runtimeS, undefined);
  }
});

test('with a swap partition in each guest, a guest too small for its tables swaps to its own image instead of being killed', () => {
  // The same guests as above (killed without swap), each with 64 MiB of swap at the end of its image.
  const r = runMulti({ ...small('baseline', 2, 30), guestSwapMiB: 64 });
  for (const g of r.guests) {
    assert.equal(g.killed, undefined, `guest ${g.guest}: ${g.killed}`);
    assert.equal(g.metrics.integrityViolations, 0, `guest ${g.guest}`);
    assert.ok(g.metrics.guestSwapWritePages! > 0, `guest ${g.guest} swapped out inside`);
    assert.ok(g.metrics.guestSwapReadPages! > 0, `guest ${g.guest} swapped in inside`);
    // The timeline shows it, per guest and sample.
    const out = r.timeline.guestSwapOutPages[g.guest]!.reduce((a, b) => a + b, 0);
    assert.ok(out > 0, `timeline guest swap-out ${out}`);
  }
  assert.throws(
    () => runMulti({ ...small('baseline', 1), guestSwapMiB: -1 }),
    /guestSwapMiB: the guest's swap partition must fit/,
  );
});

test('another balloon policy can be given to the manager in place of MOM, and its targets are carried out', () => {
  // A policy that asks guest 0 for 8 MiB of balloon at every decision, whatever the statistics.
  let guestStats = 0;
  const fixed = {
    name: 'fixed',
    statsIntervalS: 0.25,
    policyIntervalS: 0.5,
    observeHost: (): void => {},
    observeGuest: (): void => {
      guestStats++;
    },
    forgetGuest: (): void => {},
    decide: () => [{ guest: '0', targetKiB: 102.4 * 1024 - 8 * 1024 }],
  };
  const r = runMulti({ ...small('balloon', 2), policy: fixed });
  assert.ok(guestStats > 0, 'the manager fed the policy guest statistics');
  assert.ok(r.timeline.decisions.length > 0 && r.timeline.decisions.every((d) => d.guest === 0));
  assert.equal(Math.max(...r.timeline.balloonPages[0]!), 2048, "guest 0's balloon reached 8 MiB");
  assert.equal(Math.max(...r.timeline.balloonPages[1]!), 0, 'guest 1 was never asked');
});

test('the timeline counts what each ballooned page gave the host, and the back-offs of a balloon the guest cannot fill', () => {
  // Guest 0 is asked for 8 MiB, guest 1 for all but 1 MiB of its memory, at every decision.
  const ask = (guest: string, keepMiB: number) => ({ guest, targetKiB: keepMiB * 1024 });
  const policy = {
    name: 'fixed',
    statsIntervalS: 0.25,
    policyIntervalS: 0.5,
    observeHost: (): void => {},
    observeGuest: (): void => {},
    forgetGuest: (): void => {},
    decide: () => [ask('0', 102.4 - 8), ask('1', 1)],
  };
  const r = runMulti({ ...small('balloon', 2), policy });
  const tl = r.timeline;
  const sum = (a: number[]): number => a.reduce((x, y) => x + y, 0);
  const given = (g: number): number =>
    sum(tl.balloonFramesFreed[g]!) + sum(tl.balloonSlotsFreed[g]!) + sum(tl.balloonNothingFreed[g]!);
  // Guest 0's balloon only grew: every page it took is counted once, by what it freed.
  assert.equal(Math.max(...tl.balloonPages[0]!), 2048);
  assert.equal(given(0), 2048);
  assert.equal(sum(tl.balloonBackoffs[0]!), 0, 'guest 0 had the pages to give');
  // Its kernel and Metis's first pages were resident; most of its free memory was never touched.
  assert.ok(sum(tl.balloonNothingFreed[0]!) > 0);
  // Guest 1 cannot give all but 1 MiB (its kernel alone is more): its driver backs off.
  assert.ok(sum(tl.balloonBackoffs[1]!) > 0, `back-offs: ${sum(tl.balloonBackoffs[1]!)}`);
  assert.ok(given(1) >= Math.max(...tl.balloonPages[1]!));
});

test("the manager reports each guest's own swap traffic to the policy, per sample (virtio-balloon's SWAP_IN/OUT)", () => {
  const outKiB = [0, 0];
  const inKiB = [0, 0];
  const spy = {
    name: 'spy',
    statsIntervalS: 0.05,
    policyIntervalS: 0.5,
    observeHost: (): void => {},
    observeGuest: (guest: string, s: GuestBalloonStats): void => {
      outKiB[Number(guest)]! += s.swapOutKiB;
      inKiB[Number(guest)]! += s.swapInKiB;
    },
    forgetGuest: (): void => {},
    decide: () => [],
  };
  // The small guests that swap inside (see above), in a balloon configuration so the manager runs.
  const r = runMulti({ ...small('balloon', 2, 30), guestSwapMiB: 64, policy: spy });
  for (const g of r.guests) {
    const i = g.guest;
    // Deltas per sample add up to the guest's totals (up to the last sample, at most the total).
    assert.ok(
      outKiB[i]! > 0 && outKiB[i]! <= g.metrics.guestSwapWritePages! * 4,
      `guest ${i}: ${outKiB[i]} KiB out`,
    );
    assert.ok(
      inKiB[i]! > 0 && inKiB[i]! <= g.metrics.guestSwapReadPages! * 4,
      `guest ${i}: ${inKiB[i]} KiB in`,
    );
  }
});

test("the host's own memory counts as used: kswapd wakes earlier, and the free memory MOM reads is less by it", () => {
  const hostPages = 100_000;
  const { lowPages } = hostWatermarks(hostPages);
  const own = 5_000;
  // A guest that leaves just above low free on an empty host, but below it once the host holds `own`.
  const mk = () => fakeMember(hostPages - lowPages - 100, 20_000);
  const a = mk();
  const bare = new GlobalReclaim(hostPages, [a]);
  bare.tick();
  assert.equal(bare.reclaimedPages, 0, 'above low: nothing reclaimed');
  const b = mk();
  const loaded = new GlobalReclaim(hostPages, [b], own);
  assert.equal(loaded.freePages, bare.freePages - own);
  loaded.tick();
  assert.ok(loaded.reclaimedPages > 0, 'below low with the host holding its own: kswapd reclaimed');
  assert.ok(loaded.freePages >= loaded.highPages, `free ${loaded.freePages} back above high`);
  // What the host holds is never reclaimed: only the guest gave pages.
  assert.equal(loaded.usedPages - b.core.residentPages, own);
  // A guest short of memory gets only what is free besides the host's own.
  const c = fakeMember(hostPages - own - loaded.minPages - 10, 0);
  assert.deepEqual(new GlobalReclaim(hostPages, [c], own).shortOf(0, 50).grantPages, 10);
  assert.throws(() => new GlobalReclaim(hostPages, [a], hostPages), /host holds for itself/);
  assert.throws(() => new GlobalReclaim(hostPages, [a], -1), /host holds for itself/);
});

test("the paper's host's own memory: 128 MiB of memmap for 8 GiB, and per 2 GiB QEMU its heap plus 12 MiB of tables", () => {
  assert.equal(memmapMiB(8192), 128); // 64 bytes per 4 KiB page
  // QEMU's page tables, KVM's EPT and rmap: 8 bytes per 4 KiB page each, 4 MiB each for 2 GiB.
  assert.equal(qemuOverheadMiB(2048, 0), 12);
  assert.equal(qemuOverheadMiB(2048, QEMU_HEAP_MIB_MEASURED), QEMU_HEAP_MIB_MEASURED + 12);
  assert.ok(QEMU_HEAP_MIB_MEASURED > 0 && QEMU_HEAP_MIB_MEASURED < 100);
});

test("runMulti holds the host's own memory out of hostMiB by default, and not when told the budget is the guests' only", () => {
  const spec = small('baseline', 2);
  const withOwn = runMulti(spec);
  const without = runMulti({ ...spec, hostOwnMemory: false });
  // At t = 0 no guest has touched anything yet: the first sample's difference is the host's own.
  const ownMiB = memmapMiB(spec.hostMiB) + 2 * qemuOverheadMiB(spec.guestMiB, QEMU_HEAP_MIB_MEASURED * 0.05);
  assert.equal(
    without.timeline.hostFreePages[0]! - withOwn.timeline.hostFreePages[0]!,
    Math.round((ownMiB * 1024 * 1024) / 4096),
  );
});

test("kswapd takes small bites and stops within one of the high watermark (3.7's loop_again after SWAP_CLUSTER_MAX)", () => {
  const hostPages = 100_000;
  const { lowPages, highPages } = hostWatermarks(hostPages);
  // About 5,000 pages short of high: the idle guest has plenty of cold pages, the busy one none.
  const idle = fakeMember(60_000, 60_000);
  const busy = fakeMember(hostPages - 60_000 - (highPages - 5000), 0); // free: high - 5000
  const gr = new GlobalReclaim(hostPages, [idle, busy]);
  assert.ok(gr.freePages < lowPages);
  gr.tick();
  const over = gr.freePages - highPages;
  assert.ok(over >= 0, `balanced: free ${gr.freePages} >= high ${highPages}`);
  // One pass at DEF_PRIORITY takes at most a batch (32) from each guest: the overshoot is at most
  // that. A descent through the priorities without the restart would free thousands more.
  assert.ok(over <= 2 * 32, `free ${gr.freePages} overshoots high ${highPages} by ${over} pages`);
  assert.ok(gr.reclaimedPages >= 5000);
});

test("the host's cached pages MOM reads are the guests' named resident pages: some with the Mapper, none without (no census needed)", () => {
  const runOne = (config: 'balloon' | 'balloon+vswapper'): { cached: number; named: number } => {
    const m = new MultiMachine({
      seed: 1,
      config,
      guests: 2,
      guestMiB: 64,
      guestKernelMiB: 8,
      guestBackgroundTouchesPerSec: PAPER_MACHINE.guestBackgroundTouchesPerSec,
      hostMiB: 256,
      imageMiB: 1024 + 16,
      imageSpacingMiB: 2048,
      swapMiBPerGuest: 128,
      disk: PAPER_MACHINE.disk,
      costs: PAPER_MACHINE.costs,
      vmm: { ...PAPER_MACHINE.vmm, codePages: 64 },
      files: [{ name: 'input', sizePages: 2048 }],
      reclaimTickNs: 1e6,
    });
    // Each guest reads the file (page cache: with the Mapper, the host's pages are named).
    m.run(
      m.slots.map(() => (slot: GuestSlot) => slot.guest.read(0, 0, 2048)),
      [0, 0],
    );
    let named = 0;
    for (const s of m.slots) named += s.core.census().namedResident;
    return { cached: m.hostCachedPages, named };
  };
  const withMapper = runOne('balloon+vswapper');
  assert.ok(withMapper.named > 1000, `named pages with the Mapper: ${withMapper.named}`);
  assert.equal(withMapper.cached, withMapper.named);
  assert.deepEqual(runOne('balloon'), { cached: 0, named: 0 });
});
