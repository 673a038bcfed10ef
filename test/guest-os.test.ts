import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ConfigName } from '../src/engine/results.js';
import { QEMU_1_2 } from '../src/sim/costs.js';
import type { Gfn } from '../src/core/types.js';
import { BalloonDriver, type BalloonPort } from '../src/sim/guest/balloon.js';
import { BLOCK, GuestOomError, type Program } from '../src/sim/guest/guest-os.js';
import { fakeKernel, unusedBy } from './support/fake-kernel.js';
import { runAfterSetup, smallMachine } from './support/small-machine.js';
import { BALLOON, FREE, GuestMemory, PG_LOCKED } from '../src/sim/guest/memory.js';
import { Machine, PAPER_MACHINE } from '../src/sim/machine.js';
import { Rng } from '../src/sim/rng.js';

/** A small machine: the guest believes 32 MiB, of which the host gives it `actualMiB`. */
function machine(config: ConfigName, actualMiB: number, guestSwapMiB = 0, seed = 1, compaction = 0): Machine {
  return smallMachine({
    seed,
    guestCompactionPagesPerSec: compaction,
    config,
    guestActualMiB: actualMiB,
    guestSwapMiB,
  });
}

const run = runAfterSetup;

test('a process gets zeroed pages, the most recently freed frame first, and exit gives them all back', () => {
  const m = machine('balloon', 32);
  const os = m.guest;
  run(m, function* () {
    const p = os.anon.createProcess('p');
    const v = p.reserve(2);
    yield* os.anon.touch(p, v, true);
    const first = p.pte[v]!;
    os.anon.unmap(p, v, 1);
    yield* os.anon.touch(p, v + 1, true);
    assert.equal(p.pte[v + 1], first, 'the frame just freed is handed out again');
    const free = os.freePages;
    const w = p.reserve(64);
    yield* os.anon.touchRange(p, w, 64, true);
    assert.equal(os.freePages, free - 64);
    assert.equal(p.rssPages, 65);
    os.anon.exit(p);
    assert.equal(os.freePages, free + 1);
  });
  assert.equal(os.counters.integrityViolations, 0);
});

test("touchRange's first write to a page it has just zeroed leaves host, data plane and guest as touch() page by page does", () => {
  // touchRange skips the host on that write (the core's second write changes no flag); touch()
  // asks it. Under the Mapper the zeroed frames held named file pages (copy-on-write breaks on
  // the first write only), and a limit below the guest's size leaves some frames absent.
  const after = (byRange: boolean): { m: Machine; pte: number[] } => {
    const m = machine('vswapper', 24);
    const os = m.guest;
    let pte: number[] = [];
    run(m, function* () {
      // The file's 8 MiB fill the page cache; the process's 22 MiB then reclaim part of it.
      for (let i = 0; i < 2048; i += 16) yield* os.cache.read(0, i, 16);
      const p = os.anon.createProcess('p');
      const v = p.reserve(22 * 256);
      if (byRange) yield* os.anon.touchRange(p, v, 22 * 256, true);
      else for (let i = 0; i < 22 * 256; i++) yield* os.anon.touch(p, v + i, true);
      pte = Array.from(p.pte.subarray(0, p.sizePages));
      yield* os.anon.touchRange(p, v, 22 * 256, false);
    });
    return { m, pte };
  };
  const a = after(true);
  const b = after(false);
  assert.deepEqual(a.pte, b.pte);
  assert.ok(a.m.core.counters.namedCowFaults > 0, 'some zeroed frames held named pages');
  assert.deepEqual(a.m.core.counters.snapshot(), b.m.core.counters.snapshot());
  assert.deepEqual(a.m.guest.counters, b.m.guest.counters);
  assert.equal(a.m.events.nowNs, b.m.events.nowNs);
  for (let g = 0; g < a.m.guest.mem.pages; g++) {
    assert.deepEqual(a.m.core.inspect(g), b.m.core.inspect(g), `host page ${g}`);
    assert.equal(a.m.host.data.mem[g], b.m.host.data.mem[g], `content of frame ${g}`);
    assert.equal(a.m.guest.refMem[g], b.m.guest.refMem[g], `guest's reference of frame ${g}`);
  }
  assert.equal(a.m.guest.counters.integrityViolations, 0);
});

test('fork shares pages copy-on-write: a write copies, both keep their own content, exits free everything', () => {
  const m = machine('baseline', 32);
  const os = m.guest;
  run(m, function* () {
    const free = os.freePages;
    const parent = os.anon.createProcess('parent');
    const v = parent.reserve(32);
    yield* os.anon.touchRange(parent, v, 32, true);
    const child = os.anon.fork(parent, 'child');
    assert.equal(child.pte[v], parent.pte[v], 'shared after fork');
    assert.equal(os.freePages, free - 32, 'fork copies no page');
    yield* os.anon.touchRange(child, v, 32, false);
    yield* os.anon.touch(child, v + 3, true);
    assert.notEqual(child.pte[v + 3], parent.pte[v + 3], 'the write got its own copy');
    assert.equal(os.freePages, free - 33);
    yield* os.anon.touchRange(parent, v, 32, false);
    os.anon.exit(parent);
    assert.equal(os.freePages, free - 32, "the child still maps the parent's other pages");
    yield* os.anon.touchRange(child, v, 32, false);
    os.anon.exit(child);
    assert.equal(os.freePages, free);
  });
  assert.equal(os.counters.integrityViolations, 0);
});

test('a ballooned guest with a swap partition swaps to its own disk, through the host, and reads pages back intact', () => {
  const m = machine('balloon', 16, 32);
  const os = m.guest;
  const before = m.snapshot();
  run(m, function* () {
    const p = os.anon.createProcess('big');
    const v = p.reserve(20 * 256);
    yield* os.anon.touchRange(p, v, 20 * 256, true);
    assert.ok(p.swapPages > 0, 'some of it had to go to the guest swap partition');
    yield* os.anon.touchRange(p, v, 20 * 256, false);
    os.anon.exit(p);
  });
  const after = m.metricsBetween(before, m.snapshot());
  assert.ok(after.guestSwapWritePages! > 1000, `guest swap writes ${after.guestSwapWritePages}`);
  assert.ok(after.guestSwapReadPages! > 1000, `guest swap reads ${after.guestSwapReadPages}`);
  assert.ok(after.imageWriteOps! > 0, 'the host saw the guest swap writes on the image');
  assert.equal(after.swapWriteOps, 0, 'the balloon kept the host from swapping');
  assert.equal(os.counters.integrityViolations, 0);
});

test('over-ballooning: with no swap, the OOM killer kills the largest process and the run ends as killed', () => {
  const m = machine('balloon', 16);
  const os = m.guest;
  assert.throws(
    () =>
      run(m, function* () {
        const small = os.anon.createProcess('small');
        yield* os.anon.touchRange(small, small.reserve(256), 256, true);
        const big = os.anon.createProcess('big');
        yield* os.anon.touchRange(big, big.reserve(20 * 256), 20 * 256, true);
      }),
    (e: unknown) => e instanceof GuestOomError && /killed big \(\d+ pages resident/.test(e.message),
  );
  assert.equal(os.counters.oomKills, 1);
});

test('guest swap-ins are guest disk reads: in the baseline they are stale host reads when the host swapped the frame, never with the Mapper', () => {
  const stale: Record<string, number> = {};
  for (const config of ['baseline', 'mapper'] as const) {
    const m = machine(config, 12, 32);
    const os = m.guest;
    const before = m.snapshot();
    run(m, function* () {
      const p = os.anon.createProcess('big');
      const v = p.reserve(36 * 256);
      yield* os.anon.touchRange(p, v, 36 * 256, true);
      yield* os.anon.touchRange(p, v, 36 * 256, false);
      os.anon.exit(p);
    });
    const d = m.metricsBetween(before, m.snapshot());
    assert.ok(d.guestSwapReadPages! > 1000, `${config}: guest swap reads ${d.guestSwapReadPages}`);
    assert.equal(d.integrityViolations, 0, config);
    stale[config] = d.staleSwapReads!;
  }
  assert.ok(stale.baseline! > 100, `baseline stale reads ${stale.baseline}`);
  assert.equal(stale.mapper, 0);
});

test('page migration copies pages into frames the guest overwrites whole: false reads in the baseline, remaps with the Preventer', () => {
  const result: Record<string, { falseReads: number; remaps: number; moved: number }> = {};
  for (const config of ['baseline', 'vswapper'] as const) {
    const m = machine(config, 12);
    const os = m.guest;
    const before = m.snapshot();
    run(m, function* () {
      const p = os.anon.createProcess('p');
      const v = p.reserve(4 * 256);
      yield* os.anon.touchRange(p, v, 4 * 256, true);
      yield* os.anon.migrate(512);
      yield* os.anon.touchRange(p, v, 4 * 256, false);
      os.anon.exit(p);
    });
    const d = m.metricsBetween(before, m.snapshot());
    assert.equal(d.integrityViolations, 0, config);
    result[config] = { falseReads: d.falseSwapReads!, remaps: d.preventerRemaps!, moved: os.anon.migrations };
  }
  assert.ok(result.baseline!.moved > 100 && result.vswapper!.moved > 100, JSON.stringify(result));
  assert.ok(result.baseline!.falseReads > 50, JSON.stringify(result));
  assert.equal(result.vswapper!.falseReads, 0);
  assert.ok(result.vswapper!.remaps > 50, JSON.stringify(result));
});

test('compaction as an option: a kernel thread migrates pages while the program runs, content intact', () => {
  const m = machine('vswapper', 12, 0, 1, 256);
  const os = m.guest;
  run(m, function* () {
    const p = os.anon.createProcess('p');
    const v = p.reserve(4 * 256);
    yield* os.anon.touchRange(p, v, 4 * 256, true);
    yield* os.sleep(5e9);
    yield* os.anon.touchRange(p, v, 4 * 256, false);
    os.anon.exit(p);
  });
  assert.ok(os.anon.migrations >= 256, `migrated ${os.anon.migrations}`);
  assert.equal(os.counters.integrityViolations, 0);
  assert.equal(machine('vswapper', 12).guest.anon.migrations, 0, 'off by default');
});

test('asynchronous page faults: a host fault in user mode suspends only its thread', () => {
  const runtime = (asyncPageFaults: boolean, walk: boolean): number => {
    const m = machine('baseline', 8);
    const os = m.guest;
    os.params.asyncPageFaults = asyncPageFaults;
    // No kernel background: its own (synchronous) faults would blur what is measured here.
    os.params.backgroundTouchesPerSec = 0;
    let t = 0;
    run(m, function* () {
      const p = os.anon.createProcess('p');
      const v = p.reserve(4 * 256);
      yield* os.anon.touchRange(p, v, 4 * 256, true);
      // More memory than the host gives: the first pages go to the host's swap.
      const w = p.reserve(12 * 256);
      yield* os.anon.touchRange(p, w, 12 * 256, true);
      const t0 = os.nowNs;
      let left = walk ? 2 : 1;
      const done = (): void => void left--;
      // One thread walks memory the host has swapped out; the other computes.
      if (walk) os.spawn(os.anon.touchRange(p, v, 4 * 256, false), done);
      os.spawn(os.compute(2e9), done);
      while (left > 0) yield* os.sleep(1e6);
      t = os.nowNs - t0;
      os.anon.exit(p);
    });
    assert.equal(os.counters.integrityViolations, 0);
    return t;
  };
  const alone = runtime(true, false);
  const syncExtra = runtime(false, true) - alone;
  const asyncExtra = runtime(true, true) - alone;
  // Without them the compute thread also waits out every fault of the walker.
  assert.ok(syncExtra > 0.05e9, `the walker's faults cost ${syncExtra / 1e9} s`);
  assert.ok(
    asyncExtra < 0.5 * syncExtra,
    `extra time: async ${asyncExtra / 1e9} s, synchronous ${syncExtra / 1e9} s`,
  );
});

test('dirty page cache is written back by the flusher; the Mapper then tracks the written pages', () => {
  const m = machine('vswapper', 32);
  const os = m.guest;
  run(m, function* () {
    yield* os.cache.write(0, 0, 512);
    assert.equal(os.cache.dirtyPages, 512);
    yield* os.sleep(40e9);
    assert.equal(os.cache.dirtyPages, 0, 'expired dirty data was written back');
    assert.equal(os.cache.writebackPages, 0);
  });
  assert.ok(m.core.census().mapperTracked >= 512, `tracked ${m.core.census().mapperTracked}`);
  assert.ok(m.disk.stats.image.writeSectors >= 512 * 8);
  assert.equal(os.counters.integrityViolations, 0);
});

test("a file removed dirty, its frames reused by another file's dirty pages: each page written back once, the dirty count never below 0", () => {
  const m = smallMachine({
    config: 'baseline',
    files: [
      { name: 'a', sizePages: 256 },
      { name: 'b', sizePages: 256 },
    ],
  });
  const os = m.guest;
  run(m, function* () {
    const before = m.disk.stats.image.writeSectors;
    yield* os.cache.write(0, 0, 256);
    // make clean, or an unlinked object file: the dirty pages go unwritten and their frames are
    // free, to be handed out again most recently freed first.
    yield* os.cache.remove(0);
    assert.equal(os.cache.dirtyPages, 0);
    yield* os.cache.write(1, 0, 256);
    assert.equal(os.cache.dirtyPages, 256);
    yield* os.sleep(40e9);
    assert.equal(os.cache.dirtyPages, 0, 'expired dirty data was written back, and counted once');
    assert.equal(m.disk.stats.image.writeSectors - before, 256 * 8, "each of b's pages written once");
  });
  assert.equal(os.counters.integrityViolations, 0);
});

test('bad guest and workload inputs are rejected with the problem named', () => {
  const m = machine('baseline', 32);
  const p = m.guest.anon.createProcess('p');
  assert.throws(() => p.reserve(0), /process p: reserve needs a positive page count/);
  assert.throws(() => m.guest.anon.unmap(p, 0, 1), /process p: pages 0\+1 outside its 0-page address space/);
  assert.throws(() => m.guest.cache.fileSize(7), /guest file 7 does not exist/);
  assert.throws(() => machine('baseline', 32, -1), /guest swap: must be a whole number of pages/);
});

test('the balloon driver needs only frames, a scheduler and a balloon port: it hands frames over and takes them back', () => {
  const mem = new GuestMemory(8);
  for (let g = 7; g >= 2; g--) mem.push(g);
  let sleptNs = 0;
  const unused = unusedBy('the balloon driver');
  const kernel = fakeKernel(mem, 'the balloon driver', {
    tryAllocFrame: () => mem.pop(),
    freeFrame: (g) => mem.push(g),
    *sleep(ns) {
      sleptNs += ns;
      yield BLOCK;
    },
  });
  const given: number[] = [];
  const taken: number[] = [];
  const port: BalloonPort = {
    balloonInflate: (g: Gfn) => given.push(g),
    balloonDeflate: (g: Gfn) => taken.push(g),
    balloonReportFree: unused,
  };
  const balloon = new BalloonDriver(kernel, port);
  assert.deepEqual([...balloon.inflate(10, 2)], [BLOCK, BLOCK], 'two back-offs, then it gives up');
  assert.deepEqual(given, [2, 3, 4, 5, 6, 7], 'every free frame, in allocation order');
  assert.equal(balloon.size, 6);
  assert.equal(sleptNs, 2 * 200e6);
  assert.ok(given.every((g) => mem.use[g] === BALLOON));
  balloon.deflate(4);
  assert.deepEqual(taken, [7, 6, 5, 4]);
  assert.equal(mem.freePages, 4);
  assert.ok(taken.every((g) => mem.use[g] === FREE));
});

test("the Preventer's remap of an absent page the guest zeroes costs the vCPU one emulated write (exit + KVM's emulator)", () => {
  // The same run twice, differing only in the cost of an emulated write: every remap must add it to
  // the guest's time; the zeroing of a page the host kept (or of one nobody took) must not.
  const runOnce = (emulatedWriteNs: number): { ns: number; remaps: number } => {
    const m = new Machine({
      ...PAPER_MACHINE,
      seed: 1,
      config: 'vswapper',
      guestBelievedMiB: 32,
      guestActualMiB: 12,
      guestKernelMiB: 4,
      vmm: { ...QEMU_1_2, codePages: 64 },
      files: [{ name: 'data', sizePages: 2048 }],
      costs: { ...PAPER_MACHINE.costs, emulatedWriteNs },
    });
    const os = m.guest;
    const before = m.snapshot();
    let ns = 0;
    run(m, function* () {
      const p = os.anon.createProcess('p');
      const v = p.reserve(4 * 256);
      const t0 = os.nowNs;
      yield* os.anon.touchRange(p, v, 4 * 256, true);
      ns = os.nowNs - t0;
      os.anon.exit(p);
    });
    const d = m.metricsBetween(before, m.snapshot());
    assert.equal(d.integrityViolations, 0);
    return { ns, remaps: d.preventerRemaps! };
  };
  const free = runOnce(0);
  const paid = runOnce(100_000);
  assert.equal(paid.remaps, free.remaps, 'the cost must not change what is remapped');
  assert.ok(free.remaps > 500, `remaps ${free.remaps}`);
  const extraNs = paid.ns - free.ns;
  assert.ok(
    Math.abs(extraNs - paid.remaps * 100_000) <= 0.05 * paid.remaps * 100_000,
    `extra ${extraNs} ns for ${paid.remaps} remaps`,
  );
});

test('a kernel page checked against the reference is checked again once the host changes its content', () => {
  // The guest compares a page with its reference only when either changed since the last
  // comparison held (DataPlane.refChecked); a host that corrupts a checked page must still show.
  const m = machine('baseline', 32);
  const os = m.guest;
  const data = m.host.data;
  const g = 1;
  run(m, function* () {
    yield* os.access(g, false);
    assert.equal(data.refChecked[g], 1, 'a read that matched leaves the page checked');
    yield* os.writeChunk(g, 5);
    yield* os.access(g, false);
    assert.equal(os.counters.integrityViolations, 0, 'a chunk written to page and reference alike');
    data.writePage(g, 0xabcd);
    yield* os.access(g, false);
    assert.equal(os.counters.integrityViolations, 1, 'a page the host overwrote under the guest');
    yield* os.access(g, true);
    yield* os.access(g, false);
    data.setChunks(g, 7, [0xabcd]);
    yield* os.access(g, false);
    assert.equal(os.counters.integrityViolations, 2, 'a chunk the host wrote under the guest');
    // A chunk written to both sides keeps a page checked only if it was equal before.
    yield* os.access(g, true);
    yield* os.access(g, false);
    data.writePage(g, 0xabcd);
    yield* os.writeChunk(g, 5);
    yield* os.access(g, false);
    assert.equal(os.counters.integrityViolations, 3, 'a chunk written over a page the host had overwritten');
  });
});

test('tryTouchRun is tryTouch() page after page: two workers writing a process bigger than the host gives leave host, data plane and guest alike', () => {
  // Two threads (the second runs while the first waits on a host fault) write random runs of a
  // process the host cannot hold, one way with tryTouch() page by page, the other with tryTouchRun()
  // and touch() for the page it stops at.
  const after = (byRun: boolean): { m: Machine; stops: number; inRuns: number } => {
    const m = machine('vswapper', 12);
    const os = m.guest;
    let stops = 0;
    let inRuns = 0;
    run(m, function* () {
      for (let i = 0; i < 2048; i += 16) yield* os.cache.read(0, i, 16);
      const p = os.anon.createProcess('p');
      const size = 20 * 256;
      const v = p.reserve(size);
      yield* os.anon.touchRange(p, v, size, true);
      let left = 2;
      const worker = function* (seed: number): Program {
        const rng = new Rng(seed);
        const pages = new Int32Array(64);
        for (let r = 0; r < 300; r++) {
          const n = 1 + rng.int(64);
          const base = rng.int(size - 4 * 64);
          for (let i = 0; i < n; i++) pages[i] = v + base + 4 * i + rng.int(4);
          const write = rng.next() < 0.7;
          if (byRun) {
            for (let i = 0; i < n;) {
              const done = os.anon.tryTouchRun(p, pages, i, n, write);
              inRuns += done - i;
              if (done === n) break;
              stops++;
              yield* os.anon.touch(p, pages[done]!, write);
              i = done + 1;
            }
          } else {
            for (let i = 0; i < n; i++)
              if (!os.anon.tryTouch(p, pages[i]!, write)) yield* os.anon.touch(p, pages[i]!, write);
          }
          yield* os.compute(1e5);
        }
      };
      os.spawn(worker(1), () => void left--);
      os.spawn(worker(2), () => void left--);
      while (left > 0) yield* os.sleep(1e6);
    });
    return { m, stops, inRuns };
  };
  const a = after(true);
  const b = after(false);
  assert.ok(a.stops > 100 && a.inRuns > 10_000, `${a.stops} stops, ${a.inRuns} pages in runs`);
  assert.deepEqual(a.m.core.counters.snapshot(), b.m.core.counters.snapshot());
  assert.deepEqual(a.m.guest.counters, b.m.guest.counters);
  assert.equal(a.m.events.nowNs, b.m.events.nowNs);
  for (let g = 0; g < a.m.guest.mem.pages; g++) {
    assert.deepEqual(a.m.core.inspect(g), b.m.core.inspect(g), `host page ${g}`);
    assert.equal(a.m.guest.mem.flags[g], b.m.guest.mem.flags[g], `guest flags of frame ${g}`);
    assert.equal(a.m.host.data.mem[g], b.m.host.data.mem[g], `content of frame ${g}`);
    assert.equal(a.m.guest.refMem[g], b.m.guest.refMem[g], `guest's reference of frame ${g}`);
  }
  assert.equal(a.m.guest.counters.integrityViolations, 0);
});

test('touchRange over present pages is touch() page by page: two workers walking a process bigger than the host gives leave host, data plane and guest alike', () => {
  // touchRange hands the host runs of the pages the guest has nothing to do for (tryAccessRun);
  // the pages the host stops at (absent, or with more to do) and those the guest must wait for go
  // page by page. Two threads walk random ranges, the second running while the first waits.
  const after = (byRange: boolean): Machine => {
    // The guest swaps to a partition of its own too, so its reclaim reads and clears the
    // referenced flags the walks set.
    const m = machine('vswapper', 12, 16);
    const os = m.guest;
    run(m, function* () {
      for (let i = 0; i < 2048; i += 16) yield* os.cache.read(0, i, 16);
      const p = os.anon.createProcess('p');
      const size = 36 * 256;
      const v = p.reserve(size);
      yield* os.anon.touchRange(p, v, size / 2, true);
      let left = 2;
      const worker = function* (seed: number): Program {
        const rng = new Rng(seed);
        for (let r = 0; r < 100; r++) {
          const n = 1 + rng.int(1500);
          const at = v + rng.int(size - n);
          const write = rng.next() < 0.5;
          if (byRange) yield* os.anon.touchRange(p, at, n, write);
          else for (let i = 0; i < n; i++) yield* os.anon.touch(p, at + i, write);
          yield* os.compute(1e5);
        }
      };
      os.spawn(worker(1), () => void left--);
      os.spawn(worker(2), () => void left--);
      while (left > 0) yield* os.sleep(1e6);
    });
    return m;
  };
  const a = after(true);
  const b = after(false);
  assert.ok(
    a.core.counters.hostFaultsInGuest > 100,
    `${a.core.counters.hostFaultsInGuest} host faults: the walks fault pages in`,
  );
  assert.deepEqual(a.core.counters.snapshot(), b.core.counters.snapshot());
  assert.deepEqual(a.guest.counters, b.guest.counters);
  assert.equal(a.events.nowNs, b.events.nowNs);
  for (let g = 0; g < a.guest.mem.pages; g++) {
    assert.deepEqual(a.core.inspect(g), b.core.inspect(g), `host page ${g}`);
    assert.equal(a.guest.mem.flags[g], b.guest.mem.flags[g], `guest flags of frame ${g}`);
    assert.equal(a.host.data.mem[g], b.host.data.mem[g], `content of frame ${g}`);
    assert.equal(a.host.data.refChecked[g], b.host.data.refChecked[g], `checked mark of frame ${g}`);
    assert.equal(a.guest.refMem[g], b.guest.refMem[g], `guest's reference of frame ${g}`);
  }
  assert.equal(a.guest.counters.integrityViolations, 0);
});

test('touchRange waits for a page another thread holds locked, as touch() does, before the pages after it', () => {
  const m = machine('baseline', 32);
  const os = m.guest;
  run(m, function* () {
    const p = os.anon.createProcess('p');
    const v = p.reserve(64);
    yield* os.anon.touchRange(p, v, 64, true);
    const locked = p.pte[v + 20]!;
    const after = p.pte[v + 40]!;
    const before = os.refMem[after];
    os.mem.flags[locked]! |= PG_LOCKED;
    let done = false;
    os.spawn(os.anon.touchRange(p, v, 64, true), () => void (done = true));
    yield* os.sleep(1e6);
    assert.equal(done, false, 'the walk waits at the locked page');
    assert.equal(os.refMem[after], before, 'a page after the locked one is not written yet');
    os.mem.flags[locked]! &= ~PG_LOCKED;
    os.wakeFrame(locked);
    while (!done) yield* os.sleep(1e6);
    assert.notEqual(os.refMem[after], before);
  });
});
